#!/usr/bin/env python3
"""Measure Flower's SecAgg+ compute in-process, for comparison with Tally's benchmark.

Not part of CI.  Creates a throwaway venv (default /tmp/flwr-venv) with PyPI
``flwr==1.42.0`` + numpy unless it already exists, then re-executes itself there.

What is measured (compute only: no gRPC, no networking, no Flower simulation engine):

* Participant ("collect masked vectors" stage): Flower's own client function
  ``flwr.client.mod.secure_aggregation.secaggplus_mod._collect_masked_vectors`` is
  called directly with a real ``SecAggPlusState`` produced by Flower's own ``_setup``
  and ``_share_keys``.  It decrypts the forwarded share ciphertexts, weights and
  quantizes the update (clipping range / target range), prepends the weight factor,
  adds the private mask ``pseudo_rand_gen(rd_seed, ...)`` and one pairwise mask per
  neighbour (ECDH + HKDF -> ``pseudo_rand_gen``), reduces mod ``mod_range`` and
  serializes the arrays.  Every participant of the case is timed; the median is reported.
  A step-by-step replica built from Flower's functions (checked to give the identical
  output) gives a breakdown.
* Coordinator "unmask" stage: the compute part of
  ``SecAggPlusWorkflow.unmask_stage`` (flwr/server/workflow/secure_aggregation/
  secaggplus_workflow.py) is inline in a method that also talks to the Grid and the
  Strategy, so its lines are reproduced here verbatim around Flower's functions:
  ``combine_shares`` for every sampled node, ``pseudo_rand_gen`` of survivors'
  private masks, ``generate_shared_key`` + ``pseudo_rand_gen`` of every pairwise mask
  of every dropped node, ``parameters_addition``/``parameters_subtraction``,
  ``parameters_mod``, ``factor_extract``, ``dequantize``, offset and re-weighting.
  The shares it combines come from Flower's own client ``_unmask``.
  The "collect masked vectors" summation on the coordinator (deserialize + add + mod)
  is timed separately as ``coordinator_collect_seconds``.
* Dropout: dropped participants take part in setup and share-keys, then do not deliver
  their masked vector (so survivors' vectors carry pairwise masks with them and the
  coordinator must rebuild those from the dropped nodes' reconstructed secret keys).
* The reconstructed aggregate is checked against the plain weighted average.

Output: one JSON document on stdout (progress on stderr).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import re
import shlex
import subprocess
import sys
import time

FLWR_WANTED = "1.42.0"
DEFAULT_VENV = "/tmp/flwr-venv"
MARKER_ENV = "TALLY_FLWR_BENCH_IN_VENV"
INSTALL_NOTE_FILE = "tally-flwr-install-note.json"

DEFAULT_CASES = [
    (10, 100_000, 0.0),
    (10, 100_000, 0.1),
    (10, 1_000_000, 0.0),
    (10, 1_000_000, 0.1),
    (50, 100_000, 0.0),
    (50, 100_000, 0.1),
    (100, 100_000, 0.0),
    (100, 100_000, 0.1),
]


def eprint(*a: object) -> None:
    print(*a, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------
# Bootstrap: venv + re-exec
# --------------------------------------------------------------------------------------


def _venv_python(venv: str) -> str:
    return os.path.join(venv, "bin", "python")


def _installed_flwr(py: str) -> str | None:
    r = subprocess.run(
        [py, "-c", "import importlib.metadata as m; print(m.version('flwr'))"],
        capture_output=True,
        text=True,
    )
    return r.stdout.strip() if r.returncode == 0 else None


def _pip(py: str, *args: str) -> subprocess.CompletedProcess:
    cmd = [py, "-m", "pip", "--disable-pip-version-check", *args]
    eprint("[bootstrap] " + " ".join(shlex.quote(c) for c in cmd))
    return subprocess.run(cmd, capture_output=True, text=True)


def _pick_closest_14x(py: str) -> str | None:
    """Closest available flwr 1.4x release to 1.42 (one registry look-up)."""
    r = _pip(py, "index", "versions", "flwr")
    found = re.findall(r"\b1\.4\d\.\d+\b", r.stdout)
    cands = sorted(
        set(found),
        key=lambda v: (abs(int(v.split(".")[1]) - 42), -int(v.split(".")[1]), -int(v.split(".")[2])),
    )
    return cands[0] if cands else None


def _install(py: str, version: str, note: dict) -> bool:
    r = _pip(py, "install", "-q", f"flwr=={version}", "numpy")
    if r.returncode == 0:
        note["install"] = f"pip install flwr=={version} numpy"
        return True
    eprint(r.stdout[-2000:] + r.stderr[-2000:])
    # Fallback: the package exists but one of its pins cannot be met by the registry
    # (seen here: flwr 1.42.0 pins certifi>=2026.10.19 while the newest certifi on the
    # index is 2026.10.18).  Install the declared requirements with only the
    # unsatisfiable pins relaxed, then flwr itself with --no-deps.
    import tempfile
    import zipfile

    tmp = tempfile.mkdtemp(prefix="flwr-dl-")
    d = _pip(py, "download", "-q", "--no-deps", f"flwr=={version}", "-d", tmp)
    if d.returncode != 0:
        return False
    whl = [f for f in os.listdir(tmp) if f.endswith(".whl")]
    if not whl:
        return False
    with zipfile.ZipFile(os.path.join(tmp, whl[0])) as z:
        meta = next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))
        text = z.read(meta).decode()
    reqs = [
        line.split(":", 1)[1].strip()
        for line in text.splitlines()
        if line.startswith("Requires-Dist:") and "extra ==" not in line
    ]
    relaxed = []
    # Try once with all pins; relax pins named in pip's "No matching distribution" errors.
    for _ in range(5):
        rr = _pip(py, "install", "-q", *reqs)
        if rr.returncode == 0:
            break
        bad = re.findall(r"No matching distribution found for ([A-Za-z0-9_.\-\[\]]+)", rr.stderr)
        if not bad:
            eprint(rr.stderr[-2000:])
            return False
        name = re.split(r"[<>=!~\[]", bad[0])[0].lower()
        new = []
        for q in reqs:
            qn = re.split(r"[<>=!~\[ ;]", q)[0].lower()
            if qn == name:
                relaxed.append(q)
                new.append(qn)
            else:
                new.append(q)
        reqs = new
    else:
        return False
    f = _pip(py, "install", "-q", "--no-deps", f"flwr=={version}")
    if f.returncode != 0:
        eprint(f.stderr[-2000:])
        return False
    note["install"] = (
        f"pip install flwr=={version} failed to resolve; installed its declared "
        f"requirements with these pins relaxed: {relaxed}, then flwr=={version} --no-deps"
    )
    note["relaxed_pins"] = relaxed
    return True


def bootstrap(venv: str) -> None:
    """Ensure we run inside a venv that has flwr; re-exec there if needed."""
    if os.environ.get(MARKER_ENV) == "1":
        return
    py = _venv_python(venv)
    if not os.path.exists(py):
        eprint(f"[bootstrap] creating venv {venv}")
        subprocess.run([sys.executable, "-m", "venv", venv], check=True)
    have = _installed_flwr(py)
    note_path = os.path.join(venv, INSTALL_NOTE_FILE)
    if have is None:
        note: dict = {"requested": FLWR_WANTED}
        ok = _install(py, FLWR_WANTED, note)
        if not ok:
            alt = _pick_closest_14x(py)
            if alt is None:
                sys.exit("could not install flwr 1.42.0 nor find another 1.4x release")
            note["fallback_version"] = alt
            note["why"] = f"flwr=={FLWR_WANTED} could not be installed; using closest 1.4x"
            if not _install(py, alt, note):
                sys.exit(f"could not install flwr=={alt}")
        with open(note_path, "w") as fh:
            json.dump(note, fh)
        have = _installed_flwr(py)
    eprint(f"[bootstrap] flwr {have} in {venv}; re-executing")
    env = dict(os.environ)
    env[MARKER_ENV] = "1"
    env.setdefault("FLWR_TELEMETRY_ENABLED", "0")
    os.execve(py, [py, os.path.abspath(__file__), *sys.argv[1:]], env)


# --------------------------------------------------------------------------------------
# Machine reference: raw AES-128-CTR keystream and Flower's PRG rate
# --------------------------------------------------------------------------------------


def aes_ctr_reference(mib: int = 64, repeats: int = 5) -> dict:
    import cryptography
    from cryptography.hazmat.backends.openssl.backend import backend as ossl
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    n = mib * 1024 * 1024
    src = bytes(n)
    out = bytearray(n + 15)
    key, nonce = os.urandom(16), os.urandom(16)
    best = float("inf")
    for _ in range(repeats):
        enc = Cipher(algorithms.AES(key), modes.CTR(nonce)).encryptor()
        t0 = time.perf_counter()
        enc.update_into(src, out)
        best = min(best, time.perf_counter() - t0)
    return {
        "what": f"AES-128-CTR keystream over a {mib} MiB zero buffer, python `cryptography` "
        "Cipher.encryptor().update_into, best of %d, one core" % repeats,
        "bytes": n,
        "best_seconds": best,
        "gb_per_s": n / best / 1e9,
        "cryptography_version": cryptography.__version__,
        "openssl": ossl.openssl_version_text(),
    }


def flower_prg_reference(mod_range: int, d: int = 1_000_000, repeats: int = 5) -> dict:
    from flwr.common.secure_aggregation.secaggplus_utils import pseudo_rand_gen

    best = float("inf")
    for _ in range(repeats):
        seed = os.urandom(32)
        t0 = time.perf_counter()
        pseudo_rand_gen(seed, mod_range, [(d,)])
        best = min(best, time.perf_counter() - t0)
    return {
        "what": f"flwr pseudo_rand_gen(seed, {mod_range}, [({d},)]) = numpy RandomState(seed32)"
        ".randint(0, mod_range-1, d, dtype=int64), best of %d" % repeats,
        "coordinates": d,
        "best_seconds": best,
        "coordinates_per_s": d / best,
        "output_gb_per_s_int64": 8 * d / best / 1e9,
    }


# --------------------------------------------------------------------------------------
# Flower SecAgg+ harness
# --------------------------------------------------------------------------------------


class Group:
    """Setup (keys + shares) for one participant count n, reused across d and dropout."""

    def __init__(self, n: int, wf, rng, t_budget_note: dict):
        from flwr.app import ConfigRecord
        from flwr.client.mod.secure_aggregation.secaggplus_mod import (
            SecAggPlusState,
            _setup,
            _share_keys,
        )
        from flwr.common.secure_aggregation.secaggplus_constants import Key

        self.n = n
        # --- protocol config, exactly as SecAggPlusWorkflow.setup_stage computes it ---
        num_samples = n
        if isinstance(wf.num_shares, float):
            num_shares = round(wf.num_shares * num_samples)
            if num_shares < num_samples and num_shares & 1 == 0:
                num_shares += 1
            if num_shares <= 2:
                num_shares = num_samples
        else:
            num_shares = wf.num_shares
        if isinstance(wf.reconstruction_threshold, float):
            threshold = round(wf.reconstruction_threshold * num_shares)
            threshold = max(threshold, 2)
        else:
            threshold = wf.reconstruction_threshold
        self.num_shares, self.threshold = num_shares, threshold
        self.params = {
            "num_shares": num_shares,
            "threshold": threshold,
            "clipping_range": wf.clipping_range,
            "quantization_range": wf.quantization_range,
            "mod_range": wf.modulus_range,
            "max_weight": wf.max_weight,
        }
        # Node IDs (Flower's are random 64-bit; ConfigRecord ints are sint64).
        nids = []
        while len(nids) < n:
            v = int(rng.integers(1, 2**63 - 1))
            if v not in nids:
                nids.append(v)
        self.nids = nids
        # Neighbour graph, exactly as setup_stage builds it (shuffled ring, +-half_share).
        sampled = list(nids)
        rng.shuffle(sampled)
        half_share = num_shares >> 1
        self.nid_to_neighbours = {
            nid: {sampled[(idx + off) % num_samples] for off in range(-half_share, half_share + 1)}
            for idx, nid in enumerate(sampled)
        }
        assert all(len(v) == n for v in self.nid_to_neighbours.values()), "not a complete graph"

        t0 = time.perf_counter()
        # Stage 0: setup (Flower's client _setup)
        self.states = {}
        self.pks = {}
        for nid in nids:
            st = SecAggPlusState()
            st.nid = nid
            res = _setup(
                st,
                ConfigRecord(
                    {
                        Key.SAMPLE_NUMBER: num_samples,
                        Key.SHARE_NUMBER: num_shares,
                        Key.THRESHOLD: threshold,
                        Key.CLIPPING_RANGE: float(wf.clipping_range),
                        Key.TARGET_RANGE: wf.quantization_range,
                        Key.MOD_RANGE: wf.modulus_range,
                        Key.MAX_WEIGHT: float(wf.max_weight),
                    }
                ),
            )
            self.states[nid] = st
            self.pks[nid] = [res[Key.PUBLIC_KEY_1], res[Key.PUBLIC_KEY_2]]
        # Stage 1: share keys (Flower's client _share_keys), server forwarding as in
        # share_keys_stage.
        fwd_ct = {nid: [] for nid in nids}
        fwd_src = {nid: [] for nid in nids}
        self.share_keys_upload_bytes = {}
        for nid in nids:
            neigh = self.nid_to_neighbours[nid]
            cfg = ConfigRecord({str(x): self.pks[x] for x in neigh})
            res = _share_keys(self.states[nid], cfg)
            self.share_keys_upload_bytes[nid] = sum(len(c) for c in res[Key.CIPHERTEXT_LIST])
            for dst, ct in zip(res[Key.DESTINATION_LIST], res[Key.CIPHERTEXT_LIST]):
                fwd_ct[dst].append(ct)
                fwd_src[dst].append(nid)
        self.fwd_ct, self.fwd_src = fwd_ct, fwd_src
        self.setup_seconds = time.perf_counter() - t0
        self.setup_upload_bytes_per_participant = {
            "stage_setup_public_keys": sum(len(x) for x in self.pks[nids[0]]),
            "stage_share_keys_ciphertexts": self.share_keys_upload_bytes[nids[0]],
        }


def mask_all(group: Group, d: int, rng) -> dict:
    """Every participant runs Flower's _collect_masked_vectors; each one is timed."""
    import copy

    import numpy as np
    from flwr.app import ConfigRecord, RecordDict
    from flwr.client.mod.secure_aggregation.secaggplus_mod import _collect_masked_vectors
    from flwr.common import ndarrays_to_parameters
    from flwr.common.secure_aggregation.secaggplus_constants import RECORD_KEY_CONFIGS, Key
    from flwr.common.serde import recorddict_to_proto

    updates, weights, times, masked, cpu = {}, {}, {}, {}, {}
    first_state_copy = None
    for i, nid in enumerate(group.nids):
        x = rng.normal(0.0, 0.5, size=d).astype(np.float32)
        w = int(rng.integers(100, int(group.params["max_weight"]) + 1))
        updates[nid], weights[nid] = x, w
        params = ndarrays_to_parameters([x])
        cfg = ConfigRecord({Key.CIPHERTEXT_LIST: group.fwd_ct[nid], Key.SOURCE_LIST: group.fwd_src[nid]})
        st = group.states[nid]
        if i == 0:
            first_state_copy = (copy.deepcopy(st), params, w, cfg)
        np.random.seed(1234 + i)  # Flower's stochastic rounding uses numpy's global RNG
        c0 = time.process_time()
        t0 = time.perf_counter()
        res = _collect_masked_vectors(st, cfg, w, params)
        times[nid] = time.perf_counter() - t0
        cpu[nid] = time.process_time() - c0
        masked[nid] = res[Key.MASKED_PARAMETERS]
    # Upload sizes of participant 0
    from flwr.common import bytes_to_ndarray

    nid0 = group.nids[0]
    arrs0 = [bytes_to_ndarray(b) for b in masked[nid0]]
    res0 = {Key.MASKED_PARAMETERS: masked[nid0]}
    proto_size = recorddict_to_proto(RecordDict({RECORD_KEY_CONFIGS: ConfigRecord(res0, False)})).ByteSize()
    upload = {
        "upload_bytes_per_participant": int(sum(a.nbytes for a in arrs0)),
        "masked_arrays": [{"shape": list(a.shape), "dtype": str(a.dtype), "nbytes": int(a.nbytes)} for a in arrs0],
        "upload_serialized_npy_bytes": int(sum(len(b) for b in masked[nid0])),
        "upload_recorddict_proto_bytes": int(proto_size),
    }
    breakdown = replica_breakdown(group, first_state_copy, masked[nid0])
    ts = sorted(times.values())
    return {
        "updates": updates,
        "weights": weights,
        "masked": masked,
        "times": ts,
        "cpu_times": sorted(cpu.values()),
        "upload": upload,
        "breakdown": breakdown,
    }


