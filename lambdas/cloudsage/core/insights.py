"""Aggregation and lifecycle of insights (pure).

:func:`aggregate` merges one run's model outputs into ranked insights; :func:`on_seen`, :func:`on_missed` and
:func:`on_user_action` are the lifecycle transitions the store applies. Everything here is a pure function of
its arguments: no clock, no I/O, and the ranking does not depend on the order outputs arrive in.

Composite insights
------------------
*Episodic* findings (windows up to ``STANDING_S``, one day) of any models on the same resource whose windows
overlap or lie within ``near_s`` (one hour by default) of each other form a cluster. *Standing* findings (longer
windows: a rightsizing or cost verdict over the whole lookback) join the resource's latest cluster only when they
make it a ``capacity_risk`` (e.g. an under-provisioned instance, a forecast capacity breach); the others are
grouped among themselves (only into ``cost_waste``). ``info`` findings never join. A group whose *signals* match
a rule becomes one composite insight carrying every member (their ids, titles, severities and evidence) in
``evidence["members"]``:

==================== ==========================================================================================
``capacity_risk``    latency up together with saturation, scaling activity or a forecast capacity breach; or a
                     forecast breach together with saturation (e.g. CPU saturation + latency anomaly)
``availability_risk`` errors or throttles together with latency, saturation, load or scaling changes
``resource_pressure`` two or more different saturation metrics rising together (e.g. CPU + DB connections)
``cost_waste``       a cost finding together with idle or over-provisioned capacity
``correlated``       any other cluster of findings from two or more different models
==================== ==========================================================================================

Other clusters stay separate insights. A composite's id hashes resource, composite kind and the earliest
member's window start floored to the hour, so a re-run (or a later run that sees slightly different members)
updates the same composite instead of creating a new one.

Priority
--------
::

    priority = severity_weight[severity] * confidence * impact * recency

* ``severity_weight``: info 0.1, low 0.25, medium 0.5, high 0.8, critical 1.0.
* ``impact = 1 + cost + sla + spread`` in [1, 4]: ``cost = min(1, log10(1 + usd_per_month) / 3)`` (1 at
  $1,000/month, from ``evidence`` keys such as ``monthly_savings_usd``); ``sla`` = 1 when latency or errors are
  involved, 0.5 for saturation, scaling or a capacity forecast, else 0 (``evidence["sla_risk"]`` overrides);
  ``spread = min(1, log2(resources_affected) / 4)`` (``evidence["resources_affected"]``, default 1).
* ``recency = 0.5 ** (age_hours / 24)``, ``age_hours`` from the insight's window end to the run's reference time
  (the latest ``detected_at`` in the run).

Ties break on resource id, then insight id.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from cloudsage.core.errors import InputValidationError
from cloudsage.core.metrics_catalog import metric_info
from cloudsage.core.results import Insight, ModelOutput, iso, severity_rank

SEVERITY_WEIGHT = {"info": 0.1, "low": 0.25, "medium": 0.5, "high": 0.8, "critical": 1.0}
RECENCY_HALF_LIFE_H = 24.0
NEAR_S = 3600.0
STANDING_S = 86_400.0
COMPOSITE_MODEL = "composite"
COST_KEYS = ("monthly_savings_usd", "dollars_per_month", "monthly_cost_usd", "usd_per_month", "savings_usd_month")

ERROR_METRICS = frozenset(
    {
        "Errors",
        "Throttles",
        "HTTPCode_Target_5XX_Count",
        "HTTPCode_ELB_5XX_Count",
        "5XXError",
        "UnHealthyHostCount",
        "StatusCheckFailed",
        "Evictions",
        "DeadlockCount",
    }
)
SATURATION_METRICS = frozenset(
    {
        "CPUUtilization",
        "MemoryUtilization",
        "mem_used_percent",
        "DatabaseConnections",
        "CurrConnections",
        "ConcurrentExecutions",
        "ReadIOPS",
        "WriteIOPS",
        "DiskQueueDepth",
        "EngineCPUUtilization",
        "DatabaseMemoryUsagePercentage",
    }
)
SHRINKING_MEANS_SATURATION = frozenset({"FreeableMemory", "FreeStorageSpace", "CacheHitRate"})
SCALING_METRICS = frozenset({"GroupInServiceInstances", "GroupDesiredCapacity", "HealthyHostCount"})

COMPOSITE_LABELS = {
    "capacity_risk": "Capacity risk",
    "availability_risk": "Availability risk",
    "resource_pressure": "Resource pressure",
    "cost_waste": "Cost waste",
    "correlated": "Correlated findings",
}
COMPOSITE_ADVICE = {
    "capacity_risk": "Add capacity before the next peak (scale out or up, or raise the scaling policy's maximum);",
    "availability_risk": "Users are seeing failures: check the most recent deploy and the dependency errors first;",
    "resource_pressure": "Several limits are being approached at once: look for the common cause (a query, a job);",
    "cost_waste": "The resource is paid for but barely used: downsize, schedule or retire it;",
    "correlated": "Several models flagged this resource at the same time: review the findings together;",
}


# ----------------------------------------------------------------------------------------------- ranking
@dataclass(frozen=True, slots=True)
class RankedInsight:
    """An insight with its priority and rank (1 = most urgent).

    ``members`` lists the ids of the findings a composite insight groups (empty for a plain insight).
    """

    insight: Insight
    priority: float
    rank: int
    impact: float = 1.0
    members: tuple[str, ...] = ()


def signals(insight: Insight) -> frozenset[str]:
    """What kind of trouble an insight is evidence of: ``latency``, ``errors``, ``saturation``, ``scaling``,
    ``capacity_forecast``, ``cost``, ``idle``, ``load`` or ``other``.

    Composites recurse into their members' signals (stored in ``evidence["signals"]``).
    """
    ev = insight.evidence or {}
    stored = ev.get("signals")
    if insight.model == COMPOSITE_MODEL and isinstance(stored, (list, tuple)):
        return frozenset(str(s) for s in stored)
    out: set[str] = set()
    direction = str(ev.get("direction", "up")).lower()
    up = direction not in ("down", "decrease", "decreasing", "low")
    metric = insight.metric
    if insight.severity == "info":
        return frozenset({"other"})  # "right-sized", "has headroom": context, not trouble
    text = f"{insight.title} {ev.get('verdict', '')} {ev.get('recommendation_kind', '')}".lower()
    if insight.model == "cost" or (_usd(ev) > 0 and insight.window_end - insight.window_start > STANDING_S):
        out.add("cost")
        if "under" in text:
            out.add("saturation")
        if "idle" in text or "over-provisioned" in text or "overprovisioned" in text:
            out.add("idle")
        return frozenset(out)
    if insight.kind == "proactive" and (insight.model in ("scaling", "forecast", "performance") or "breach" in ev):
        out.add("capacity_forecast")
        return frozenset(out)
    if metric in ERROR_METRICS:
        out.add("errors")
    elif metric_info(metric).kind == "latency":
        out.add("latency" if up else "other")
    elif metric in SATURATION_METRICS:
        out.add("saturation" if up else "idle")
    elif metric in SHRINKING_MEANS_SATURATION:
        out.add("other" if up else "saturation")
    elif metric in SCALING_METRICS:
        out.add("scaling")
    elif metric_info(metric).kind in ("count", "bytes"):
        out.add("load")
    if "under-provisioned" in text:
        out.add("saturation")
    if "idle" in text or "over-provisioned" in text:
        out.add("idle")
    return frozenset(out or {"other"})


def _usd(evidence: dict[str, Any]) -> float:
    for key in COST_KEYS:
        value = evidence.get(key)
        if isinstance(value, (int, float)) and math.isfinite(value) and value > 0:
            return float(value)
    return 0.0


def impact(insight: Insight) -> float:
    """``1 + cost + sla + spread`` in [1, 4] (see the module docstring)."""
    ev = insight.evidence or {}
    cost = min(1.0, math.log10(1.0 + _usd(ev)) / 3.0)
    sla_given = ev.get("sla_risk")
    if isinstance(sla_given, (int, float)) and math.isfinite(sla_given):
        sla = min(1.0, max(0.0, float(sla_given)))
    else:
        sig = signals(insight)
        sla = 1.0 if sig & {"latency", "errors"} else 0.5 if sig & {"saturation", "scaling", "capacity_forecast"} else 0
    n = ev.get("resources_affected", 1)
    n = float(n) if isinstance(n, (int, float)) and math.isfinite(n) and n >= 1 else 1.0
    spread = min(1.0, math.log2(n) / 4.0)
    return 1.0 + cost + float(sla) + spread


def priority(insight: Insight, reference_time: float) -> float:
    """The ranking score of one insight at ``reference_time`` (epoch seconds), in [0, 4].

    Examples
    --------
    >>> from cloudsage.core.results import Insight
    >>> i = Insight("r", "anomaly", "reactive", "high", 0.5, "t", "s", "r", 0.0, 0.0, 0.0)
    >>> priority(i, 86_400.0)  # 0.8 * 0.5 * impact 1 * half-life of 24 h
    0.2
    """
    age_h = max(0.0, (reference_time - insight.window_end) / 3600.0)
    recency = 0.5 ** (age_h / RECENCY_HALF_LIFE_H)
    return SEVERITY_WEIGHT[insight.severity] * float(insight.confidence) * impact(insight) * recency


def _better(a: Insight, b: Insight) -> bool:
    """Whether ``a`` should be kept over ``b`` when both have the same id (total order: order-independent)."""
    return (severity_rank(a.severity), a.confidence, a.window_end, a.detected_at, a.title) > (
        severity_rank(b.severity),
        b.confidence,
        b.window_end,
        b.detected_at,
        b.title,
    )


def aggregate(
    outputs: Iterable[ModelOutput], *, near_s: float = NEAR_S, composites: bool = True
) -> list[RankedInsight]:
    """Merge a run's outputs into ranked insights, grouping related findings into composite insights.

    Parameters
    ----------
    outputs : iterable of ModelOutput
        Every model's output for every resource, in any order.
    near_s : float
        Findings on one resource whose windows are at most this far apart belong to the same cluster.
    composites : bool
        Set False to rank the findings as they are, without grouping.

    Returns
    -------
    list of RankedInsight
        Highest priority first, ranks 1..n. Duplicates (same id) keep the most severe, then most confident.

    Examples
    --------
    >>> aggregate([])
    []
    """
    best: dict[str, Insight] = {}
    for output in outputs:
        for ins in output.insights:
            kept = best.get(ins.id)
            if kept is None or _better(ins, kept):
                best[ins.id] = ins
    if not best:
        return []
    findings = sorted(best.values(), key=lambda i: (i.resource_id, i.window_start, i.window_end, i.id))
    items: list[tuple[Insight, tuple[str, ...]]] = []
    if composites:
        for group, allowed in _groups(findings, near_s):
            kind = composite_kind(group) if len(group) > 1 else None
            if kind is None or (allowed is not None and kind not in allowed):
                items.extend((i, ()) for i in group)
            else:
                items.append((build_composite(group, kind), tuple(sorted(i.id for i in group))))
    else:
        items = [(i, ()) for i in findings]
    merged: dict[str, tuple[Insight, tuple[str, ...]]] = {}
    for ins, members in items:  # two clusters may map to the same composite id (same kind, same hour)
        if ins.id in merged:
            other, other_members = merged[ins.id]
            ins = _merge_same_id(other, ins)
            members = tuple(sorted(set(members) | set(other_members)))
        merged[ins.id] = (ins, members)
    reference = max(i.detected_at for i in best.values())
    scored = sorted(
        ((priority(i, reference), i, m) for i, m in merged.values()),
        key=lambda pim: (-pim[0], pim[1].resource_id, pim[1].id),
    )
    return [RankedInsight(i, round(p, 6), n, round(impact(i), 6), m) for n, (p, i, m) in enumerate(scored, start=1)]


def _is_standing(ins: Insight) -> bool:
    return ins.window_end - ins.window_start > STANDING_S


def _groups(findings: Sequence[Insight], near_s: float) -> list[tuple[list[Insight], tuple[str, ...] | None]]:
    """Candidate groups with the composite kinds each may form (None: any).

    Episodic findings chain into clusters; a standing finding joins its resource's latest cluster when that
    makes the cluster a capacity risk, else it waits in the resource's standing pool (cost waste only).
    ``info`` findings stay on their own.
    """
    out: list[tuple[list[Insight], tuple[str, ...] | None]] = []
    by_resource: dict[str, list[Insight]] = {}
    for ins in findings:
        by_resource.setdefault(ins.resource_id, []).append(ins)
    for resource in sorted(by_resource):
        members = by_resource[resource]
        alone = [i for i in members if i.severity == "info"]
        episodic = [i for i in members if i.severity != "info" and not _is_standing(i)]
        standing = [i for i in members if i.severity != "info" and _is_standing(i)]
        clusters = _clusters(episodic, near_s)
        pool: list[Insight] = []
        for ins in standing:
            latest = clusters[-1] if clusters else None
            adds_capacity = bool(signals(ins) & {"saturation", "capacity_forecast"})
            if latest is not None and adds_capacity and composite_kind([*latest, ins]) == "capacity_risk":
                latest.append(ins)
            else:
                pool.append(ins)
        out.extend((c, None) for c in clusters)
        if pool:
            out.append((pool, ("cost_waste",)))
        out.extend(([i], None) for i in alone)
    return out


def _clusters(findings: Sequence[Insight], near_s: float) -> list[list[Insight]]:
    """Split findings (sorted by resource, then window start) into chains of overlapping or near windows."""
    clusters: list[list[Insight]] = []
    reach = -math.inf
    for ins in findings:
        if clusters and clusters[-1][0].resource_id == ins.resource_id and ins.window_start <= reach + near_s:
            clusters[-1].append(ins)
            reach = max(reach, ins.window_end)
        else:
            clusters.append([ins])
            reach = ins.window_end
    return clusters


def composite_kind(cluster: Sequence[Insight]) -> str | None:
    """The composite rule a cluster of findings matches (first match in the table above), or None."""
    sig: set[str] = set()
    saturated: set[str] = set()
    for ins in cluster:
        s = signals(ins)
        sig |= s
        if "saturation" in s:
            saturated.add(ins.metric or ins.id)
    if "latency" in sig and sig & {"saturation", "scaling", "capacity_forecast"}:
        return "capacity_risk"
    if "capacity_forecast" in sig and "saturation" in sig:
        return "capacity_risk"
    if "errors" in sig and sig & {"latency", "saturation", "load", "scaling"}:
        return "availability_risk"
    if len(saturated) >= 2:
        return "resource_pressure"
    if "cost" in sig and "idle" in sig:
        return "cost_waste"
    if len({i.model for i in cluster}) >= 2:
        return "correlated"
    return None


def composite_id(resource_id: str, kind: str, earliest_start: float) -> str:
    """Deterministic composite id: resource, composite kind and the earliest member start floored to the hour."""
    hour = int(math.floor(float(earliest_start) / 3600.0) * 3600)
    return hashlib.sha256(f"{COMPOSITE_MODEL}|{resource_id}|{kind}|{hour}".encode()).hexdigest()[:20]


def _member_record(ins: Insight) -> dict[str, Any]:
    return {
        "id": ins.id,
        "model": ins.model,
        "kind": ins.kind,
        "metric": ins.metric,
        "severity": ins.severity,
        "confidence": float(ins.confidence),
        "title": ins.title,
        "window_start": float(ins.window_start),
        "window_end": float(ins.window_end),
        "evidence": dict(ins.evidence),
    }


def build_composite(cluster: Sequence[Insight], kind: str) -> Insight:
    """One composite insight from a cluster of findings on one resource (see :func:`composite_kind`)."""
    if not cluster:
        raise InputValidationError("a composite needs at least one member", field="members")
    members = sorted(cluster, key=lambda i: (-severity_rank(i.severity), -i.confidence, i.window_start, i.id))
    primary = members[0]
    resource = primary.resource_id
    timed = [i for i in cluster if not _is_standing(i)] or list(cluster)  # standing members add context, not time
    start = min(i.window_start for i in timed)
    end = max(i.window_end for i in timed)
    metrics = sorted({i.metric for i in cluster if i.metric})
    models = sorted({i.model for i in cluster})
    sig = sorted(set().union(*(signals(i) for i in cluster)))
    label = COMPOSITE_LABELS[kind]
    title = f"{label} on {resource}: {', '.join(metrics) or primary.title}"
    if len(title) > 120:
        title = title[:119] + "…"
    summary = (
        f"{len(cluster)} related findings from {iso(start)} to {iso(end)}: "
        + "; ".join(f"{i.title} ({i.severity})" for i in members)
        + "."
    )
    usd = max(_usd(i.evidence or {}) for i in cluster)
    evidence: dict[str, Any] = {
        "key_figure": _composite_key_figure(primary, len(cluster)),
        "composite": kind,
        "member_count": len(cluster),
        "models": models,
        "metrics": metrics,
        "signals": sig,
        "members": [_member_record(i) for i in members],
    }
    if usd > 0:
        evidence["monthly_savings_usd"] = usd
    return Insight(
        resource_id=resource,
        model=COMPOSITE_MODEL,
        kind="reactive" if any(i.kind == "reactive" for i in cluster) else "proactive",
        severity=primary.severity,
        confidence=max(float(i.confidence) for i in cluster),
        title=title,
        summary=summary,
        recommendation=f"{COMPOSITE_ADVICE[kind]} {primary.recommendation}".strip(),
        detected_at=max(i.detected_at for i in timed),
        window_start=start,
        window_end=end,
        evidence=evidence,
        metric=primary.metric,
        id=composite_id(resource, kind, start),
    )


def _composite_key_figure(primary: Insight, n: int) -> str:
    """The primary member's key figure, or its observed-vs-expected value, plus how many findings it groups."""
    ev = primary.evidence or {}
    head = ev.get("key_figure")
    observed, baseline = ev.get("observed"), ev.get("baseline")
    if not (isinstance(head, str) and head) and all(
        isinstance(v, (int, float)) and math.isfinite(v) for v in (observed, baseline)
    ):
        head = f"{primary.metric} {observed:.3g} vs {baseline:.3g} expected"
    return f"{head} (+{n - 1} related)" if isinstance(head, str) and head else f"{n} related findings"


