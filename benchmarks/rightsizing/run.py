"""Rightsizing backtest: CloudSage's CostOptimizer against the anchor rules on real CPU traces and the demo fleet.

Usage (from the repository root)::

    PYTHONPATH=lambdas:. python -m benchmarks.rightsizing.run --data ../shared/data

Method. Each trace is split in time: the first two thirds are what a recommender sees, the last third is replayed
on the type it recommends. CPU demand at each interval is ``CPU % / 100 x capacity(current type)`` in capacity
units (m5.large = 1.0, CoreMark-derived, :mod:`cloudsage.core.catalog`). An interval is *at risk* when the demand
exceeds the new type's capacity (for a burstable type: exceeds the full capacity, or exceeds its baseline while a
standard-mode credit balance, carried through the replay, is empty). Savings are On-Demand list prices of the
packaged snapshot, 730 hours a month, times the instance count; upsizing counts as negative savings.

Rules, all choosing the cheapest type of the same architecture that meets their requirement and keeps at least
today's memory (or, when a memory metric exists, P99.5 of it + 20 %):

* ``cloudsage`` - the CostOptimizer's balanced strategy (P99 + 15 %, at most 0.1 % of fit intervals above
  capacity, burstable types only when a CPU-credit simulation of the fit window never runs dry);
* ``compute_optimizer`` - P99.5 + 20 % headroom; ``vpa`` - P90 + 15 %; ``krr`` - P95; ``cost_explorer`` - the
  maximum. A percentile rule knows nothing of CPU credits, so for them a burstable type counts with its baseline
  (sustained) capacity only.

After each table: the *hindsight ceiling* (not a rule: per trace the cheapest type whose replay risk is at most
0.5 %, once as scored and once without moving a workload saturated in its fit window to a smaller type) and one line
per trace where an anchor or the ceiling is cheaper than CloudSage. ``--fit-fraction`` changes the split (1/2 as a
check), ``--sweep`` prints a risk-budget rule over a grid of budgets and margins.

Traces: NAB ``realAWSCloudwatch`` CPU series (EC2, RDS, an ASG; 2014, five-minute points, about 14 days each;
instance types unknown, assumed m5.2xlarge, see ``--nab-type``) and the demo fleet's priced EC2/ASG resources
(their real types). The last line is ``RIGHTSIZING savings_pct=.. risk_pct=.. best_anchor_savings_pct=..
best_anchor=..``.
"""

from __future__ import annotations

import argparse
import csv
import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cloudsage.core.catalog import HOURS_PER_MONTH, InstanceSpec, PriceBook, instance_spec, instance_specs, load_prices
from cloudsage.core.models.cost import STRATEGIES, performance_risk, rightsize

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_DATA = (REPO_ROOT / ".." / "shared" / "data").resolve()
RISK_LIMIT_PCT = 0.5
SATURATED_PCT = 95.0
"""A replay interval where today's type already runs at or above this CPU is censored (true demand unknown, at
least the whole instance): it is at risk under every rule, so it is reported but left out of ``risk_pct``."""
NAB_GLOB = ("ec2_cpu_utilization_*.csv", "rds_cpu_utilization_*.csv", "grok_asg_anomaly.csv")


@dataclass(frozen=True)
class Trace:
    """One CPU trace with what is known of its resource."""

    name: str
    cpu: np.ndarray  # % of the current type, NaN = missing, time order
    period: int
    instance_type: str
    count: float = 1.0
    memory_pct: np.ndarray | None = None


@dataclass(frozen=True)
class Outcome:
    trace: str
    rule: str
    target: str
    current_usd: float
    new_usd: float
    at_risk: int
    intervals: int
    at_risk_all: int
    intervals_all: int
    perf_risk: int = 0  # the product's 0-4 scale from the fit window's P99.5 projected on the target


Rule = Callable[[Trace, np.ndarray, np.ndarray | None, PriceBook, bool], str]


