#!/usr/bin/env python3
"""Reference values from Google's dp_accounting for Tally's accountant tests.

Writes DPAccountingVectors.swift next to this script. Run it with any python3 (>= 3.9):

    python3 Tests/TallyCoreTests/Vectors/generate_dp_accounting.py

It creates a throwaway virtualenv in /tmp/dpacct-venv, installs dp-accounting 0.6.0 there (or the
nearest 0.6.x / 0.5.x release when 0.6.0 is not available; the version used is written into the
output), and re-runs itself inside it.

What is recorded, per (z, q, T) case at delta = 1e-5:
  * RdpAccountant RDP values at the INTEGER orders of its default grid (2..63, 128, 256, 512, 1024)
    and the epsilon from those orders only. dp_accounting's fractional orders are not used: its
    series for fractional alpha adds |binomial(alpha, i)| and so drops the sign of every other term
    (see the `fractional` section, which records that error against direct numerical integration).
  * PLDAccountant (pessimistic connect-the-dots, value_discretization_interval = 1e-4) epsilon at
    delta, and delta at a few epsilons.
Timing of both accountants for (z, q, T) = (1.0, 0.01, 10^4) is printed and recorded for information.
"""

import os
import subprocess
import sys
import time

VENV = "/tmp/dpacct-venv"
WANTED = ["dp-accounting==0.6.0", "dp-accounting~=0.6.0", "dp-accounting~=0.5.0"]
HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "DPAccountingVectors.swift")

CASES = [  # (noise multiplier z, sampling rate q, steps T)
    (1.0, 0.01, 1000),
    (1.0, 0.01, 10000),
    (0.8, 0.05, 100),
    (2.0, 1.0, 10),
    (1.1, 0.001, 100000),
]
DELTA = 1e-5
PLD_EPSILONS = [1.0, 2.0]
INTEGER_ORDERS = list(range(2, 64)) + [128, 256, 512, 1024]
FRACTIONAL = [  # (q, sigma, alpha)
    (0.01, 1.0, 1.5), (0.01, 1.0, 2.5), (0.01, 1.0, 4.75), (0.01, 1.0, 10.3),
    (0.05, 0.8, 1.5), (0.05, 0.8, 2.5), (0.05, 0.8, 4.75),
    (0.2, 2.0, 1.5), (0.2, 2.0, 2.5), (0.2, 2.0, 4.75), (0.2, 2.0, 10.3),
    (0.001, 1.1, 3.5),
]


def ensure_venv():
    """Re-executes this script inside a venv that has dp-accounting."""
    if os.environ.get("DPACCT_IN_VENV") == "1":
        return
    python = os.path.join(VENV, "bin", "python")
    if not os.path.exists(python):
        subprocess.check_call([sys.executable, "-m", "venv", VENV])
    installed = False
    for spec in WANTED:
        if subprocess.call([python, "-m", "pip", "install", "--quiet", spec]) == 0:
            installed = True
            break
    if not installed:
        sys.exit("could not install dp-accounting 0.6.x or 0.5.x")
    env = dict(os.environ, DPACCT_IN_VENV="1")
    os.execve(python, [python, os.path.abspath(__file__)], env)


def swift_double(x):
    if x == float("inf"):
        return ".infinity"
    return repr(float(x))


