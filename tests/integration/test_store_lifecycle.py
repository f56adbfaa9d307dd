"""InsightsTable against moto: idempotent runs, lifecycle over runs, composites, user actions, TTL."""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from cloudsage.adapters.insights_store import InsightsTable
from cloudsage.core.insights import LifecyclePolicy, aggregate
from cloudsage.core.results import ModelOutput
from cloudsage.handlers.aggregate import record_run
from tests.utils import make_insight

T0 = 1_700_000_000.0
NOW = 1_800_000_000.0


def _latency(**kw: Any):
    return make_insight(metric="TargetResponseTime", severity="critical", **kw)


def _cpu(**kw: Any):
    return make_insight(metric="CPUUtilization", severity="high", window_start=T0 - 600, **kw)


def _outputs(*insights, resource: str = "web-api-asg") -> list[ModelOutput]:
    return [ModelOutput("anomaly", resource, tuple(insights))]


def _table(resolve_after_runs: int = 2) -> InsightsTable:
    return InsightsTable("insights", policy=LifecyclePolicy(resolve_after_runs, 30, 90))


def _count_items() -> int:
    return boto3.client("dynamodb").scan(TableName="insights", Select="COUNT")["Count"]


def test_record_run_same_run_twice_writes_no_duplicate(stack_env):
    # Given a composite-forming pair of findings
    table = _table()
    outs = _outputs(_latency(), _cpu())
    # When the same run is recorded twice
    first = record_run(table, "run-1", outs, now=NOW)
    second = record_run(table, "run-1", outs, now=NOW + 10)
    # Then one composite item exists, and the replay wrote nothing
    assert len(first["insights"]) == 1 and first["insights"][0]["model"] == "composite"
    assert first["insights"][0]["change"] == "new" and second["insights"][0]["change"] == "ongoing"
    assert _count_items() == 1
    item = table.get(first["insights"][0]["id"])
    assert item["seen_count"] == 1 and item["last_seen_at"] == NOW
    assert set(item["members"]) == {_latency().id, _cpu().id}
    assert item["models"] == ["anomaly"] and item["evidence"]["composite"] == "capacity_risk"


def test_lifecycle_open_ongoing_resolved_reopened_over_runs(stack_env):
    # Given an insight found in run 1 and run 2
    table = _table(resolve_after_runs=2)
    ins = make_insight()
    record_run(table, "run-1", _outputs(ins), now=NOW)
    assert record_run(table, "run-2", _outputs(ins), now=NOW + 1)["insights"][0]["change"] == "ongoing"
    # When two later runs analyse the resource and do not find it
    r3 = record_run(table, "run-3", _outputs(), now=NOW + 2)
    r4 = record_run(table, "run-4", _outputs(), now=NOW + 3)
    # Then it resolves after the second miss, with a TTL
    assert r3["resolved"] == [{"id": ins.id, "resource_id": "web-api-asg", "change": "missed", "status": "ongoing"}]
    assert r4["resolved"][0]["change"] == "resolved"
    item = table.get(ins.id)
    assert item["status"] == "resolved" and item["expires_at"] == pytest.approx(NOW + 3 + 30 * 86_400)
    # And when it comes back, it reopens without the TTL and is due for an alert again
    r5 = record_run(table, "run-5", _outputs(ins), now=NOW + 4)
    item = table.get(ins.id)
    assert r5["insights"][0]["change"] == "reopened" and item["status"] == "open"
    assert "expires_at" not in item and item["pending_alert"] is True


def test_sweep_ignores_resources_and_models_not_analysed(stack_env):
    # Given an insight on web-api-asg
    table = _table(resolve_after_runs=1)
    ins = make_insight()
    record_run(table, "run-1", _outputs(ins), now=NOW)
    # When a later run analysed only another resource, and one where the insight's model did not run
    record_run(table, "run-2", _outputs(resource="orders-db"), now=NOW + 1)
    record_run(table, "run-3", [ModelOutput("cost", "web-api-asg")], now=NOW + 2)
    # Then nothing resolved
    assert table.get(ins.id)["status"] == "open"


def test_finding_absorbed_into_composite_resolves_as_superseded(stack_env):
    # Given a latency finding alone in run 1
    table = _table(resolve_after_runs=3)
    lat = _latency()
    record_run(table, "run-1", _outputs(lat), now=NOW)
    # When run 2 sees it together with CPU saturation (a composite)
    out = record_run(table, "run-2", _outputs(lat, _cpu()), now=NOW + 1)
    # Then the lone finding resolves at once, pointing at the composite
    comp_id = out["insights"][0]["id"]
    item = table.get(lat.id)
    assert item["status"] == "resolved" and item["superseded_by"] == comp_id
    assert out["resolved"] == [{"id": lat.id, "resource_id": "web-api-asg", "change": "resolved", "status": "resolved"}]


def test_user_resolve_closes_with_note_and_ttl(stack_env):
    table = _table()
    ins = make_insight()
    record_run(table, "run-1", _outputs(ins), now=NOW)
    acked = table.apply_user_action(ins.id, "acknowledge", "looking", now=NOW + 5)
    closed = table.apply_user_action(ins.id, "resolve", "fixed by deploy 42", now=NOW + 10)
    assert acked["acknowledged"] is True and acked["status"] == "open"
    assert closed["status"] == "closed" and closed["expires_at"] == pytest.approx(NOW + 10 + 90 * 86_400)
    assert [n["note"] for n in closed["notes"]] == ["looking", "fixed by deploy 42"]
    assert closed["pending_alert"] is False
    # a later sighting at the same severity keeps it closed
    record_run(table, "run-2", _outputs(ins), now=NOW + 20)
    assert table.get(ins.id)["status"] == "closed"


def test_user_action_on_missing_insight_returns_none(stack_env):
    assert _table().apply_user_action("nope", "resolve", "x") is None


def test_record_retries_on_concurrent_update(stack_env, monkeypatch):
    # Given an insight and a reader that returns a stale version once (another writer won the race)
    table = _table()
    ins = make_insight()
    ranked = aggregate(_outputs(ins))[0]
    table.record(ranked, "run-1", now=NOW)
    stale = table._raw(ins.id)
    table.record(ranked, "run-2", now=NOW + 1)
    real_raw, calls = table._raw, []

    def flaky_raw(insight_id):
        calls.append(insight_id)
        return stale if len(calls) == 1 else real_raw(insight_id)

    monkeypatch.setattr(table, "_raw", flaky_raw)
    # When run 3 records it
    t = table.record(ranked, "run-3", now=NOW + 2)
    # Then the stale conditional write failed, was retried, and no update was lost
    assert len(calls) == 2 and t.change == "ongoing"
    assert table.get(ins.id)["seen_count"] == 3


def test_scan_all_leaves_out_cooldown_items(stack_env):
    table = _table()
    record_run(table, "run-1", _outputs(make_insight()), now=NOW)
    table.start_cooldown("web-api-asg", NOW, 3)
    assert len(table.scan_all()) == 1 and _count_items() == 2
    assert table.cooldown("web-api-asg") == (NOW, 3)
