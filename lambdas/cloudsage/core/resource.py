"""ResourceMetrics: everything one model invocation sees about one resource."""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from cloudsage.core.errors import InputValidationError
from cloudsage.core.series import MetricSeries, align

RESOURCE_TYPES: tuple[str, ...] = ("asg", "ec2", "rds", "cache", "lambda", "other")


@dataclass(frozen=True, eq=False)
class ResourceMetrics:
    """The metrics of one resource over one analysis window.

    Parameters
    ----------
    resource_id : str
        Instance id, ASG name, DB identifier, function name...
    resource_type : str
        One of :data:`RESOURCE_TYPES`.
    series : dict of str to MetricSeries
        Metric name to series; every series belongs to ``resource_id``. Series on the same grid (same period and
        phase) are put on one common span, missing points NaN, so the models can combine them point by point:
        CloudWatch leaves out a metric's trailing or leading empty periods, and posted or CSV metrics may start
        and end anywhere.
    attributes : dict
        Known facts (instance type, instance count, region, tags).
    """

    resource_id: str
    resource_type: str
    series: dict[str, MetricSeries]
    attributes: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.resource_type not in RESOURCE_TYPES:
            raise InputValidationError(f"must be one of {RESOURCE_TYPES}", field="resource_type")
        for name, s in self.series.items():
            if s.resource_id != self.resource_id or s.metric != name:
                raise InputValidationError(f"series {s.resource_id}/{s.metric} filed under {name}", field="series")
        object.__setattr__(self, "series", _on_common_spans(self.series))

    def to_dict(self) -> dict[str, Any]:
        return {
            "resource_id": self.resource_id,
            "resource_type": self.resource_type,
            "attributes": self.attributes,
            "series": {k: v.to_dict() for k, v in self.series.items()},
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ResourceMetrics:
        try:
            return cls(
                resource_id=str(data["resource_id"]),
                resource_type=str(data.get("resource_type", "other")),
                series={k: MetricSeries.from_dict(v) for k, v in dict(data["series"]).items()},
                attributes=dict(data.get("attributes") or {}),
            )
        except KeyError as exc:
            raise InputValidationError("missing", field=str(exc.args[0])) from None


@dataclass(frozen=True, slots=True)
class MetricRef:
    """One CloudWatch metric to collect for a resource."""

    name: str
    stat: str
    namespace: str
    dimensions: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class ResourceSpec:
    """Which metrics of which resource to collect (what discovery or the task input names).

    Parameters
    ----------
    resource_id, resource_type : str
        Identity of the resource.
    namespace : str
        CloudWatch namespace of its metrics (``AWS/EC2`` ...); a metric may override it.
    dimensions : dict
        CloudWatch dimensions identifying the resource.
    metrics : tuple of str
        Metric names; each is collected with the statistic the metric catalog gives it.
    attributes : dict
        Facts passed on to the models (instance type, instance count ...).
    metric_namespaces, metric_dimensions : dict
        Per-metric overrides (e.g. an ASG's ``RequestCount`` lives under ``AWS/ApplicationELB``).
    """

    resource_id: str
    resource_type: str
    namespace: str
    dimensions: dict[str, str]
    metrics: tuple[str, ...]
    attributes: dict[str, Any] = field(default_factory=dict)
    metric_namespaces: dict[str, str] = field(default_factory=dict)
    metric_dimensions: dict[str, dict[str, str]] = field(default_factory=dict)

    def metric_refs(self) -> list[MetricRef]:
        """One :class:`MetricRef` per metric, with per-metric namespace/dimension overrides applied."""
        from cloudsage.core.metrics_catalog import metric_info

        return [
            MetricRef(
                m,
                metric_info(m).stat,
                self.metric_namespaces.get(m, self.namespace),
                tuple(sorted(self.metric_dimensions.get(m, self.dimensions).items())),
            )
            for m in self.metrics
        ]


def _on_common_spans(series: dict[str, MetricSeries]) -> dict[str, MetricSeries]:
    """The series, those sharing a grid (period and phase) padded with NaN to their common first and last point."""
    groups: dict[tuple[int, float], list[str]] = defaultdict(list)
    for name, s in series.items():
        groups[(s.period, s.start % s.period)].append(name)
    out = dict(series)
    for names in groups.values():
        if len({(series[m].start, len(series[m])) for m in names}) == 1:
            continue  # already on one span
        ts, matrix = align([series[m] for m in names])
        for j, m in enumerate(names):
            s = series[m]
            if s.start != ts[0] or len(s) != len(ts):
                out[m] = dataclasses.replace(s, start=float(ts[0]), values=matrix[:, j])
    return out
