"""MetricSeries: one metric of one resource on a regular time grid, with missing values kept missing.

Raw CloudWatch (or CSV) points are messy: duplicate timestamps (daylight-saving repeats, retried puts),
out-of-order points, irregular sampling, NaN/inf and impossible negatives. :meth:`MetricSeries.from_points`
turns them into a regular grid using the statistic the metric needs (``Sum`` for counts, ``Average`` for
utilisation, ``Maximum`` for tail latency) and records what it had to fix in :class:`SeriesQuality`.
Nothing is interpolated here; :meth:`MetricSeries.filled` fills only short gaps, on request.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np

from cloudsage.core.errors import InsufficientDataError, InvalidSeriesError
from cloudsage.core.metrics_catalog import metric_info

_STATS = ("Sum", "Average", "Maximum", "Minimum")
MIN_PERIOD_S = 1
MAX_PERIOD_S = 86_400


def to_epoch(ts: Any) -> float:
    """Convert a timestamp (epoch seconds, ``datetime`` or ISO-8601 string) to epoch seconds (UTC).

    Naive datetimes and strings without an offset are taken as UTC.

    Raises
    ------
    InvalidSeriesError
        When the value is not a usable timestamp.
    """
    if isinstance(ts, bool):
        raise InvalidSeriesError(f"not a timestamp: {ts!r}", field="timestamp")
    if isinstance(ts, (int, float, np.integer, np.floating)):
        value = float(ts)
        if not math.isfinite(value):
            raise InvalidSeriesError(f"not a finite timestamp: {ts!r}", field="timestamp")
        return value
    if isinstance(ts, datetime):
        dt = ts if ts.tzinfo else ts.replace(tzinfo=UTC)
        return dt.timestamp()
    if isinstance(ts, str):
        text = ts.strip()
        if text.endswith("Z"):
            text = text[:-1] + "+00:00"
        try:
            dt = datetime.fromisoformat(text)
        except ValueError:
            try:
                return to_epoch(float(text))
            except ValueError:
                raise InvalidSeriesError(f"not an ISO-8601 or epoch timestamp: {ts!r}", field="timestamp") from None
        return to_epoch(dt)
    raise InvalidSeriesError(f"not a timestamp: {ts!r}", field="timestamp")


@dataclass(frozen=True, slots=True)
class SeriesQuality:
    """What :meth:`MetricSeries.from_points` found and fixed in the raw points."""

    n_raw: int = 0
    n_duplicates: int = 0
    n_out_of_order: int = 0
    n_nonfinite: int = 0
    n_out_of_range: int = 0
    n_resampled_buckets: int = 0

    def to_dict(self) -> dict[str, int]:
        return {k: int(getattr(self, k)) for k in self.__slots__}  # type: ignore[attr-defined]


@dataclass(frozen=True, eq=False)
class MetricSeries:
    """One metric of one resource on a regular grid.

    Parameters
    ----------
    resource_id : str
        The resource the metric belongs to (instance id, ASG name, function name, ...).
    metric : str
        CloudWatch metric name.
    start : float
        Epoch seconds (UTC) of the first grid point.
    period : int
        Grid spacing in seconds.
    values : numpy.ndarray
        float64 values; ``NaN`` marks a missing point.
    stat, unit : str
        The statistic the values carry and their unit.
    quality : SeriesQuality
        What had to be fixed on the way in.

    Examples
    --------
    >>> s = MetricSeries.from_points("i-1", "CPUUtilization", [0, 300, 600, 600], [1.0, 2.0, 3.0, 5.0])
    >>> s.values.tolist(), s.quality.n_duplicates
    ([1.0, 2.0, 4.0], 1)
    """

    resource_id: str
    metric: str
    start: float
    period: int
    values: np.ndarray
    stat: str = "Average"
    unit: str = "None"
    quality: SeriesQuality = field(default_factory=SeriesQuality)

    def __post_init__(self) -> None:
        values = np.asarray(self.values, dtype=np.float64)
        if values.ndim != 1:
            raise InvalidSeriesError("values must be one-dimensional", field="values")
        values = np.where(np.isfinite(values), values, np.nan)
        values.setflags(write=False)
        object.__setattr__(self, "values", values)
        if not isinstance(self.period, (int, np.integer)) or not MIN_PERIOD_S <= int(self.period) <= MAX_PERIOD_S:
            raise InvalidSeriesError(f"must be whole seconds in [1, 86400], got {self.period!r}", field="period")
        object.__setattr__(self, "period", int(self.period))
        if self.stat not in _STATS:
            raise InvalidSeriesError(f"must be one of {_STATS}, got {self.stat!r}", field="stat")
        if not self.resource_id or not self.metric:
            raise InvalidSeriesError("resource_id and metric must be non-empty", field="resource_id")

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_points(
        cls,
        resource_id: str,
        metric: str,
        timestamps: Iterable[Any],
        values: Iterable[Any],
        *,
        period: int | None = None,
        stat: str | None = None,
        unit: str | None = None,
    ) -> MetricSeries:
        """Build a regular-grid series from raw points.

        Parameters
        ----------
        timestamps : iterable
            Epoch seconds, datetimes or ISO-8601 strings, in any order, duplicates allowed.
        values : iterable
            Numbers; NaN, inf and readings outside the metric's possible range become missing.
        period : int, optional
            Grid spacing in seconds; inferred as the most common spacing (rounded to a whole minute when
            at least 60 s) when omitted.
        stat : str, optional
            Aggregation used for points that fall into the same grid slot; defaults to the metric's own.

        Raises
        ------
        InvalidSeriesError
            Mismatched lengths or unusable timestamps.
        InsufficientDataError
            No finite value at all.
        """
        info = metric_info(metric)
        stat = stat or info.stat
        unit = unit or info.unit
        ts = np.array([to_epoch(t) for t in timestamps], dtype=np.float64)
        try:
            vs = np.array([_to_float(v) for v in values], dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise InvalidSeriesError(str(exc), field="values") from None
        if ts.shape != vs.shape:
            raise InvalidSeriesError(f"{len(ts)} timestamps but {len(vs)} values", field="values")
        n_raw = len(ts)
        n_out_of_order = int(np.sum(np.diff(ts) < 0)) if n_raw > 1 else 0
        finite = np.isfinite(vs)
        n_nonfinite = int(np.sum(~finite))
        in_range = finite.copy()
        if info.lower is not None:
            in_range &= ~(vs < info.lower)
        if info.upper is not None:
            in_range &= ~(vs > info.upper * 1.0001)
        n_out_of_range = int(np.sum(finite & ~in_range))
        vs = np.where(in_range, vs, np.nan)
        if not np.any(in_range):
            raise InsufficientDataError(f"{resource_id}/{metric}", needed=1, got=0)

        order = np.argsort(ts, kind="stable")
        ts, vs = ts[order], vs[order]
        uniq = np.unique(ts)
        n_duplicates = n_raw - len(uniq)
        if period is None:
            period = _infer_period(uniq)
        if not isinstance(period, (int, np.integer)) or not MIN_PERIOD_S <= period <= MAX_PERIOD_S:
            raise InvalidSeriesError(f"must be whole seconds in [1, 86400], got {period!r}", field="period")
        start = math.floor(ts[0] / period) * period
        slot = np.floor((ts - start) / period).astype(np.int64)
        n_slots = int(slot[-1]) + 1
        grid, counts = _aggregate(slot, vs, n_slots, stat)
        n_resampled = int(np.sum(counts > 1)) - 0
        quality = SeriesQuality(
            n_raw=n_raw,
            n_duplicates=n_duplicates,
            n_out_of_order=n_out_of_order,
            n_nonfinite=n_nonfinite,
            n_out_of_range=n_out_of_range,
            n_resampled_buckets=n_resampled,
        )
        return cls(resource_id, metric, float(start), int(period), grid, stat, unit, quality)

    # ------------------------------------------------------------------ views
    def __len__(self) -> int:
        return int(self.values.shape[0])

    @property
    def mask(self) -> np.ndarray:
        """True where a value is present."""
        return ~np.isnan(self.values)

    @property
    def timestamps(self) -> np.ndarray:
        """Epoch seconds of every grid point."""
        return self.start + self.period * np.arange(len(self), dtype=np.float64)

    @property
    def n_valid(self) -> int:
        return int(np.sum(self.mask))

    @property
    def end(self) -> float:
        """Epoch seconds of the last grid point."""
        return self.start + self.period * (len(self) - 1)

    def steps_per(self, seconds: float) -> int:
        """How many grid steps make ``seconds`` (e.g. a day); 0 when the period does not divide it."""
        steps = seconds / self.period
        return int(round(steps)) if abs(steps - round(steps)) < 1e-9 else 0

    def longest_gap(self) -> int:
        """Length in steps of the longest run of missing values."""
        missing = np.isnan(self.values).astype(np.int8)
        if not missing.any():
            return 0
        edges = np.diff(np.concatenate(([0], missing, [0])))
        return int(np.max(np.flatnonzero(edges == -1) - np.flatnonzero(edges == 1)))

    def require(self, min_points: int, what: str | None = None) -> MetricSeries:
        """Return self, or raise :class:`InsufficientDataError` naming the minimum needed."""
        if self.n_valid < min_points:
            raise InsufficientDataError(
                what or f"{self.resource_id}/{self.metric}", needed=min_points, got=self.n_valid
            )
        return self

    def filled(self, max_gap: int) -> np.ndarray:
        """Values with gaps of at most ``max_gap`` steps linearly interpolated; longer gaps stay NaN."""
        v = np.array(self.values, dtype=np.float64)
        isnan = np.isnan(v)
        if not isnan.any() or max_gap <= 0 or isnan.all():
            return v
        idx = np.arange(len(v))
        interp = np.interp(idx, idx[~isnan], v[~isnan])
        edges = np.diff(np.concatenate(([0], isnan.astype(np.int8), [0])))
        starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
        for a, b in zip(starts, ends, strict=True):
            if b - a <= max_gap and a > 0 and b < len(v):
                v[a:b] = interp[a:b]
        return v

    def slice_time(self, t0: float | None = None, t1: float | None = None) -> MetricSeries:
        """Sub-series with grid points in ``[t0, t1)``."""
        ts = self.timestamps
        keep = np.ones(len(self), dtype=bool)
        if t0 is not None:
            keep &= ts >= t0
        if t1 is not None:
            keep &= ts < t1
        idx = np.flatnonzero(keep)
        if idx.size == 0:
            raise InsufficientDataError(f"{self.resource_id}/{self.metric} in window", needed=1, got=0)
        return MetricSeries(
            self.resource_id,
            self.metric,
            float(ts[idx[0]]),
            self.period,
            self.values[idx[0] : idx[-1] + 1],
            self.stat,
            self.unit,
            self.quality,
        )

    # ------------------------------------------------------------------ serialisation
    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form; missing values become ``None``."""
        return {
            "resource_id": self.resource_id,
            "metric": self.metric,
            "start": self.start,
            "period": self.period,
            "stat": self.stat,
            "unit": self.unit,
            "values": [None if math.isnan(x) else float(x) for x in self.values],
            "quality": self.quality.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MetricSeries:
        """Inverse of :meth:`to_dict`; validates like the constructor."""
        try:
            values = np.array([np.nan if v is None else float(v) for v in data["values"]], dtype=np.float64)
            quality = SeriesQuality(**data.get("quality", {}))
            return cls(
                str(data["resource_id"]),
                str(data["metric"]),
                float(data["start"]),
                int(data["period"]),
                values,
                str(data.get("stat", "Average")),
                str(data.get("unit", "None")),
                quality,
            )
        except KeyError as exc:
            raise InvalidSeriesError("missing", field=str(exc.args[0])) from None
        except (TypeError, ValueError) as exc:
            if isinstance(exc, InvalidSeriesError):
                raise
            raise InvalidSeriesError(str(exc), field="values") from None


def _to_float(v: Any) -> float:
    if v is None or (isinstance(v, str) and v.strip() == ""):
        return math.nan
    if isinstance(v, bool):
        raise ValueError(f"not a number: {v!r}")
    return float(v)


def _infer_period(uniq_ts: np.ndarray) -> int:
    if len(uniq_ts) < 2:
        return 300
    # The most common spacing (ties: the smallest): robust to gaps, unlike the median of two spacings.
    diffs, counts = np.unique(np.round(np.diff(uniq_ts)), return_counts=True)
    step = float(diffs[np.argmax(counts)])
    if step >= 60:
        return max(60, int(round(step / 60.0)) * 60)
    return max(1, int(round(step)))


def _aggregate(slot: np.ndarray, vs: np.ndarray, n_slots: int, stat: str) -> tuple[np.ndarray, np.ndarray]:
    ok = ~np.isnan(vs)
    s, v = slot[ok], vs[ok]
    counts = np.bincount(s, minlength=n_slots)
    out = np.full(n_slots, np.nan)
    present = counts > 0
    if stat == "Sum":
        out[present] = np.bincount(s, weights=v, minlength=n_slots)[present]
    elif stat == "Average":
        out[present] = np.bincount(s, weights=v, minlength=n_slots)[present] / counts[present]
    elif stat == "Maximum":
        tmp = np.full(n_slots, -np.inf)
        np.maximum.at(tmp, s, v)
        out[present] = tmp[present]
    elif stat == "Minimum":
        tmp = np.full(n_slots, np.inf)
        np.minimum.at(tmp, s, v)
        out[present] = tmp[present]
    else:  # pragma: no cover - guarded by callers
        raise InvalidSeriesError(f"unknown statistic {stat!r}", field="stat")
    return out, counts


def align(series: Sequence[MetricSeries]) -> tuple[np.ndarray, np.ndarray]:
    """Put series of one resource on a common grid (the finest shared one).

    Returns ``(timestamps, matrix)`` with one column per series; points a series lacks are NaN.

    Raises
    ------
    InvalidSeriesError
        When the series have different periods.
    """
    if not series:
        raise InvalidSeriesError("no series to align", field="series")
    periods = {s.period for s in series}
    if len(periods) != 1:
        raise InvalidSeriesError(f"series have different periods {sorted(periods)}", field="period")
    period = periods.pop()
    t0 = min(s.start for s in series)
    t1 = max(s.end for s in series)
    n = int(round((t1 - t0) / period)) + 1
    out = np.full((n, len(series)), np.nan)
    for j, s in enumerate(series):
        offset = int(round((s.start - t0) / period))
        out[offset : offset + len(s), j] = s.values
    return t0 + period * np.arange(n, dtype=np.float64), out
