"""MetricSeries: every kind of bad input has a test here."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta, timezone

import numpy as np
import pytest

from cloudsage.core.errors import InsufficientDataError, InvalidSeriesError
from cloudsage.core.series import MetricSeries, align, to_epoch


def test_from_points_regular_grid_keeps_values_and_infers_period():
    # Given five-minute points
    ts = [0, 300, 600, 900]
    # When
    s = MetricSeries.from_points("i-1", "CPUUtilization", ts, [1, 2, 3, 4])
    # Then
    assert s.period == 300
    assert s.values.tolist() == [1, 2, 3, 4]
    assert s.stat == "Average" and s.unit == "Percent"


def test_from_points_duplicate_timestamps_are_aggregated_with_metric_stat():
    # Given a daylight-saving style repeat of the same timestamps
    ts = [0, 300, 300, 600]
    # When / Then: counts are summed, utilisation averaged, latency keeps the maximum
    assert MetricSeries.from_points("a", "RequestCount", ts, [1, 2, 3, 4]).values.tolist() == [1, 5, 4]
    assert MetricSeries.from_points("a", "CPUUtilization", ts, [1, 2, 4, 4]).values.tolist() == [1, 3, 4]
    assert MetricSeries.from_points("a", "Latency", ts, [1, 2, 9, 4]).values.tolist() == [1, 9, 4]
    assert MetricSeries.from_points("a", "RequestCount", ts, [1, 2, 3, 4]).quality.n_duplicates == 1


def test_from_points_out_of_order_points_are_sorted_and_counted():
    s = MetricSeries.from_points("a", "CPUUtilization", [600, 0, 300], [3, 1, 2])
    assert s.values.tolist() == [1, 2, 3]
    assert s.quality.n_out_of_order == 1


def test_from_points_irregular_sampling_resamples_onto_grid():
    # Given one-minute points resampled to five minutes
    ts = np.arange(0, 600, 60)
    s = MetricSeries.from_points("a", "RequestCount", ts, np.ones(10), period=300)
    assert s.values.tolist() == [5, 5]
    assert s.quality.n_resampled_buckets == 2


def test_from_points_long_gap_stays_missing_never_interpolated():
    ts = [0, 300, 3000, 3300]
    s = MetricSeries.from_points("a", "CPUUtilization", ts, [1, 2, 3, 4], period=300)
    assert len(s) == 12
    assert np.isnan(s.values[2:10]).all()
    assert s.longest_gap() == 8
    # filled() bridges only short gaps
    assert np.isnan(s.filled(max_gap=3)[2:10]).all()
    assert not np.isnan(s.filled(max_gap=8)).any()


def test_from_points_nan_inf_and_impossible_values_become_missing():
    ts = [0, 300, 600, 900, 1200, 1500]
    s = MetricSeries.from_points("a", "CPUUtilization", ts, [1, float("nan"), float("inf"), -5, 150, 2])
    assert s.values[0] == 1 and s.values[-1] == 2
    assert np.isnan(s.values[1:5]).all()
    assert s.quality.n_nonfinite == 2
    assert s.quality.n_out_of_range == 2


def test_from_points_unknown_metric_allows_negative_values():
    s = MetricSeries.from_points("a", "TemperatureDelta", [0, 300], [-3.5, 2.0])
    assert s.values.tolist() == [-3.5, 2.0]


def test_from_points_all_missing_raises_insufficient_data():
    with pytest.raises(InsufficientDataError, match="needs at least 1"):
        MetricSeries.from_points("a", "CPUUtilization", [0, 300], [float("nan"), -1])


def test_require_too_little_history_names_the_minimum():
    s = MetricSeries.from_points("i-1", "CPUUtilization", [0, 300, 600], [1, 2, 3])
    with pytest.raises(InsufficientDataError) as err:
        s.require(288)
    assert err.value.needed == 288 and err.value.got == 3
    assert "288" in str(err.value)


def test_from_points_mismatched_lengths_names_values_field():
    with pytest.raises(InvalidSeriesError) as err:
        MetricSeries.from_points("a", "CPUUtilization", [0, 300], [1.0])
    assert err.value.field == "values"


@pytest.mark.parametrize("bad", ["yesterday", None, float("nan"), True])
def test_to_epoch_bad_timestamp_names_timestamp_field(bad):
    with pytest.raises(InvalidSeriesError) as err:
        to_epoch(bad)
    assert err.value.field == "timestamp"


def test_to_epoch_accepts_iso_naive_aware_and_epoch():
    dt = datetime(2026, 1, 1, tzinfo=UTC)
    assert to_epoch("2026-01-01T00:00:00Z") == dt.timestamp()
    assert to_epoch("2026-01-01 00:00:00") == dt.timestamp()
    assert to_epoch(dt.replace(tzinfo=None)) == dt.timestamp()
    assert to_epoch(datetime(2026, 1, 1, 1, tzinfo=timezone(timedelta(hours=1)))) == dt.timestamp()
    assert to_epoch(str(dt.timestamp())) == dt.timestamp()


def test_from_points_non_numeric_value_names_values_field():
    with pytest.raises(InvalidSeriesError) as err:
        MetricSeries.from_points("a", "CPUUtilization", [0, 300], ["1", "abc"])
    assert err.value.field == "values"


@pytest.mark.parametrize("period", [0, -300, 10**6, 1.5])
def test_constructor_bad_period_names_period_field(period):
    with pytest.raises(InvalidSeriesError) as err:
        MetricSeries("a", "m", 0.0, period, np.ones(3))
    assert err.value.field == "period"


def test_dict_round_trip_keeps_missing_values():
    s = MetricSeries.from_points("a", "CPUUtilization", [0, 300, 900], [1, 2, 3])
    back = MetricSeries.from_dict(s.to_dict())
    assert back.start == s.start and back.period == s.period
    np.testing.assert_array_equal(back.values, s.values)
    assert s.to_dict()["values"][2] is None


def test_from_dict_missing_field_is_named():
    with pytest.raises(InvalidSeriesError) as err:
        MetricSeries.from_dict({"resource_id": "a", "metric": "m", "start": 0, "values": []})
    assert err.value.field == "period"


def test_values_are_read_only():
    s = MetricSeries.from_points("a", "CPUUtilization", [0, 300], [1, 2])
    with pytest.raises(ValueError):
        s.values[0] = 5


def test_align_puts_series_on_common_grid():
    a = MetricSeries.from_points("r", "CPUUtilization", [0, 300], [1, 2])
    b = MetricSeries.from_points("r", "RequestCount", [300, 600], [5, 6])
    ts, m = align([a, b])
    assert ts.tolist() == [0, 300, 600]
    assert m[:, 0].tolist()[:2] == [1, 2] and math.isnan(m[2, 0])
    assert math.isnan(m[0, 1]) and m[1:, 1].tolist() == [5, 6]


def test_align_different_periods_raise():
    a = MetricSeries.from_points("r", "CPUUtilization", [0, 300], [1, 2])
    b = MetricSeries.from_points("r", "RequestCount", [0, 60], [5, 6])
    with pytest.raises(InvalidSeriesError):
        align([a, b])
