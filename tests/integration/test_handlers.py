"""Handlers and adapters against moto: collect -> model -> aggregate -> publish, and every bad input."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import boto3
import numpy as np
import pytest

from cloudsage.adapters.cloudwatch import MAX_QUERIES_PER_CALL, CloudWatchSource
from cloudsage.adapters.insights_store import InsightsTable
from cloudsage.adapters.snapshots import SnapshotStore
from cloudsage.core.errors import InputValidationError, InsufficientDataError
from cloudsage.core.resource import ResourceSpec
from cloudsage.handlers import aggregate, collect, model, plan, publish
from tests.utils import make_insight, make_resource

END = datetime(2026, 11, 20, tzinfo=UTC)


def _put(cw: Any, resource: str, metric: str, values: list[float], period: int = 300) -> None:
    t_end = END.timestamp()
    data = [
        {
            "MetricName": metric,
            "Dimensions": [{"Name": "InstanceId", "Value": resource}],
            "Timestamp": datetime.fromtimestamp(t_end - period * (len(values) - i), tz=UTC),
            "Value": v,
        }
        for i, v in enumerate(values)
    ]
    for i in range(0, len(data), 1000):
        cw.put_metric_data(Namespace="AWS/EC2", MetricData=data[i : i + 1000])


def _collect_event(resources: list[str], **kw: Any) -> dict[str, Any]:
    return {
        "run_id": "run-test",
        "end_time": END.isoformat(),
        "lookback_days": 1,
        "resources": [
            {
                "resource_id": r,
                "resource_type": "ec2",
                "namespace": "AWS/EC2",
                "dimensions": {"InstanceId": r},
                "metrics": ["CPUUtilization", "NetworkIn"],
            }
            for r in resources
        ],
        **kw,
    }


def _plan_then_collect(event: dict[str, Any], lambda_context: Any) -> list[dict[str, Any]]:
    planned = plan.lambda_handler(event, lambda_context)
    return [
        collect.lambda_handler(
            {
                "run_id": planned["run_id"],
                "batch_key": b["batch_key"],
                "window_start": planned["window_start"],
                "window_end": planned["window_end"],
                "period": planned["period"],
            },
            lambda_context,
        )
        for b in planned["batches"]
    ]


def test_plan_splits_resources_into_batches_in_s3(stack_env, lambda_context):
    # Given five resources and batches of two
    event = {**_collect_event([f"i-{n}" for n in range(5)]), "batch_size": 2}
    # When
    out = plan.lambda_handler(event, lambda_context)
    # Then: three batches, only keys in the output, the window fixed once for the whole run
    assert [b["resources"] for b in out["batches"]] == [2, 2, 1]
    assert out["window_end"] - out["window_start"] == 86400
    assert SnapshotStore("snapshots").get_json(out["batches"][2]["batch_key"])[0]["resource_id"] == "i-4"


def test_collect_writes_one_snapshot_per_resource_and_skips_silent_ones(stack_env, lambda_context):
    # Given metrics for i-1 only
    _put(boto3.client("cloudwatch"), "i-1", "CPUUtilization", [10.0, 20.0, 30.0])
    # When
    (out,) = _plan_then_collect(_collect_event(["i-1", "i-silent"]), lambda_context)
    # Then
    assert [i["resource_id"] for i in out["items"]] == ["i-1"]
    assert out["skipped"] == {"i-silent": "no datapoints returned for any metric"}
    snap = SnapshotStore("snapshots").get_json(out["items"][0]["snapshot_key"])
    assert [v for v in snap["series"]["CPUUtilization"]["values"] if v is not None] == [10.0, 20.0, 30.0]


@pytest.mark.parametrize(
    ("patch", "field"),
    [
        ({"resources": []}, "resources"),
        ({"period": 45}, "period"),
        ({"run_id": "bad id with spaces"}, "run_id"),
        ({"lookback_days": 0}, "lookback_days"),
    ],
)
def test_plan_bad_input_names_the_field(stack_env, lambda_context, patch, field):
    with pytest.raises(InputValidationError) as err:
        plan.lambda_handler({**_collect_event(["i-1"]), **patch}, lambda_context)
    assert err.value.field == field


def test_plan_bad_resource_type_names_nested_field(stack_env, lambda_context):
    event = _collect_event(["i-1"])
    event["resources"][0]["resource_type"] = "mainframe"
    with pytest.raises(InputValidationError) as err:
        plan.lambda_handler(event, lambda_context)
    assert err.value.field == "resources.0.resource_type"


@pytest.mark.parametrize(
    ("patch", "field"),
    [({"window_end": 0}, "event"), ({"batch_key": ""}, "batch_key"), ({"period": 30}, "period")],
)
def test_collect_bad_batch_input_names_the_field(stack_env, lambda_context, patch, field):
    event = {
        "run_id": "r",
        "batch_key": "runs/r/batches/00000.json",
        "window_start": 1.0,
        "window_end": 2.0,
        "period": 300,
        **patch,
    }
    with pytest.raises(InputValidationError) as err:
        collect.lambda_handler(event, lambda_context)
    assert err.value.field == field


def test_collect_corrupt_batch_object_is_rejected(stack_env, lambda_context):
    key = SnapshotStore("snapshots").put_json("runs/r/batches/00000.json", {"not": "a list"})
    event = {"run_id": "r", "batch_key": key, "window_start": 1.0, "window_end": 2.0}
    with pytest.raises(InputValidationError) as err:
        collect.lambda_handler(event, lambda_context)
    assert err.value.field == "batch_key"


def test_cloudwatch_source_batches_500_queries_per_call(moto_aws):
    # Given 251 resources x 2 metrics = 502 queries
    specs = [
        ResourceSpec(f"i-{n}", "ec2", "AWS/EC2", {"InstanceId": f"i-{n}"}, ("CPUUtilization", "NetworkIn"))
        for n in range(251)
    ]
    src = CloudWatchSource()
    # When
    resources, skipped = src.fetch(specs, END.timestamp() - 3600, END.timestamp(), 300)
    # Then: two GetMetricData calls, nothing returned, every resource reported as skipped
    assert src.calls == 2 == -(-502 // MAX_QUERIES_PER_CALL)
    assert resources == [] and len(skipped) == 251


class _PagedClient:
    """A CloudWatch client returning a result split over pages, as the real API does past 100,800 points."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []

    def get_metric_data(self, **kw: Any) -> dict[str, Any]:
        self.requests.append(kw)
        t = [datetime.fromtimestamp(END.timestamp() - 600 + 300 * i, tz=UTC) for i in range(2)]
        if "NextToken" not in kw:
            return {
                "MetricDataResults": [{"Id": "q0", "Timestamps": t[:1], "Values": [1.0], "StatusCode": "PartialData"}],
                "NextToken": "p2",
            }
        return {"MetricDataResults": [{"Id": "q0", "Timestamps": t[1:], "Values": [2.0], "StatusCode": "Complete"}]}