def _percentile_rule(pct: float, headroom: float) -> Rule:
    def choose(tr: Trace, demand: np.ndarray, mem: np.ndarray | None, book: PriceBook, keep_memory: bool) -> str:
        cur = instance_spec(tr.instance_type)
        need = float(np.percentile(demand, pct)) * (1 + headroom)
        mem_need = _mem_need(mem, cur) if keep_memory else 0.0
        best: tuple[float, float, str] | None = None
        for name, spec in instance_specs().items():
            if not book.has(name) or spec.arch != cur.arch or spec.memory_gib + 1e-9 < mem_need:
                continue
            sustained = spec.capacity * (float(spec.baseline_pct or 0.0) / 100.0 if spec.burstable else 1.0)
            if sustained < need:
                continue
            key = (book.hourly(name), -spec.capacity, name)
            if best is None or key < best:
                best = key
        return best[2] if best else tr.instance_type

    return choose


def _mem_need(mem: np.ndarray | None, cur: InstanceSpec) -> float:
    if mem is None or not np.isfinite(mem).any():
        return cur.memory_gib
    return float(np.nanpercentile(mem, 99.5)) / 100.0 * cur.memory_gib * 1.2


def _cloudsage_rule(strategy: str) -> Rule:
    pct, head = STRATEGIES[strategy]
    return _rightsize_rule(pct, head, 0.001)  # 0.001 = the CostOptimizer's default max_exceed_share


def _rightsize_rule(pct: float, head: float, tail: float) -> Rule:
    """The CostOptimizer's sizing (:func:`rightsize`: credits, censoring, tail check) with explicit knobs."""

    def choose(tr: Trace, demand: np.ndarray, mem: np.ndarray | None, book: PriceBook, keep_memory: bool) -> str:
        cur = instance_spec(tr.instance_type)
        mem_need = None if mem is None or not np.isfinite(mem).any() else _mem_need(mem, cur)
        if not keep_memory:
            mem_need = 0.0
        _, cands = rightsize(
            demand,
            tr.instance_type,
            book,
            percentile=pct,
            headroom=head,
            period_s=tr.period,
            required_memory_gib=mem_need,
            max_exceed_share=tail,
        )
        return cands[0][0].instance_type if cands else tr.instance_type

    return choose


RULES: dict[str, Rule] = {
    "cloudsage": _cloudsage_rule("balanced"),
    "compute_optimizer": _percentile_rule(99.5, 0.20),
    "vpa": _percentile_rule(90.0, 0.15),
    "krr": _percentile_rule(95.0, 0.0),
    "cost_explorer": _percentile_rule(100.0, 0.0),
}
ANCHORS = ("compute_optimizer", "vpa", "krr", "cost_explorer")
VARIANTS: dict[str, Rule] = {f"cloudsage_{s}": _cloudsage_rule(s) for s in STRATEGIES if s != "balanced"}
SWEEP_BUDGETS = (0.001, 0.005, 0.01)
SWEEP_MARGINS = (0.0, 0.05, 0.10, 0.15)


def budget_rule(budget: float, margin: float) -> Rule:
    """Risk-budget sizing: the cheapest type on which at most ``budget`` of the fit intervals, with the demand
    raised by ``margin`` (the allowance for the unseen part), exceed its capacity or run out of CPU credits.

    On a non-burstable type that is exactly P(100 - 100 x budget) x (1 + margin) <= capacity, i.e. a percentile
    rule; ``--sweep`` prints it over a grid so the idea can be judged on the same split.
    """
    return _rightsize_rule(100.0 * (1.0 - budget), margin, budget)


