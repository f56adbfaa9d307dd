"""CSV import: long-format metric files to :class:`~cloudsage.core.resource.ResourceMetrics`.

The format is one data point per row::

    timestamp,resource_id,metric,value[,unit][,resource_type]
    2026-12-03T13:00:00Z,web-api-asg,CPUUtilization,94.7,Percent,asg
    1796302800,i-0e9f8a7b6c5d4e3f2,CPUUtilization,0.9,,

* ``timestamp``: ISO-8601 (``Z`` or an offset; no offset means UTC) or epoch seconds.
* ``value``: a number; an empty cell, ``NaN`` or ``inf`` is a missing point.
* ``unit`` (optional): CloudWatch unit; empty means the metric's usual unit.
* ``resource_type`` (optional): ``asg``, ``ec2``, ``rds``, ``cache``, ``lambda`` or ``other``; when absent or
  empty it is guessed from the id (``i-...`` is ``ec2``, anything else ``other``).

Columns may come in any order; header names are case-insensitive. Every row is validated before anything is
built, and the first problem raises :class:`~cloudsage.core.errors.InputValidationError` naming the line
(1-based, the header is line 1) and the column, e.g. ``line 17, column 'value': not a number: 'abc'``.
Either the whole file is returned or nothing is.
"""

from __future__ import annotations

import csv
import io
import math
import os
import re
from array import array
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import IO, Any

import numpy as np

from cloudsage.core.errors import CloudSageError, InputValidationError
from cloudsage.core.resource import RESOURCE_TYPES, ResourceMetrics
from cloudsage.core.series import MetricSeries, to_epoch

__all__ = ["MAX_GRID_POINTS", "OPTIONAL_COLUMNS", "REQUIRED_COLUMNS", "guess_resource_type", "read_metrics_csv"]

REQUIRED_COLUMNS: tuple[str, ...] = ("timestamp", "resource_id", "metric", "value")
OPTIONAL_COLUMNS: tuple[str, ...] = ("unit", "resource_type")
#: Largest regular grid one series may expand to (guards against a stray timestamp years away).
MAX_GRID_POINTS = 5_000_000
#: Accepted epoch range: 1970-01-01 to 2100-01-01.
_EPOCH_MAX = 4_102_444_800.0
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_TS_CACHE_LIMIT = 200_000
_EXPECTED = "timestamp,resource_id,metric,value[,unit][,resource_type]"

PathOrFile = str | os.PathLike[str] | IO[str] | IO[bytes] | Iterable[str]


@dataclass
class _Acc:
    """Points of one (resource, metric) collected while reading."""

    first_line: int
    ts: array[float] = field(default_factory=lambda: array("d"))
    vs: array[float] = field(default_factory=lambda: array("d"))
    unit: str | None = None
    unit_line: int = 0


@dataclass
class _ResourceAcc:
    first_line: int
    resource_type: str | None = None
    type_line: int = 0
    metrics: dict[str, _Acc] = field(default_factory=dict)


def guess_resource_type(resource_id: str) -> str:
    """Guess a resource type from its id: ``i-...`` is ``ec2``, anything else ``other``."""
    return "ec2" if resource_id.startswith("i-") else "other"


def read_metrics_csv(path_or_file: PathOrFile) -> list[ResourceMetrics]:
    """Read a long-format metrics CSV into one :class:`ResourceMetrics` per resource.

    Parameters
    ----------
    path_or_file : str, path-like, text or binary file, or iterable of lines
        The CSV to read. Paths are opened as UTF-8 (a byte-order mark is accepted).

    Returns
    -------
    list of ResourceMetrics
        Resources in order of first appearance; each holds one :class:`MetricSeries` per metric (in order of
        first appearance) on a regular grid whose period is inferred from the timestamps.

    Raises
    ------
    InputValidationError
        Empty file, missing/unknown/duplicate header column, a row with too many or too few fields, an
        unusable timestamp or value, an unknown resource type, a unit or resource type that contradicts an
        earlier row, or a series without a single usable value. The message names line and column.
    OSError
        When the path cannot be opened.

    Examples
    --------
    >>> rows = ["timestamp,resource_id,metric,value", "0,i-1,CPUUtilization,5", "300,i-1,CPUUtilization,7"]
    >>> [(r.resource_id, r.resource_type, r.series["CPUUtilization"].values.tolist()) for r in read_metrics_csv(rows)]
    [('i-1', 'ec2', [5.0, 7.0])]
    """
    if isinstance(path_or_file, (str, os.PathLike)):
        with open(path_or_file, newline="", encoding="utf-8-sig") as fh:
            return _read(fh)
    if isinstance(path_or_file, (io.RawIOBase, io.BufferedIOBase)):
        return _read(io.TextIOWrapper(path_or_file, encoding="utf-8-sig", newline=""))
    return _read(path_or_file)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------- reading