def _merge_same_id(a: Insight, b: Insight) -> Insight:
    """Two clusters that hash to one composite id: rebuild it from the union of their members."""
    members: dict[str, Insight] = {}
    for comp in (a, b):
        for m in comp.evidence.get("members", []):
            members[m["id"]] = Insight(
                resource_id=comp.resource_id,
                detected_at=float(m["window_end"]),
                summary="",
                recommendation=comp.recommendation,
                **{k: m[k] for k in ("model", "kind", "metric", "severity", "confidence", "title", "evidence")},
                window_start=float(m["window_start"]),
                window_end=float(m["window_end"]),
                id=m["id"],
            )
    merged = build_composite(sorted(members.values(), key=lambda i: i.id), str(a.evidence["composite"]))
    return replace(merged, detected_at=max(a.detected_at, b.detected_at))


# ----------------------------------------------------------------------------------------------- lifecycle
STATUSES: tuple[str, ...] = ("open", "ongoing", "resolved", "closed")
ACTIVE: tuple[str, ...] = ("open", "ongoing")
USER_ACTIONS: tuple[str, ...] = ("acknowledge", "resolve")


@dataclass(frozen=True, slots=True)
class LifecyclePolicy:
    """How insights age.

    Parameters
    ----------
    resolve_after_runs : int
        An open or ongoing insight not seen again for this many consecutive runs that analysed its resource
        becomes ``resolved``.
    resolved_ttl_days, closed_ttl_days : float
        Resolved (by the system) and closed (by a user) insights expire from the table after this long.
    """

    resolve_after_runs: int = 3
    resolved_ttl_days: float = 30.0
    closed_ttl_days: float = 90.0

    def __post_init__(self) -> None:
        if self.resolve_after_runs < 1:
            raise InputValidationError("must be at least 1", field="resolve_after_runs")
        if self.resolved_ttl_days <= 0 or self.closed_ttl_days <= 0:
            raise InputValidationError("must be positive", field="resolved_ttl_days")


