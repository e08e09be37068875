"""Helper for Tally external trainers (contract ``tally-trainer/v1``, docs/trainer-contract.md).

The participant daemon runs a site's own training program once per round with the path of a
``job.json`` as its last argument. This module reads that job and the global model, and writes
the trained model and ``result.json`` back the way the daemon checks them. Standard library and
numpy only; the safetensors format is implemented here by hand so no other package is needed.

    import tally_trainer
    job, tensors = tally_trainer.read_job()           # sys.argv[-1], or $TALLY_JOB
    ...train, starting from `tensors` (name -> float32 numpy array)...
    tally_trainer.write_result(job, trained, examples=n, metrics={"loss": 0.41})

The daemon, not this program, clips, noises and masks what it returns.
"""

import json
import math
import os
import struct
import sys
import tempfile

import numpy as np

CONTRACT = "tally-trainer/v1"

_DTYPES = {"F32": np.dtype("<f4"), "F64": np.dtype("<f8")}


class TrainerError(Exception):
    """The job or the tensors do not fit the contract; the message says which file and tensor."""


class Job:
    """A parsed job.json. ``raw`` holds the whole document; the common fields are attributes."""

    def __init__(self, raw, path):
        if raw.get("contract") != CONTRACT:
            raise TrainerError(f"{path}: contract is {raw.get('contract')!r}; this helper speaks {CONTRACT}")
        self.raw = raw
        self.path = path
        self.round = raw["round"]
        self.seed = raw["seed"]
        self.training = raw["training"]
        self.model_path = raw["model"]["path"]
        self.metadata = dict(raw["model"].get("metadata", {}))
        self.tensors = [(t["name"], tuple(t["shape"])) for t in raw["model"]["tensors"]]
        self.output_model = raw["output"]["model"]
        self.output_result = raw["output"]["result"]
        self.directory = raw["directory"]

    @property
    def format(self):
        """The model's format, e.g. ``tally-logistic-regression/v1`` or ``tally-mlp/v1``."""
        return self.metadata.get("format")

    @property
    def epochs(self):
        return int(self.training["localEpochs"])

    @property
    def batch_size(self):
        return int(self.training["batchSize"])

    @property
    def learning_rate(self):
        return float(self.training["learningRate"])


def job_path(argv=None):
    """The job file: $TALLY_JOB (the daemon always sets it), else the last command-line argument."""
    path = os.environ.get("TALLY_JOB")
    if path:
        return path
    argv = sys.argv if argv is None else argv
    if len(argv) < 2:
        raise TrainerError("no job file: expected its path in TALLY_JOB or as the last argument")
    return argv[-1]


def read_job(path=None):
    """Returns ``(job, tensors)``: the job and the global model as ``{name: float32 ndarray}``,
    checked against the job's layout (names and shapes)."""
    path = path or job_path()
    with open(path, "rb") as f:
        raw = json.loads(f.read().decode("utf-8"))
    job = Job(raw, path)
    tensors, _ = read_safetensors(job.model_path)
    _check_layout(job, tensors, job.model_path)
    return job, tensors


def write_result(job, tensors, examples, metrics=None):
    """Writes the trained model and result.json where the job says, each atomically (a temporary
    file in the same directory, fsynced, then renamed), the model first. Raises TrainerError for
    a tensor the daemon would refuse (missing, extra, wrong shape, not finite) before writing."""
    arrays = {}
    for name, value in tensors.items():
        array = np.ascontiguousarray(np.asarray(value, dtype=np.float32))
        arrays[name] = array
    _check_layout(job, arrays, "the trained tensors")
    for name, array in arrays.items():
        if not np.isfinite(array).all():
            raise TrainerError(f"the trained tensor {name!r} has values that are not finite (NaN or infinity)")
    if int(examples) != examples or examples < 0:
        raise TrainerError(f"examples must be a whole number >= 0, got {examples!r}")
    result = {"contract": CONTRACT, "examples": int(examples)}
    if metrics:
        clean = {}
        for name, value in metrics.items():
            value = float(value)
            if not math.isfinite(value):
                raise TrainerError(f"metric {name!r} is {value}, not a finite number")
            clean[str(name)] = value
        result["metrics"] = clean
    write_safetensors(job.output_model, arrays, metadata=job.metadata)
    _write_atomically(job.output_result, (json.dumps(result, allow_nan=False, sort_keys=True) + "\n").encode("utf-8"))


def read_safetensors(path):
    """Returns ``({name: ndarray}, metadata)`` from a safetensors file (F32 or F64 tensors)."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 8:
        raise TrainerError(f"{path}: shorter than the 8-byte header length")
    (length,) = struct.unpack("<Q", data[:8])
    if length > len(data) - 8:
        raise TrainerError(f"{path}: header of {length} bytes but only {len(data) - 8} follow")
    header = json.loads(data[8 : 8 + length].decode("utf-8"))
    body = memoryview(data)[8 + length :]
    metadata = header.pop("__metadata__", {}) or {}
    tensors = {}
    for name, entry in header.items():
        dtype = _DTYPES.get(entry["dtype"])
        if dtype is None:
            raise TrainerError(f"{path}: tensor {name!r} has dtype {entry['dtype']}; expected F32")
        begin, end = entry["data_offsets"]
        shape = tuple(entry["shape"])
        count = int(np.prod(shape, dtype=np.int64)) if shape else 1
        if end - begin != count * dtype.itemsize or end > len(body):
            raise TrainerError(f"{path}: tensor {name!r} has byte range [{begin}, {end}) for shape {list(shape)}")
        tensors[name] = np.frombuffer(body[begin:end], dtype=dtype).astype(np.float32).reshape(shape)
    return tensors, metadata


def write_safetensors(path, tensors, metadata=None):
    """Writes ``{name: array}`` as F32 safetensors (names in byte order, header padded to 8
    bytes), atomically."""
    header = {}
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    chunks = []
    offset = 0
    for name in sorted(tensors, key=lambda n: n.encode("utf-8")):
        array = np.ascontiguousarray(np.asarray(tensors[name], dtype="<f4"))
        raw = array.tobytes()
        header[name] = {"dtype": "F32", "shape": list(array.shape), "data_offsets": [offset, offset + len(raw)]}
        chunks.append(raw)
        offset += len(raw)
    encoded = json.dumps(header, separators=(",", ":")).encode("utf-8")
    encoded += b" " * ((8 - len(encoded) % 8) % 8)
    _write_atomically(path, struct.pack("<Q", len(encoded)) + encoded + b"".join(chunks))


def _check_layout(job, tensors, source):
    expected = dict(job.tensors)
    for name in tensors:
        if name not in expected:
            raise TrainerError(f"{source}: unexpected tensor {name!r} (the model has {', '.join(expected)})")
    for name, shape in job.tensors:
        if name not in tensors:
            raise TrainerError(f"{source}: tensor {name!r} is missing")
        if tuple(tensors[name].shape) != shape:
            raise TrainerError(f"{source}: tensor {name!r} has shape {list(tensors[name].shape)}, expected {list(shape)}")


def _write_atomically(path, data):
    directory = os.path.dirname(os.path.abspath(path))
    fd, temporary = tempfile.mkstemp(dir=directory, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temporary, path)
    except BaseException:
        try:
            os.unlink(temporary)
        except FileNotFoundError:
            pass
        raise