def replay_risk(demand: np.ndarray, spec: InstanceSpec, period: int) -> np.ndarray:
    """Per interval of ``demand`` (capacity units, NaN = missing, never at risk): can the type not serve it?"""
    d = np.nan_to_num(demand, nan=0.0)
    if not spec.burstable:
        return np.asarray(d > spec.capacity + 1e-12)
    base = float(spec.baseline_pct or 0.0) / 100.0
    minutes = period / 60.0
    cap = base * spec.vcpu * 60.0 * 24.0
    balance = 0.0  # T3/T4g get no launch credits; the caller replays the fit window first to build the balance
    bad = np.zeros(d.size, dtype=bool)
    for i, x in enumerate(d.tolist()):
        util = min(1.0, x / spec.capacity)
        balance = min(cap, balance + (base - util) * spec.vcpu * minutes)
        bad[i] = x > spec.capacity + 1e-12 or (balance <= 0.0 and util > base)
        balance = max(balance, 0.0)
    return bad


def backtest(
    traces: list[Trace],
    rules: dict[str, Rule],
    book: PriceBook,
    keep_memory: bool = True,
    fit_fraction: float = 2 / 3,
) -> list[Outcome]:
    out: list[Outcome] = []
    for tr in traces:
        cur = instance_spec(tr.instance_type)
        n = tr.cpu.size
        cut = int(fit_fraction * n)
        fit_cpu, test_cpu = tr.cpu[:cut], tr.cpu[cut:]
        demand_fit = fit_cpu[np.isfinite(fit_cpu)] / 100.0 * cur.capacity
        demand_test = test_cpu / 100.0 * cur.capacity
        mem_fit = tr.memory_pct[:cut] if tr.memory_pct is not None else None
        current_usd = book.hourly(tr.instance_type) * HOURS_PER_MONTH * tr.count
        valid = np.isfinite(demand_test)
        normal = valid & ~(np.nan_to_num(test_cpu, nan=0.0) >= SATURATED_PCT)  # censored: today's type is full
        for name, rule in rules.items():
            target = rule(tr, demand_fit, mem_fit, book, keep_memory)
            spec = instance_spec(target)
            # the new type runs the whole history (so a burstable type enters the replay with the balance the fit
            # window left it); only the replayed third is scored
            bad = replay_risk(tr.cpu / 100.0 * cur.capacity, spec, tr.period)[cut:]
            p995 = float(np.percentile(demand_fit, 99.5)) if demand_fit.size else 0.0
            out.append(
                Outcome(
                    trace=tr.name,
                    rule=name,
                    target=target,
                    current_usd=current_usd,
                    new_usd=book.hourly(target) * HOURS_PER_MONTH * tr.count,
                    at_risk=int(np.sum(bad & normal)),
                    intervals=int(normal.sum()),
                    at_risk_all=int(np.sum(bad & valid)),
                    intervals_all=int(valid.sum()),
                    perf_risk=performance_risk(100.0 * p995 / spec.capacity, spec.burstable),
                )
            )
    return out


def hindsight(
    traces: list[Trace],
    book: PriceBook,
    keep_memory: bool,
    fit_fraction: float = 2 / 3,
    censored_guard: bool = False,
) -> list[Outcome]:
    """Not a rule: per trace, the cheapest type whose *replay* risk is at most :data:`RISK_LIMIT_PCT`.

    It looks at the replayed part, so no rule can do better at that per-trace risk under this benchmark's scoring
    (which leaves out the censored intervals where today's type is saturated: a type a little smaller than a
    saturated one can look safe here; the ceiling says which trace relies on that). ``censored_guard`` applies the
    product's censoring rule: no type with less capacity than today's when today's type is saturated in more than
    0.1 % of the fit window (the CostOptimizer's ``max_exceed_share``).
    """
    out: list[Outcome] = []
    for tr in traces:
        cur = instance_spec(tr.instance_type)
        cut = int(fit_fraction * tr.cpu.size)
        mem_fit = tr.memory_pct[:cut] if tr.memory_pct is not None else None
        mem_need = _mem_need(mem_fit, cur) if keep_memory else 0.0
        test_cpu = tr.cpu[cut:]
        valid = np.isfinite(test_cpu)
        normal = valid & ~(np.nan_to_num(test_cpu, nan=0.0) >= SATURATED_PCT)
        full = tr.cpu / 100.0 * cur.capacity
        fit_cpu = tr.cpu[:cut][np.isfinite(tr.cpu[:cut])]
        saturated = censored_guard and fit_cpu.size > 0 and float(np.mean(fit_cpu >= SATURATED_PCT)) > 0.001
        best: tuple[float, float, str, int, int] | None = None
        for name, spec in instance_specs().items():
            if not book.has(name) or spec.arch != cur.arch or spec.memory_gib + 1e-9 < mem_need:
                continue
            if saturated and spec.capacity < cur.capacity:
                continue
            bad = replay_risk(full, spec, tr.period)[cut:]
            k = int(np.sum(bad & normal))
            if 100.0 * k / max(1, int(normal.sum())) > RISK_LIMIT_PCT:
                continue
            key = (book.hourly(name), -spec.capacity, name, k, int(np.sum(bad & valid)))
            if best is None or key[:3] < best[:3]:
                best = key
        target, k, k_all = (best[2], best[3], best[4]) if best else (tr.instance_type, 0, 0)
        out.append(
            Outcome(
                trace=tr.name,
                rule="hindsight",
                target=target,
                current_usd=book.hourly(tr.instance_type) * HOURS_PER_MONTH * tr.count,
                new_usd=book.hourly(target) * HOURS_PER_MONTH * tr.count,
                at_risk=k,
                intervals=int(normal.sum()),
                at_risk_all=k_all,
                intervals_all=int(valid.sum()),
            )
        )
    return out