def _read(lines: Iterable[str]) -> list[ResourceMetrics]:
    reader = csv.reader(lines, strict=True)
    resources = _validate(reader)
    return _build(resources)


def _rows(reader: Any) -> Iterable[tuple[int, list[str]]]:
    """Yield ``(line, row)`` with the 1-based line each row starts on; skip blank lines."""
    prev = 0
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise InputValidationError(f"malformed CSV: {exc}", line=prev + 1) from None
        except UnicodeDecodeError:
            raise InputValidationError("not UTF-8 text", line=prev + 1) from None
        line = prev + 1
        prev = reader.line_num
        if row:
            yield line, row


def _parse_header(line: int, row: list[str]) -> dict[str, int]:
    names = [cell.strip().lstrip("\ufeff").strip().lower() for cell in row]
    index: dict[str, int] = {}
    for pos, name in enumerate(names):
        if not name:
            raise InputValidationError(
                f"empty column name in the header; expected {_EXPECTED}", field=f"#{pos + 1}", line=line
            )
        if name not in REQUIRED_COLUMNS and name not in OPTIONAL_COLUMNS:
            raise InputValidationError(
                f"unknown column in the header (the first line must be the header {_EXPECTED})",
                field=row[pos].strip(),
                line=line,
            )
        if name in index:
            raise InputValidationError("column appears twice in the header", field=name, line=line)
        index[name] = pos
    for name in REQUIRED_COLUMNS:
        if name not in index:
            raise InputValidationError(
                f"required column missing from the header (expected {_EXPECTED})", field=name, line=line
            )
    return index


def _validate(reader: Any) -> dict[str, _ResourceAcc]:
    """Check every row and collect the points; raise on the first malformed row."""
    rows = iter(_rows(reader))
    first = next(rows, None)
    if first is None:
        raise InputValidationError(f"empty file: expected a header row {_EXPECTED}", line=1)
    header_line, header = first
    index = _parse_header(header_line, header)
    names = [cell.strip().lstrip("\ufeff").strip().lower() for cell in header]
    n_cols = len(header)
    i_ts, i_rid, i_metric, i_value = (index[c] for c in REQUIRED_COLUMNS)
    i_unit = index.get("unit")
    i_type = index.get("resource_type")

    ts_cache: dict[str, float] = {}
    resources: dict[str, _ResourceAcc] = {}
    last_line = header_line
    for line, row in rows:
        last_line = line
        if len(row) != n_cols:
            if len(row) > n_cols:
                raise InputValidationError(
                    f"too many columns: the header has {n_cols}, this row has {len(row)}",
                    field=f"#{n_cols + 1}",
                    line=line,
                )
            raise InputValidationError(
                f"missing: the header has {n_cols} columns, this row has {len(row)}", field=names[len(row)], line=line
            )
        text = row[i_ts]
        t = ts_cache.get(text)
        if t is None:
            t = _parse_timestamp(text, line)
            if len(ts_cache) >= _TS_CACHE_LIMIT:
                ts_cache.clear()
            ts_cache[text] = t
        rid = row[i_rid].strip()
        if not rid:
            raise InputValidationError("empty resource id", field="resource_id", line=line)
        metric = row[i_metric].strip()
        if not metric:
            raise InputValidationError("empty metric name", field="metric", line=line)
        value = _parse_value(row[i_value], line)

        res = resources.get(rid)
        if res is None:
            res = resources[rid] = _ResourceAcc(first_line=line)
        if i_type is not None:
            rtype = row[i_type].strip().lower()
            if rtype:
                if rtype not in RESOURCE_TYPES:
                    raise InputValidationError(
                        f"unknown resource type {row[i_type].strip()!r}; expected one of {', '.join(RESOURCE_TYPES)}",
                        field="resource_type",
                        line=line,
                    )
                if res.resource_type is None:
                    res.resource_type, res.type_line = rtype, line
                elif res.resource_type != rtype:
                    raise InputValidationError(
                        f"{rid} is {res.resource_type!r} on line {res.type_line} but {rtype!r} here",
                        field="resource_type",
                        line=line,
                    )
        acc = res.metrics.get(metric)
        if acc is None:
            acc = res.metrics[metric] = _Acc(first_line=line)
        if i_unit is not None:
            unit = row[i_unit].strip()
            if unit:
                if acc.unit is None:
                    acc.unit, acc.unit_line = unit, line
                elif acc.unit != unit:
                    raise InputValidationError(
                        f"{rid}/{metric} has unit {acc.unit!r} on line {acc.unit_line} but {unit!r} here",
                        field="unit",
                        line=line,
                    )
        acc.ts.append(t)
        acc.vs.append(value)
    if not resources:
        raise InputValidationError("no data rows after the header", line=last_line + 1)
    return resources


