"""A trainer written with Participant/python/tally_trainer.py (numpy): `helper_trainer.py HELPER MODE JOB`.

MODE `good` adds 0.25 to every value; `nan` asks the helper to write a NaN, which it refuses."""

import sys

sys.path.insert(0, sys.argv[1])
import numpy as np  # noqa: E402
import tally_trainer  # noqa: E402

job, tensors = tally_trainer.read_job()
assert job.round == 42 and job.format == "tally-logistic-regression/v1", job.raw
trained = {name: value + np.float32(0.25) for name, value in tensors.items()}
if sys.argv[2] == "nan":
    trained["bias"][1] = np.nan
try:
    tally_trainer.write_result(job, trained, examples=11, metrics={"loss": 0.5})
except tally_trainer.TrainerError as error:
    print(f"helper_trainer: {error}", file=sys.stderr)
    sys.exit(2)
