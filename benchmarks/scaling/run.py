"""Replay real demand traces through three scaling policies: reactive, static peak and CloudSage predictive.

Usage (from the repository root)::

    PYTHONPATH=lambdas:. python -m benchmarks.scaling.run --data ../shared/data

Each real NAB load trace (requests, network, disk, CPU, road occupancy; 5-minute grid) is scaled to requests per
second so that its 99th percentile needs ``PEAK_INSTANCES`` instances at full load; one instance serves
``CAPACITY_RPS`` requests per second. The last ``EVAL_DAYS`` days are replayed step by step (5 minutes), with the
history before each step available to the policies:

* **reactive**: target tracking on observed utilisation (target 60 %), seeing the metric one step late
  (CloudWatch delay plus alarm evaluation), new instances in service one step (5 min warm-up) after the decision;
  scale in only after utilisation stayed below 90 % of the target for 15 minutes, one step of size at a time.
* **static peak**: a fixed size that serves the evaluation window's peak at the target utilisation.
* **predictive**: every hour CloudSage fits :class:`ScalingForecaster` on the last 14 days and plans the next
  hour with :func:`plan_capacity` (the mean forecast at the target utilisation and its 97.5 % quantile at full
  load, warm-up 5 min, cooldown 15 min);
  the schedule is applied ahead of time, and the reactive scale-out (same delay and warm-up) stays as a floor.

Under-provisioned minutes count the 5-minute steps whose demand exceeds the in-service capacity (at 100 %).
Prints a per-trace and a total table and, as the very last line::

    SCALING underprov_vs_reactive=.. insthours_vs_reactive=.. insthours_vs_peak=..
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from concurrent.futures import ProcessPoolExecutor  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

from benchmarks.forecast.run import interpolate, load_series  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_DATA = (REPO_ROOT / ".." / "shared" / "data").resolve()
DEFAULT_OUT = REPO_ROOT / "out" / "scaling.json"

TRACES: tuple[str, ...] = (
    "realAWSCloudwatch/elb_request_count_8c0756.csv",
    "realAWSCloudwatch/ec2_network_in_257a54.csv",
    "realAWSCloudwatch/ec2_network_in_5abac7.csv",
    "realAWSCloudwatch/ec2_disk_write_bytes_1ef3de.csv",
    "realAWSCloudwatch/ec2_cpu_utilization_825cc2.csv",
    "realAWSCloudwatch/ec2_cpu_utilization_fe7f93.csv",
    "realAWSCloudwatch/rds_cpu_utilization_cc0c53.csv",
    "realAWSCloudwatch/rds_cpu_utilization_e47b3b.csv",
    "realAWSCloudwatch/grok_asg_anomaly.csv",
    "realTraffic/occupancy_6005.csv",
    "realTraffic/occupancy_t4013.csv",
)
"""Real load-like traces on a 5-minute grid (demand that a fleet would have to serve)."""

STEP_S = 300
CAPACITY_RPS = 100.0  # requests per second one instance serves at 100 % utilisation
PEAK_INSTANCES = 10  # the trace's 99th percentile needs this many instances at 100 %
TARGET = 0.60  # target utilisation of every policy
METRIC_DELAY_STEPS = 1  # the reactive policy sees utilisation one step late
WARMUP_STEPS = 1  # a new instance serves one step after the decision
SCALE_IN_STEPS = 3  # reactive scale in: 15 minutes below 90 % of the target
EVAL_DAYS = 4
REPLAN_STEPS = 12  # the predictive plan is refreshed every hour
PLAN_QUANTILE = 97.5  # the plan sizes the mean at the target utilisation and this quantile at PEAK_UTILISATION
PEAK_UTILISATION = 0.8
HISTORY_DAYS = 14
MIN_SIZE = 1
MAX_SIZE = 100


@dataclass
class Outcome:
    """One policy on one trace."""

    underprov_min: float
    instance_hours: float
    actions: int


def _count_actions(n: np.ndarray) -> int:
    return int(np.sum(np.diff(n) != 0))


def _outcome(demand: np.ndarray, n: np.ndarray) -> Outcome:
    under = demand > n * CAPACITY_RPS + 1e-9
    return Outcome(float(under.sum() * STEP_S / 60), float(n.sum() * STEP_S / 3600), _count_actions(n))


def reactive_desired(observed: float, current: int, below_steps: int) -> tuple[int, int]:
    """One target-tracking decision from a (late) observed demand; returns (desired, steps below target)."""
    util = observed / max(current * CAPACITY_RPS, 1e-9)
    need = int(np.clip(math.ceil(observed / (TARGET * CAPACITY_RPS) - 1e-9), MIN_SIZE, MAX_SIZE))
    if util > TARGET:
        return max(need, current), 0
    if util < 0.9 * TARGET:
        below_steps += 1
        if below_steps >= SCALE_IN_STEPS and need < current:
            return current - 1 if current - 1 >= need else need, 0
        return current, below_steps
    return current, 0


def simulate_reactive(demand: np.ndarray, start: int, n0: int) -> np.ndarray:
    """In-service instances per step under target tracking (delay, warm-up, scale-in hold)."""
    n_steps = len(demand) - start
    in_service = np.zeros(n_steps, dtype=np.int64)
    pending: list[tuple[int, int]] = []  # (step it becomes effective, desired)
    current = n0
    below = 0
    for k in range(n_steps):
        t = start + k
        for eff, want in [p for p in pending if p[0] <= k]:
            current = want
            pending.remove((eff, want))
        in_service[k] = current
        observed = demand[t - METRIC_DELAY_STEPS]
        desired, below = reactive_desired(observed, current, below)
        if desired > current:
            pending.append((k + WARMUP_STEPS, desired))
        elif desired < current:
            current = desired  # scale in takes effect at once
    return in_service


def simulate_predictive(
    demand: np.ndarray, start: int, n0: int, history: np.ndarray, t0: float
) -> tuple[np.ndarray, float]:
    """Predictive schedule (hourly replans) with the reactive scale-out as a floor; returns sizes and fit CPU s."""
    from cloudsage.core.models.scaling import ScalingForecaster, plan_capacity

    n_steps = len(demand) - start
    schedule = np.full(n_steps, n0, dtype=np.int64)
    cpu = 0.0
    hist_steps = HISTORY_DAYS * 86_400 // STEP_S
    cap = TARGET * CAPACITY_RPS
    current = n0
    for k in range(0, n_steps, REPLAN_STEPS):
        t = start + k
        lo = max(0, t - hist_steps)
        c0 = time.process_time()
        est = ScalingForecaster(period_s=STEP_S, start_s=t0 + lo * STEP_S).fit(history[lo:t])
        fc = est.predict(REPLAN_STEPS + WARMUP_STEPS)
        plan = plan_capacity(
            fc,
            cap,
            current,
            min_size=MIN_SIZE,
            max_size=MAX_SIZE,
            warmup_s=WARMUP_STEPS * STEP_S,
            cooldown_s=900.0,
            quantile=PLAN_QUANTILE,
            quantile_capacity=PEAK_UTILISATION * CAPACITY_RPS,
        )
        cpu += time.process_time() - c0
        # Made with data up to t - 1, the plan can only act a warm-up later: it covers t + warm-up onwards, and
        # its actions are issued a warm-up ahead so the planned size is in service at its effective time.
        a, b = k + WARMUP_STEPS, min(k + WARMUP_STEPS + REPLAN_STEPS, n_steps)
        desired = np.asarray(plan.desired[WARMUP_STEPS : WARMUP_STEPS + b - a], dtype=np.int64)
        schedule[a:b] = desired
        current = int(desired[-1]) if desired.size else current
    # Reactive floor: target tracking's scale out (same delay and warm-up), no scale-in hold of its own.
    in_service = np.zeros(n_steps, dtype=np.int64)
    floor = n0
    for k in range(n_steps):
        t = start + k
        size = max(int(schedule[k]), floor)
        in_service[k] = size
        observed = demand[t - METRIC_DELAY_STEPS]
        need = int(np.clip(math.ceil(observed / cap - 1e-9), MIN_SIZE, MAX_SIZE))
        util = observed / max(size * CAPACITY_RPS, 1e-9)
        if util > TARGET and need > size:
            floor = need  # effective from the next step (one step warm-up)
        elif k + 1 < n_steps and need <= int(schedule[k + 1]):
            floor = MIN_SIZE  # the schedule covers it again
    return in_service, cpu


def run_trace(name: str, nab_dir: str) -> dict[str, Any]:
    """Worker: the three policies on one trace."""
    start_s, period, raw = load_series(Path(nab_dir), name)
    if period != STEP_S:
        raise ValueError(f"{name}: expected a {STEP_S} s grid, got {period}")
    values = np.clip(interpolate(raw), 0.0, None)
    scale = PEAK_INSTANCES * CAPACITY_RPS / max(float(np.percentile(values, 99)), 1e-12)
    demand = values * scale  # requests per second
    eval_steps = EVAL_DAYS * 86_400 // STEP_S
    start = len(demand) - eval_steps
    n0 = int(np.clip(math.ceil(demand[start - 1] / (TARGET * CAPACITY_RPS)), MIN_SIZE, MAX_SIZE))
    d_eval = demand[start:]
    react = simulate_reactive(demand, start, n0)
    peak_n = int(np.clip(math.ceil(d_eval.max() / (TARGET * CAPACITY_RPS)), MIN_SIZE, MAX_SIZE))
    static = np.full(eval_steps, peak_n, dtype=np.int64)
    # The forecaster sees the demand as a metric would report it (raw, gaps kept as NaN), in requests per second.
    history = np.where(np.isfinite(raw), raw * scale, np.nan)
    pred, cpu = simulate_predictive(demand, start, n0, history, start_s)
    short = name.split("/", 1)[1].removesuffix(".csv")
    return {
        "name": short,
        "reactive": _outcome(d_eval, react).__dict__,
        "static_peak": _outcome(d_eval, static).__dict__,
        "predictive": _outcome(d_eval, pred).__dict__,
        "forecast_cpu_s": cpu,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="shared data dir (or its nab/ subdir)")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = ap.parse_args(argv)
    nab_dir = args.data if (args.data / "labels").is_dir() else args.data / "nab"
    if not (nab_dir / "data").is_dir():
        print(f"no NAB data under {args.data}", file=sys.stderr)
        return 2
    print(
        f"{len(TRACES)} traces, last {EVAL_DAYS} days replayed at {STEP_S // 60}-min steps; capacity "
        f"{CAPACITY_RPS:g} req/s per instance, target {TARGET:.0%}, metric delay {METRIC_DELAY_STEPS * 5} min, "
        f"warm-up {WARMUP_STEPS * 5} min, predictive replans every {REPLAN_STEPS * 5} min"
    )
    wall = time.time()
    with ProcessPoolExecutor(max_workers=max(1, args.jobs)) as ex:
        rows = list(ex.map(run_trace, TRACES, [str(nab_dir)] * len(TRACES)))
    policies = ("reactive", "static_peak", "predictive")
    print(f"\n{'trace':<34}" + "".join(f"{p + ' under-min':>22}{'inst-h':>9}{'acts':>6}" for p in policies))
    for r in rows:
        print(
            f"{r['name']:<34}"
            + "".join(
                f"{r[p]['underprov_min']:>22.0f}{r[p]['instance_hours']:>9.1f}{r[p]['actions']:>6d}" for p in policies
            )
        )
    tot = {
        p: {k: float(sum(r[p][k] for r in rows)) for k in ("underprov_min", "instance_hours", "actions")}
        for p in policies
    }
    print(
        f"{'TOTAL':<34}"
        + "".join(
            f"{tot[p]['underprov_min']:>22.0f}{tot[p]['instance_hours']:>9.1f}{tot[p]['actions']:>6.0f}"
            for p in policies
        )
    )
    med_ratio_u = [(r["predictive"]["underprov_min"] + 5) / (r["reactive"]["underprov_min"] + 5) - 1 for r in rows]
    print(
        f"\nper-trace median change in under-provisioned minutes vs reactive (+5 min smoothing): "
        f"{np.median(med_ratio_u):+.2f}; forecasting CPU {sum(r['forecast_cpu_s'] for r in rows):.1f} s in total; "
        f"wall {time.time() - wall:.1f} s"
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"rows": rows, "total": tot}, indent=1))
    u = tot["predictive"]["underprov_min"] / max(tot["reactive"]["underprov_min"], 1e-9) - 1
    h = tot["predictive"]["instance_hours"] / tot["reactive"]["instance_hours"] - 1
    hp = tot["predictive"]["instance_hours"] / tot["static_peak"]["instance_hours"] - 1
    print(f"SCALING underprov_vs_reactive={u:+.2f} insthours_vs_reactive={h:+.2f} insthours_vs_peak={hp:+.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