def gaps(outcomes: list[Outcome], rule: str, other: str) -> list[str]:
    """Traces where ``other`` is cheaper than ``rule``: ``trace: rule's type (at-risk) vs other's, $/month``."""
    by = {(o.trace, o.rule): o for o in outcomes}
    lines = []
    for (trace, r), o in by.items():
        if r != rule or (trace, other) not in by:
            continue
        x = by[(trace, other)]
        if x.new_usd < o.new_usd - 1e-9:
            lines.append(
                f"{trace}: {o.target} ({o.at_risk} at risk) vs {x.target} ({x.at_risk} at risk of "
                f"{x.intervals}), {o.new_usd - x.new_usd:.2f} $/month"
            )
    return lines


def load_nab(data: Path, instance_type: str) -> list[Trace]:
    folder = data / "nab" / "data" / "realAWSCloudwatch"
    files = sorted({p for pattern in NAB_GLOB for p in folder.glob(pattern)})
    traces = []
    for path in files:
        with open(path, encoding="utf-8") as fh:
            rows = list(csv.reader(fh))[1:]
        values = np.array([float(r[1]) for r in rows], dtype=np.float64)
        traces.append(Trace(f"nab/{path.stem}", np.clip(values, 0.0, 100.0), 300, instance_type))
    return traces


def load_demo() -> list[Trace]:
    from cloudsage.local.demo import build_demo_fleet

    book = load_prices()
    traces = []
    for res in build_demo_fleet().to_resource_metrics():
        itype = res.attributes.get("instance_type")
        if not itype or "CPUUtilization" not in res.series or not book.has(str(itype)):
            continue
        count = 1.0
        if "GroupInServiceInstances" in res.series:
            count = float(np.nanmean(res.series["GroupInServiceInstances"].values))
        mem = res.series.get("MemoryUtilization")
        cpu = res.series["CPUUtilization"]
        traces.append(
            Trace(
                f"demo/{res.resource_id}",
                np.asarray(cpu.values),
                cpu.period,
                str(itype),
                count,
                None if mem is None else np.asarray(mem.values),
            )
        )
    return traces


