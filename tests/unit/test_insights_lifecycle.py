"""Lifecycle transitions: open -> ongoing -> resolved -> (reopened), closed by a user."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cloudsage.core.errors import InputValidationError
from cloudsage.core.insights import LifecyclePolicy, LifecycleState, on_missed, on_seen, on_user_action
from cloudsage.core.results import severity_rank

NOW = 1_800_000_000.0
POLICY = LifecyclePolicy(resolve_after_runs=2, resolved_ttl_days=10, closed_ttl_days=20)


def test_on_seen_first_time_is_new_open_and_due_for_alert():
    t = on_seen(None, "high", "run-1", NOW)
    assert (t.change, t.state.status, t.alert_due, t.write) == ("new", "open", True, True)


def test_on_seen_same_run_redelivered_writes_nothing():
    first = on_seen(None, "high", "run-1", NOW).state
    t = on_seen(first, "high", "run-1", NOW + 5)
    assert t.write is False and t.state == first and not t.alert_due


def test_on_seen_later_run_is_ongoing_without_new_alert():
    # Given an insight alerted at high
    state = LifecycleState("open", "high", alerted_rank=3, last_run_id="run-1")
    # When a later run sees it again at the same severity
    t = on_seen(state, "high", "run-2", NOW)
    # Then it is ongoing, counted, and no alert is due
    assert (t.change, t.state.status, t.state.seen_count, t.alert_due) == ("ongoing", "ongoing", 2, False)


def test_on_seen_escalation_is_due_for_alert():
    state = LifecycleState("ongoing", "medium", alerted_rank=2, last_run_id="run-1")
    t = on_seen(state, "critical", "run-2", NOW)
    assert (t.change, t.state.severity, t.alert_due) == ("escalated", "critical", True)


def test_on_missed_resolves_after_configured_runs_with_ttl():
    # Given an ongoing insight
    state = LifecycleState("ongoing", "high", last_run_id="run-1")
    # When two later runs do not find it
    t1 = on_missed(state, "run-2", NOW, POLICY)
    t1_again = on_missed(t1.state, "run-2", NOW, POLICY)  # the same run re-delivered
    t2 = on_missed(t1.state, "run-3", NOW + 60, POLICY)
    # Then it resolves on the second distinct miss and expires ten days later
    assert (t1.change, t1.state.status, t1.state.missed_runs) == ("missed", "ongoing", 1)
    assert t1_again.write is False
    assert (t2.change, t2.state.status) == ("resolved", "resolved")
    assert t2.state.expires_at == pytest.approx(NOW + 60 + 10 * 86_400)


def test_on_seen_after_resolved_reopens_and_alerts_again():
    state = LifecycleState("resolved", "high", alerted_rank=3, last_run_id="run-1", expires_at=NOW)
    t = on_seen(state, "high", "run-9", NOW)
    assert (t.change, t.state.status, t.state.expires_at, t.state.alerted_rank, t.alert_due) == (
        "reopened",
        "open",
        None,
        -1,
        True,
    )


def test_on_seen_missed_counter_resets():
    state = LifecycleState("ongoing", "high", missed_runs=1, last_run_id="run-1", last_missed_run="run-2")
    assert on_seen(state, "high", "run-3", NOW).state.missed_runs == 0


def test_user_resolve_closes_and_later_sighting_stays_closed():
    # Given a user resolves an open insight
    state = on_seen(None, "high", "run-1", NOW).state
    closed = on_user_action(state, "resolve", NOW, POLICY)
    # When the condition is seen again at the same severity
    again = on_seen(closed.state, "high", "run-2", NOW + 60)
    # Then it stays closed and no alert is due; an escalation reopens it
    assert closed.state.status == "closed" and closed.state.expires_at == pytest.approx(NOW + 20 * 86_400)
    assert (again.change, again.state.status, again.alert_due) == ("closed", "closed", False)
    assert on_seen(closed.state, "critical", "run-3", NOW).change == "reopened"


def test_user_acknowledge_keeps_status():
    state = LifecycleState("ongoing", "high")
    t = on_user_action(state, "acknowledge", NOW, POLICY)
    assert t.state.acknowledged and t.state.status == "ongoing"


def test_user_action_unknown_names_field():
    with pytest.raises(InputValidationError) as err:
        on_user_action(LifecycleState("open", "low"), "delete", NOW, POLICY)
    assert err.value.field == "action"


def test_missed_on_closed_insight_changes_nothing():
    assert on_missed(LifecycleState("closed", "low"), "run-2", NOW, POLICY).write is False


@pytest.mark.parametrize(
    ("field", "kwargs"),
    [("resolve_after_runs", {"resolve_after_runs": 0}), ("resolved_ttl_days", {"resolved_ttl_days": 0})],
)
def test_lifecycle_policy_bad_value_names_field(field, kwargs):
    with pytest.raises(InputValidationError) as err:
        LifecyclePolicy(**kwargs)
    assert err.value.field == field


@settings(max_examples=80, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.sampled_from(["low", "medium", "high", "critical"])), max_size=20))
def test_lifecycle_alerts_at_most_once_per_severity_between_resolutions(events):
    # Invariant: replaying any sequence of runs, an alert is due at most once per (episode, severity rank),
    # where an episode ends when the insight resolves.
    state, alerted = None, set()
    episode = 0
    for n, (seen, sev) in enumerate(events):
        run = f"run-{n}"
        if state is None and not seen:
            continue
        t = on_seen(state, sev, run, NOW + n) if seen else on_missed(state, run, NOW + n, POLICY)
        if t.change == "resolved":
            episode += 1
        if t.alert_due:
            key = (episode, t.state.severity)
            assert key not in alerted
            alerted.add(key)
            state = replace(t.state, alerted_rank=severity_rank(t.state.severity))  # SNS accepted the alert
        else:
            state = t.state
        assert state.status in ("open", "ongoing", "resolved")
