"""End to end: the synthesized state machine really runs on the embedded emulator over the demo fleet."""

from __future__ import annotations

import json
from typing import Any

import pytest

from cloudsage.local.cli import main
from cloudsage.local.demo import build_demo_fleet
from cloudsage.local.pipeline import RunResult, run_pipeline, source_from_demo

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def fleet():
    return build_demo_fleet()


@pytest.fixture(scope="module")
def result(fleet) -> RunResult:
    # Run twice with the same run id: the second run must add no insight and no alert. Batches of two resources
    # make the Distributed Map start three child executions.
    return run_pipeline(source_from_demo(fleet), repeat=2, batch_size=2)


def _overlaps(insight: dict[str, Any], start: float, end: float) -> bool:
    return insight["window_start"] <= end and insight["window_end"] >= start


def test_local_run_succeeds_with_no_failed_model(result):
    from cloudsage.core.registry import model_names

    assert result.status == "SUCCEEDED"
    assert len(result.execution_output["batches"]) == 3
    assert result.failures == []  # only "not applicable" (InsufficientDataError) is allowed
    assert all(f["error"] == "InsufficientDataError" for f in result.not_applicable)
    ran = {m for models in result.details.values() for m in models}
    assert ran == set(model_names())  # every registered model produced output for some resource
    assert result.insights, "the demo fleet has incidents"


def test_local_run_reports_every_change_to_the_synthesized_template(result):
    # moto has no Price List API: the cost function runs on the packaged snapshot, and the run says so
    assert any("PRICE_SOURCE live -> snapshot" in c for c in result.definition_changes)
    priced = [i for i in result.insights if i["model"] == "cost" and "price_origin" in i.get("evidence", {})]
    assert priced and all(i["evidence"]["price_origin"].startswith("snapshot") for i in priced)


def test_local_run_finds_every_labelled_incident(result, fleet):
    for inc in fleet.incidents:
        metrics = {inc.metric, *inc.related_metrics}
        hits = [
            i
            for i in result.insights
            if i["resource_id"] == inc.resource_id and i["metric"] in metrics and _overlaps(i, inc.start, inc.end)
        ]
        assert hits, f"missed {inc.kind} on {inc.resource_id}/{inc.metric}"


def test_local_run_raises_nothing_in_noisy_normal_period(result, fleet):
    # Reactive insights are alarms about what happened; proactive ones (forecasts, sizing, cost) span the whole
    # history by nature and are not alarms about that day.
    for period in fleet.normal_periods:
        false_alarms = [
            i
            for i in result.insights
            if i["resource_id"] == period.resource_id
            and i["kind"] == "reactive"
            and _overlaps(i, period.start + 3600, period.end - 3600)
        ]
        assert false_alarms == [], [i["title"] for i in false_alarms]


def test_rerun_adds_no_duplicate_insight_or_alert(result):
    assert result.stored == len(result.insights)
    assert len({i["id"] for i in result.insights}) == len(result.insights)
    assert all(i["change"] == "ongoing" for i in result.insights)  # the second run saw them all before
    # every alert came from the first run: one message per insight at/above the floor, or one digest
    assert 1 <= len(result.alerts) <= sum(i["severity"] in ("medium", "high", "critical") for i in result.insights)


def test_local_run_ranks_insights(result):
    assert [i["rank"] for i in result.insights] == list(range(1, len(result.insights) + 1))
    prios = [i["priority"] for i in result.insights]
    assert prios == sorted(prios, reverse=True)


def test_cli_analyze_csv_writes_report_and_json(tmp_path, fleet, capsys):
    from cloudsage.local.demo import fleet_to_csv

    csv_path = tmp_path / "fleet.csv"
    fleet_to_csv(fleet, csv_path)
    code = main(["analyze", "--metrics", str(csv_path), "--out", str(tmp_path / "out"), "--quiet"])
    assert code == 0
    data = json.loads((tmp_path / "out" / "insights.json").read_text())
    assert data["insights"]
    html = (tmp_path / "out" / "report.html").read_text()
    assert html.count("<svg") >= len(data["insights"])
    assert "insights" in capsys.readouterr().out


def test_cli_bad_csv_fails_naming_line_and_column(tmp_path, capsys):
    bad = tmp_path / "bad.csv"
    bad.write_text("timestamp,resource_id,metric,value\n2026-01-01T00:00:00Z,i-1,CPUUtilization,abc\n")
    with pytest.raises(SystemExit) as exit_info:
        main(["analyze", "--metrics", str(bad), "--out", str(tmp_path / "out")])
    assert "line 2" in str(exit_info.value.code) and "value" in str(exit_info.value.code)
    assert not (tmp_path / "out").exists()


def test_cli_analyze_source_cloudwatch_fetches_real_metrics_then_runs_the_pipeline(tmp_path, monkeypatch, capsys):
    """`cloudsage analyze --source cloudwatch`: the metrics come from a CloudWatch endpoint (here a separate moto
    server standing in for the user's account, reached through AWS_ENDPOINT_URL as boto3 would), then the
    pipeline runs on the embedded emulator."""
    import dataclasses
    import socket
    import time

    from moto.server import ThreadedMotoServer

    from cloudsage.adapters.aws import reset_clients
    from cloudsage.local.pipeline import load_metrics

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    account = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    account.start()
    try:
        for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
            monkeypatch.setenv(key, "testing")
        monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
        monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{port}")
        reset_clients()
        # Given a database whose last 8 days of hourly metrics are in "the account" (ending now, the window the CLI
        # asks for; one resource at hourly points: moto's own GetMetricData is quadratic in the stored points)
        recent = build_demo_fleet(days=8, period=3600, end=time.time() + 86400)
        source = source_from_demo(recent)
        source.specs = [s for s in source.specs if s.resource_id == "orders-db"]
        load_metrics(source, lambda _m: None)
        resources = tmp_path / "fleet.json"
        resources.write_text(json.dumps([dataclasses.asdict(s) | {"metrics": list(s.metrics)} for s in source.specs]))
        # When the CLI analyses them from CloudWatch
        args = ["analyze", "--source", "cloudwatch", "--resources", str(resources), "--days", "8", "--period", "3600"]
        code = main([*args, "--out", str(tmp_path), "--quiet"])
    finally:
        account.stop()
        reset_clients()
    # Then it went through the pipeline and its insights are written
    assert code == 0
    data = json.loads((tmp_path / "insights.json").read_text())
    assert "analysing 1 resources from the CloudWatch" in capsys.readouterr().err
    assert {i["resource_id"] for i in data["insights"]} == {"orders-db"}
    assert data["insights"]