@dataclass(frozen=True, slots=True)
class LifecycleState:
    """The lifecycle fields stored with an insight."""

    status: str
    severity: str
    seen_count: int = 1
    missed_runs: int = 0
    last_run_id: str = ""
    last_missed_run: str = ""
    alerted_rank: int = -1
    acknowledged: bool = False
    resolved_at: float | None = None
    expires_at: float | None = None

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise InputValidationError(f"must be one of {STATUSES}", field="status")


@dataclass(frozen=True, slots=True)
class Transition:
    """The outcome of one lifecycle step.

    ``change`` is ``new``, ``ongoing``, ``escalated``, ``reopened``, ``closed`` (seen again but closed by a
    user), ``missed``, ``resolved``, ``acknowledged`` or ``unchanged``; ``write`` is False when nothing needs
    storing (a re-delivered run); ``alert_due`` is True when the insight now needs an alert at its severity.
    """

    state: LifecycleState
    change: str
    write: bool = True
    alert_due: bool = False


def on_seen(prev: LifecycleState | None, severity: str, run_id: str, now: float) -> Transition:
    """An insight is found in run ``run_id``.

    new -> ``open``; seen in a later run -> ``ongoing`` (``escalated`` when more severe than before); seen after
    being resolved -> ``open`` again (``reopened``); closed by a user -> stays closed unless it escalates.
    The same run re-delivered changes nothing.
    """
    rank = severity_rank(severity)
    if prev is None:
        return Transition(LifecycleState("open", severity, last_run_id=run_id), "new", alert_due=True)
    if prev.last_run_id == run_id:
        return Transition(prev, "ongoing", write=False)
    escalated = rank > severity_rank(prev.severity)
    base = replace(prev, severity=severity, seen_count=prev.seen_count + 1, missed_runs=0, last_run_id=run_id)
    if prev.status == "closed" and not escalated:
        return Transition(base, "closed")
    if prev.status in ("resolved", "closed"):
        state = replace(base, status="open", alerted_rank=-1, acknowledged=False, resolved_at=None, expires_at=None)
        return Transition(state, "reopened", alert_due=True)
    state = replace(base, status="ongoing")
    return Transition(state, "escalated" if escalated else "ongoing", alert_due=rank > prev.alerted_rank)


