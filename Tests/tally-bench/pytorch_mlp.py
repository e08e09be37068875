"""PyTorch twin of `tally-bench train`: the same MLP, initial weights, batch order and SGD.

Run by the benchmark with the interpreter that has torch (1.13 here); prints one JSON line.
The initial parameters arrive as little-endian float32 in Tally's layout order (per layer:
weight [out, in] row-major, then bias [out]); the batch order as int32 example indices, epoch
after epoch.
"""

import argparse
import ctypes
import gzip
import json
import os
import time

import numpy as np
import torch


def read_idx(directory, name):
    path = os.path.join(directory, name)
    opener = gzip.open if os.path.exists(path + ".gz") else open
    with opener(path + ".gz" if os.path.exists(path + ".gz") else path, "rb") as f:
        data = f.read()
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def load(directory, prefix):
    images = read_idx(directory, f"{prefix}-images-idx3-ubyte")
    labels = read_idx(directory, f"{prefix}-labels-idx1-ubyte")
    features = images.reshape(len(images), -1).astype(np.float32) / np.float32(255)
    return torch.from_numpy(features), torch.from_numpy(labels.astype(np.int64))


def openblas_core():
    """The kernel set of the OpenBLAS torch's BLAS calls go to, if it is OpenBLAS."""
    try:
        library = ctypes.CDLL("libopenblas.so.0")
        library.openblas_get_corename.restype = ctypes.c_char_p
        return library.openblas_get_corename().decode()
    except (OSError, AttributeError):
        return None


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--data", required=True)
    p.add_argument("--init", required=True)
    p.add_argument("--order", required=True)
    p.add_argument("--widths", required=True, help="comma-separated, inputs first")
    p.add_argument("--activation", choices=["relu", "tanh"], required=True)
    p.add_argument("--batch-size", type=int, required=True)
    p.add_argument("--learning-rate", type=float, required=True)
    p.add_argument("--epochs", type=int, required=True)
    p.add_argument("--threads", type=int, required=True)
    p.add_argument("--repetitions", type=int, default=1)
    args = p.parse_args()

    torch.set_num_threads(args.threads)
    x_train, y_train = load(args.data, "train")
    x_test, y_test = load(args.data, "t10k")
    widths = [int(w) for w in args.widths.split(",")]
    layers = []
    for i in range(len(widths) - 1):
        layers.append(torch.nn.Linear(widths[i], widths[i + 1]))
        if i < len(widths) - 2:
            layers.append(torch.nn.ReLU() if args.activation == "relu" else torch.nn.Tanh())
    model = torch.nn.Sequential(*layers)
    linears = [m for m in model if isinstance(m, torch.nn.Linear)]
    initial = np.fromfile(args.init, dtype="<f4")
    order = torch.from_numpy(np.fromfile(args.order, dtype="<i4").astype(np.int64)).reshape(args.epochs, -1)
    loss_fn = torch.nn.CrossEntropyLoss()

    def reset():
        offset = 0
        with torch.no_grad():
            for linear in linears:
                w = linear.weight
                w.copy_(torch.from_numpy(initial[offset : offset + w.numel()].reshape(w.shape)))
                offset += w.numel()
                b = linear.bias
                b.copy_(torch.from_numpy(initial[offset : offset + b.numel()]))
                offset += b.numel()
        assert offset == len(initial), "initial parameters do not match the widths"

    best, best_cpu = float("inf"), 0.0
    for _ in range(args.repetitions):
        reset()
        optimizer = torch.optim.SGD(model.parameters(), lr=args.learning_rate)
        start, cpu_start = time.perf_counter(), time.process_time()
        for epoch in range(args.epochs):
            epoch_order = order[epoch]
            for s in range(0, len(epoch_order), args.batch_size):
                batch = epoch_order[s : s + args.batch_size]
                optimizer.zero_grad(set_to_none=True)
                loss = loss_fn(model(x_train[batch]), y_train[batch])
                loss.backward()
                optimizer.step()
        seconds = time.perf_counter() - start
        if seconds < best:
            best, best_cpu = seconds, time.process_time() - cpu_start
    with torch.no_grad():
        accuracy = (model(x_test).argmax(1) == y_test).double().mean().item()
    examples = order.numel()
    print(
        json.dumps(
            {
                "torch": torch.__version__,
                "openblasCore": openblas_core(),
                "threads": torch.get_num_threads(),
                "seconds": best,
                "cpuSeconds": best_cpu,
                "examplesPerSecond": examples / best,
                "testAccuracy": accuracy,
            }
        )
    )


if __name__ == "__main__":
    main()
