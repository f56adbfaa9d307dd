"""Native kernel vs pure-Python reference of cloudsage anomaly _run, bit for bit, on this machine.

usage:
  python compare.py make-inputs NAB_DIR INPUTS.npz          (once, on the host: both machines read the same inputs)
  python compare.py run INPUTS.npz OUT_DIR                  (on each machine; PYTHONPATH=<lambdas>)
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np

PERIODS = (60, 300, 3600)


def _synthetic(seed: int) -> tuple[np.ndarray, int]:
    rng = np.random.default_rng(10_000 + seed)
    period = int(PERIODS[seed % 3])
    n = int(rng.integers(1500, 6000))
    t = np.arange(n)
    y = 50 + rng.normal(0, rng.choice([0.3, 1.0, 3.0]), n) + 8 * np.sin(2 * np.pi * t * period / 86_400)
    for _ in range(int(rng.integers(0, 40))):  # bursts
        a = int(rng.integers(0, n))
        y[a : a + int(rng.integers(1, 30))] += rng.normal(0, 25)
    step_at = int(rng.integers(n // 4, 3 * n // 4))
    y[step_at:] += rng.choice([15.0, -40.0, 5.0, 0.0])  # level step
    y[rng.random(n) < rng.choice([0.0, 0.02, 0.2])] = np.nan  # scattered NaN
    for _ in range(int(rng.integers(0, 3))):  # NaN gaps
        a = int(rng.integers(0, n))
        y[a : a + int(rng.integers(10, 400))] = np.nan
    if rng.random() < 0.3:
        y = np.round(y)
    return y, period


def make_inputs(nab: Path, out: Path) -> None:
    arrays, meta = {}, []
    for f in sorted(nab.rglob("*.csv")):
        with f.open() as fh:
            y = np.array([float(r[1]) for r in list(csv.reader(fh))[1:]])
        arrays[f"s{len(meta)}"] = y
        meta.append({"name": f"nab/{f.relative_to(nab)}", "period": 300})
    for seed in range(50):
        y, period = _synthetic(seed)
        arrays[f"s{len(meta)}"] = y
        meta.append({"name": f"synthetic/{seed:02d}", "period": period})
    np.savez(out, meta=np.array(json.dumps(meta)), **arrays)
    print(f"{len(meta)} series, {sum(a.size for a in arrays.values())} points -> {out}")


def _same(a, b) -> bool:
    a, b = np.asarray(a), np.asarray(b)
    if a.dtype.kind == "f":
        return (
            a.dtype == b.dtype and np.array_equal(a, b, equal_nan=True) and np.array_equal(np.signbit(a), np.signbit(b))
        )
    return a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b)


def _h(a: np.ndarray) -> str:
    a = np.ascontiguousarray(a)
    return f"{a.dtype.str}{a.shape}:" + hashlib.sha256(a.tobytes()).hexdigest()


def run(inputs: Path, out_dir: Path) -> int:
    from cloudsage.core import native
    from cloudsage.core.models import anomaly as an

    lib = native.library()
    out_dir.mkdir(parents=True, exist_ok=True)
    info = {
        "machine": platform.machine(),
        "python": sys.version,
        "numpy": np.__version__,
        "library": str(native.library_path()),
        "inputs_sha256": hashlib.sha256(inputs.read_bytes()).hexdigest(),
    }
    print(json.dumps(info, indent=1))
    assert lib is not None, "kernel not loaded"
    data = np.load(inputs)
    meta = json.loads(str(data["meta"]))
    results, dumps, failures = [], {}, []
    t0 = time.time()
    for i, m in enumerate(meta):
        y = data[f"s{i}"]
        for pname, params in (("ALERT_DEFAULTS", an.ALERT_DEFAULTS), ("{}", {})):
            cfg = an._Config.build(m["period"], params)
            sp, sn = an._State(), an._State()
            tp = time.time()
            want = an._run(y, cfg, sp, native=False)
            tn = time.time()
            got = an._run(y, cfg, sn, native=True)
            te = time.time()
            diff_trace = [
                f.name for f in dataclasses.fields(want) if not _same(getattr(want, f.name), getattr(got, f.name))
            ]
            diff_state = [
                f.name for f in dataclasses.fields(sp) if repr(getattr(sp, f.name)) != repr(getattr(sn, f.name))
            ]
            key = f"{m['name']}|{pname}"
            rec = {
                "key": key,
                "n": int(y.size),
                "period": m["period"],
                "input": _h(y),
                "trace_native": {f.name: _h(np.asarray(getattr(got, f.name))) for f in dataclasses.fields(got)},
                "trace_python": {f.name: _h(np.asarray(getattr(want, f.name))) for f in dataclasses.fields(want)},
                "state_native": {
                    f.name: hashlib.sha256(repr(getattr(sn, f.name)).encode()).hexdigest()
                    for f in dataclasses.fields(sn)
                },
                "state_python": {
                    f.name: hashlib.sha256(repr(getattr(sp, f.name)).encode()).hexdigest()
                    for f in dataclasses.fields(sp)
                },
                "diff_trace": diff_trace,
                "diff_state": diff_state,
                "alerts": int(np.sum(got.alert_scores >= cfg.threshold)),
                "t_python_s": round(tn - tp, 3),
                "t_native_s": round(te - tn, 3),
            }
            results.append(rec)
            for f in dataclasses.fields(got):
                dumps[f"{i}|{pname}|{f.name}"] = np.asarray(getattr(got, f.name))
            ok = not diff_trace and not diff_state
            if not ok:
                failures.append(key)
            print(
                f"[{i + 1}/{len(meta)}] {key:70s} n={y.size:6d} {'EQUAL' if ok else f'DIFF {diff_trace + diff_state}'}"
                f"  py={tn - tp:.2f}s c={te - tn:.3f}s",
                flush=True,
            )
    info["wall_s"] = round(time.time() - t0, 1)
    info["cases"] = len(results)
    info["series"] = len(meta)
    info["native_vs_python_failures"] = failures
    (out_dir / "results.json").write_text(json.dumps({"info": info, "results": results}, indent=1))
    np.savez_compressed(out_dir / "native_traces.npz", **dumps)
    print(
        f"{len(results)} cases ({len(meta)} series x 2 param sets): "
        f"{len(results) - len(failures)} equal, {len(failures)} differ; {info['wall_s']} s"
    )
    return 1 if failures else 0


if __name__ == "__main__":
    if sys.argv[1] == "make-inputs":
        make_inputs(Path(sys.argv[2]), Path(sys.argv[3]))
    else:
        raise SystemExit(run(Path(sys.argv[2]), Path(sys.argv[3])))
