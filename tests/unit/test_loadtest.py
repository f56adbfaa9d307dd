"""Unit tests of the load-test CSV reader: closed and open loop, and errors that name the line and column."""

from __future__ import annotations

import io
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cloudsage.core.errors import InputValidationError
from cloudsage.core.loadtest import LoadPoint, parse_loadtest, read_loadtest

CLOSED_HEADER = (
    "rep,concurrency,throughput_rps,resp_mean_littles_ms,err_connect,err_read,requests,"
    "wrk_lat_p95_ms,server_cpu_cores,wrk_cpu_cores,other_busy_cores,host_cpus,workers"
)
OPEN_HEADER = (
    "rep,target_rate,arrivals,completed,errors,achieved_rate,lat_mean_ms,lat_p50_ms,lat_p90_ms,lat_p99_ms,"
    "server_cpu_cores,gen_cpu_cores,other_busy_cores,host_cpus,workers"
)


def closed_csv(*rows: str) -> str:
    return "\n".join([CLOSED_HEADER, *rows]) + "\n"


def open_csv(*rows: str) -> str:
    return "\n".join([OPEN_HEADER, *rows]) + "\n"


GOOD_CLOSED = closed_csv(
    "1,1,470.0,2.128,0,0,2350,3.9,0.98,0.09,0.92,2,5",
    "1,4,920.0,4.348,0,0,4600,8.1,1.78,0.13,0.10,2,5",
    "2,4,900.0,4.444,1,2,4500,8.0,1.75,0.12,0.12,2,5",
)
GOOD_OPEN = open_csv(
    "1,100.0,499,499,0,99.8,4.457,3.71,6.641,13.559,0.270,0.147,1.580,2,5",
    "1,300.0,1464,1464,0,292.8,5.978,4.905,10.287,17.745,0.739,0.299,0.959,2,5",
)


def test_parse_loadtest_closed_loop_reads_steps_in_seconds() -> None:
    # Given a closed-loop CSV with three steps
    # When it is parsed
    lt = parse_loadtest(GOOD_CLOSED)
    # Then every step is kept, times are in seconds and the generator's CPU is read from wrk_cpu_cores
    assert lt.kind == "closed"
    assert lt.levels == (1.0, 4.0)
    first = lt.points[0]
    assert first.load == 1.0 and first.throughput_rps == 470.0
    assert first.mean_s == pytest.approx(0.002128)
    assert first.generator_cpu_cores == pytest.approx(0.09)
    assert first.host_cpus == 2.0 and first.workers == 5.0
    assert lt.points[0].line == 2 and lt.points[2].line == 4


def test_parse_loadtest_closed_loop_ignores_wrk_percentiles() -> None:
    # Given wrk's coordinated-omission-corrected percentiles in the file
    # When parsed
    lt = parse_loadtest(GOOD_CLOSED)
    # Then they are not taken as measured latencies
    assert all(math.isnan(p.p95_s) for p in lt.points)


def test_parse_loadtest_closed_without_mean_derives_littles_law() -> None:
    # Given a closed-loop file without resp_mean_littles_ms
    text = "concurrency,throughput_rps\n8,1000\n"
    # When parsed
    lt = parse_loadtest(text)
    # Then the mean response time is N / X (Little's law)
    assert lt.points[0].mean_s == pytest.approx(8 / 1000)


def test_parse_loadtest_error_columns_summed_into_error_rate() -> None:
    # Given a step with err_connect=1 and err_read=2 over 4,500 requests
    lt = parse_loadtest(GOOD_CLOSED)
    # When its error count is read
    p = lt.points[2]
    # Then the errors are summed and the rate is errors over all requests
    assert p.errors == 3
    assert p.error_rate == pytest.approx(3 / 4503)


def test_parse_loadtest_open_loop_reads_rates_and_percentiles() -> None:
    # Given an open-loop CSV
    # When parsed
    lt = parse_loadtest(GOOD_OPEN)
    # Then load is the offered rate, throughput the achieved rate, percentiles raw and in seconds
    assert lt.kind == "open"
    p = lt.points[1]
    assert p.load == 300.0 and p.throughput_rps == pytest.approx(292.8)
    assert p.p90_s == pytest.approx(0.010287) and p.p99_s == pytest.approx(0.017745)
    assert math.isnan(p.p95_s)
    assert p.generator_cpu_cores == pytest.approx(0.299)


def test_read_loadtest_path_and_file_give_the_same_points(tmp_path) -> None:  # type: ignore[no-untyped-def]
    # Given the same CSV on disk and in memory
    path = tmp_path / "lt.csv"
    path.write_text(GOOD_CLOSED)
    # When read both ways
    a = read_loadtest(path)
    b = read_loadtest(io.StringIO(GOOD_CLOSED))
    # Then the steps are equal and the source names the path
    assert a.points == b.points
    assert a.source == str(path)


