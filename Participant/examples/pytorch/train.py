#!/usr/bin/python3
"""A PyTorch trainer for Tally (contract tally-trainer/v1, docs/trainer-contract.md).

Trains the federation's model on this site's own data: here a slice of the Fashion-MNIST
training split read from the Debian package's IDX files. It builds a torch model whose
state_dict matches the job's layout — logistic regression (``weight``, ``bias``) or, when the
model's format is ``tally-mlp/v1``, the MLP (``layers.i.weight``, ``layers.i.bias``) — loads the
global weights, runs minibatch SGD with the job's settings and writes the trained weights back.
The daemon clips, noises and masks the update; nothing here is private-by-itself.

Configure a participant with, for example:

    "trainer": "external",
    "externalTrainer": {
        "command": ["/usr/bin/python3", "/path/to/Participant/examples/pytorch/train.py",
                    "--parts", "5", "--part", "0"],
        "timeLimitSeconds": 600
    }

The daemon appends the job file's path as the last argument.
"""

import argparse
import gzip
import os
import struct
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "python"))

import numpy as np  # noqa: E402
import tally_trainer  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

FASHION_MNIST = "/usr/share/datasets/fashion-mnist"


def read_idx(path):
    """An IDX file (gzip or plain) as a numpy array: uint8 images [n, rows, cols] or labels [n]."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    magic, count = struct.unpack(">II", data[:8])
    if magic == 2051:
        rows, cols = struct.unpack(">II", data[8:16])
        return np.frombuffer(data, dtype=np.uint8, offset=16).reshape(count, rows * cols)
    if magic == 2049:
        return np.frombuffer(data, dtype=np.uint8, offset=8)
    raise ValueError(f"{path}: not an IDX image or label file (magic {magic})")


def load_partition(directory, parts, part):
    """This site's examples: every `parts`-th training example starting at `part`, pixels in
    0...1 (the built-in trainer's scaling, so both kinds of sites train one model)."""

    def find(name):
        for candidate in (name + ".gz", name):
            path = os.path.join(directory, candidate)
            if os.path.exists(path):
                return path
        raise FileNotFoundError(f"{name}(.gz) not found in {directory}")

    images = read_idx(find("train-images-idx3-ubyte"))[part::parts]
    labels = read_idx(find("train-labels-idx1-ubyte"))[part::parts]
    return torch.from_numpy(images.astype(np.float32) / 255.0), torch.from_numpy(labels.astype(np.int64))


class MLP(nn.Module):
    """The federation's MLP: layers.i are Linear [out, in], the activation after each hidden one."""

    def __init__(self, widths, activation):
        super().__init__()
        self.layers = nn.ModuleList(nn.Linear(widths[i], widths[i + 1]) for i in range(len(widths) - 1))
        self.activation = {"relu": torch.relu, "tanh": torch.tanh}[activation]

    def forward(self, x):
        for layer in self.layers[:-1]:
            x = self.activation(layer(x))
        return self.layers[-1](x)


def build_model(job):
    shapes = dict(job.tensors)
    if job.format == "tally-mlp/v1":
        count = sum(1 for name in shapes if name.endswith(".weight"))
        widths = [shapes["layers.0.weight"][1]] + [shapes[f"layers.{i}.weight"][0] for i in range(count)]
        return MLP(widths, job.metadata.get("activation", "relu"))
    if job.format in (None, "tally-logistic-regression/v1"):
        classes, features = shapes["weight"]
        return nn.Linear(features, classes)
    raise tally_trainer.TrainerError(f"this example trains logistic regression or tally-mlp/v1, not {job.format}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=FASHION_MNIST, help="folder with the Fashion-MNIST IDX files")
    parser.add_argument("--parts", type=int, default=1, help="how many sites share the training split")
    parser.add_argument("--part", type=int, default=0, help="this site's part, 0-based")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("job", help="job.json (added by the daemon)")
    args = parser.parse_args()
    if not 0 <= args.part < args.parts:
        parser.error("--part must be in 0 ... --parts - 1")
    torch.set_num_threads(args.threads)

    started = time.monotonic()
    job, global_tensors = tally_trainer.read_job(args.job)
    features, labels = load_partition(args.data, args.parts, args.part)
    model = build_model(job)
    expected = {name: tuple(shape) for name, shape in job.tensors}
    actual = {name: tuple(t.shape) for name, t in model.state_dict().items()}
    if expected != actual:
        raise tally_trainer.TrainerError(f"the torch model's state {actual} does not match the job's layout {expected}")
    model.load_state_dict({name: torch.from_numpy(np.array(value)) for name, value in global_tensors.items()}, strict=True)

    torch.manual_seed(job.seed)
    generator = torch.Generator().manual_seed(job.seed)
    optimizer = torch.optim.SGD(model.parameters(), lr=job.learning_rate)
    loss_function = nn.CrossEntropyLoss()
    n = len(labels)
    total_loss, correct, seen = 0.0, 0, 0
    for _ in range(job.epochs):
        total_loss, correct, seen = 0.0, 0, 0
        order = torch.randperm(n, generator=generator)
        for start in range(0, n, job.batch_size):
            batch = order[start : start + job.batch_size]
            x, y = features[batch], labels[batch]
            optimizer.zero_grad()
            scores = model(x)
            loss = loss_function(scores, y)
            loss.backward()
            optimizer.step()
            total_loss += loss.item() * len(batch)
            correct += (scores.argmax(dim=1) == y).sum().item()
            seen += len(batch)

    trained = {name: value.detach().numpy() for name, value in model.state_dict().items()}
    metrics = {"seconds": time.monotonic() - started}
    if seen:
        metrics["loss"] = total_loss / seen
        metrics["accuracy"] = correct / seen
    tally_trainer.write_result(job, trained, examples=n, metrics=metrics)
    print(f"round {job.round}: {n} examples, loss {metrics.get('loss', float('nan')):.4f}, "
          f"accuracy {metrics.get('accuracy', float('nan')):.4f}, {metrics['seconds']:.2f} s", file=sys.stderr)


if __name__ == "__main__":
    try:
        main()
    except tally_trainer.TrainerError as error:
        print(f"train.py: {error}", file=sys.stderr)
        sys.exit(2)
