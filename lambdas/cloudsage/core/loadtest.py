"""Load-test results: parse a CSV of load-test steps into validated :class:`LoadPoint` records.

Two shapes are understood, told apart by their columns:

* **closed loop** (a fixed number of connections, e.g. ``wrk -c N``): ``concurrency`` and ``throughput_rps`` are
  required. The mean response time is ``resp_mean_littles_ms`` when present, else it is derived with Little's law
  as ``1000 * N / X``. wrk's ``wrk_lat_*`` percentiles are *not* read as latencies: wrk 4.x corrects them for
  coordinated omission by adding synthetic samples, so they are not measurements (``X * mean`` can exceed ``N``).
* **open loop** (arrivals at a set rate, e.g. Poisson): ``target_rate`` and ``lat_mean_ms`` are required;
  ``achieved_rate`` (or ``throughput_rps``) is the completed rate, and ``lat_p50_ms`` / ``lat_p90_ms`` /
  ``lat_p95_ms`` / ``lat_p99_ms`` are raw measured percentiles.

Optional columns in both: ``rep``, ``duration_s``, ``requests``, ``server_cpu_cores``, the load generator's CPU
(``wrk_cpu_cores`` or ``gen_cpu_cores``), ``other_busy_cores`` (CPU used by everything else on the machine),
``host_cpus``, ``workers`` and error counts (``errors`` or the sum of ``err_*``). Times become seconds.

Every problem raises :class:`~cloudsage.core.errors.InputValidationError` naming the line (1 = header) and the
column.
"""

from __future__ import annotations

import csv
import io
import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields, replace
from typing import Any, TextIO

from cloudsage.core.errors import InputValidationError
from cloudsage.core.results import jsonable

KINDS = ("closed", "open")
_GEN_CPU = ("wrk_cpu_cores", "gen_cpu_cores", "generator_cpu_cores")
_PCTS = {"p50_s": "lat_p50_ms", "p90_s": "lat_p90_ms", "p95_s": "lat_p95_ms", "p99_s": "lat_p99_ms"}
_MAX_ROWS = 100_000


@dataclass(frozen=True, slots=True)
class LoadPoint:
    """One step of a load test (one load level, one repetition), in seconds and requests per second.

    Parameters
    ----------
    kind : {"closed", "open"}
        Closed loop (``load`` = concurrent connections) or open loop (``load`` = offered arrival rate).
    load : float
        Concurrency ``N`` (closed) or offered rate in req/s (open).
    throughput_rps : float
        Completed requests per second.
    mean_s : float
        Mean response time (closed loop: Little's law ``N / X`` unless measured).
    p50_s, p90_s, p95_s, p99_s : float
        Raw measured percentiles; NaN when not measured (or not raw, as wrk's).
    server_cpu_cores, generator_cpu_cores, other_cpu_cores : float
        CPU used (in cores) by the server, by a co-located load generator, and by everything else; NaN if unknown.
    host_cpus, workers : float
        Cores of the machine and size of the server's worker pool; NaN if unknown.
    rep : int
        Repetition number.
    errors : int
        Failed requests in the step.
    requests : float
        Completed requests in the step (NaN if unknown).
    duration_s : float
        Length of the step.
    line : int
        Line of the CSV it came from (0 when built in code).
    """

    kind: str
    load: float
    throughput_rps: float
    mean_s: float
    p50_s: float = math.nan
    p90_s: float = math.nan
    p95_s: float = math.nan
    p99_s: float = math.nan
    server_cpu_cores: float = math.nan
    generator_cpu_cores: float = math.nan
    other_cpu_cores: float = math.nan
    host_cpus: float = math.nan
    workers: float = math.nan
    rep: int = 1
    errors: int = 0
    requests: float = math.nan
    duration_s: float = math.nan
    line: int = 0

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise InputValidationError(f"must be one of {KINDS}", field="kind", line=self.line or None)
        for name in ("load", "throughput_rps", "mean_s"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
                raise InputValidationError(f"must be a finite number > 0, got {value!r}", field=name)

    @property
    def error_rate(self) -> float:
        """Failed requests over all requests of the step.

        Completed requests come from ``requests``, else ``throughput_rps * duration_s``; when neither is known the
        rate cannot be told and is 0 (the step is kept).
        """
        if self.errors <= 0:
            return 0.0
        done = self.requests if math.isfinite(self.requests) else self.throughput_rps * self.duration_s
        if not math.isfinite(done):
            return 0.0
        return self.errors / (done + self.errors)

    def to_dict(self) -> dict[str, Any]:
        return jsonable({f.name: getattr(self, f.name) for f in fields(self)})


@dataclass(frozen=True)
class LoadTest:
    """A parsed load test: its kind and its steps, in file order.

    Examples
    --------
    >>> text = "concurrency,throughput_rps\\n1,500\\n2,900\\n"
    >>> lt = read_loadtest(io.StringIO(text))
    >>> lt.kind, lt.levels, round(lt.points[1].mean_s * 1000, 3)
    ('closed', (1.0, 2.0), 2.222)
    """

    kind: str
    points: tuple[LoadPoint, ...]
    source: str = ""
    cpu_scope: str = "process"
    """``process``: ``server_cpu_cores`` is the server's own CPU (a load test); ``host``: it is the whole host's
    (CloudWatch ``CPUUtilization``), so it includes a fixed background that a capacity model must separate."""

    @property
    def levels(self) -> tuple[float, ...]:
        """Distinct load levels, ascending."""
        return tuple(sorted({p.load for p in self.points}))

    def select(self, min_load: float | None = None, max_load: float | None = None) -> LoadTest:
        """Steps with ``min_load <= load <= max_load`` (either bound optional)."""
        keep = tuple(
            p
            for p in self.points
            if (min_load is None or p.load >= min_load) and (max_load is None or p.load <= max_load)
        )
        return replace(self, points=keep)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "source": self.source,
            "cpu_scope": self.cpu_scope,
            "points": [p.to_dict() for p in self.points],
        }