def replica_breakdown(group: Group, saved, real_output) -> dict:
    """Step-by-step copy of _collect_masked_vectors (Flower's functions), timed per step.

    Verified to produce byte-identical masked arrays to the real call."""
    import numpy as np
    from flwr.common import ndarray_to_bytes, parameters_to_ndarrays
    from flwr.common.secure_aggregation.crypto.symmetric_encryption import decrypt, generate_shared_key
    from flwr.common.secure_aggregation.ndarrays_arithmetic import (
        factor_combine,
        parameters_addition,
        parameters_mod,
        parameters_multiply,
        parameters_subtraction,
    )
    from flwr.common.secure_aggregation.quantization import quantize
    from flwr.common.secure_aggregation.secaggplus_constants import Key
    from flwr.common.secure_aggregation.secaggplus_utils import (
        pseudo_rand_gen,
        share_keys_plaintext_separate,
    )
    from flwr.supercore.primitives.asymmetric import bytes_to_private_key, bytes_to_public_key

    state, updated_parameters, num_examples, configs = saved
    pc = time.perf_counter
    T = {}
    t0 = pc()
    available_clients = []
    for src, ciphertext in zip(configs[Key.SOURCE_LIST], configs[Key.CIPHERTEXT_LIST]):
        plaintext = decrypt(state.ss2_dict[src], ciphertext)
        actual_src, dst, rd_seed_share, sk1_share = share_keys_plaintext_separate(plaintext)
        available_clients.append(src)
        state.rd_seed_share_dict[src] = rd_seed_share
        state.sk1_share_dict[src] = sk1_share
    T["decrypt_forwarded_shares"] = pc() - t0
    np.random.seed(1234)
    t0 = pc()
    ratio = num_examples / state.max_weight
    q_ratio = round(ratio * state.target_range)
    dq_ratio = q_ratio / state.target_range
    parameters = parameters_to_ndarrays(updated_parameters)
    parameters = parameters_multiply(parameters, dq_ratio)
    quantized = quantize(parameters, state.clipping_range, state.target_range)
    quantized = factor_combine(q_ratio, quantized)
    dims = [a.shape for a in quantized]
    T["weight_and_quantize"] = pc() - t0
    t0 = pc()
    private_mask = pseudo_rand_gen(state.rd_seed, state.mod_range, dims)
    quantized = parameters_addition(quantized, private_mask)
    T["private_mask_prg_and_add"] = pc() - t0
    t_ka = t_prg = t_add = 0.0
    for node_id in available_clients:
        a = pc()
        shared_key = generate_shared_key(
            bytes_to_private_key(state.sk1),
            bytes_to_public_key(state.public_keys_dict[node_id][0]),
        )
        b = pc()
        pairwise_mask = pseudo_rand_gen(shared_key, state.mod_range, dims)
        c = pc()
        if state.nid > node_id:
            quantized = parameters_addition(quantized, pairwise_mask)
        else:
            quantized = parameters_subtraction(quantized, pairwise_mask)
        t_ka += b - a
        t_prg += c - b
        t_add += pc() - c
    T["pairwise_key_agreement"] = t_ka
    T["pairwise_mask_prg"] = t_prg
    T["pairwise_mask_add"] = t_add
    t0 = pc()
    quantized = parameters_mod(quantized, state.mod_range)
    T["mod"] = pc() - t0
    t0 = pc()
    out = [ndarray_to_bytes(arr) for arr in quantized]
    T["serialize_npy"] = pc() - t0
    T["identical_to_real_call"] = out == real_output
    T["total_excluding_decrypt_and_serialize"] = sum(
        v for k, v in T.items() if isinstance(v, float) and k not in ("decrypt_forwarded_shares", "serialize_npy")
    )
    T["pairwise_masks"] = len(available_clients)
    return T


