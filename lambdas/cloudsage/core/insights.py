"""Aggregation: merge a run's model outputs into ranked, de-duplicated insights (pure).

Priority (documented in ``docs/architecture.md``)::

    priority = severity_weight[severity] * confidence * recency

with severity weights info 0.1, low 0.25, medium 0.5, high 0.8, critical 1.0, and
``recency = 0.5 ** (age_hours / 24)`` where ``age_hours`` is the time from the insight's window end to the
run's reference time (the latest ``detected_at`` in the run). Ties break on resource id, then insight id,
so the ranking is independent of the order outputs arrive in.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from cloudsage.core.results import Insight, ModelOutput, severity_rank

SEVERITY_WEIGHT = {"info": 0.1, "low": 0.25, "medium": 0.5, "high": 0.8, "critical": 1.0}
RECENCY_HALF_LIFE_H = 24.0


@dataclass(frozen=True, slots=True)
class RankedInsight:
    """An insight with its priority and rank (1 = most urgent)."""

    insight: Insight
    priority: float
    rank: int


def priority(insight: Insight, reference_time: float) -> float:
    """The ranking score of one insight at ``reference_time`` (epoch seconds)."""
    age_h = max(0.0, (reference_time - insight.window_end) / 3600.0)
    recency = 0.5 ** (age_h / RECENCY_HALF_LIFE_H)
    return SEVERITY_WEIGHT[insight.severity] * float(insight.confidence) * recency


def aggregate(outputs: Iterable[ModelOutput]) -> list[RankedInsight]:
    """Merge outputs into ranked insights; duplicates (same id) keep the most severe, then most confident.

    Examples
    --------
    >>> aggregate([])
    []
    """
    best: dict[str, Insight] = {}
    for output in outputs:
        for ins in output.insights:
            kept = best.get(ins.id)
            if kept is None or (severity_rank(ins.severity), ins.confidence) > (
                severity_rank(kept.severity),
                kept.confidence,
            ):
                best[ins.id] = ins
    if not best:
        return []
    reference = max(i.detected_at for i in best.values())
    scored = sorted(
        ((priority(i, reference), i) for i in best.values()),
        key=lambda pi: (-pi[0], pi[1].resource_id, pi[1].id),
    )
    return [RankedInsight(i, round(p, 6), n) for n, (p, i) in enumerate(scored, start=1)]
