"""Fit the capacity model on the light-load part of real load tests, predict the rest, compare with USL.

Usage (from the repository root)::

    PYTHONPATH=lambdas:. python -m benchmarks.perf.run --data ../shared/data

``--data`` is the shared data root (its ``loadtest/`` folder is used) or the load-test folder itself. For each
closed-loop CSV (``loadtest.csv``, ``loadtest_busy.csv``) it fits on ``N <= 8`` connections and predicts every
held-out level; for the open-loop CSV (``openloop.csv``) it fits on rates ``<= 300`` req/s. Side by side, in the
same process and on the same fitted points:

* ``cloudsage``: :class:`PerformancePredictor` (MVA with a measured or utilisation-law ceiling; USL collapse only
  when the data show one);
* ``usl``: the Universal Scalability Law fitted (least squares) to the per-level medians, trusted as is;
* ``util-law``: the same MVA curve with the ceiling from the utilisation law alone (``(cores - background) / D``);
* open loop only: ``linear`` (latency extrapolated linearly in the rate) and ``cloudsage-remote-gen`` (the
  generator's CPU not counted against the server).

Errors are against the per-level median of the repetitions ("per-point"); MAPE is over the held-out levels, plus
the per-repetition MAPE and the share of held-out repetitions inside the 90 % interval. The last line is
``PERF plateau_err_pct=.. thr_mape_pct=.. lat_mape_pct=.. usl_thr_mape_pct=..`` for the main closed-loop run.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from cloudsage.core.loadtest import LoadTest, read_loadtest
from cloudsage.core.models.performance import PerformancePredictor, fit_usl, mva_throughput, usl_throughput

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_DATA = (REPO_ROOT / ".." / "shared" / "data").resolve()
DEFAULT_OUT = REPO_ROOT / "out" / "perf.json"
CLOSED_FILES = ("loadtest.csv", "loadtest_busy.csv")
OPEN_FILE = "openloop.csv"


def _dir(data: Path) -> Path:
    return data / "loadtest" if (data / "loadtest").is_dir() else data


def _median_by_level(test: LoadTest, attr: str) -> dict[float, float]:
    out: dict[float, float] = {}
    for lvl in test.levels:
        out[lvl] = float(np.median([getattr(p, attr) for p in test.points if p.load == lvl]))
    return out


def _pct(pred: float, obs: float) -> float:
    return 100.0 * (pred - obs) / obs if math.isfinite(pred) else math.inf


def _mape(errs: Sequence[float]) -> float:
    return float(np.mean(np.abs(errs))) if errs else math.nan


def _fmt(v: float, nd: int = 1) -> str:
    return "inf" if not math.isfinite(v) else f"{v:.{nd}f}"


def closed_run(path: Path, fit_max: float) -> dict[str, Any]:
    """Fit on ``N <= fit_max``, predict the held-out levels with the model and the baselines."""
    test = read_loadtest(path)
    fit, held = test.select(max_load=fit_max), test.select(min_load=fit_max + 1e-9)
    t0 = time.perf_counter()
    model = PerformancePredictor().fit(fit)
    fit_s = time.perf_counter() - t0
    cap = model.capacity_
    levels = held.levels
    x_obs, r_obs = _median_by_level(held, "throughput_rps"), _median_by_level(held, "mean_s")
    pred = model.predict(levels)
    fit_x = _median_by_level(fit, "throughput_rps")
    usl = fit_usl(np.array(list(fit_x)), np.array(list(fit_x.values())))
    usl_x = usl_throughput(np.array(levels), usl["lam"], usl["sigma"], usl["kappa"])
    ul = cap.ceilings.get("utilisation_law", math.nan)
    util_x = (
        mva_throughput(levels, ul, model.params_.m, model.params_.r0)
        if math.isfinite(ul)
        else np.full(len(levels), np.nan)
    )
    plateau_obs = float(np.median([p.throughput_rps for p in held.points]))
    rows = []
    for i, n in enumerate(levels):
        reps = [p.throughput_rps for p in held.points if p.load == n]
        inside = sum(pred.throughput_lower[i] <= x <= pred.throughput_upper[i] for x in reps)
        rows.append(
            {
                "n": n,
                "reps": len(reps),
                "x_obs": x_obs[n],
                "x_pred": pred.throughput[i],
                "x_lo": pred.throughput_lower[i],
                "x_hi": pred.throughput_upper[i],
                "x_err": _pct(pred.throughput[i], x_obs[n]),
                "r_obs_ms": 1000 * r_obs[n],
                "r_pred_ms": 1000 * pred.mean_s[i],
                "r_err": _pct(pred.mean_s[i], r_obs[n]),
                "usl_x": float(usl_x[i]),
                "usl_err": _pct(float(usl_x[i]), x_obs[n]),
                "usl_r_err": _pct(n / float(usl_x[i]), r_obs[n]),
                "util_x": float(util_x[i]),
                "util_err": _pct(float(util_x[i]), x_obs[n]),
                "util_r_err": _pct(n / float(util_x[i]), r_obs[n]),
                "inside": inside,
            }
        )
    single = []
    for rep in sorted({p.rep for p in fit.points}):
        sub = LoadTest("closed", tuple(p for p in fit.points if p.rep == rep), source=f"rep {rep}")
        if len(sub.levels) >= 2:
            single.append(_pct(PerformancePredictor().fit(sub).max_throughput_, plateau_obs))
    per_rep = [_pct(pred.throughput[levels.index(p.load)], p.throughput_rps) for p in held.points]
    per_rep_r = [_pct(pred.mean_s[levels.index(p.load)], p.mean_s) for p in held.points]
    return {
        "file": path.name,
        "fit_levels": list(fit.levels),
        "fit_steps": len(fit.points),
        "held_steps": len(held.points),
        "fit_seconds": fit_s,
        "capacity": cap.to_dict(),
        "usl": usl,
        "plateau_obs": plateau_obs,
        "plateau_err": _pct(cap.max_throughput, plateau_obs),
        "usl_plateau_err": _pct(usl["peak_x"], plateau_obs),
        "util_plateau_err": _pct(ul, plateau_obs),
        "rows": rows,
        "thr_mape": _mape([r["x_err"] for r in rows]),
        "lat_mape": _mape([r["r_err"] for r in rows]),
        "usl_thr_mape": _mape([r["usl_err"] for r in rows]),
        "usl_lat_mape": _mape([r["usl_r_err"] for r in rows]),
        "util_thr_mape": _mape([r["util_err"] for r in rows]),
        "util_lat_mape": _mape([r["util_r_err"] for r in rows]),
        "thr_mape_per_rep": _mape(per_rep),
        "lat_mape_per_rep": _mape(per_rep_r),
        "coverage": sum(r["inside"] for r in rows) / max(1, len(held.points)),
        "single_rep_plateau_err": single,
    }


def open_run(path: Path, fit_max: float) -> dict[str, Any]:
    """Fit on rates ``<= fit_max``, predict the mean latency and throughput of the higher rates."""
    test = read_loadtest(path)
    fit, held = test.select(max_load=fit_max), test.select(min_load=fit_max + 1e-9)
    model = PerformancePredictor().fit(fit)
    remote = PerformancePredictor(colocated_generator=False).fit(fit)
    levels = held.levels
    r_obs, x_obs = _median_by_level(held, "mean_s"), _median_by_level(held, "throughput_rps")
    pred, pred_remote = model.predict(levels), remote.predict(levels)
    f_r = _median_by_level(fit, "mean_s")
    slope, icpt = np.polyfit(list(f_r), list(f_r.values()), 1)
    rows = []
    for i, lam in enumerate(levels):
        lin = slope * lam + icpt
        rows.append(
            {
                "rate": lam,
                "x_obs": x_obs[lam],
                "x_pred": pred.throughput[i],
                "x_err": _pct(pred.throughput[i], x_obs[lam]),
                "util": pred.utilisation[i],
                "r_obs_ms": 1000 * r_obs[lam],
                "r_pred_ms": 1000 * pred.mean_s[i],
                "r_hi_ms": 1000 * pred.mean_upper_s[i],
                "r_err": _pct(pred.mean_s[i], r_obs[lam]),
                "remote_r_ms": 1000 * pred_remote.mean_s[i],
                "remote_err": _pct(pred_remote.mean_s[i], r_obs[lam]),
                "lin_r_ms": 1000 * lin,
                "lin_err": _pct(lin, r_obs[lam]),
            }
        )
    finite = [r["r_err"] for r in rows if math.isfinite(r["r_err"])]
    return {
        "file": path.name,
        "capacity": model.capacity_.to_dict(),
        "capacity_remote_gen": remote.capacity_.to_dict(),
        "rows": rows,
        "thr_mape": _mape([r["x_err"] for r in rows]),
        "lat_mape_finite": _mape(finite),
        "n_saturated": sum(not math.isfinite(r["r_err"]) for r in rows),
        "remote_lat_mape": _mape([r["remote_err"] for r in rows]),
        "lin_lat_mape": _mape([r["lin_err"] for r in rows]),
    }


def _print_closed(res: dict[str, Any]) -> None:
    cap = res["capacity"]
    print(
        f"\n== closed loop: {res['file']}  fit N in {res['fit_levels']} ({res['fit_steps']} steps), "
        f"predict {res['held_steps']} held-out steps; fit {1000 * res['fit_seconds']:.0f} ms"
    )
    print(
        f"   ceiling method={cap['method']}  X_max={cap['max_throughput']:.1f} req/s "
        f"[{cap['max_throughput_lower']:.1f}, {cap['max_throughput_upper']:.1f}]  ceilings="
        + ", ".join(f"{k}={v:.1f}" for k, v in cap["ceilings"].items())
    )
    print(
        f"   D={1000 * cap['service_demand_s']:.3f} ms/req  R0={1000 * cap['base_response_s']:.3f} ms  "
        f"m={cap['parallelism']:.2f}  knee N*={cap['knee_load']:g}  noise={100 * cap['noise_rel']:.1f}%  "
        f"USL(same points): lam={res['usl']['lam']:.1f} sigma={res['usl']['sigma']:.3f} "
        f"kappa={res['usl']['kappa']:.4f} peak N={res['usl']['peak_n']:.1f} X={res['usl']['peak_x']:.1f}"
    )
    for note in cap["notes"]:
        print(f"   note: {note}")
    hdr = (
        f"   {'N':>4} {'reps':>4} | {'X obs':>7} {'cloudsage':>9} {'[90% int]':>15} {'err%':>6} | "
        f"{'usl':>7} {'err%':>6} | {'util-law':>8} {'err%':>6} || {'R obs ms':>8} {'cloudsage':>9} {'err%':>6} "
        f"{'usl err%':>8} {'util err%':>9}"
    )
    print(hdr)
    for r in res["rows"]:
        print(
            f"   {r['n']:>4g} {r['reps']:>4d} | {r['x_obs']:7.1f} {r['x_pred']:9.1f} "
            f"[{r['x_lo']:6.1f},{r['x_hi']:7.1f}] {r['x_err']:+6.1f} | {r['usl_x']:7.1f} {r['usl_err']:+6.1f} | "
            f"{r['util_x']:8.1f} {r['util_err']:+6.1f} || {r['r_obs_ms']:8.2f} {r['r_pred_ms']:9.2f} "
            f"{r['r_err']:+6.1f} {r['usl_r_err']:+8.1f} {r['util_r_err']:+9.1f}"
        )
    print(f"   {'baseline':<10} {'plateau err%':>12} {'thr MAPE%':>10} {'lat MAPE%':>10} {'thr MAPE ratio':>15}")
    for name, pe, tm, lm in (
        ("cloudsage", res["plateau_err"], res["thr_mape"], res["lat_mape"]),
        ("usl", res["usl_plateau_err"], res["usl_thr_mape"], res["usl_lat_mape"]),
        ("util-law", res["util_plateau_err"], res["util_thr_mape"], res["util_lat_mape"]),
    ):
        ratio = tm / res["thr_mape"] if res["thr_mape"] > 0 else math.nan
        print(f"   {name:<10} {pe:+12.1f} {tm:10.1f} {lm:10.1f} {ratio:15.2f}")
    print(
        f"   observed plateau (median of held-out steps) {res['plateau_obs']:.1f} req/s; per-repetition MAPE "
        f"thr {res['thr_mape_per_rep']:.1f}%, lat {res['lat_mape_per_rep']:.1f}%; "
        f"{100 * res['coverage']:.0f}% of held-out repetitions inside the 90% throughput interval"
    )
    single = res["single_rep_plateau_err"]
    if single:
        errs = " ".join(f"{e:+.1f}" for e in single)
        print(
            f"   fitted on one repetition at a time ({len(single)} fits): plateau err% {errs} "
            f"(median |err| {float(np.median(np.abs(single))):.1f}%)"
        )


def _print_open(res: dict[str, Any]) -> None:
    cap, rem = res["capacity"], res["capacity_remote_gen"]
    print(f"\n== open loop: {res['file']}  fit rates <= 300 req/s, predict the rest")
    print(
        f"   cloudsage: X_max={cap['max_throughput']:.1f} req/s ({cap['method']}, "
        f"D={1000 * cap['service_demand_s']:.3f} ms host CPU/req incl. generator), "
        f"servers={round(cap['max_throughput'] * cap['service_demand_s'])}, "
        f"v={cap['variability']:.2f}, base={1000 * cap['base_response_s']:.2f} ms; remote-gen: X_max="
        f"{rem['max_throughput']:.1f} (D={1000 * rem['service_demand_s']:.3f} ms)"
    )
    print(
        f"   {'rate':>5} | {'X obs':>6} {'X pred':>6} {'util':>5} || {'R obs ms':>8} {'cloudsage':>9} {'upper':>7} "
        f"{'err%':>7} | {'remote-gen':>10} {'err%':>6} | {'linear':>6} {'err%':>6}"
    )
    for r in res["rows"]:
        print(
            f"   {r['rate']:5.0f} | {r['x_obs']:6.1f} {r['x_pred']:6.1f} {r['util']:5.2f} || {r['r_obs_ms']:8.2f} "
            f"{_fmt(r['r_pred_ms'], 2):>9} {_fmt(r['r_hi_ms'], 2):>7} {_fmt(r['r_err']):>7} | "
            f"{_fmt(r['remote_r_ms'], 2):>10} {_fmt(r['remote_err']):>6} | {r['lin_r_ms']:6.2f} {r['lin_err']:+6.1f}"
        )
    print(
        f"   throughput MAPE {res['thr_mape']:.1f}%; mean-latency MAPE {res['lat_mape_finite']:.1f}% over the "
        f"{len(res['rows']) - res['n_saturated']} levels predicted stable ({res['n_saturated']} predicted saturated); "
        f"remote-gen {res['remote_lat_mape']:.1f}%; linear {res['lin_lat_mape']:.1f}%"
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run every load test found under ``--data`` and print the tables and the summary line."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help=f"data root or loadtest folder ({DEFAULT_DATA})")
    ap.add_argument("--fit-max-n", type=float, default=8.0, help="closed loop: fit on N <= this")
    ap.add_argument("--fit-max-rate", type=float, default=300.0, help="open loop: fit on rates <= this")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"results JSON ({DEFAULT_OUT})")
    args = ap.parse_args(argv)
    folder = _dir(args.data)
    closed = [closed_run(folder / f, args.fit_max_n) for f in CLOSED_FILES if (folder / f).exists()]
    extra = sorted(p.name for p in folder.glob("*.csv") if p.name not in (*CLOSED_FILES, OPEN_FILE))
    for name in extra:  # any other closed-loop test dropped in the folder
        try:
            closed.append(closed_run(folder / name, args.fit_max_n))
        except Exception as exc:  # noqa: BLE001 - report and go on with the others
            print(f"skipped {name}: {exc}", file=sys.stderr)
    if not closed:
        print(f"no closed-loop load test in {folder}", file=sys.stderr)
        return 2
    for res in closed:
        _print_closed(res)
    opened = open_run(folder / OPEN_FILE, args.fit_max_rate) if (folder / OPEN_FILE).exists() else None
    if opened:
        _print_open(opened)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"closed": closed, "open": opened}, indent=1, default=str))
    main_run = closed[0]
    print(f"\nwrote {args.out}")
    print(
        f"PERF plateau_err_pct={abs(main_run['plateau_err']):.1f} thr_mape_pct={main_run['thr_mape']:.1f} "
        f"lat_mape_pct={main_run['lat_mape']:.1f} usl_thr_mape_pct={main_run['usl_thr_mape']:.1f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