def summarise(outcomes: list[Outcome], rule: str) -> dict[str, float]:
    rows = [o for o in outcomes if o.rule == rule]
    current = sum(o.current_usd for o in rows)
    saved = sum(o.current_usd - o.new_usd for o in rows)
    risk = sum(o.at_risk for o in rows) / max(1, sum(o.intervals for o in rows))
    risk_all = sum(o.at_risk_all for o in rows) / max(1, sum(o.intervals_all for o in rows))
    per_trace_risk = [o.at_risk / max(1, o.intervals) for o in rows]
    return {
        "savings_pct": 100.0 * saved / current if current else 0.0,
        "savings_usd": saved,
        "risk_pct": 100.0 * risk,
        "risk_all_pct": 100.0 * risk_all,
        "max_trace_risk_pct": 100.0 * float(np.max(per_trace_risk)) if rows else 0.0,
        "traces_at_risk": sum(1 for o in rows if o.at_risk > 0),
        "downsized": sum(1 for o in rows if o.new_usd < o.current_usd - 1e-9),
        "max_perf_risk": max((o.perf_risk for o in rows), default=0),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="shared data folder (holds nab/)")
    ap.add_argument("--nab-type", default="m5.2xlarge", help="instance type assumed for the NAB traces")
    ap.add_argument("--per-trace", action="store_true", help="also print each trace's target per rule")
    ap.add_argument("--sweep", action="store_true", help="also print the risk-budget sweep (budget x margin)")
    ap.add_argument(
        "--fit-fraction",
        type=float,
        default=2 / 3,
        help="share of each trace the rules see (the rest is replayed); 2/3 is the issue's split, 1/2 a check",
    )
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    book = load_prices()
    traces = load_nab(args.data, args.nab_type) + load_demo()
    if not traces:
        print(f"no traces found under {args.data}", file=sys.stderr)
        return 2
    if not 0.1 <= args.fit_fraction <= 0.9:
        print("--fit-fraction must be in [0.1, 0.9]", file=sys.stderr)
        return 2
    frac = args.fit_fraction
    split = "2/3" if abs(frac - 2 / 3) < 1e-9 else f"{frac:.0%}"
    rules = {**RULES, **VARIANTS}
    print(
        f"Rightsizing backtest: {len(traces)} traces ({sum(t.name.startswith('nab/') for t in traces)} NAB, "
        f"assumed {args.nab_type}; {sum(t.name.startswith('demo/') for t in traces)} demo), fit on the first "
        f"{split}, replay the rest; prices {book.origin}, 730 h/month; risk excludes intervals where today's type "
        f"is already saturated (CPU >= {SATURATED_PCT:g} %)"
    )
    kept = backtest(traces, rules, book, keep_memory=True, fit_fraction=frac)
    print("\n[A] memory kept (the product's rule without a memory metric: no type with less memory than today's)")
    _table(kept, rules, args.per_trace, traces)
    _where(kept + hindsight(traces, book, True, frac), hindsight(traces, book, True, frac, censored_guard=True))
    outcomes = backtest(traces, rules, book, keep_memory=False, fit_fraction=frac)
    print("\n[B] CPU only (the traces carry CPU only; every rule may pick any type of the same architecture)")
    _table(outcomes, rules, args.per_trace, traces)
    _where(outcomes + hindsight(traces, book, False, frac), hindsight(traces, book, False, frac, censored_guard=True))
    if args.sweep:
        _sweep(traces, book, frac)
    stats = {name: summarise(outcomes, name) for name in rules}
    stats_a = {name: summarise(kept, name) for name in rules}
    for label, st_ in (("A", stats_a), ("B", stats)):
        elig = [a for a in ANCHORS if st_[a]["risk_pct"] <= RISK_LIMIT_PCT]
        top = max(elig, key=lambda a: st_[a]["savings_pct"]) if elig else "none"
        print(
            f"[{label}] cloudsage savings {st_['cloudsage']['savings_pct']:.2f} % at risk "
            f"{st_['cloudsage']['risk_pct']:.3f} %; best anchor at risk <= {RISK_LIMIT_PCT} %: {top}"
            + (f" {st_[top]['savings_pct']:.2f} % at risk {st_[top]['risk_pct']:.3f} %" if elig else "")
        )
    eligible = [a for a in ANCHORS if stats[a]["risk_pct"] <= RISK_LIMIT_PCT]
    best = max(eligible, key=lambda a: stats[a]["savings_pct"]) if eligible else "none"
    best_sav = stats[best]["savings_pct"] if eligible else float("nan")
    cs = stats["cloudsage"]
    ratio = cs["savings_pct"] / best_sav if eligible and best_sav > 0 else math.nan
    print(
        f"[B] anchors with risk <= {RISK_LIMIT_PCT} %: {', '.join(eligible) or 'none'}; cloudsage / best anchor "
        f"savings ratio {ratio:.3f}; elapsed {time.perf_counter() - t0:.1f} s"
    )
    print(
        f"RIGHTSIZING savings_pct={cs['savings_pct']:.2f} risk_pct={cs['risk_pct']:.3f} "
        f"best_anchor_savings_pct={best_sav:.2f} best_anchor={best}"
    )
    return 0


