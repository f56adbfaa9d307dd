"""The two local shims: in-process Lambda invocation and indexed, paginated GetMetricData."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from types import SimpleNamespace

import numpy as np
import pytest

from cloudsage.local.emulator import FastMetricData, invoke_in_process, resolve_handler


def handler_ok(event, context):
    return {
        "echo": event,
        "env": os.environ.get("SHIM_TEST"),
        "fn": context.function_name,
        "remaining_positive": context.get_remaining_time_in_millis() > 0,
    }


class CustomDomainError(ValueError):
    pass


def handler_fails(event, context):
    raise CustomDomainError("no data for i-1")


def test_invoke_in_process_applies_env_and_context_then_restores_env():
    # Given a handler named as in a function configuration
    os.environ.pop("SHIM_TEST", None)
    # When
    payload, errored, _ = invoke_in_process(
        "tests.unit.test_emulator_shims.handler_ok",
        {"a": 1},
        function_name="f",
        function_arn="arn:f",
        environment={"SHIM_TEST": "yes"},
        timeout_s=5,
    )
    # Then
    assert not errored
    assert json.loads(payload) == {"echo": {"a": 1}, "env": "yes", "fn": "f", "remaining_positive": True}
    assert "SHIM_TEST" not in os.environ


def test_invoke_in_process_error_payload_carries_error_type():
    payload, errored, logs = invoke_in_process(
        "tests.unit.test_emulator_shims.handler_fails", {}, function_name="f", function_arn="arn:f", environment={}
    )
    body = json.loads(payload)
    assert errored
    assert body["errorType"] == "CustomDomainError" and body["errorMessage"] == "no data for i-1"
    assert "CustomDomainError" in logs


def test_resolve_handler_rejects_malformed_handler():
    with pytest.raises(ValueError):
        resolve_handler("nohandler")


def _datum(ns, name, dims, t, v):
    return SimpleNamespace(
        namespace=ns,
        name=name,
        value=v,
        timestamp=datetime.fromtimestamp(t, tz=UTC),
        dimensions=[SimpleNamespace(name=k, value=val) for k, val in dims.items()],
    )


def _query(qid, name, stat, period=300, dims=None):
    return {
        "Id": qid,
        "MetricStat": {
            "Metric": {
                "Namespace": "NS",
                "MetricName": name,
                "Dimensions": [{"Name": k, "Value": v} for k, v in (dims or {"Id": "a"}).items()],
            },
            "Period": period,
            "Stat": stat,
        },
    }


def test_fast_metric_data_aggregates_like_cloudwatch():
    # Given one-minute points of one metric, and another resource's metric of the same name
    data = [_datum("NS", "M", {"Id": "a"}, 60 * i, float(i)) for i in range(10)]
    data += [_datum("NS", "M", {"Id": "b"}, 0, 1000.0)]
    fast = FastMetricData(SimpleNamespace(metric_data=data))
    params = {
        "StartTime": 0,
        "EndTime": 600,
        "ScanBy": "TimestampAscending",
        "MetricDataQueries": [_query("s", "M", "Sum"), _query("a", "M", "Average"), _query("x", "M", "Maximum")],
    }
    # When
    out = fast.query(params)["MetricDataResults"]
    # Then: five-minute buckets, only resource a
    assert out[0]["values"] == [10.0, 35.0]
    assert out[1]["values"] == [2.0, 7.0]
    assert out[2]["values"] == [4.0, 9.0]
    assert [t.timestamp() for t in out[0]["timestamps"]] == [0, 300]


def test_fast_metric_data_paginates_with_partial_data_and_loses_nothing():
    data = [_datum("NS", f"M{j}", {"Id": "a"}, 300 * i, float(i)) for j in range(3) for i in range(10)]
    fast = FastMetricData(SimpleNamespace(metric_data=data))
    params = {
        "StartTime": 0,
        "EndTime": 3000,
        "ScanBy": "TimestampAscending",
        "MaxDatapoints": 7,
        "MetricDataQueries": [_query(f"q{j}", f"M{j}", "Average") for j in range(3)],
    }
    got: dict[str, list[float]] = {}
    pages = 0
    statuses = set()
    while True:
        pages += 1
        page = fast.query(params)
        for r in page["MetricDataResults"]:
            got.setdefault(r["id"], []).extend(r["values"])
            statuses.add(r["status_code"])
        if "NextToken" not in page:
            break
        params["NextToken"] = page["NextToken"]
    assert pages == 5  # 30 points, 7 per page
    assert "PartialData" in statuses
    assert all(got[f"q{j}"] == [float(i) for i in range(10)] for j in range(3))


def test_fast_metric_data_sees_new_datapoints():
    data = [_datum("NS", "M", {"Id": "a"}, 0, 1.0)]
    fast = FastMetricData(SimpleNamespace(metric_data=data))
    params = {"StartTime": 0, "EndTime": 600, "MetricDataQueries": [_query("s", "M", "Sum")]}
    assert fast.query(params)["MetricDataResults"][0]["values"] == [1.0]
    data.append(_datum("NS", "M", {"Id": "a"}, 310, 2.0))
    assert np.isclose(sum(fast.query(params)["MetricDataResults"][0]["values"]), 3.0)