def test_cloudwatch_source_follows_next_token_and_merges_pages():
    client = _PagedClient()
    spec = ResourceSpec("i-1", "ec2", "AWS/EC2", {"InstanceId": "i-1"}, ("CPUUtilization",))
    resources, _ = CloudWatchSource(client).fetch([spec], END.timestamp() - 600, END.timestamp(), 300)
    assert len(client.requests) == 2 and client.requests[1]["NextToken"] == "p2"
    assert resources[0].series["CPUUtilization"].values.tolist() == [1.0, 2.0]


def _snapshot(resource_days: int = 14) -> str:
    res = make_resource(days=resource_days)
    return SnapshotStore("snapshots").put_json("runs/run-test/snapshots/web-api-asg.json", res.to_dict())


def test_model_handler_writes_output_and_returns_only_keys(stack_env, lambda_context):
    key = _snapshot()
    event = {"run_id": "run-test", "resource_id": "web-api-asg", "snapshot_key": key, "model": "anomaly"}
    out = model.lambda_handler(event, lambda_context)
    assert out["result_key"].startswith("runs/run-test/models/anomaly/")
    stored = SnapshotStore("snapshots").get_json(out["result_key"])
    assert stored["resource_id"] == "web-api-asg" and len(stored["insights"]) == out["insight_count"]
    assert len(json.dumps(out)) < 1024  # only keys travel through the state machine


