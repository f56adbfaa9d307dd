"""Alert policy and alert text (pure)."""

from __future__ import annotations

from typing import Any

from cloudsage.core.alerts import format_alert, plan_alerts
from cloudsage.core.insights import aggregate
from cloudsage.core.results import ModelOutput
from tests.utils import make_insight

NOW = 1_800_000_000.0


def _pending(iid: str, resource: str = "r", severity: str = "high", **kw: Any) -> dict[str, Any]:
    return {"id": iid, "resource_id": resource, "severity": severity, "status": "open", "alerted_rank": -1, **kw}


def test_plan_alerts_drops_what_needs_no_alert():
    # Given pending alerts below the floor, closed, and already alerted at their severity
    pending = [
        _pending("low", severity="low"),
        _pending("closed", status="closed"),
        _pending("done", alerted_rank=3),
        _pending("due"),
    ]
    # When
    plan = plan_alerts(pending, {}, now=NOW, min_severity="medium")
    # Then only one is sent
    assert [i["id"] for i in plan.send] == ["due"]
    assert sorted(i["id"] for i in plan.drop) == ["closed", "done", "low"]


def test_plan_alerts_cooldown_holds_same_severity_but_not_escalation():
    cooldowns = {"r": (NOW - 60, 3)}  # a high alert a minute ago
    held = plan_alerts([_pending("a")], cooldowns, now=NOW, cooldown_s=3600)
    escalated = plan_alerts([_pending("b", severity="critical")], cooldowns, now=NOW, cooldown_s=3600)
    expired = plan_alerts([_pending("c")], cooldowns, now=NOW + 3600, cooldown_s=3600)
    assert [i["id"] for i in held.hold] == ["a"] and held.send == ()
    assert [i["id"] for i in escalated.send] == ["b"]
    assert [i["id"] for i in expired.send] == ["c"]


def test_plan_alerts_many_at_once_is_a_digest_most_severe_first():
    pending = [_pending(f"i{n}", resource=f"r{n}", severity="critical" if n == 4 else "high") for n in range(6)]
    plan = plan_alerts(pending, {}, now=NOW, digest_threshold=5)
    assert plan.digest and plan.send[0]["id"] == "i4"


def test_format_alert_composite_lists_members_and_link():
    # Given a capacity-risk composite
    lat = make_insight(metric="TargetResponseTime", severity="critical", evidence={"observed": 2.5, "baseline": 0.2})
    cpu = make_insight(metric="CPUUtilization")
    comp = aggregate([ModelOutput("anomaly", "web-api-asg", (lat, cpu))])[0].insight.to_dict()
    # When
    subject, body = format_alert({**comp, "change": "escalated"}, console_hint="https://api/insights/x")
    # Then a person sees what, where, since when, each member's figures, the advice and the link
    assert subject.startswith("[CloudSage CRITICAL] Escalated: Capacity risk on web-api-asg")
    for needle in ("Where:     web-api-asg", "Since:", "Related findings (2):", "observed 2.5", "Recommendation: Add"):
        assert needle in body
    assert body.rstrip().endswith("More: https://api/insights/x")
    assert "members:" not in body  # members are listed readably, not dumped
