"""A tiny external trainer for the tests (standard library only): `fake_trainer.py MODE SIDE JOB`.

Reads the job and the global model, and writes what MODE says: a correct result (every value
plus 0.5) or one specific breach of the contract. SIDE is a file where it reports what it saw
(the job, its directory's mode) for the test to check."""

import json
import os
import stat
import struct
import sys


def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (length,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + length])
    body = data[8 + length :]
    metadata = header.pop("__metadata__", {})
    tensors = {}
    for name, entry in header.items():
        begin, end = entry["data_offsets"]
        values = list(struct.unpack("<%df" % ((end - begin) // 4), body[begin:end]))
        tensors[name] = (entry["shape"], values)
    return tensors, metadata


def write_safetensors(path, tensors, pad=0):
    header, chunks, offset = {}, [], 0
    for name in sorted(tensors):
        shape, values = tensors[name]
        raw = struct.pack("<%df" % len(values), *values)
        header[name] = {"dtype": "F32", "shape": shape, "data_offsets": [offset, offset + len(raw)]}
        chunks.append(raw)
        offset += len(raw)
    if pad:
        header["padding"] = {"dtype": "F32", "shape": [pad // 4], "data_offsets": [offset, offset + pad]}
        chunks.append(bytes(pad))
    encoded = json.dumps(header).encode()
    encoded += b" " * ((8 - len(encoded) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(encoded)) + encoded + b"".join(chunks))


def main():
    mode, side, job_path = sys.argv[1], sys.argv[2], sys.argv[-1]
    with open(job_path) as f:
        job = json.load(f)
    directory_mode = stat.S_IMODE(os.stat(job["directory"]).st_mode)
    with open(side, "w") as f:
        json.dump({"job": job, "directoryMode": directory_mode, "environment": os.environ.get("TALLY_JOB")}, f)
    tensors, _ = read_safetensors(job["model"]["path"])
    trained = {name: (shape, [v + 0.5 for v in values]) for name, (shape, values) in tensors.items()}
    result = {"contract": "tally-trainer/v1", "examples": 7, "metrics": {"loss": 0.25, "accuracy": 0.75}}
    print("fake trainer: progress line", flush=True)

    if mode == "wrong-shape":
        shape, values = trained["weight"]
        trained["weight"] = ([shape[1], shape[0]], values)
    elif mode == "missing-tensor":
        del trained["bias"]
    elif mode == "extra-tensor":
        trained["extra"] = ([1], [0.0])
    elif mode == "nan":
        shape, values = trained["bias"]
        trained["bias"] = (shape, [float("nan")] + values[1:])
    elif mode == "exit":
        print("fake trainer: something went wrong on line 42", file=sys.stderr)
        sys.exit(3)
    write_safetensors(job["output"]["model"], trained, pad=4096 if mode == "oversized" else 0)

    if mode == "no-result":
        return
    text = json.dumps(result)
    if mode == "result-not-json":
        text = "{examples: 7"
    elif mode == "result-unknown-key":
        text = json.dumps(dict(result, exampels=7))
    elif mode == "result-no-examples":
        text = json.dumps({"contract": "tally-trainer/v1"})
    elif mode == "result-wrong-contract":
        text = json.dumps(dict(result, contract="tally-trainer/v0"))
    elif mode == "result-nan-metric":
        text = '{"contract": "tally-trainer/v1", "examples": 7, "metrics": {"loss": NaN}}'
    elif mode == "result-text-metric":
        text = json.dumps(dict(result, metrics={"loss": "low"}))
    with open(job["output"]["result"], "w") as f:
        f.write(text)


main()