def test_model_handler_too_little_history_raises_typed_error(stack_env, lambda_context):
    store = SnapshotStore("snapshots")
    res = make_resource(days=1).to_dict()
    for s in res["series"].values():
        s["values"] = s["values"][:5]
    key = store.put_json("runs/run-test/snapshots/tiny.json", res)
    event = {"run_id": "run-test", "resource_id": "web-api-asg", "snapshot_key": key, "model": "anomaly"}
    with pytest.raises(InsufficientDataError):
        model.lambda_handler(event, lambda_context)


@pytest.mark.parametrize(
    ("event", "field"),
    [
        ({"run_id": "r", "resource_id": "x", "snapshot_key": "k"}, "model"),
        ({"run_id": "r", "resource_id": "x", "snapshot_key": "k", "model": "cost"}, "model"),
        ({"run_id": "r", "resource_id": "x", "snapshot_key": "k", "model": "anomaly", "extra": 1}, "extra"),
        (  # a file path in the function's sandbox is the platform's to set, not the caller's
            {
                "run_id": "r",
                "resource_id": "x",
                "snapshot_key": "k",
                "model": "anomaly",
                "params": {"price_path": "/x"},
            },
            "params",
        ),
    ],
)
def test_model_handler_bad_task_input_names_field(stack_env, lambda_context, event, field):
    with pytest.raises(InputValidationError) as err:
        model.lambda_handler(event, lambda_context)
    assert err.value.field == field


def test_handler_missing_env_var_fails_naming_it(stack_env, lambda_context, monkeypatch):
    from pydantic import ValidationError

    monkeypatch.delenv("TABLE_NAME")
    with pytest.raises(ValidationError, match="TABLE_NAME"):
        aggregate.lambda_handler({"run_id": "r", "results": []}, lambda_context)


def _model_output_key(insights: list[Any]) -> str:
    from cloudsage.core.results import ModelOutput

    out = ModelOutput("anomaly", "web-api-asg", tuple(insights))
    return SnapshotStore("snapshots").put_json("runs/run-test/models/anomaly/web-api-asg.json", out.to_dict())


def _aggregate_event(key: str, run_id: str = "run-test") -> dict[str, Any]:
    return {
        "run_id": run_id,
        "results": [
            [{"model": "anomaly", "resource_id": "web-api-asg", "result_key": key, "insight_count": 2}],
            [
                {
                    "model": "anomaly",
                    "resource_id": "orders-db",
                    "error": "InsufficientDataError",
                    "cause": "needs 576 points",
                }
            ],
        ],
    }


def _inbox(queue_url: str) -> list[dict[str, Any]]:
    sqs = boto3.client("sqs")
    msgs = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
    return [json.loads(m["Body"]) for m in msgs]


