"""Tests of the long-format CSV import."""

from __future__ import annotations

import csv
import io
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cloudsage.core.errors import InputValidationError
from cloudsage.core.series import MetricSeries
from cloudsage.local import csvio
from cloudsage.local.csvio import guess_resource_type, read_metrics_csv
from cloudsage.local.demo import build_demo_fleet, fleet_to_csv

GOOD = """timestamp,resource_id,metric,value,unit,resource_type
2026-12-01T00:00:00Z,web-api-asg,CPUUtilization,10.5,Percent,asg
2026-12-01T00:05:00Z,web-api-asg,CPUUtilization,11,Percent,asg
2026-12-01T00:10:00Z,web-api-asg,CPUUtilization,,Percent,asg
2026-12-01T00:15:00Z,web-api-asg,CPUUtilization,12.25,Percent,asg
2026-12-01T00:00:00Z,i-0abc,NetworkIn,1000,,
2026-12-01T00:05:00Z,i-0abc,NetworkIn,2000,,
"""


def _read(text: str) -> list:
    return read_metrics_csv(io.StringIO(text))


# ---------------------------------------------------------------------------------------------- good input
def test_round_trip_of_demo_fleet(tmp_path) -> None:
    fleet = build_demo_fleet(days=7)
    path = tmp_path / "fleet.csv"
    fleet_to_csv(fleet, path)
    got = read_metrics_csv(path)
    want = fleet.to_resource_metrics()
    assert [r.resource_id for r in got] == [r.resource_id for r in want]
    for g, w in zip(got, want, strict=True):
        assert g.resource_type == w.resource_type
        assert list(g.series) == list(w.series)
        for name, s in g.series.items():
            ref = w.series[name]
            assert (s.start, s.period, s.stat, s.unit) == (ref.start, ref.period, ref.stat, ref.unit)
            np.testing.assert_allclose(s.values, ref.values, rtol=1e-9, equal_nan=True)
    # also from a str path and a binary stream
    assert len(read_metrics_csv(str(path))) == len(want)
    with open(path, "rb") as fh:
        assert len(read_metrics_csv(fh)) == len(want)


def test_small_file_parsed() -> None:
    web, inst = _read(GOOD)
    assert (web.resource_id, web.resource_type) == ("web-api-asg", "asg")
    cpu = web.series["CPUUtilization"]
    assert cpu.period == 300 and cpu.unit == "Percent"
    assert cpu.values[:2].tolist() == [10.5, 11.0] and math.isnan(cpu.values[2]) and cpu.values[3] == 12.25
    assert (inst.resource_id, inst.resource_type) == ("i-0abc", "ec2")  # guessed from the id
    assert inst.series["NetworkIn"].unit == "Bytes"  # empty unit -> catalog unit


def test_epoch_timestamps_offsets_and_any_column_order() -> None:
    text = (
        "Value,Metric,Resource_ID,TIMESTAMP\n"
        "1,Errors,fn,1796342400\n"
        "2,Errors,fn,2026-12-04T01:05:00+01:00\n"  # = 00:05Z
        "3,Errors,fn,1796343000.0\n"
    )
    (rm,) = _read(text)
    s = rm.series["Errors"]
    assert rm.resource_type == "other"
    assert s.start == 1796342400.0 and s.values.tolist() == [1.0, 2.0, 3.0]


def test_nan_inf_and_empty_values_become_missing() -> None:
    text = "timestamp,resource_id,metric,value\n" + "".join(
        f"{300 * i},db,CPUUtilization,{v}\n" for i, v in enumerate(["1", "NaN", "inf", "-inf", "", " 2 "])
    )
    (rm,) = _read(text)
    vals = rm.series["CPUUtilization"].values
    assert vals[0] == 1.0 and vals[5] == 2.0 and np.isnan(vals[1:5]).all()


def test_unsorted_duplicates_and_blank_lines() -> None:
    text = "timestamp,resource_id,metric,value\n\n600,a,RequestCount,3\n0,a,RequestCount,1\n\n300,a,RequestCount,5\n"
    text += "0,a,RequestCount,1\n"
    (rm,) = _read(text)
    s = rm.series["RequestCount"]
    assert s.values.tolist() == [2.0, 5.0, 3.0]  # duplicates of a count are summed
    assert s.quality.n_duplicates == 1 and s.quality.n_out_of_order == 2


def test_accepts_bom_and_iterable_of_lines() -> None:
    data = ("\ufeff" + GOOD).encode("utf-8")
    assert len(read_metrics_csv(io.BytesIO(data))) == 2
    assert len(read_metrics_csv(GOOD.splitlines())) == 2