def coordinator(group: Group, mk: dict, dropped: list) -> dict:
    """Coordinator: collect-stage sum (timed apart) + unmask stage (timed)."""
    import numpy as np
    from flwr.app import ConfigRecord
    from flwr.client.mod.secure_aggregation.secaggplus_mod import _unmask
    from flwr.common import bytes_to_ndarray
    from flwr.common.secure_aggregation.crypto.shamir import combine_shares
    from flwr.common.secure_aggregation.crypto.symmetric_encryption import generate_shared_key
    from flwr.common.secure_aggregation.ndarrays_arithmetic import (
        factor_extract,
        get_parameters_shape,
        parameters_addition,
        parameters_mod,
        parameters_subtraction,
    )
    from flwr.common.secure_aggregation.quantization import dequantize
    from flwr.common.secure_aggregation.secaggplus_constants import Key
    from flwr.common.secure_aggregation.secaggplus_utils import pseudo_rand_gen
    from flwr.supercore.primitives.asymmetric import bytes_to_private_key, bytes_to_public_key

    p = group.params
    mod_range, quantization_range, clipping_range = p["mod_range"], p["quantization_range"], p["clipping_range"]
    sampled = set(group.nids)
    active_nids = sampled - set(dropped)
    dead_nids = sampled - active_nids
    pc = time.perf_counter

    # ---- collect_masked_vectors_stage: sum of received masked vectors (verbatim) ----
    t0 = pc()
    masked_vector = None
    for nid in group.nids:
        if nid not in active_nids:
            continue
        client_masked_vec = [bytes_to_ndarray(b) for b in mk["masked"][nid]]
        if masked_vector is None:
            masked_vector = client_masked_vec
        else:
            masked_vector = parameters_addition(masked_vector, client_masked_vec)
    masked_vector = parameters_mod(masked_vector, mod_range)
    collect_seconds = pc() - t0

    # ---- survivors answer the unmask request (Flower's client _unmask; not timed) ----
    msgs = []
    for nid in active_nids:
        neighbours = group.nid_to_neighbours[nid]
        cfg = ConfigRecord(
            {
                Key.ACTIVE_NODE_ID_LIST: list(neighbours & active_nids),
                Key.DEAD_NODE_ID_LIST: list(neighbours & dead_nids),
            }
        )
        msgs.append(_unmask(group.states[nid], cfg))
    collected_shares_dict = {nid: [] for nid in sampled}
    for res in msgs:
        for owner_nid, share in zip(res[Key.NODE_ID_LIST], res[Key.SHARE_LIST], strict=True):
            collected_shares_dict[owner_nid].append(share)
    nid_to_neighbours = {k: set(v) for k, v in group.nid_to_neighbours.items()}  # it mutates

    # ---- unmask_stage compute (verbatim, with sub-timers) ----
    t_comb = t_ka = t_prg = t_arith = 0.0
    n_private = n_pairwise = 0
    c_start = time.process_time()
    t_start = pc()
    for nid, share_list in collected_shares_dict.items():
        if len(share_list) < group.threshold:
            raise RuntimeError("Not enough shares to recover secret in unmask vectors stage")
        a = pc()
        secret = combine_shares(share_list)
        t_comb += pc() - a
        if nid in active_nids:
            a = pc()
            private_mask = pseudo_rand_gen(secret, mod_range, get_parameters_shape(masked_vector))
            b = pc()
            masked_vector = parameters_subtraction(masked_vector, private_mask)
            t_prg += b - a
            t_arith += pc() - b
            n_private += 1
        else:
            neighbours = nid_to_neighbours[nid]
            neighbours.remove(nid)
            for neighbor_nid in neighbours:
                a = pc()
                shared_key = generate_shared_key(
                    bytes_to_private_key(secret),
                    bytes_to_public_key(group.pks[neighbor_nid][0]),
                )
                b = pc()
                pairwise_mask = pseudo_rand_gen(shared_key, mod_range, get_parameters_shape(masked_vector))
                c = pc()
                if nid > neighbor_nid:
                    masked_vector = parameters_addition(masked_vector, pairwise_mask)
                else:
                    masked_vector = parameters_subtraction(masked_vector, pairwise_mask)
                t_ka += b - a
                t_prg += c - b
                t_arith += pc() - c
                n_pairwise += 1
    a = pc()
    recon_parameters = parameters_mod(masked_vector, mod_range)
    q_total_ratio, recon_parameters = factor_extract(recon_parameters)
    inv_dq_total_ratio = quantization_range / q_total_ratio
    aggregated_vector = dequantize(recon_parameters, clipping_range, quantization_range)
    offset = -(len(active_nids) - 1) * clipping_range
    for vec in aggregated_vector:
        vec += offset
        vec *= inv_dq_total_ratio
    t_deq = pc() - a
    unmask_seconds = pc() - t_start
    unmask_cpu = time.process_time() - c_start

    # ---- correctness: weighted average with Flower's integer weights q_i ----
    mw, T = p["max_weight"], quantization_range
    q = {nid: round(mk["weights"][nid] / mw * T) for nid in active_nids}
    exp = sum(q[nid] * mk["updates"][nid].astype(np.float64) for nid in active_nids) / sum(q.values())
    err = float(np.max(np.abs(aggregated_vector[0] - exp)))
    return {
        "coordinator_collect_seconds": collect_seconds,
        "coordinator_unmask_seconds": unmask_seconds,
        "coordinator_unmask_process_cpu_seconds": unmask_cpu,
        "coordinator_unmask_breakdown": {
            "combine_shares_seconds": t_comb,
            "shamir_secrets_combined": len(collected_shares_dict),
            "shares_per_secret": len(active_nids),
            "pairwise_key_agreement_seconds": t_ka,
            "mask_prg_seconds": t_prg,
            "mask_add_subtract_seconds": t_arith,
            "mod_dequantize_reweight_seconds": t_deq,
            "private_masks_regenerated": n_private,
            "pairwise_masks_regenerated": n_pairwise,
        },
        "max_abs_error_vs_weighted_average": err,
        "aggregate_correct": bool(err < 1e-4),
    }