def test_rerun_same_run_writes_no_duplicate_and_alerts_once(stack_env, lambda_context):
    # Given a high and a low insight
    key = _model_output_key([make_insight(severity="high"), make_insight(severity="low", metric="RequestCount")])
    # When aggregate + publish run twice for the same run
    first = aggregate.lambda_handler(_aggregate_event(key), lambda_context)
    pub1 = publish.lambda_handler({"run_id": "run-test", "summary_key": first["summary_key"]}, lambda_context)
    second = aggregate.lambda_handler(_aggregate_event(key), lambda_context)
    pub2 = publish.lambda_handler({"run_id": "run-test", "summary_key": second["summary_key"]}, lambda_context)
    # Then
    table = InsightsTable("insights")
    assert len(table.scan_all()) == 2
    assert first["new_count"] == 2 and second["new_count"] == 0
    assert first["failed_models"] == 1
    assert pub1["published"] == 1 and pub2["published"] == 0  # low is below MIN_ALERT_SEVERITY
    alerts = _inbox(stack_env["QUEUE_URL"])
    assert len(alerts) == 1
    assert alerts[0]["Subject"].startswith("[CloudSage HIGH]")
    assert alerts[0]["MessageAttributes"]["severity"]["Value"] == "high"


def test_later_run_marks_ongoing_and_escalation_alerts_again(stack_env, lambda_context):
    key = _model_output_key([make_insight(severity="medium")])
    a = aggregate.lambda_handler(_aggregate_event(key, "run-1"), lambda_context)
    publish.lambda_handler({"run_id": "run-1", "summary_key": a["summary_key"]}, lambda_context)
    key = _model_output_key([make_insight(severity="critical")])
    b = aggregate.lambda_handler(_aggregate_event(key, "run-2"), lambda_context)
    pub = publish.lambda_handler({"run_id": "run-2", "summary_key": b["summary_key"]}, lambda_context)
    item = InsightsTable("insights").get(make_insight().id)
    assert item is not None
    assert item["status"] == "ongoing" and item["severity"] == "critical" and item["seen_count"] == 2
    assert b["new_count"] == 1 and pub["published"] == 1
    assert len(_inbox(stack_env["QUEUE_URL"])) == 2


def test_publish_failure_is_not_lost_and_retried_next_time(stack_env, lambda_context, monkeypatch):
    from cloudsage.adapters.alerts import AlertPublisher

    key = _model_output_key([make_insight(severity="high")])
    a = aggregate.lambda_handler(_aggregate_event(key), lambda_context)

    def boom(self, insight):
        raise RuntimeError("SNS unavailable")

    monkeypatch.setattr(AlertPublisher, "publish", boom)
    with pytest.raises(RuntimeError):
        publish.lambda_handler({"run_id": "run-test", "summary_key": a["summary_key"]}, lambda_context)
    assert InsightsTable("insights").needs_alert(make_insight().id, "high")
    monkeypatch.undo()
    for k, v in stack_env.items():
        if k != "QUEUE_URL":
            monkeypatch.setenv(k, v)
    out = publish.lambda_handler({"run_id": "run-test", "summary_key": a["summary_key"]}, lambda_context)
    assert out["published"] == 1
    assert not InsightsTable("insights").needs_alert(make_insight().id, "high")


def test_publish_many_at_once_sends_one_digest(stack_env, lambda_context):
    key = _model_output_key([make_insight(severity="high", metric=f"M{i}") for i in range(8)])
    a = aggregate.lambda_handler(_aggregate_event(key), lambda_context)
    out = publish.lambda_handler({"run_id": "run-test", "summary_key": a["summary_key"]}, lambda_context)
    assert out == {"published": 8, "digest": True, "skipped_already_alerted": 0}
    alerts = _inbox(stack_env["QUEUE_URL"])
    assert len(alerts) == 1 and "8 new insights" in alerts[0]["Subject"]


def test_aggregate_bad_results_shape_names_field(stack_env, lambda_context):
    with pytest.raises(InputValidationError) as err:
        aggregate.lambda_handler({"run_id": "r", "results": [{"model": "x"}]}, lambda_context)
    assert err.value.field.startswith("results.0")


def test_series_float_values_survive_dynamodb_round_trip(stack_env):
    table = InsightsTable("insights")
    ins = make_insight(evidence={"observed": 0.1 + 0.2, "nan_like": None, "arr": list(np.arange(2.0))})
    table.upsert(ins, "run-x", priority=0.5)
    assert table.get(ins.id)["evidence"]["observed"] == pytest.approx(0.3)
    assert table.by_run("run-x")[0]["id"] == ins.id