def _sweep(traces: list[Trace], book: PriceBook, frac: float) -> None:
    grid = {f"budget {b:.1%} margin {m:.0%}": budget_rule(b, m) for m in SWEEP_MARGINS for b in SWEEP_BUDGETS}
    print("risk-budget sweep: savings % / risk % / max trace risk % (budget = share of fit intervals over capacity)")
    res = {key: backtest(traces, grid, book, keep_memory=key == "A", fit_fraction=frac) for key in ("A", "B")}
    for name in grid:
        cells = []
        for key in ("A", "B"):
            s = summarise(res[key], name)
            cells.append(f"[{key}] {s['savings_pct']:6.2f} / {s['risk_pct']:.3f} / {s['max_trace_risk_pct']:6.2f}")
        print(f"  {name:<26}" + "    ".join(cells))
    print()


def _where(outcomes: list[Outcome], guarded: list[Outcome]) -> None:
    """Where CloudSage gives up savings: against each anchor, and against the hindsight ceiling."""
    ceiling = summarise(outcomes, "hindsight")
    ceiling_g = summarise(guarded, "hindsight")
    print(
        f"hindsight ceiling (not a rule: cheapest type per trace whose replay risk <= {RISK_LIMIT_PCT} %): savings "
        f"{ceiling['savings_pct']:.2f} %, risk {ceiling['risk_pct']:.3f} %, incl. saturated "
        f"{ceiling['risk_all_pct']:.3f} %; {ceiling_g['savings_pct']:.2f} % without moving a workload saturated "
        "in its fit window to a smaller type"
    )
    for other in (*ANCHORS, "hindsight"):
        for line in gaps(outcomes, "cloudsage", other):
            print(f"  cheaper than cloudsage, {other}: {line}")
    print()


def _table(outcomes: list[Outcome], rules: dict[str, Rule], per_trace: bool, traces: list[Trace]) -> None:
    header = (
        f"{'rule':<28}{'savings %':>10}{'$/month':>10}{'risk %':>8}{'risk incl. saturated %':>24}"
        f"{'max trace risk %':>18}{'traces at risk':>16}{'downsized':>11}{'max perf risk':>15}"
    )
    print(header)
    print("-" * len(header))
    stats = {name: summarise(outcomes, name) for name in rules}
    for name in rules:
        s = stats[name]
        print(
            f"{name:<28}{s['savings_pct']:>10.2f}{s['savings_usd']:>10.2f}{s['risk_pct']:>8.3f}{s['risk_all_pct']:>24.3f}"
            f"{s['max_trace_risk_pct']:>18.3f}{s['traces_at_risk']:>16d}{s['downsized']:>11d}"
            f"{s['max_perf_risk']:>15d}"
        )
    if per_trace:
        print()
        names = list(rules)
        print(f"{'trace':<36}" + "".join(f"{n[:18]:>20}" for n in names))
        for tr in traces:
            cells = []
            for n in names:
                o = next(x for x in outcomes if x.trace == tr.name and x.rule == n)
                cells.append(f"{o.target}({o.at_risk})")
            print(f"{tr.name[:36]:<36}" + "".join(f"{c:>20}" for c in cells))
    print()


if __name__ == "__main__":
    raise SystemExit(main())