def estimate_seconds(n: int, d: int, dropout: float, calib: dict) -> tuple[float, float]:
    """Crude run-time estimate: (setup for this n, all participants masking + unmask)."""
    k = n / calib["n"]
    setup = n * (calib["split_sk"] + calib["split_seed"]) * k * k + n * (n - 1) * calib["key_agreement"]
    dead = round(dropout * n)
    alive = n - dead
    comb = (alive * calib["combine_seed"] + dead * calib["combine_sk"]) * (alive / calib["n"]) ** 2
    prgs = n * n + alive + dead * (n - 1)
    rest = comb + calib["prg_per_coord"] * d * prgs + (n * (n - 1) + dead * (n - 1)) * calib["key_agreement"]
    return setup, rest


def calibrate(threshold_frac: float) -> dict:
    from flwr.common.secure_aggregation.crypto.shamir import combine_shares, create_shares
    from flwr.common.secure_aggregation.secaggplus_utils import pseudo_rand_gen
    from flwr.common.secure_aggregation.crypto.symmetric_encryption import generate_shared_key
    from flwr.supercore.primitives.asymmetric import (
        bytes_to_private_key,
        bytes_to_public_key,
        generate_key_pairs,
        private_key_to_bytes,
        public_key_to_bytes,
    )

    n = 10
    t = max(2, round(threshold_frac * n))
    sk = private_key_to_bytes(generate_key_pairs()[0])
    a = time.perf_counter()
    sh = create_shares(sk, t, n)
    b = time.perf_counter()
    shs = create_shares(os.urandom(32), t, n)
    c = time.perf_counter()
    combine_shares(sh)
    e = time.perf_counter()
    combine_shares(shs)
    f = time.perf_counter()
    pseudo_rand_gen(os.urandom(32), 2**32, [(100_000,)])
    g = time.perf_counter()
    sk1, pk1 = generate_key_pairs()
    skb, pkb = private_key_to_bytes(sk1), public_key_to_bytes(generate_key_pairs()[1])
    h = time.perf_counter()
    for _ in range(20):
        generate_shared_key(bytes_to_private_key(skb), bytes_to_public_key(pkb))
    i = time.perf_counter()
    return {
        "n": n,
        "split_sk": b - a,
        "split_seed": c - b,
        "combine_sk": e - c,
        "combine_seed": f - e,
        "prg_per_coord": 2.0 * (g - f) / 100_000,
        "key_agreement": (i - h) / 20,
    }