def test_loadtest_select_keeps_levels_in_range() -> None:
    # Given steps at N = 1 and 4
    lt = parse_loadtest(GOOD_CLOSED)
    # When selecting N <= 2 and N >= 2
    # Then each side keeps only its levels
    assert lt.select(max_load=2).levels == (1.0,)
    assert lt.select(min_load=2).levels == (4.0,)


@pytest.mark.parametrize(
    ("text", "line", "field"),
    [
        (closed_csv("1,1,abc,2.1,0,0,1,1,1,1,1,2,5"), 2, "throughput_rps"),
        (closed_csv("1,1,470,2.1,0,0,1,1,1,1,1,2,5", "1,1.5,470,2.1,0,0,1,1,1,1,1,2,5"), 3, "concurrency"),
        (closed_csv("1,0,470,2.1,0,0,1,1,1,1,1,2,5"), 2, "concurrency"),
        (closed_csv("1,1,-5,2.1,0,0,1,1,1,1,1,2,5"), 2, "throughput_rps"),
        (closed_csv("1,1,470,2.1,0,0,1,1,nan,1,1,2,5"), 2, "server_cpu_cores"),
        (closed_csv("1,1,470,2.1,0,0,1,1,inf,1,1,2,5"), 2, "server_cpu_cores"),
        (closed_csv("1,1,,2.1,0,0,1,1,1,1,1,2,5"), 2, "throughput_rps"),
        (closed_csv("1,1,470"), 2, "row"),
        ("throughput_rps,resp_mean_littles_ms\n470,2.1\n", 1, "concurrency"),
        ("concurrency,resp_mean_littles_ms\n1,2.1\n", 1, "throughput_rps"),
        ("target_rate,achieved_rate\n100,99\n", 1, "lat_mean_ms"),
        ("concurrency,concurrency,throughput_rps\n1,1,2\n", 1, "concurrency"),
        (open_csv("1,100.0,499,499,0,99.8,-1,3.71,6.641,13.559,0.270,0.147,1.580,2,5"), 2, "lat_mean_ms"),
    ],
)
def test_parse_loadtest_bad_value_raises_naming_line_and_column(text: str, line: int, field: str) -> None:
    # Given a CSV with one bad value, column or row
    # When it is parsed
    with pytest.raises(InputValidationError) as info:
        parse_loadtest(text)
    # Then the error names the line and the column
    assert info.value.line == line
    assert info.value.field == field
    assert f"line {line}" in str(info.value)


@pytest.mark.parametrize("text", ["", "\n\n", CLOSED_HEADER + "\n"])
def test_parse_loadtest_empty_raises_input_validation_error(text: str) -> None:
    # Given an empty file or a header without rows
    # When parsed
    # Then it is rejected with a typed error
    with pytest.raises(InputValidationError):
        parse_loadtest(text)


def test_load_point_non_positive_throughput_names_field() -> None:
    # Given a step built in code with zero throughput
    # When constructed
    # Then the error names the field
    with pytest.raises(InputValidationError, match="throughput_rps"):
        LoadPoint("closed", 1.0, 0.0, 0.002)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(min_value=1, max_value=512),
            st.floats(min_value=0.01, max_value=1e6, allow_nan=False, allow_infinity=False),
            st.floats(min_value=0.0, max_value=64.0, allow_nan=False, allow_infinity=False),
        ),
        min_size=1,
        max_size=20,
    )
)
def test_parse_loadtest_roundtrip_keeps_values(rows: list[tuple[int, float, float]]) -> None:
    # Given any valid closed-loop rows written with repr precision
    text = "concurrency,throughput_rps,server_cpu_cores\n" + "".join(f"{n},{x!r},{c!r}\n" for n, x, c in rows)
    # When parsed
    lt = parse_loadtest(text)
    # Then every value comes back exactly and the mean obeys Little's law
    assert [(p.load, p.throughput_rps, p.server_cpu_cores) for p in lt.points] == [(float(n), x, c) for n, x, c in rows]
    for p in lt.points:
        assert p.mean_s * p.throughput_rps == pytest.approx(p.load)


def test_load_point_error_rate_without_request_count_uses_duration() -> None:
    # Given a step with 10 errors, 1,000 req/s for 5 s and no request count
    p = LoadPoint("closed", 8.0, 1000.0, 0.008, errors=10, duration_s=5.0)
    # When its error rate is read
    # Then completed requests come from throughput x duration; unknown duration gives 0 (kept)
    assert p.error_rate == pytest.approx(10 / 5010)
    assert LoadPoint("closed", 8.0, 1000.0, 0.008, errors=10).error_rate == 0.0
