"""Scale, speed and cost: `make bench-scale`.

1. Warm CPU of the full analysis (every registered model) of one demo resource, 14 days at 5 minutes.
2. Cold import CPU of the model handler for each model, in a fresh interpreter (what a Lambda cold start pays).
3. A local run over N resources (default 1,000: the demo fleet replicated with other seeds) through the same
   synthesized state machine on the embedded emulator: wall and CPU time per resource.
4. From the measured figures and the Lambda memory sizes in the registry: the time of a 10,000-resource run at
   the configured concurrency, and the monthly AWS cost per 100, 1,000 and 10,000 resources at the default
   schedule (list prices us-east-1, stated below).

Ends with ``SCALE resources=.. cpu_ms_per_resource=.. cold_import_cpu_s_max=.. layer_mb=.. cost_usd_month_10k=..``,
where ``cpu_ms_per_resource`` is the full five-model analysis: the most expensive demo resource on which every
registered model applies (the median over all demo resources, where some models do not apply, is printed above
it); the cost calculation uses each model's median over the demo resources (a fleet's mix).
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import json
import math
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]

# One BLAS thread, as on a Lambda with one or two vCPUs: idle BLAS threads spin and would be counted as CPU time
# (on a busy 2-core machine that inflated the figures several-fold). Set before numpy is imported.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

# us-east-1 list prices used by the cost calculation (2026-12; arm64 Lambda).
LAMBDA_GB_S_ARM = 0.0000133334
LAMBDA_REQUEST = 0.20 / 1e6
SFN_TRANSITION = 0.025 / 1000  # Standard workflows (the parent): per state transition
SFN_EXPRESS_REQUEST = 1.00 / 1e6  # Express child executions: per execution ...
SFN_EXPRESS_GB_S = 0.00001667  # ... and per GB-second (billed in 64 MB steps; a child uses the minimum)
GET_METRIC_DATA_PER_METRIC = 0.01 / 1000
DDB_WRITE_REQUEST = 1.25 / 1e6  # on-demand, per write request unit (1 KB)
S3_PUT = 0.005 / 1000
S3_GET = 0.0004 / 1000
RUNS_PER_MONTH = 730  # the default schedule: rate(1 hour)


@dataclasses.dataclass
class Warm:
    """Warm CPU (ms, medians over repeats) per demo resource and model."""

    rows: list[dict[str, Any]]  # resource_id, resource_type, metrics, ms per model, applies per model, total
    per_model: dict[str, float]  # median over the resources
    median_total: float  # median over the resources of the all-model total
    full: dict[str, Any]  # the most expensive resource on which every model applies: the "full analysis"
    python_anomaly_ms: float  # the anomaly model on the same resources with its Python code (no C kernel)
    kernel: str  # the compiled kernel library used, or "none"


def warm_cpu_per_resource(repeats: int = 9) -> Warm:
    """Warm CPU of every registered model on every demo resource (14 d at 5 min), median of ``repeats``."""
    from cloudsage.core import native
    from cloudsage.core.errors import CloudSageError
    from cloudsage.core.models import anomaly
    from cloudsage.core.registry import MODEL_SPECS
    from cloudsage.local.demo import build_demo_fleet

    resources = build_demo_fleet().to_resource_metrics()
    fns = {s.name: s.load_analyze() for s in MODEL_SPECS}

    def timed(fn: Any, r: Any) -> tuple[float, bool]:
        t = time.process_time()
        try:
            fn(r)
            applies = True
        except CloudSageError:
            applies = False
        return (time.process_time() - t) * 1000, applies

    for r in resources:  # warm-up: imports, caches
        for fn in fns.values():
            timed(fn, r)
    samples: dict[tuple[str, str], list[float]] = {}
    applies: dict[tuple[str, str], bool] = {}
    python_anomaly: list[float] = []
    run = anomaly._run
    for _ in range(repeats):
        for r in resources:
            for name, fn in fns.items():
                ms, ok = timed(fn, r)
                samples.setdefault((r.resource_id, name), []).append(ms)
                applies[(r.resource_id, name)] = ok
            # the baseline, side by side: the same anomaly analysis with the Python code instead of the kernel
            anomaly._run = lambda v, cfg, st, native=None: run(v, cfg, st, native=False)  # type: ignore[assignment]
            try:
                python_anomaly.append(timed(fns["anomaly"], r)[0])
            finally:
                anomaly._run = run
    rows = []
    for r in resources:
        ms = {name: statistics.median(samples[(r.resource_id, name)]) for name in fns}
        rows.append(
            {
                "resource_id": r.resource_id,
                "resource_type": r.resource_type,
                "metrics": len(r.series),
                "ms": ms,
                "applies": {name: applies[(r.resource_id, name)] for name in fns},
                "total": sum(ms.values()),
            }
        )
    full_rows = [row for row in rows if all(row["applies"].values())]
    full = max(full_rows or rows, key=lambda row: row["total"])
    per_model = {name: statistics.median(row["ms"][name] for row in rows) for name in fns}
    path = native.library_path()
    return Warm(
        rows=rows,
        per_model=per_model,
        median_total=statistics.median(row["total"] for row in rows),
        full=full,
        python_anomaly_ms=statistics.median(python_anomaly),
        kernel="none" if path is None else path.name,
    )


COLD = """
import time
t = time.process_time()
import cloudsage.handlers.model
from cloudsage.core.registry import get_spec
get_spec({name!r}).load_analyze()
print(time.process_time() - t)
"""


def cold_import_cpu() -> dict[str, float]:
    """CPU seconds to import the model handler and one model, in a fresh interpreter (median of 3)."""
    from cloudsage.core.registry import MODEL_SPECS

    out = {}
    for spec in MODEL_SPECS:
        runs = []
        for _ in range(3):
            res = subprocess.run(
                [sys.executable, "-c", COLD.format(name=spec.name)],
                capture_output=True,
                text=True,
                check=True,
                env={
                    "PYTHONPATH": str(ROOT / "lambdas"),
                    "POWERTOOLS_METRICS_DISABLED": "true",
                    "PATH": "",
                    "OPENBLAS_NUM_THREADS": "1",
                },
            )
            runs.append(float(res.stdout.strip().splitlines()[-1]))
        out[spec.name] = statistics.median(runs)
    return out


def replicated_fleet(n: int, days: int, period: int) -> Any:
    """``n`` resources: demo fleets of other seeds, ids suffixed so every resource is distinct."""
    from cloudsage.local.demo import build_demo_fleet

    resources = []
    seed = 100
    while len(resources) < n:
        fleet = build_demo_fleet(seed=seed, days=days, period=period)
        for r in fleet.resources:
            if len(resources) == n:
                break
            new_id = f"{r.resource_id}-{seed}"

            def rename(d: dict[str, str], old: str = r.resource_id, new: str = new_id) -> dict[str, str]:
                return {k: (new if v == old else v) for k, v in d.items()}

            resources.append(
                dataclasses.replace(
                    r,
                    resource_id=new_id,
                    dimensions=rename(r.dimensions),
                    metric_dimensions={m: rename(d) for m, d in r.metric_dimensions.items()},
                )
            )
        seed += 1
    return dataclasses.replace(fleet, resources=tuple(resources), incidents=(), normal_periods=())


def local_run(n: int, days: int, period: int, batch_size: int) -> dict[str, Any]:
    from cloudsage.local.pipeline import run_pipeline, source_from_demo

    fleet = replicated_fleet(n, days, period)
    t_wall, t_cpu = time.perf_counter(), time.process_time()
    last = [0.0]

    def progress(msg: str) -> None:
        now = time.perf_counter()
        if now - last[0] > 10:
            last[0] = now
            print(f"    {msg}", file=sys.stderr)

    result = run_pipeline(source_from_demo(fleet), progress=progress, batch_size=batch_size)
    wall, cpu = time.perf_counter() - t_wall, time.process_time() - t_cpu
    return {
        "resources": n,
        "batches": len(result.execution_output.get("batches", [])),
        "insights": len(result.insights),
        "failures": len(result.failures),
        "failure_kinds": dict(
            collections.Counter(f"{f.get('model')}: {f.get('error')}" for f in result.failures).most_common()
        ),
        "not_applicable": len(result.not_applicable),
        "wall_s": wall,
        "cpu_s": cpu,
        "wall_ms_per_resource": wall / n * 1000,
        "cpu_ms_per_resource": cpu / n * 1000,
    }


def layer_mb() -> float | None:
    build = ROOT / "layers" / "science" / "build" / "python"
    if not build.is_dir():
        return None
    return sum(p.stat().st_size for p in build.rglob("*") if p.is_file()) / 1e6


def cost_and_time(per_model_ms: dict[str, float], concurrency: int, batch_size: int) -> dict[str, Any]:
    """Monthly cost per fleet size at the default schedule, and the duration of a 10,000-resource run."""
    from cloudsage.core.registry import MODEL_SPECS

    mem = {s.name: s.memory_mb for s in MODEL_SPECS}
    # Lambda bills wall time; model code is CPU-bound, so wall ~ CPU on a full vCPU (>= 1,769 MB) and
    # proportionally slower below it. Add 100 ms per invocation for S3 reads/writes.
    gb_s_per_resource = 0.0
    for name, ms in per_model_ms.items():
        vcpu_share = min(1.0, mem[name] / 1769)
        seconds = ms / 1000 / vcpu_share + 0.1
        gb_s_per_resource += seconds * mem[name] / 1024
    n_models = len(MODEL_SPECS)
    metrics_per_resource = 5
    # Parent (Standard): Plan, the map, one transition per child started, Done. Children (Express): per request
    # and duration, however many states they pass through.
    slowest_s = max(ms / 1000 / min(1.0, mem[k] / 1769) + 0.1 for k, ms in per_model_ms.items())
    per_batch_s = 3.0 + -(-batch_size // 10) * slowest_s + 2.0  # collect + resources + aggregate/publish
    rows = {}
    for n in (100, 1000, 10_000):
        batches = -(-n // batch_size)
        per_run = {
            "lambda_compute": gb_s_per_resource * n * LAMBDA_GB_S_ARM
            + batches * (0.5 * 512 / 1024 + 0.3 * 512 / 1024 + 0.2 * 256 / 1024) * LAMBDA_GB_S_ARM,
            "lambda_requests": (n * n_models + 3 * batches + 1) * LAMBDA_REQUEST,
            "step_functions": (4 + 2 * batches) * SFN_TRANSITION
            + batches * (SFN_EXPRESS_REQUEST + per_batch_s * 64 / 1024 * SFN_EXPRESS_GB_S),
            "get_metric_data": n * metrics_per_resource * GET_METRIC_DATA_PER_METRIC,
            "dynamodb": n * 0.3 * 2 * DDB_WRITE_REQUEST,  # ~0.3 insights per resource, ~2 WRU each
            "s3": (n * (1 + n_models) + 2 * batches) * S3_PUT + (n * (2 * n_models) + 2 * batches) * S3_GET,
        }
        rows[n] = {k: v * RUNS_PER_MONTH for k, v in per_run.items()}
        rows[n]["total"] = sum(rows[n].values())
    # Time of a 10k run: batches run `concurrency` at a time; inside a batch, resources 10 at a time, and each
    # resource's models in parallel (the slowest model bounds it).
    batches_10k = math.ceil(10_000 / batch_size)
    run_10k_s = math.ceil(batches_10k / concurrency) * per_batch_s
    return {
        "monthly": rows,
        "gb_s_per_resource": gb_s_per_resource,
        "run_10k_minutes": run_10k_s / 60,
        "per_batch_s": per_batch_s,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--resources", type=int, default=1000, help="resources in the local state-machine run")
    ap.add_argument("--days", type=int, default=7, help="history per resource in the local run")
    ap.add_argument("--period", type=int, default=3600, help="grid of the local run's metrics (seconds)")
    ap.add_argument("--batch-size", type=int, default=50)
    ap.add_argument("--concurrency", type=int, default=10, help="Distributed Map concurrency (cdk.json default)")
    ap.add_argument("--skip-run", action="store_true", help="skip the local state-machine run")
    args = ap.parse_args(argv)

    print("1. warm CPU of the full analysis of one resource (all registered models, 14 d at 5 min)")
    warm = warm_cpu_per_resource()
    names = list(warm.per_model)
    print(f"   compiled kernel: {warm.kernel}")
    print("   resource                 type    metrics " + " ".join(f"{n:>11}" for n in names) + "       total")
    for row in warm.rows:
        cells = " ".join(
            f"{row['ms'][n]:8.1f} ms" if row["applies"][n] else f"{'n/a':>11}" for n in names
        )  # a model that does not apply stops at its input check
        rid, rtype = row["resource_id"][:24], row["resource_type"]
        print(f"   {rid:<24} {rtype:<7} {row['metrics']:>7} {cells} {row['total']:8.1f} ms")
    print(f"   median over the demo resources: {warm.median_total:.1f} ms")
    full = warm.full
    print(
        f"   full five-model analysis ({full['resource_id']}, {full['metrics']} metrics, every model applies): "
        f"{full['total']:.1f} ms (target <= 50)"
    )
    anomaly_ms = statistics.median(row["ms"]["anomaly"] for row in warm.rows)
    print(
        f"   anomaly with its C kernel {anomaly_ms:.1f} ms vs its Python code {warm.python_anomaly_ms:.1f} ms "
        f"(median per resource, same process): x{warm.python_anomaly_ms / max(anomaly_ms, 1e-9):.1f}"
    )
    total_ms, per_model = full["total"], warm.per_model

    print("2. cold import CPU of the model handler, fresh interpreter (median of 3)")
    cold = cold_import_cpu()
    for name, s in cold.items():
        print(f"   {name:<12} {s:8.2f} s")

    run: dict[str, Any] = {}
    if not args.skip_run:
        print(
            f"3. local run over {args.resources} resources ({args.days} d at {args.period} s) through the state machine"
        )
        run = local_run(args.resources, args.days, args.period, args.batch_size)
        print(
            f"   {run['batches']:.0f} batches, {run['insights']:.0f} insights, "
            f"{run['failures']:.0f} failed model tasks, {run['not_applicable']:.0f} not applicable"
        )
        for kind, count in run["failure_kinds"].items():
            print(f"     {count:>5} x {kind}")
        print(
            f"   wall {run['wall_s']:.1f} s ({run['wall_ms_per_resource']:.1f} ms/resource), "
            f"CPU {run['cpu_s']:.1f} s ({run['cpu_ms_per_resource']:.1f} ms/resource, emulator included)"
        )

    print("4. cost per month at rate(1 hour) and the time of a 10,000-resource run (arm64, us-east-1 list prices)")
    calc = cost_and_time(per_model, args.concurrency, args.batch_size)
    parts = list(next(iter(calc["monthly"].values())).keys())
    print("   resources  " + "  ".join(f"{p:>15}" for p in parts))
    for n, row in calc["monthly"].items():
        print(f"   {n:>9}  " + "  ".join(f"{row[p]:>15.2f}" for p in parts))
    print(
        f"   10,000 resources: {-(-10000 // args.batch_size)} batches of {args.batch_size}, {args.concurrency} at a "
        f"time, ~{calc['per_batch_s']:.0f} s per batch -> {calc['run_10k_minutes']:.1f} min (limit 15)"
    )
    lmb = layer_mb()
    out = {
        "warm_ms": total_ms,
        "warm": dataclasses.asdict(warm),
        "per_model_ms": per_model,
        "cold_import_s": cold,
        "run": run,
        "calc": calc,
        "layer_mb": lmb,
    }
    (ROOT / "out").mkdir(exist_ok=True)
    (ROOT / "out" / "scale.json").write_text(json.dumps(out, indent=2, default=str))
    print(
        f"SCALE resources={run.get('resources', 0):.0f} cpu_ms_per_resource={total_ms:.1f} "
        f"cold_import_cpu_s_max={max(cold.values()):.2f} layer_mb={'n/a' if lmb is None else f'{lmb:.1f}'} "
        f"cost_usd_month_10k={calc['monthly'][10_000]['total']:.2f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