def read_loadtest(source: str | os.PathLike[str] | TextIO, *, source_name: str | None = None) -> LoadTest:
    """Parse a load-test CSV (a path or an open text file).

    Parameters
    ----------
    source : str, path-like or text file
        The CSV. A ``str`` is a path.
    source_name : str, optional
        Name used in the result (defaults to the path).

    Returns
    -------
    LoadTest
        The steps, in file order.

    Raises
    ------
    InputValidationError
        Empty file, a missing required column (line 1), a row with the wrong number of fields, or a value that
        is not a number, not finite, negative, or (for ``concurrency``) not a whole number >= 1; the message names
        the line and the column.
    """
    if isinstance(source, (str, os.PathLike)):
        with open(source, encoding="utf-8", newline="") as fh:
            return parse_loadtest(fh.read(), source_name=source_name or str(os.fspath(source)))
    return parse_loadtest(source.read(), source_name=source_name or str(getattr(source, "name", "")))


def parse_loadtest(text: str, *, source_name: str = "") -> LoadTest:
    """Parse load-test CSV text; see :func:`read_loadtest`."""
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")))
    rows = [r for r in reader if any(cell.strip() for cell in r)]
    if not rows:
        raise InputValidationError("empty load-test file", field="header", line=1)
    header = [h.strip() for h in rows[0]]
    dupes = sorted({h for h in header if header.count(h) > 1})
    if dupes:
        raise InputValidationError("duplicate column", field=dupes[0], line=1)
    if len(rows) - 1 > _MAX_ROWS:
        raise InputValidationError(f"more than {_MAX_ROWS} rows", field="rows")
    col = {name: i for i, name in enumerate(header)}
    if "concurrency" in col:
        kind = "closed"
        required: tuple[str, ...] = ("concurrency", "throughput_rps")
    elif "target_rate" in col:
        kind = "open"
        required = ("target_rate", "lat_mean_ms")
    else:
        raise InputValidationError(
            "no 'concurrency' (closed loop) or 'target_rate' (open loop) column", field="concurrency", line=1
        )
    for name in required:
        if name not in col:
            raise InputValidationError("missing required column", field=name, line=1)
    if kind == "open" and "achieved_rate" not in col and "throughput_rps" not in col:
        raise InputValidationError("missing required column", field="achieved_rate", line=1)
    points = [_row_to_point(kind, row, col, line) for line, row in enumerate(rows[1:], start=2)]
    if not points:
        raise InputValidationError("no data rows", field="rows", line=2)
    return LoadTest(kind=kind, points=tuple(points), source=source_name)


def _row_to_point(kind: str, row: Sequence[str], col: dict[str, int], line: int) -> LoadPoint:
    if len(row) != len(col):
        raise InputValidationError(f"{len(row)} fields, header has {len(col)}", field="row", line=line)

    def num(name: str, *, required: bool = False, positive: bool = False) -> float:
        if name not in col:
            return math.nan
        text = row[col[name]].strip()
        if text == "":
            if required:
                raise InputValidationError("missing value", field=name, line=line)
            return math.nan
        try:
            value = float(text)
        except ValueError:
            raise InputValidationError(f"not a number: {text!r}", field=name, line=line) from None
        if not math.isfinite(value):
            raise InputValidationError(f"not finite: {text!r}", field=name, line=line)
        if value < 0 and not name.startswith("other"):
            raise InputValidationError(f"must be >= 0, got {value}", field=name, line=line)
        if positive and value <= 0:
            raise InputValidationError(f"must be > 0, got {value}", field=name, line=line)
        return value

    if kind == "closed":
        load = num("concurrency", required=True, positive=True)
        if load != round(load):
            raise InputValidationError(f"must be a whole number >= 1, got {load}", field="concurrency", line=line)
        thr = num("throughput_rps", required=True, positive=True)
        mean_ms = num("resp_mean_littles_ms", positive=True)
        if math.isnan(mean_ms):
            mean_ms = 1000.0 * load / thr
        pcts: dict[str, float] = {}
    else:
        load = num("target_rate", required=True, positive=True)
        thr_col = "achieved_rate" if "achieved_rate" in col else "throughput_rps"
        thr = num(thr_col, required=True, positive=True)
        mean_ms = num("lat_mean_ms", required=True, positive=True)
        pcts = {k: num(c) / 1000.0 for k, c in _PCTS.items()}
    gen_col = next((c for c in _GEN_CPU if c in col), None)
    errors = _errors(col, num)
    rep = num("rep")
    other = num("other_busy_cores")
    return LoadPoint(
        kind=kind,
        load=float(load),
        throughput_rps=float(thr),
        mean_s=float(mean_ms) / 1000.0,
        server_cpu_cores=num("server_cpu_cores"),
        generator_cpu_cores=num(gen_col) if gen_col else math.nan,
        other_cpu_cores=max(other, 0.0) if math.isfinite(other) else math.nan,
        host_cpus=num("host_cpus", positive=True),
        workers=num("workers", positive=True),
        rep=int(rep) if math.isfinite(rep) else 1,
        errors=errors,
        requests=num("requests") if "requests" in col else num("completed"),
        duration_s=num("duration_s") if "duration_s" in col else num("wall_s"),
        line=line,
        **pcts,
    )


def _errors(col: dict[str, int], num: Any) -> int:
    names: Iterable[str] = ["errors"] if "errors" in col else [c for c in col if c.startswith("err_")]
    total = 0.0
    for name in names:
        value = num(name)
        if math.isfinite(value):
            total += value
    return int(round(total))