def parse_cases(s: str | None):
    if not s:
        return list(DEFAULT_CASES)
    out = []
    for item in s.split(","):
        item = item.strip()
        m = re.fullmatch(r"(\d+)x([0-9.eE+]+)(?::([0-9.]+))?", item)
        if not m:
            raise SystemExit(f"bad case {item!r}: use NxD[:DROPOUT], e.g. 10x1e5:0.1")
        n, d = int(m.group(1)), int(float(m.group(2)))
        drops = [float(m.group(3))] if m.group(3) is not None else [0.0, 0.1]
        for f in drops:
            out.append((n, d, f))
    return out


def run_tally(bin_path: str, n: int, d: int, f: float, timeout: float) -> dict:
    cmd = [bin_path, "secagg", "--participants", str(n), "--dimension", str(d), "--dropout", str(f), "--json"]
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except Exception as ex:  # noqa: BLE001
        return {"command": cmd, "error": repr(ex)}
    doc = None
    try:
        doc = json.loads(r.stdout)
    except ValueError:
        for line in reversed(r.stdout.splitlines()):
            try:
                doc = json.loads(line)
                break
            except ValueError:
                continue
    if doc is None:
        return {"command": cmd, "error": f"no JSON on stdout (exit {r.returncode})", "stderr_tail": r.stderr[-1000:]}
    return {"command": cmd, "exit_code": r.returncode, "result": doc}


