#!/usr/bin/env python3
"""Reference values from Kymatio's 2-D scattering transform for Tally's Scattering2D tests.

Writes ScatteringVectors.swift next to this script. Run it with any python3 (>= 3.9):

    python3 Tests/TallyModelTests/Vectors/make_scattering_vectors.py

It creates a throwaway virtualenv in /tmp/kyvenv (unless one exists), installs kymatio 0.3.0 with
numpy and scipy (< 1.17) there, and re-runs itself inside it. Kymatio's NumPy frontend is used on float64
input; its filters are single precision (filter_bank builds them in complex64), as in the PyTorch
frontend Handcrafted-DP uses, whose algorithm (kymatio 0.2.0) is the same.

Cases (all with max_order = 2):
  * random28: 28x28, J=2, L=8, pixels k/255 (k the top 8 bits of successive SplitMix64 outputs,
    seed 1; k/255 rounded to float32, as Tally stores pixels), the whole 81x7x7 output.
  * fashion0: the first Fashion-MNIST test image (pixels/255 in float32, torchvision's ToTensor),
    28x28, J=2, L=8, the whole 81x7x7 output; plus the features after GroupNorm(27 groups, affine
    off, eps 1e-5, biased variance, as torch.nn.GroupNorm), every 7th of the 3969.
  * random20x24: 20x24, J=3, L=6 (another padding, output size, angle count and filter levels),
    the whole 127x2x3 output.
"""

import gzip
import os
import subprocess
import sys

VENV = "/tmp/kyvenv"
# kymatio 0.3.0 imports scipy.special.sph_harm (for its 3-D transform), which SciPy 1.17 removed.
WANTED = ["kymatio==0.3.0", "scipy>=1.10,<1.17", "numpy"]
HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "ScatteringVectors.swift")
FASHION_TEST_IMAGES = "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz"
MASK64 = (1 << 64) - 1
GROUPNORM_STRIDE = 7


def ensure_venv():
    """Re-executes this script inside a venv that has kymatio."""
    if os.environ.get("KYMATIO_IN_VENV") == "1":
        return
    python = os.path.join(VENV, "bin", "python")
    if not os.path.exists(python):
        subprocess.check_call([sys.executable, "-m", "venv", VENV])
    subprocess.check_call([python, "-m", "pip", "install", "--quiet", *WANTED])
    env = dict(os.environ, KYMATIO_IN_VENV="1")
    os.execve(python, [python, os.path.abspath(__file__)], env)


def splitmix64_pixels(seed, count):
    """Pixels k/255 with k = the top 8 bits of successive SplitMix64 outputs (the Swift test
    generates the same sequence)."""
    import numpy as np

    state = seed & MASK64
    out = np.empty(count, np.float32)
    for i in range(count):
        state = (state + 0x9E3779B97F4A7C15) & MASK64
        z = state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
        z ^= z >> 31
        out[i] = np.float32(z >> 56) / np.float32(255)
    return out


def fashion_test_image(index):
    import numpy as np

    with gzip.open(FASHION_TEST_IMAGES, "rb") as f:
        raw = f.read()
    offset = 16 + index * 784
    pixels = np.frombuffer(raw[offset:offset + 784], np.uint8)
    return pixels.astype(np.float32) / np.float32(255)


def group_norm(x, groups, eps=1e-5):
    """torch.nn.GroupNorm(groups, C, affine=False) on one example x of shape (C, H, W)."""
    import numpy as np

    c = x.shape[0]
    g = x.reshape(groups, -1).astype(np.float64)
    mean = g.mean(axis=1, keepdims=True)
    var = g.var(axis=1, keepdims=True)  # biased, as torch
    return ((g - mean) / np.sqrt(var + eps)).reshape(c, -1)


def swift_floats(values, indent="        ", per_line=8):
    import numpy as np

    items = [str(np.float32(v)) for v in np.asarray(values).ravel()]
    lines = [indent + ", ".join(items[i:i + per_line]) + "," for i in range(0, len(items), per_line)]
    return "\n".join(lines)


def main():
    import platform
    from importlib import metadata

    import numpy as np
    import scipy
    from kymatio.numpy import Scattering2D

    cases = [
        ("random28", 28, 28, 2, 8, "splitmix64 seed 1", splitmix64_pixels(1, 28 * 28)),
        ("fashion0", 28, 28, 2, 8, "Fashion-MNIST test image 0", fashion_test_image(0)),
        ("random20x24", 20, 24, 3, 6, "splitmix64 seed 2", splitmix64_pixels(2, 20 * 24)),
    ]
    parts = []
    outputs = {}
    for name, h, w, J, L, source, pixels in cases:
        image = pixels.reshape(h, w).astype(np.float64)
        s = Scattering2D(J=J, shape=(h, w), L=L)(image)
        outputs[name] = s
        c, oh, ow = s.shape
        parts.append(
            f"    /// {source}: {h}x{w}, J={J}, L={L}; output {c} channels x {oh} x {ow}, channel-major.\n"
            f"    static let {name} = ScatteringCase(\n"
            f"        height: {h}, width: {w}, scales: {J}, angles: {L}, channels: {c}, outputHeight: {oh}, outputWidth: {ow},\n"
            f"        coefficients: [\n{swift_floats(s, indent=' ' * 12)}\n        ])\n")

    normalized = group_norm(outputs["fashion0"], 27).ravel()
    picked = normalized[::GROUPNORM_STRIDE]

    versions = (f"kymatio {metadata.version('kymatio')}, numpy {np.__version__}, scipy {scipy.__version__}, "
                f"Python {platform.python_version()}")
    text = f"""// Generated by make_scattering_vectors.py — do not edit by hand; re-run the script instead.
// {versions}.
// Kymatio's NumPy Scattering2D (max_order 2) on float64 input; values rounded to float32.

struct ScatteringCase: Sendable {{
    let height: Int
    let width: Int
    let scales: Int
    let angles: Int
    let channels: Int
    let outputHeight: Int
    let outputWidth: Int
    /// Kymatio's output, channels x outputHeight x outputWidth, row-major.
    let coefficients: [Float]
}}

enum ScatteringVectors {{
{chr(10).join(parts)}
    /// GroupNorm(27, 81, affine=False) of ``fashion0``'s coefficients, every {GROUPNORM_STRIDE}th feature.
    static let fashion0GroupNormStride = {GROUPNORM_STRIDE}
    static let fashion0GroupNorm: [Float] = [
{swift_floats(picked)}
    ]
}}
"""
    with open(OUT, "w") as f:
        f.write(text)
    print(f"wrote {OUT} ({len(text)} bytes); {versions}")


if __name__ == "__main__":
    ensure_venv()
    main()