def main():
    import math
    from importlib import metadata

    import dp_accounting
    from dp_accounting.pld import pld_privacy_accountant
    from dp_accounting.rdp import rdp_privacy_accountant as rdp
    import numpy
    import scipy
    from scipy import integrate

    version = metadata.version("dp-accounting")

    def event(z, q, steps):
        return dp_accounting.SelfComposedDpEvent(
            dp_accounting.PoissonSampledDpEvent(q, dp_accounting.GaussianDpEvent(z)), steps)

    cases = []
    for z, q, steps in CASES:
        acc = rdp.RdpAccountant(orders=INTEGER_ORDERS)
        acc.compose(event(z, q, steps))
        rdp_values = [float(v) for v in acc._rdp]  # pylint: disable=protected-access
        rdp_epsilon = acc.get_epsilon(DELTA)
        pld = pld_privacy_accountant.PLDAccountant(value_discretization_interval=1e-4)
        pld.compose(event(z, q, steps))
        pld_epsilon = pld.get_epsilon(DELTA)
        pld_deltas = [(e, pld.get_delta(e)) for e in PLD_EPSILONS]
        cases.append((z, q, steps, rdp_values, rdp_epsilon, pld_epsilon, pld_deltas))
        print(f"z={z} q={q} T={steps}: RDP(int) eps={rdp_epsilon:.6f}  PLD eps={pld_epsilon:.6f}")

    # Fractional orders: dp_accounting's series vs the defining integral
    # A_alpha = E_{x~N(0,s^2)}[((1-q) + q exp((2x-1)/(2 s^2)))^alpha], integrated as A - 1.
    fractional = []
    for q, s, a in FRACTIONAL:
        theirs = rdp._compute_log_a_frac(q, s, a) / (a - 1)  # pylint: disable=protected-access

        def integrand(x):
            w = math.log1p(q * math.expm1((2 * x - 1) / (2 * s * s)))
            return math.exp(-x * x / (2 * s * s)) / (s * math.sqrt(2 * math.pi)) * math.expm1(a * w)

        peak = a  # the second bump sits near x = alpha
        pieces = [(-40 * s, 0.0), (0.0, peak), (peak, peak + 40 * s)]
        am1 = sum(integrate.quad(integrand, lo, hi, limit=1000, epsabs=0, epsrel=1e-13)[0] for lo, hi in pieces)
        reference = math.log1p(am1) / (a - 1)
        fractional.append((q, s, a, theirs, reference))
        print(f"q={q} s={s} alpha={a}: dp_accounting {theirs:.10g}  integral {reference:.10g}")

    # Timing, for information (best of 3).
    z, q, steps = 1.0, 0.01, 10000
    def best(f):
        times = []
        for _ in range(3):
            t0 = time.perf_counter()
            value = f()
            times.append(time.perf_counter() - t0)
        return value, min(times)

    def run_rdp():
        acc = rdp.RdpAccountant()
        acc.compose(event(z, q, steps))
        return acc.get_epsilon(DELTA)

    def run_pld():
        acc = pld_privacy_accountant.PLDAccountant()
        acc.compose(event(z, q, steps))
        return acc.get_epsilon(DELTA)

    rdp_eps, rdp_seconds = best(run_rdp)
    pld_eps, pld_seconds = best(run_pld)
    print(f"timing z={z} q={q} T={steps} delta={DELTA}: RdpAccountant eps={rdp_eps:.6f} in {rdp_seconds:.4f} s, "
          f"PLDAccountant eps={pld_eps:.6f} in {pld_seconds:.4f} s")

    lines = []
    w = lines.append
    w("// Generated by generate_dp_accounting.py — do not edit by hand; re-run the script instead.")
    w(f"// Google dp_accounting {version} (PyPI dp-accounting), numpy {numpy.__version__}, scipy {scipy.__version__},")
    w(f"// Python {sys.version.split()[0]}.")
    w("// RDP: RdpAccountant(orders=integer orders only); PLD: PLDAccountant(value_discretization_interval=1e-4),")
    w("// pessimistic connect-the-dots. Fractional: dp_accounting's _compute_log_a_frac (sign dropped) and")
    w("// scipy.integrate.quad of the defining integral.")
    w(f"// Timing on the generating machine (best of 3, z={z}, q={q}, T={steps}, δ={DELTA}): RdpAccountant "
      f"{rdp_seconds:.4f} s (ε={rdp_eps:.6f}), PLDAccountant {pld_seconds:.4f} s (ε={pld_eps:.6f}).")
    w("")
    w("struct DPAccountingCase: Sendable {")
    w("    let noiseMultiplier: Double")
    w("    let samplingRate: Double")
    w("    let steps: Int")
    w("    let delta: Double")
    w("    /// RDP of all `steps` rounds at ``DPAccountingVectors/integerOrders``.")
    w("    let rdp: [Double]")
    w("    /// RdpAccountant ε over the integer orders only.")
    w("    let rdpEpsilon: Double")
    w("    /// PLDAccountant ε at `delta`.")
    w("    let pldEpsilon: Double")
    w("    /// PLDAccountant δ at a few ε.")
    w("    let pldDeltas: [(epsilon: Double, delta: Double)]")
    w("}")
    w("")
    w("struct FractionalOrderVector: Sendable {")
    w("    let samplingRate: Double")
    w("    let sigma: Double")
    w("    let order: Double")
    w("    /// dp_accounting's (sign-dropping) value, for contrast.")
    w("    let dpAccountingRDP: Double")
    w("    /// log(E[(μ/μ0)^α])/(α−1) by numerical integration (scipy quad, relative tolerance 1e-13).")
    w("    let integratedRDP: Double")
    w("}")
    w("")
    w("enum DPAccountingVectors {")
    w(f"    static let packageVersion = \"{version}\"")
    w(f"    static let referencePLDSeconds = {pld_seconds!r}")
    w(f"    static let referenceRDPSeconds = {rdp_seconds!r}")
    w("    static let integerOrders: [Double] = [" + ", ".join(swift_double(o) for o in INTEGER_ORDERS) + "]")
    w("")
    w("    static let cases: [DPAccountingCase] = [")
    for z, q, steps, rdp_values, rdp_epsilon, pld_epsilon, pld_deltas in cases:
        w("        DPAccountingCase(")
        w(f"            noiseMultiplier: {swift_double(z)}, samplingRate: {swift_double(q)}, steps: {steps}, delta: {swift_double(DELTA)},")
        w("            rdp: [")
        for i in range(0, len(rdp_values), 4):
            w("                " + ", ".join(swift_double(v) for v in rdp_values[i:i + 4]) + ",")
        w("            ],")
        w(f"            rdpEpsilon: {swift_double(rdp_epsilon)}, pldEpsilon: {swift_double(pld_epsilon)},")
        w("            pldDeltas: [" + ", ".join(f"({swift_double(e)}, {swift_double(d)})" for e, d in pld_deltas) + "]),")
    w("    ]")
    w("")
    w("    static let fractional: [FractionalOrderVector] = [")
    for q, s, a, theirs, reference in fractional:
        w(f"        FractionalOrderVector(samplingRate: {swift_double(q)}, sigma: {swift_double(s)}, order: {swift_double(a)}, "
          f"dpAccountingRDP: {swift_double(theirs)}, integratedRDP: {swift_double(reference)}),")
    w("    ]")
    w("}")
    with open(OUT, "w") as f:
        f.write("\n".join(lines) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    ensure_venv()
    main()