def test_plan_reads_a_large_resource_list_from_s3(stack_env, lambda_context):
    # Given a resource list too large for the 256 KB execution input, stored in the bucket
    listed = _collect_event([f"i-{n}" for n in range(120)])["resources"]
    key = SnapshotStore("snapshots").put_json("runs/big/input/resources.json", listed)
    # When
    out = plan.lambda_handler({"resources_key": key, "batch_size": 50, "lookback_days": 1}, lambda_context)
    # Then
    assert out["resources"] == 120 and [b["resources"] for b in out["batches"]] == [50, 50, 20]
    assert len(json.dumps(out)) < 4096


def test_plan_resources_key_not_a_list_names_the_field(stack_env, lambda_context):
    key = SnapshotStore("snapshots").put_json("runs/big/input/resources.json", {"oops": 1})
    with pytest.raises(InputValidationError) as err:
        plan.lambda_handler({"resources_key": key}, lambda_context)
    assert err.value.field == "resources_key"


def _demo_snapshot() -> tuple[str, str]:
    from cloudsage.local.demo import build_demo_fleet

    res = next(r for r in build_demo_fleet().to_resource_metrics() if r.attributes.get("instance_type"))
    return res.resource_id, SnapshotStore("snapshots").put_json(
        f"runs/run-test/snapshots/{res.resource_id}.json", res.to_dict()
    )


def test_cost_model_with_live_prices_uses_the_shared_file_and_says_so(stack_env, lambda_context, monkeypatch, tmp_path):
    # Given the cost function configured for live prices and a shared live price file with another m5.2xlarge price
    from cloudsage.adapters import pricing
    from cloudsage.core.catalog import snapshot_path

    data = json.loads(snapshot_path().read_text())
    data.update({"origin_kind": "live api", "as_of": "2026-12-05"})
    data["ec2"]["c6i.large"]["usd_per_hour"] = 0.2
    live = tmp_path / "live.json"
    live.write_text(json.dumps(data))
    calls = []

    def fake_shared(region, store, **kw):
        calls.append((region, store.bucket))
        return str(live)

    monkeypatch.setattr(pricing, "shared_live_prices", fake_shared)
    monkeypatch.setenv("MODEL_NAME", "cost")
    monkeypatch.setenv("PRICE_SOURCE", "live")
    rid, key = _demo_snapshot()
    event = {"run_id": "run-test", "resource_id": rid, "snapshot_key": key, "model": "cost"}
    # When the model task runs
    out = model.lambda_handler(event, lambda_context)
    # Then the shared file was asked for once, and every priced insight names the live origin
    stored = SnapshotStore("snapshots").get_json(out["result_key"])
    origins = {i["evidence"].get("price_origin") for i in stored["insights"]} - {None}
    assert calls == [("us-east-1", "snapshots")]
    assert origins == {"live api 2026-12-05"}


def test_cost_model_snapshot_source_never_calls_the_price_api(stack_env, lambda_context, monkeypatch):
    from cloudsage.adapters import pricing

    monkeypatch.setattr(pricing, "shared_live_prices", lambda *a, **k: pytest.fail("price API path taken"))
    monkeypatch.setenv("MODEL_NAME", "cost")
    monkeypatch.setenv("PRICE_SOURCE", "snapshot")
    rid, key = _demo_snapshot()
    event = {"run_id": "run-test", "resource_id": rid, "snapshot_key": key, "model": "cost"}
    stored = SnapshotStore("snapshots").get_json(model.lambda_handler(event, lambda_context)["result_key"])
    origins = {i["evidence"].get("price_origin") for i in stored["insights"]} - {None}
    assert origins and all(o.startswith("snapshot") for o in origins)
