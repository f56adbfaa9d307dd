"""Rolling-origin forecast benchmark: CloudSage ScalingForecaster against naive, seasonal naive, MSTL and AutoETS.

Usage (from the repository root)::

    PYTHONPATH=lambdas:. python -m benchmarks.forecast.run --data ../shared/data

For each real NAB series (request counts, CPU, network, traffic, ad exchange) at its native step and at hourly
means, origins are placed every half day over the last days of the series; at each origin every method is fitted
on the history before it and forecasts one day ahead. Errors are scored at the 1-hour horizon (the first hour of
steps) and the 1-day horizon (all steps of the day): MASE scaled by the in-sample MAE of the daily seasonal naive
forecast, sMAPE, and the share of actual points inside the 80 % and 95 % intervals. CPU seconds per fit are
measured with ``time.process_time`` in the worker process, BLAS pinned to one thread for every method.

statsforecast (MSTL, AutoETS) is imported lazily: without it the run still completes and says the peers are
missing. Prints per-method medians, ratios and, as the very last line::

    FORECAST mase_1h=.. mase_1d=.. best_peer_mase_1h=.. best_peer_mase_1d=.. cover95=.. cpu_ratio_vs_mstl=..
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import csv  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from collections.abc import Callable  # noqa: E402
from concurrent.futures import ProcessPoolExecutor  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from datetime import UTC, datetime  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_DATA = (REPO_ROOT / ".." / "shared" / "data").resolve()
DEFAULT_OUT = REPO_ROOT / "out" / "forecast.json"
DAY_S = 86_400
HOUR_S = 3_600

SERIES: tuple[str, ...] = tuple(
    f"{cat}/{name}.csv"
    for cat, names in (
        (
            "realAWSCloudwatch",
            (
                "ec2_cpu_utilization_24ae8d",
                "ec2_cpu_utilization_53ea38",
                "ec2_cpu_utilization_5f5533",
                "ec2_cpu_utilization_77c1ca",
                "ec2_cpu_utilization_825cc2",
                "ec2_cpu_utilization_ac20cd",
                "ec2_cpu_utilization_c6585a",
                "ec2_cpu_utilization_fe7f93",
                "ec2_disk_write_bytes_1ef3de",
                "ec2_disk_write_bytes_c0d644",
                "ec2_network_in_257a54",
                "ec2_network_in_5abac7",
                "elb_request_count_8c0756",
                "grok_asg_anomaly",
                "iio_us-east-1_i-a2eb1cd9_NetworkIn",
                "rds_cpu_utilization_cc0c53",
                "rds_cpu_utilization_e47b3b",
            ),
        ),
        (
            "realTraffic",
            (
                "TravelTime_387",
                "TravelTime_451",
                "occupancy_6005",
                "occupancy_t4013",
                "speed_6005",
                "speed_7578",
                "speed_t4013",
            ),
        ),
        (
            "realAdExchange",
            (
                "exchange-2_cpc_results",
                "exchange-2_cpm_results",
                "exchange-3_cpc_results",
                "exchange-3_cpm_results",
                "exchange-4_cpc_results",
                "exchange-4_cpm_results",
            ),
        ),
    )
    for name in names
)
"""Every real series of the NAB subset (no artificial ones): requests, CPU, disk, network, road traffic, ad exchange."""

N_ORIGINS = 4
ORIGIN_STRIDE_S = DAY_S // 2
MAX_TRAIN_DAYS = 28  # rolling window: the newest four weeks before each origin (AWS keeps 14 days)
PEER_ORDER = ("naive", "seasonal_naive", "mstl", "autoets")


@dataclass
class Task:
    """One series at one resolution."""

    name: str
    resolution: str  # "native" or "hourly"
    period: int
    start: float
    values: np.ndarray  # raw on the grid (NaN = missing)


def _epoch(ts: str) -> float:
    return datetime.strptime(ts.strip(), "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC).timestamp()


def load_series(nab_dir: Path, name: str) -> tuple[float, int, np.ndarray]:
    """Read a NAB CSV onto a regular grid at its most common spacing (means per slot, gaps NaN)."""
    with open(nab_dir / "data" / name, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    t = np.array([_epoch(r["timestamp"]) for r in rows])
    v = np.array([float(r["value"]) for r in rows])
    order = np.argsort(t, kind="stable")
    t, v = t[order], v[order]
    steps, counts = np.unique(np.diff(t), return_counts=True)
    period = int(steps[np.argmax(counts)])
    start = math.floor(t[0] / period) * period
    slot = np.round((t - start) / period).astype(np.int64)
    n = int(slot[-1]) + 1
    sums = np.bincount(slot, weights=v, minlength=n)
    cnt = np.bincount(slot, minlength=n)
    grid = np.where(cnt > 0, sums / np.maximum(cnt, 1), np.nan)
    return float(start), period, grid


def to_hourly(start: float, period: int, values: np.ndarray) -> tuple[float, np.ndarray]:
    """Hourly means (an hour with fewer than half its points present is missing)."""
    k = HOUR_S // period
    offset = int(((math.ceil(start / HOUR_S) * HOUR_S) - start) // period)
    v = values[offset:]
    n = len(v) // k
    block = v[: n * k].reshape(n, k)
    present = np.sum(np.isfinite(block), axis=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        means = np.where(present * 2 >= k, np.nanmean(block, axis=1), np.nan)
    return start + offset * period, means


def interpolate(values: np.ndarray) -> np.ndarray:
    """Linear interpolation of gaps (peers cannot take NaN; every method gets the same input)."""
    ok = np.isfinite(values)
    idx = np.arange(len(values))
    return np.interp(idx, idx[ok], values[ok])


# ---------------------------------------------------------------------------------------------- methods
Method = Callable[[np.ndarray, float, int, int], dict[str, np.ndarray]]


def m_cloudsage(y: np.ndarray, start: float, period: int, h: int) -> dict[str, np.ndarray]:
    from cloudsage.core.models.scaling import forecast

    fc = forecast(y, h, period_s=period, start_s=start)
    return {
        "mean": np.asarray(fc.mean),
        "lo-80": np.asarray(fc.lower_80),
        "hi-80": np.asarray(fc.upper_80),
        "lo-95": np.asarray(fc.lower_95),
        "hi-95": np.asarray(fc.upper_95),
    }


def m_naive(y: np.ndarray, start: float, period: int, h: int) -> dict[str, np.ndarray]:
    return {"mean": np.full(h, y[-1])}


def m_seasonal_naive(y: np.ndarray, start: float, period: int, h: int) -> dict[str, np.ndarray]:
    m = DAY_S // period
    last = y[-m:]
    return {"mean": np.resize(last, h)}


def _sf_result(res: dict[str, Any]) -> dict[str, np.ndarray]:
    return {k: np.asarray(v, dtype=float) for k, v in res.items() if k in ("mean", "lo-80", "hi-80", "lo-95", "hi-95")}


def m_mstl(y: np.ndarray, start: float, period: int, h: int) -> dict[str, np.ndarray]:
    from statsforecast.models import MSTL

    day = DAY_S // period
    seasons = [day]
    if period >= HOUR_S and len(y) >= 2 * 7 * day + 1:
        seasons.append(7 * day)
    return _sf_result(MSTL(season_length=seasons).fit(y).predict(h=h, level=[80, 95]))


def m_autoets(y: np.ndarray, start: float, period: int, h: int) -> dict[str, np.ndarray]:
    from statsforecast.models import AutoETS

    day = DAY_S // period
    # ETS seasonality beyond 24 states is impractical (16 s per fit at 288); at sub-hourly steps AutoETS runs
    # without a season, which is what it is used for there in practice.
    season = day if day <= 24 else 1
    return _sf_result(AutoETS(season_length=season).fit(y).predict(h=h, level=[80, 95]))


METHODS: dict[str, Method] = {
    "cloudsage": m_cloudsage,
    "naive": m_naive,
    "seasonal_naive": m_seasonal_naive,
    "mstl": m_mstl,
    "autoets": m_autoets,
}


def statsforecast_version() -> str | None:
    """Installed statsforecast version, or None (peers MSTL/AutoETS are then skipped)."""
    try:
        from importlib.metadata import version

        import statsforecast  # noqa: F401

        return version("statsforecast")
    except Exception:  # noqa: BLE001 - any import failure means "peer missing"
        return None


# ---------------------------------------------------------------------------------------------- evaluation
def _scores(actual: np.ndarray, fc: dict[str, np.ndarray], scale: float, h: int) -> dict[str, float]:
    a, f = actual[:h], fc["mean"][:h]
    ok = np.isfinite(a)
    if not ok.any():
        return {}
    e = np.abs(a[ok] - f[ok])
    denom = np.abs(a[ok]) + np.abs(f[ok])
    smape = float(np.mean(np.where(denom > 0, 200.0 * e / np.where(denom > 0, denom, 1.0), 0.0)))
    out = {"mase": float(np.mean(e) / scale), "smape": smape, "n": float(ok.sum())}
    for lv in (80, 95):
        if f"lo-{lv}" in fc:
            lo, hi = fc[f"lo-{lv}"][:h][ok], fc[f"hi-{lv}"][:h][ok]
            out[f"cover{lv}"] = float(np.mean((a[ok] >= lo - 1e-9) & (a[ok] <= hi + 1e-9)))
    return out


_WARM: set[tuple[str, int]] = set()


def _warm_up(methods: list[str], period: int) -> None:
    """Run each method once on a small synthetic series so imports and JIT compilation are not timed."""
    day = DAY_S // period
    t = np.arange(16 * day, dtype=float)
    y = 10.0 + np.sin(2 * np.pi * t / day) + 0.1 * np.cos(t)
    for m in methods:
        if (m, period) not in _WARM:
            METHODS[m](y, 0.0, period, day)
            _WARM.add((m, period))


def run_task(task: Task, methods: list[str]) -> dict[str, Any]:
    """Worker: every method at every origin of one task; per-method mean scores and CPU per fit."""
    warnings.filterwarnings("ignore")
    _warm_up(methods, task.period)
    day = DAY_S // task.period
    h1, hd = max(1, HOUR_S // task.period), day
    filled = interpolate(task.values)
    n = len(filled)
    stride = max(1, ORIGIN_STRIDE_S // task.period)
    origins = [n - hd - k * stride for k in range(N_ORIGINS)]
    max_train = MAX_TRAIN_DAYS * day
    out: dict[str, Any] = {"name": task.name, "resolution": task.resolution, "period": task.period}
    for name in methods:
        per: dict[str, list[float]] = {}
        cpu = 0.0
        fits = 0
        for o in origins:
            lo = max(0, o - max_train)
            y = filled[lo:o]
            start = task.start + lo * task.period
            train_raw = task.values[lo:o]
            snaive_err = np.abs(train_raw[day:] - train_raw[:-day])
            scale = float(np.nanmean(snaive_err)) if np.isfinite(snaive_err).any() else float("nan")
            if not scale > 0:
                scale = float(np.nanmean(np.abs(np.diff(train_raw)))) or 1.0
            actual = task.values[o : o + hd]
            c0 = time.process_time()
            fc = METHODS[name](y, start, task.period, hd)
            cpu += time.process_time() - c0
            fits += 1
            for hname, h in (("1h", h1), ("1d", hd)):
                for k, v in _scores(actual, fc, scale, h).items():
                    per.setdefault(f"{k}_{hname}", []).append(v)
        out[name] = {k: float(np.mean(v)) for k, v in per.items()}
        out[name]["cpu_s"] = cpu / max(fits, 1)
    return out


def build_tasks(nab_dir: Path, names: tuple[str, ...]) -> list[Task]:
    tasks = []
    for name in names:
        start, period, values = load_series(nab_dir, name)
        short = name.split("/", 1)[1].removesuffix(".csv")
        tasks.append(Task(short, "native", period, start, values))
        if period < HOUR_S:
            hs, hv = to_hourly(start, period, values)
            tasks.append(Task(short, "hourly", HOUR_S, hs, hv))
    return tasks


def _median(rows: list[dict[str, Any]], method: str, key: str) -> float:
    vals = [r[method][key] for r in rows if method in r and key in r[method] and math.isfinite(r[method][key])]
    return float(np.median(vals)) if vals else float("nan")


def _fmt(x: float, digits: int = 3) -> str:
    return "-" if not math.isfinite(x) else f"{x:.{digits}f}"


def report(rows: list[dict[str, Any]], methods: list[str]) -> dict[str, Any]:
    """Print the tables; return the summary figures."""
    summary: dict[str, Any] = {}
    groups = {"all": rows} | {res: [r for r in rows if r["resolution"] == res] for res in ("native", "hourly")}
    keys = ("mase_1h", "mase_1d", "smape_1h", "smape_1d", "cover80_1d", "cover95_1d", "cpu_s")
    for gname, grp in groups.items():
        print(f"\n== {gname}: {len(grp)} series-resolutions, medians ==")
        print(f"{'method':<16}" + "".join(f"{k:>12}" for k in keys) + f"{'mase_1h/cs':>12}{'mase_1d/cs':>12}")
        for m in methods:
            figs = {k: _median(grp, m, k) for k in keys}
            cs1, csd = _median(grp, "cloudsage", "mase_1h"), _median(grp, "cloudsage", "mase_1d")
            r1 = figs["mase_1h"] / cs1 if cs1 else float("nan")
            rd = figs["mase_1d"] / csd if csd else float("nan")
            print(
                f"{m:<16}"
                + "".join(f"{_fmt(figs[k], 4 if k == 'cpu_s' else 3):>12}" for k in keys)
                + f"{_fmt(r1, 2):>12}{_fmt(rd, 2):>12}"
            )
            summary[f"{gname}/{m}"] = figs
    print("\n== per series: MASE 1h / 1d (cloudsage | best peer) ==")
    for r in rows:
        peers = [p for p in methods if p != "cloudsage" and p in r]
        bp1 = min(peers, key=lambda p: r[p].get("mase_1h", math.inf)) if peers else None
        bpd = min(peers, key=lambda p: r[p].get("mase_1d", math.inf)) if peers else None
        cs = r["cloudsage"]
        print(
            f"  {r['name']:<28}{r['resolution']:<8} cs {_fmt(cs.get('mase_1h', math.nan))} / "
            f"{_fmt(cs.get('mase_1d', math.nan))}  best 1h {bp1}={_fmt(r[bp1]['mase_1h']) if bp1 else '-'}  "
            f"best 1d {bpd}={_fmt(r[bpd]['mase_1d']) if bpd else '-'}  "
            f"cover95 {_fmt(cs.get('cover95_1d', math.nan), 2)}"
        )
    return summary


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="shared data dir (or its nab/ subdir)")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--series", type=str, default="", help="comma-separated substrings to select series")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--methods", type=str, default="", help="comma-separated subset of methods (default: all)")
    args = ap.parse_args(argv)
    nab_dir = args.data if (args.data / "data").is_dir() and (args.data / "labels").is_dir() else args.data / "nab"
    if not (nab_dir / "data").is_dir():
        print(f"no NAB data under {args.data}", file=sys.stderr)
        return 2
    names = SERIES
    if args.series:
        keys = [s.strip() for s in args.series.split(",") if s.strip()]
        names = tuple(n for n in SERIES if any(k in n for k in keys))
    sf = statsforecast_version()
    methods = ["cloudsage", "naive", "seasonal_naive"]
    if sf:
        methods += ["mstl", "autoets"]
        print(f"peers: statsforecast {sf} (MSTL, AutoETS)")
    else:
        print(
            "peers: statsforecast is not installed: MSTL and AutoETS are missing from this run "
            "(pip install -e '.[bench]')"
        )
    if args.methods:
        methods = [m for m in methods if m in args.methods.split(",")]
    tasks = build_tasks(nab_dir, names)
    print(f"{len(names)} series, {len(tasks)} series-resolutions, {N_ORIGINS} origins each, horizons 1 h and 1 d")
    wall = time.time()
    if args.jobs > 1:
        with ProcessPoolExecutor(max_workers=args.jobs) as ex:
            rows = list(ex.map(run_task, tasks, [methods] * len(tasks)))
    else:
        rows = [run_task(t, methods) for t in tasks]
    summary = report(rows, methods)
    print(f"\nwall {time.time() - wall:.1f} s")

    def med(key: str, m: str = "cloudsage") -> float:
        return _median(rows, m, key)

    peers = [m for m in methods if m != "cloudsage"]
    best1 = min((med("mase_1h", p) for p in peers), default=float("nan"))
    bestd = min((med("mase_1d", p) for p in peers), default=float("nan"))
    ratios = [r["cloudsage"]["cpu_s"] / r["mstl"]["cpu_s"] for r in rows if "mstl" in r and r["mstl"]["cpu_s"] > 0]
    cpu_ratio = float(np.median(ratios)) if ratios else float("nan")
    for res in ("native", "hourly"):
        rr = [r["cloudsage"]["cpu_s"] / r["mstl"]["cpu_s"] for r in rows if r["resolution"] == res and "mstl" in r]
        if rr:
            print(f"cpu ratio vs MSTL ({res}): median {np.median(rr):.3f}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"rows": rows, "summary": summary, "statsforecast": sf}, indent=1))
    print(
        f"FORECAST mase_1h={med('mase_1h'):.2f} mase_1d={med('mase_1d'):.2f} best_peer_mase_1h={best1:.2f} "
        f"best_peer_mase_1d={bestd:.2f} cover95={med('cover95_1d'):.2f} cpu_ratio_vs_mstl={_fmt(cpu_ratio, 3)}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