def test_guess_resource_type() -> None:
    assert guess_resource_type("i-0123") == "ec2"
    assert guess_resource_type("orders-db") == "other"


def test_large_file_streams(tmp_path) -> None:
    path = tmp_path / "big.csv"
    with open(path, "w", encoding="utf-8") as fh:
        fh.write("timestamp,resource_id,metric,value\n")
        for k in range(4):
            for i in range(50_000):
                fh.write(f"{1_700_000_000 + 60 * i},i-{k},CPUUtilization,{i % 100}\n")
    rms = read_metrics_csv(path)
    assert len(rms) == 4 and all(len(r.series["CPUUtilization"]) == 50_000 for r in rms)
    assert rms[0].series["CPUUtilization"].period == 60


# ---------------------------------------------------------------------------------------------- malformed input
HEADER = "timestamp,resource_id,metric,value\n"
ROW = "2026-12-01T00:00:00Z,i-1,CPUUtilization,5\n"

MALFORMED = [
    # (id, content, line, column, fragment)
    ("bad value", HEADER + ROW + "2026-12-01T00:05:00Z,i-1,CPUUtilization,abc\n", 3, "value", "not a number: 'abc'"),
    ("bad timestamp", HEADER + "yesterday,i-1,CPUUtilization,5\n", 2, "timestamp", "'yesterday'"),
    ("bad date", HEADER + ROW + "2026-13-45T00:00:00Z,i-1,CPUUtilization,5\n", 3, "timestamp", "ISO-8601"),
    ("empty timestamp", HEADER + ",i-1,CPUUtilization,5\n", 2, "timestamp", "empty"),
    ("nan timestamp", HEADER + "nan,i-1,CPUUtilization,5\n", 2, "timestamp", "nan"),
    ("milliseconds", HEADER + "1796342400000,i-1,CPUUtilization,5\n", 2, "timestamp", "milliseconds"),
    ("empty resource", HEADER + "0,,CPUUtilization,5\n", 2, "resource_id", "empty"),
    ("empty metric", HEADER + "0,i-1, ,5\n", 2, "metric", "empty"),
    ("too many columns", HEADER + ROW + ROW + "0,i-1,CPUUtilization,5,extra\n", 4, "#5", "too many columns"),
    ("too few columns", HEADER + "0,i-1,CPUUtilization\n", 2, "value", "missing"),
    ("missing header column", "timestamp,resource_id,metric\n0,i-1,CPUUtilization\n", 1, "value", "missing"),
    ("unknown header column", "timestamp,resource_id,metric,value,colour\n", 1, "colour", "unknown column"),
    ("no header", ROW + ROW, 1, "2026-12-01T00:00:00Z", "header"),
    ("duplicate header column", "timestamp,resource_id,metric,value,value\n", 1, "value", "twice"),
    ("empty header name", "timestamp,,resource_id,metric,value\n", 1, "#2", "empty column name"),
    (
        "unknown resource type",
        HEADER.strip() + ",resource_type\n0,i-1,CPUUtilization,5,vm\n",
        2,
        "resource_type",
        "unknown resource type 'vm'",
    ),
    (
        "conflicting resource type",
        HEADER.strip() + ",resource_type\n0,x,CPUUtilization,5,rds\n300,x,CPUUtilization,5,ec2\n",
        3,
        "resource_type",
        "line 2",
    ),
    (
        "conflicting unit",
        HEADER.strip() + ",unit\n0,x,Duration,5,Milliseconds\n300,x,Duration,5,Seconds\n",
        3,
        "unit",
        "'Milliseconds' on line 2",
    ),
    (
        "all values missing",
        HEADER + ROW + "0,i-2,CPUUtilization,\n300,i-2,CPUUtilization,nan\n",
        3,
        "value",
        "no numeric value",
    ),
    (
        "all values out of range",
        HEADER + "0,i-2,CPUUtilization,-5\n300,i-2,CPUUtilization,-1\n",
        2,
        "value",
        "i-2/CPUUtilization",
    ),
    ("blank lines counted", HEADER + "\n" + ROW + "\n" + "300,i-1,CPUUtilization,x1\n", 5, "value", "'x1'"),
]


@pytest.mark.parametrize(
    ("content", "line", "column", "fragment"), [m[1:] for m in MALFORMED], ids=[m[0] for m in MALFORMED]
)
def test_malformed_input_names_line_and_column(content: str, line: int, column: str, fragment: str) -> None:
    with pytest.raises(InputValidationError) as err:
        _read(content)
    exc = err.value
    assert exc.line == line
    assert exc.field == column
    message = str(exc)
    assert message.startswith(f"line {line}, column {column!r}: ")
    assert fragment in message