def _parse_timestamp(text: str, line: int) -> float:
    s = text.strip()
    if not s:
        raise InputValidationError("empty timestamp", field="timestamp", line=line)
    if _NUMBER.fullmatch(s):
        t = float(s)
    else:
        try:
            t = to_epoch(s)
        except CloudSageError:
            raise InputValidationError(
                f"not an ISO-8601 or epoch-seconds timestamp: {text!r}", field="timestamp", line=line
            ) from None
    if not 0.0 <= t <= _EPOCH_MAX:
        hint = " (milliseconds? epoch values must be seconds)" if t > _EPOCH_MAX else ""
        raise InputValidationError(f"timestamp out of range 1970-2100: {text!r}{hint}", field="timestamp", line=line)
    return t


def _parse_value(text: str, line: int) -> float:
    s = text.strip()
    if not s:
        return math.nan
    try:
        v = float(s)
    except ValueError:
        raise InputValidationError(f"not a number: {text!r}", field="value", line=line) from None
    return v if math.isfinite(v) else math.nan


# ---------------------------------------------------------------------------------------------- building
def _infer_period(ts: np.ndarray) -> int:
    """Median spacing of the distinct timestamps, like :meth:`MetricSeries.from_points` infers it."""
    uniq = np.unique(ts)
    if uniq.size < 2:
        return 300
    step = float(np.median(np.diff(uniq)))
    if step >= 60:
        return max(60, round(step / 60.0) * 60)
    return max(1, round(step))


def _build(resources: dict[str, _ResourceAcc]) -> list[ResourceMetrics]:
    out: list[ResourceMetrics] = []
    for rid, res in resources.items():
        series: dict[str, MetricSeries] = {}
        for metric, acc in res.metrics.items():
            ts = np.frombuffer(acc.ts, dtype=np.float64)
            vs = np.frombuffer(acc.vs, dtype=np.float64)
            where = f"series {rid}/{metric} (first row on line {acc.first_line})"
            if not np.any(np.isfinite(vs)):
                raise InputValidationError(f"{where} has no numeric value", field="value", line=acc.first_line)
            period = _infer_period(ts)
            span_steps = (float(ts.max()) - float(ts.min())) / period + 1
            if span_steps > MAX_GRID_POINTS:
                raise InputValidationError(
                    f"{where} spans {span_steps:,.0f} steps of {period} s (more than {MAX_GRID_POINTS:,}); "
                    "check for a stray timestamp",
                    field="timestamp",
                    line=acc.first_line,
                )
            try:
                series[metric] = MetricSeries.from_points(rid, metric, ts, vs, period=period, unit=acc.unit)
            except CloudSageError as exc:
                column = getattr(exc, "field", None)
                column = column if column in ("timestamp", "value") else "value"
                raise InputValidationError(f"{where}: {exc}", field=column, line=acc.first_line) from None
        rtype = res.resource_type or guess_resource_type(rid)
        out.append(ResourceMetrics(rid, rtype, series, {}))
    return out
