"""Alert delivery against moto: pending flag, cooldown per resource, digest, injected SNS failures."""

from __future__ import annotations

import json
from typing import Any

import pytest

from cloudsage.adapters.alerts import AlertPublisher
from cloudsage.adapters.insights_store import InsightsTable
from cloudsage.core.results import ModelOutput
from cloudsage.handlers.aggregate import record_run
from cloudsage.handlers.publish import AlertSettings, publish_pending
from tests.utils import make_insight

NOW = 1_800_000_000.0


class FakeSNS:
    """An SNS client that fails the calls whose numbers are in ``fail_on`` (1-based) and records the rest."""

    def __init__(self, fail_on: set[int] | None = None) -> None:
        self.fail_on = fail_on or set()
        self.calls = 0
        self.sent: list[dict[str, Any]] = []

    def publish(self, **kw: Any) -> dict[str, str]:
        self.calls += 1
        if self.calls in self.fail_on:
            raise ConnectionError("SNS unavailable")
        self.sent.append(kw)
        return {"MessageId": f"m-{self.calls}"}


def _settings(**kw: Any) -> AlertSettings:
    base = {
        "BUCKET_NAME": "snapshots",
        "TABLE_NAME": "insights",
        "TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:alerts",
        "MIN_ALERT_SEVERITY": "medium",
        "ALERT_COOLDOWN_MINUTES": 60,
        "DIGEST_THRESHOLD": 5,
    }
    return AlertSettings.model_validate({**base, **kw})


def _run(table: InsightsTable, run_id: str, *insights, now: float = NOW) -> dict[str, Any]:
    return record_run(table, run_id, [ModelOutput("anomaly", "web-api-asg", tuple(insights))], now=now)


def test_publish_same_run_twice_sends_one_alert(stack_env):
    # Given a high insight recorded twice for the same run
    table, sns = InsightsTable("insights"), FakeSNS()
    publisher = AlertPublisher("arn:aws:sns:us-east-1:123456789012:alerts", sns)
    _run(table, "run-1", make_insight())
    first = publish_pending(table, publisher, _settings(), now=NOW)
    _run(table, "run-1", make_insight())
    _run(table, "run-2", make_insight())  # and an unchanged ongoing sighting in a later run
    second = publish_pending(table, publisher, _settings(), now=NOW + 7200)
    # Then exactly one alert went out
    assert len(first["sent"]) == 1 and second["sent"] == [] and len(sns.sent) == 1


def test_publish_below_floor_is_dropped_and_flag_cleared(stack_env):
    table = InsightsTable("insights")
    _run(table, "run-1", make_insight(severity="low"))
    out = publish_pending(table, AlertPublisher("arn:aws:sns:us-east-1:1:a", FakeSNS()), _settings(), now=NOW)
    assert out["dropped"] == [make_insight().id] and table.pending_alerts() == []


def test_cooldown_holds_new_alert_on_same_resource_until_it_expires(stack_env):
    # Given an alert on web-api-asg
    table, sns = InsightsTable("insights"), FakeSNS()
    publisher = AlertPublisher("arn:aws:sns:us-east-1:1:a", sns)
    _run(table, "run-1", make_insight(metric="A"))
    publish_pending(table, publisher, _settings(), now=NOW)
    # When another insight of the same severity appears on it 10 minutes later
    _run(table, "run-2", make_insight(metric="A"), make_insight(metric="B", window_start=1_600_000_000.0))
    held = publish_pending(table, publisher, _settings(), now=NOW + 600)
    # Then it is held (still pending), and sent once the hour is over
    later = publish_pending(table, publisher, _settings(), now=NOW + 3700)
    assert held["sent"] == [] and len(held["held"]) == 1
    assert later["sent"] == held["held"] and len(sns.sent) == 2


def test_cooldown_does_not_hold_an_escalation(stack_env):
    table, sns = InsightsTable("insights"), FakeSNS()
    publisher = AlertPublisher("arn:aws:sns:us-east-1:1:a", sns)
    _run(table, "run-1", make_insight(severity="medium"))
    publish_pending(table, publisher, _settings(), now=NOW)
    _run(table, "run-2", make_insight(severity="critical"))
    out = publish_pending(table, publisher, _settings(), now=NOW + 60)
    assert len(out["sent"]) == 1 and len(sns.sent) == 2
    assert json.loads(sns.sent[1]["Message"])["email"].startswith(make_insight().title)
    assert sns.sent[1]["MessageAttributes"]["severity"]["StringValue"] == "critical"


@pytest.mark.parametrize("n_insights", [2, 7])  # single alerts, then a digest
def test_injected_sns_failures_are_retried_and_never_lost(stack_env, n_insights):
    # Given n due alerts on different resources and an SNS that fails the first call
    table, sns = InsightsTable("insights"), FakeSNS(fail_on={1})
    publisher = AlertPublisher("arn:aws:sns:us-east-1:1:a", sns)
    outs = [ModelOutput("anomaly", f"r{i}", (make_insight(resource_id=f"r{i}"),)) for i in range(n_insights)]
    record_run(table, "run-1", outs, now=NOW)
    # When publishing twice
    first = publish_pending(table, publisher, _settings(), now=NOW)
    second = publish_pending(table, publisher, _settings(), now=NOW + 1)
    # Then what failed stayed pending and went out on the retry; nothing was sent twice
    delivered = first["sent"] + second["sent"]
    assert first["failed"] and sorted(delivered) == sorted(i.insights[0].id for i in outs)
    assert len(delivered) == len(set(delivered))
    assert table.pending_alerts() == []
    assert first["digest"] is False and second["digest"] is (n_insights > 5)


def test_composite_alert_email_lists_member_evidence(stack_env):
    # Given a capacity-risk composite
    table, sns = InsightsTable("insights"), FakeSNS()
    lat = make_insight(metric="TargetResponseTime", severity="critical", evidence={"observed": 2.5, "baseline": 0.2})
    cpu = make_insight(metric="CPUUtilization", severity="high")
    _run(table, "run-1", lat, cpu)
    # When it is published with a link to the API
    publish_pending(table, AlertPublisher("arn:aws:sns:us-east-1:1:a", sns, insights_url="http://api"), _settings())
    # Then the email names the members and their figures, and machines get JSON
    message = json.loads(sns.sent[0]["Message"])
    assert "Related findings (2):" in message["email"] and "observed 2.5" in message["email"]
    assert "More: http://api/insights/" in message["email"]
    payload = json.loads(message["default"])
    assert payload["insight"]["evidence"]["composite"] == "capacity_risk"
    assert sns.sent[0]["MessageAttributes"]["model"]["StringValue"] == "composite"


def test_concurrent_publishers_never_send_the_same_alert(stack_env):
    # Given a due alert already claimed by another batch's publisher a minute ago
    table, sns = InsightsTable("insights"), FakeSNS()
    _run(table, "run-1", make_insight())
    assert table.claim_alert(make_insight().id, "other-publisher", now=NOW - 60)
    # When this publisher runs
    out = publish_pending(table, AlertPublisher("arn:aws:sns:us-east-1:1:a", sns), _settings(), now=NOW)
    # Then it leaves it to the other one; once that claim is stale (the other died), it takes over
    assert out["sent"] == [] and out["claimed_elsewhere"] == [make_insight().id] and sns.sent == []
    later = publish_pending(table, AlertPublisher("arn:aws:sns:us-east-1:1:a", sns), _settings(), now=NOW + 600)
    assert later["sent"] == [make_insight().id] and len(sns.sent) == 1
    assert table.pending_alerts() == []