def test_error_message_format_from_brief() -> None:
    rows = [HEADER.strip()] + [f"{300 * i},i-1,CPUUtilization,{i}" for i in range(15)] + ["4500,i-1,CPUUtilization,abc"]
    with pytest.raises(InputValidationError, match=r"^line 17, column 'value': not a number: 'abc'$"):
        read_metrics_csv(rows)


@pytest.mark.parametrize("content", ["", "\n\n", "\r\n"])
def test_empty_file(content: str) -> None:
    with pytest.raises(InputValidationError) as err:
        _read(content)
    assert err.value.line == 1 and "empty file" in str(err.value)


def test_header_only() -> None:
    with pytest.raises(InputValidationError) as err:
        _read(HEADER)
    assert err.value.line == 2 and "no data rows" in str(err.value)


@pytest.mark.parametrize(
    ("content", "line"),
    [(HEADER + ROW + '300,"i-1,CPUUtilization,zz\n', 3), (HEADER + ROW + ROW + '300,i-1,"CPU"x,1\n', 4)],
    ids=["unterminated quote", "text after closing quote"],
)
def test_malformed_csv_syntax_names_line(content: str, line: int) -> None:
    with pytest.raises(InputValidationError) as err:
        _read(content)
    assert err.value.line == line and str(err.value).startswith(f"line {line}: malformed CSV")


def test_not_utf8(tmp_path) -> None:
    path = tmp_path / "latin1.csv"
    path.write_bytes(HEADER.encode() + "0,caf\u00e9,CPUUtilization,1\n".encode("latin-1"))
    with pytest.raises(InputValidationError, match="UTF-8"):
        read_metrics_csv(path)


def test_nothing_built_when_a_late_row_is_bad(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    original = MetricSeries.from_points

    def spy(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(args[:2])
        return original(*args, **kwargs)

    monkeypatch.setattr(MetricSeries, "from_points", spy)
    good = [HEADER.strip()] + [f"{300 * i},r{i % 3},CPUUtilization,{i}" for i in range(300)]
    assert len(read_metrics_csv(good)) == 3 and len(calls) == 3
    calls.clear()
    with pytest.raises(InputValidationError) as err:
        read_metrics_csv([*good, "90000,r1,CPUUtilization,oops"])
    assert err.value.line == 302
    assert calls == []  # validation happens before any series is built


def test_stray_timestamp_far_away_is_rejected() -> None:
    rows = [HEADER.strip()] + [f"{1_700_000_000 + i},a,Errors,1" for i in range(100)] + ["1000,a,Errors,1"]
    with pytest.raises(InputValidationError) as err:
        read_metrics_csv(rows)
    assert err.value.field == "timestamp" and "stray timestamp" in str(err.value)


def test_grid_limit_is_configurable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(csvio, "MAX_GRID_POINTS", 5)
    with pytest.raises(InputValidationError):
        read_metrics_csv([HEADER.strip(), "0,a,Errors,1", "300,a,Errors,1", "600,a,Errors,1", "30000,a,Errors,1"])


# ---------------------------------------------------------------------------------------------- properties
def _is_number(text: str) -> bool:
    try:
        float(text.strip())
    except ValueError:
        return False
    return True


@settings(max_examples=150, deadline=None)
@given(
    values=st.lists(
        st.one_of(
            st.floats(allow_nan=True, allow_infinity=True).map(repr),
            st.text(alphabet="0123456789.eE+-naif x", max_size=6),
        ),
        min_size=1,
        max_size=12,
    ),
)
def test_property_value_cells(values: list[str]) -> None:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["timestamp", "resource_id", "metric", "value"])
    writer.writerow([0, "anchor", "Errors", 1])
    for i, v in enumerate(values):
        writer.writerow([60 * (i + 1), "r", "Errors", v])
    bad = [i for i, v in enumerate(values) if v.strip() and not _is_number(v)]
    finite = [float(v) for v in values if v.strip() and _is_number(v) and math.isfinite(float(v)) and float(v) >= 0]
    try:
        result = read_metrics_csv(io.StringIO(buf.getvalue()))
    except InputValidationError as exc:
        if bad:
            assert exc.line == bad[0] + 3 and exc.field == "value"
        else:
            assert not finite and exc.field == "value"  # no usable value at all in series 'r'
        return
    assert not bad
    (_anchor, r) = result
    got = r.series["Errors"].values
    assert sorted(got[~np.isnan(got)].tolist()) == sorted(finite)