def ratios(flower: dict, tally: dict) -> dict:
    out = {}
    for k in ("participant_masking_seconds", "coordinator_unmask_seconds", "upload_bytes_per_participant"):
        fv, tv = flower.get(k), tally.get(k) if isinstance(tally, dict) else None
        if isinstance(fv, (int, float)) and isinstance(tv, (int, float)) and tv > 0:
            out[k] = fv / tv
        else:
            out[k] = None
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cases", help="comma list of NxD[:DROPOUT] (e.g. 10x1e5:0,10x1e6:0.1,100x1e5:0.1); "
                    "without :DROPOUT both 0 and 0.1. Default: (10,1e5),(10,1e6),(50,1e5),(100,1e5) x {0,0.1}")
    ap.add_argument("--max-seconds", type=float, default=1800.0,
                    help="overall wall-clock budget; a case whose estimate does not fit is skipped (default 1800)")
    ap.add_argument("--reconstruction-threshold", type=float, default=0.5,
                    help="SecAggPlusWorkflow reconstruction_threshold (no default in Flower; float = fraction "
                    "of num_shares). Default 0.5")
    ap.add_argument("--tally", metavar="BIN", help="Tally benchmark executable: runs `BIN secagg --participants N "
                    "--dimension D --dropout F --json` per case")
    ap.add_argument("--tally-timeout", type=float, default=600.0)
    ap.add_argument("--venv", default=DEFAULT_VENV)
    ap.add_argument("--seed", type=int, default=20260101)
    ap.add_argument("--output", help="also write the JSON to this file")
    args = ap.parse_args()

    bootstrap(args.venv)

    # From here on we are inside the venv.  Keep stdout for the JSON document only.
    json_out = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    sys.stdout = sys.stderr

    import importlib.metadata as md
    import inspect

    import numpy as np
    from flwr.server.workflow.secure_aggregation.secaggplus_workflow import SecAggPlusWorkflow

    started = time.time()
    flwr_version = md.version("flwr")
    note_path = os.path.join(sys.prefix, INSTALL_NOTE_FILE)
    install_note = json.load(open(note_path)) if os.path.exists(note_path) else None

    sig = inspect.signature(SecAggPlusWorkflow.__init__)
    defaults = {k: v.default for k, v in sig.parameters.items() if v.default is not inspect.Parameter.empty}
    wf = SecAggPlusWorkflow(num_shares=1.0, reconstruction_threshold=args.reconstruction_threshold)

    cases = parse_cases(args.cases)
    doc: dict = {
        "tool": "Tests/tally-bench/flower/compare_flower.py",
        "command": " ".join(shlex.quote(a) for a in [os.path.basename(__file__), *sys.argv[1:]]),
        "date_utc": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": {
            "nproc": int(subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip() or 0),
            "os_cpu_count": os.cpu_count(),
            "cpu_model": next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), None)
            if os.path.exists("/proc/cpuinfo") else None,
            "loadavg_at_start": list(os.getloadavg()),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "flower_version": flwr_version,
        "flower_install_note": install_note,
        "library_versions": {
            "numpy": np.__version__,
            "cryptography": md.version("cryptography"),
            "pycryptodome": md.version("pycryptodome"),
        },
        "flower_parameters": {
            "secaggplus_workflow_defaults": {k: v for k, v in defaults.items() if k != "self"},
            "num_shares": "1.0 (float => num_shares = n: complete graph, every node's neighbours = all nodes)",
            "reconstruction_threshold": args.reconstruction_threshold,
            "reconstruction_threshold_note": "SecAggPlusWorkflow has no default for num_shares / "
            "reconstruction_threshold; they do not change the timed work (the coordinator passes all "
            "survivors' shares to combine_shares).",
        },
        "method": {
            "participant_masking_seconds": "median over all n participants of one call of Flower's "
            "secaggplus_mod._collect_masked_vectors (decrypt forwarded shares, weight, quantize, factor_combine, "
            "private mask, n-1 pairwise masks incl. ECDH, mod, np.save serialization); in-process, no networking",
            "coordinator_unmask_seconds": "compute part of SecAggPlusWorkflow.unmask_stage reproduced verbatim "
            "around Flower's functions: combine_shares for every sampled node, PRG of survivors' private masks, "
            "ECDH+PRG of every pairwise mask of every dropped node, add/subtract, mod, factor_extract, dequantize, "
            "offset and reweight",
            "coordinator_collect_seconds": "Flower's collect stage sum on the coordinator (bytes_to_ndarray + "
            "parameters_addition + parameters_mod over survivors), not included in coordinator_unmask_seconds",
            "upload_bytes_per_participant": "sum of nbytes of the masked int64 arrays one participant sends "
            "([weight factor (1,), update (d,)])",
            "dropout": "dropped participants complete setup and share-keys, then do not deliver a masked vector",
            "update": "float32 N(0, 0.5^2) per coordinate, num_examples uniform in [100, max_weight]",
            "contention": "*_process_cpu_seconds is the process CPU time over the same interval; wall time well "
            "above it means the 2-core machine was busy with something else (see loadavg fields)",
        },
        "reference": {},
        "cases": [],
        "skipped": [],
    }

    eprint("[ref] AES-128-CTR keystream ...")
    doc["reference"]["aes_128_ctr"] = aes_ctr_reference()
    eprint(f"[ref] AES-128-CTR {doc['reference']['aes_128_ctr']['gb_per_s']:.2f} GB/s")
    doc["reference"]["flower_prg"] = flower_prg_reference(wf.modulus_range)
    calib = calibrate(args.reconstruction_threshold)
    doc["reference"]["calibration_for_estimates"] = calib

    rng = np.random.default_rng(args.seed)
    by_n: dict = {}
    for c in cases:
        by_n.setdefault(c[0], {}).setdefault(c[1], []).append(c[2])

    for n in sorted(by_n):
        group = None
        for d in sorted(by_n[n]):
            mk = None
            for f in by_n[n][d]:
                elapsed = time.time() - started
                est_setup, est_rest = estimate_seconds(n, d, f, calib)
                est = est_rest + (est_setup if group is None else 0.0)
                if elapsed + est > args.max_seconds:
                    doc["skipped"].append({"participants": n, "dimension": d, "dropout": f,
                                           "reason": f"estimated {est:.0f} s does not fit --max-seconds "
                                           f"{args.max_seconds:.0f} (elapsed {elapsed:.0f} s)"})
                    eprint(f"[skip] n={n} d={d} dropout={f}: estimate {est:.0f}s")
                    continue
                if group is None:
                    eprint(f"[setup] n={n}: Flower _setup + _share_keys for all participants (not timed) ...")
                    group = Group(n, wf, rng, {})
                    eprint(f"[setup] n={n} done in {group.setup_seconds:.1f}s")
                if mk is None:
                    eprint(f"[mask] n={n} d={d}: all participants run _collect_masked_vectors ...")
                    mk = mask_all(group, d, rng)
                    eprint(f"[mask] median {mk['times'][len(mk['times']) // 2]:.3f}s")
                dead_count = round(f * n)
                drop_rng = np.random.default_rng(args.seed + n + d)
                dropped = list(drop_rng.choice(group.nids, size=dead_count, replace=False)) if dead_count else []
                dropped = [int(x) for x in dropped]
                eprint(f"[unmask] n={n} d={d} dropout={f} ({dead_count} dropped) ...")
                co = coordinator(group, mk, dropped)
                eprint(f"[unmask] {co['coordinator_unmask_seconds']:.2f}s, max err {co['max_abs_error_vs_weighted_average']:.2e}")
                ts = mk["times"]
                case = {
                    "participants": n,
                    "dimension": d,
                    "dropout": f,
                    "dropped_participants": dead_count,
                    "flower_version": flwr_version,
                    "participant_masking_seconds": ts[len(ts) // 2],
                    "participant_masking_seconds_min": ts[0],
                    "participant_masking_seconds_max": ts[-1],
                    "participant_masking_samples": len(ts),
                    "participant_masking_process_cpu_seconds_median": mk["cpu_times"][len(ts) // 2],
                    "participant_masking_note": "same measurement for every dropout of this (n, d): "
                    "participants mask before anyone drops",
                    "participant_masking_breakdown_seconds": mk["breakdown"],
                    **{k: v for k, v in co.items()},
                    **mk["upload"],
                    "other_uploads_per_participant_bytes": group.setup_upload_bytes_per_participant,
                    "setup_seconds_untimed_all_participants": group.setup_seconds,
                    "parameters": group.params,
                    "loadavg_1min_after_case": os.getloadavg()[0],
                }
                doc["cases"].append(case)
                if args.tally:
                    eprint(f"[tally] {args.tally} secagg --participants {n} --dimension {d} --dropout {f} --json")
                    tr = run_tally(args.tally, n, d, f, args.tally_timeout)
                    case["tally"] = tr
                    case["ratio_flower_over_tally"] = ratios(case, tr.get("result", {}))
            del mk
        del group

    doc["machine"]["loadavg_at_end"] = list(os.getloadavg())
    doc["total_wall_seconds"] = time.time() - started
    text = json.dumps(doc, indent=2, default=lambda o: o.item() if hasattr(o, "item") else str(o))
    json_out.write(text + "\n")
    json_out.flush()
    if args.output:
        with open(args.output, "w") as fh:
            fh.write(text + "\n")


if __name__ == "__main__":
    main()