def on_missed(prev: LifecycleState, run_id: str, now: float, policy: LifecyclePolicy) -> Transition:
    """Run ``run_id`` analysed the insight's resource and did not find it.

    After ``policy.resolve_after_runs`` such runs in a row an active insight becomes ``resolved`` and gets a TTL.
    """
    if prev.status not in ACTIVE or run_id in (prev.last_run_id, prev.last_missed_run):
        return Transition(prev, "unchanged", write=False)
    missed = prev.missed_runs + 1
    if missed >= policy.resolve_after_runs:
        state = replace(
            prev,
            status="resolved",
            missed_runs=missed,
            last_missed_run=run_id,
            resolved_at=now,
            expires_at=now + policy.resolved_ttl_days * 86_400.0,
        )
        return Transition(state, "resolved")
    return Transition(replace(prev, missed_runs=missed, last_missed_run=run_id), "missed")


def on_user_action(prev: LifecycleState, action: str, now: float, policy: LifecyclePolicy) -> Transition:
    """A user acknowledges an insight (it stays open, flagged) or resolves it (``closed``, with a TTL)."""
    if action == "acknowledge":
        return Transition(replace(prev, acknowledged=True), "acknowledged")
    if action == "resolve":
        state = replace(
            prev, status="closed", acknowledged=True, resolved_at=now, expires_at=now + policy.closed_ttl_days * 86_400
        )
        return Transition(state, "closed")
    raise InputValidationError(f"must be one of {USER_ACTIONS}", field="action")
