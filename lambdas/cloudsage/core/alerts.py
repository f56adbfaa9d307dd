"""Alert text and alert policy (pure).

:func:`format_alert` writes the subject and body a person reads in an email client (what, where, since when,
the evidence figures, the recommendation, where to see more), :func:`machine_payload` the JSON machines read,
:func:`message_attributes` the SNS attributes subscribers filter on. :func:`plan_alerts` decides what of the
pending alerts goes out now, what waits for a resource's cooldown and what needs no alert at all.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cloudsage.core.insights import ACTIVE
from cloudsage.core.results import severity_rank

SUBJECT_MAX = 100  # SNS limit for email subjects
MEMBERS_LISTED = 10


@dataclass(frozen=True, slots=True)
class AlertPlan:
    """What to do with the pending alerts: ``send`` now (as one ``digest`` if many), ``hold`` for a cooldown,
    ``drop`` (no alert needed)."""

    send: tuple[dict[str, Any], ...]
    hold: tuple[dict[str, Any], ...]
    drop: tuple[dict[str, Any], ...]
    digest: bool


def plan_alerts(
    pending: Sequence[Mapping[str, Any]],
    cooldowns: Mapping[str, tuple[float, int] | None],
    *,
    now: float,
    min_severity: str = "medium",
    cooldown_s: float = 3600.0,
    digest_threshold: int = 5,
) -> AlertPlan:
    """Decide which pending alerts go out.

    Parameters
    ----------
    pending : sequence of mapping
        Stored insights flagged as pending (``id``, ``resource_id``, ``severity``, ``status``, ``alerted_rank``).
    cooldowns : mapping
        Resource id -> ``(time of its last alert, highest rank alerted then)`` or None.
    now, min_severity, cooldown_s, digest_threshold
        Clock, floor, per-resource cooldown and the count above which one digest replaces single alerts.

    Returns
    -------
    AlertPlan
        An insight below ``min_severity``, no longer active or already alerted at its severity is dropped; a
        resource alerted less than ``cooldown_s`` ago is held unless something is now more severe than then.

    Examples
    --------
    >>> item = {"id": "a", "resource_id": "r", "severity": "high", "status": "open", "alerted_rank": -1}
    >>> plan_alerts([item], {"r": None}, now=0.0).send[0]["id"]
    'a'
    """
    floor = severity_rank(min_severity)
    drop: list[dict[str, Any]] = []
    due: dict[str, list[dict[str, Any]]] = {}
    for item in pending:
        rank = severity_rank(str(item["severity"]))
        if item.get("status") not in ACTIVE or rank < floor or int(item.get("alerted_rank", -1)) >= rank:
            drop.append(dict(item))
        else:
            due.setdefault(str(item["resource_id"]), []).append(dict(item))
    send: list[dict[str, Any]] = []
    hold: list[dict[str, Any]] = []
    for resource_id, items in sorted(due.items()):
        last = cooldowns.get(resource_id)
        worst = max(severity_rank(str(i["severity"])) for i in items)
        if last is not None and now - last[0] < cooldown_s and worst <= last[1]:
            hold.extend(items)
        else:
            send.extend(items)
    order = sorted(send, key=lambda i: (-severity_rank(str(i["severity"])), -float(i.get("priority", 0)), str(i["id"])))
    return AlertPlan(tuple(order), tuple(hold), tuple(drop), digest=len(order) > digest_threshold)


def format_alert(insight: Mapping[str, Any], *, console_hint: str = "") -> tuple[str, str]:
    """Subject and plain-text body for one insight (an ``Insight.to_dict()``-like or stored mapping).

    A composite insight lists its member findings, each with its own key figures.
    """
    sev = str(insight["severity"]).upper()
    change = {"escalated": "Escalated: ", "reopened": "Back again: "}.get(str(insight.get("change", "")), "")
    subject = f"[CloudSage {sev}] {change}{insight['title']}"
    if len(subject) > SUBJECT_MAX:
        subject = subject[: SUBJECT_MAX - 1] + "…"
    evidence = dict(insight.get("evidence") or {})
    members = evidence.pop("members", None)
    for key in ("signals", "models", "metrics", "composite", "member_count"):
        if members:
            evidence.pop(key, None)
    models = insight.get("models") or [insight["model"]]
    lines = [
        f"{insight['title']}",
        "",
        f"What:      {insight.get('summary', '')}",
        f"Where:     {insight['resource_id']} ({insight.get('metric') or 'several metrics'})",
        f"Since:     {insight.get('window_start_iso', '')} (last seen {insight.get('window_end_iso', '')})",
        f"Severity:  {insight['severity']} (confidence {float(insight.get('confidence', 0)):.0%})",
        f"Model:     {', '.join(map(str, models))} ({insight['kind']})",
        "",
        "Evidence:",
        *[f"  - {k}: {_fmt(v)}" for k, v in sorted(evidence.items())],
    ]
    if members:
        lines += ["", f"Related findings ({len(members)}):"]
        for m in members[:MEMBERS_LISTED]:
            figs = ", ".join(f"{k} {_fmt(v)}" for k, v in sorted((m.get("evidence") or {}).items())[:4])
            lines.append(f"  - [{m.get('severity')}] {m.get('title')} ({m.get('model')}){': ' + figs if figs else ''}")
        if len(members) > MEMBERS_LISTED:
            lines.append(f"  ... and {len(members) - MEMBERS_LISTED} more")
    lines += [
        "",
        f"Recommendation: {insight.get('recommendation', '')}",
        "",
        f"Insight id: {insight['id']}",
        f"More: {console_hint or 'GET /insights/' + str(insight['id']) + ' on the CloudSage API'}",
    ]
    return subject, "\n".join(lines)


DIGEST_MAX_LISTED = 100
COMPACT_FIELDS = ("id", "severity", "resource_id", "model", "kind", "metric", "title", "window_start_iso")


def compact(insight: Mapping[str, Any]) -> dict[str, Any]:
    """The fields a digest carries per insight (keeps messages far below SNS's 256 KB)."""
    return {k: insight.get(k) for k in COMPACT_FIELDS}


def format_digest(insights: Sequence[Mapping[str, Any]]) -> tuple[str, str]:
    """One message summarising many insights (sent instead of a burst of single alerts), most severe first."""
    ordered = sorted(insights, key=lambda i: -severity_rank(i["severity"]))
    worst = ordered[0]
    subject = f"[CloudSage {worst['severity'].upper()}] {len(insights)} new insights"
    lines = [f"{len(insights)} new insights in this analysis run:", ""]
    for i in ordered[:DIGEST_MAX_LISTED]:
        lines.append(f"- [{i['severity']}] {i['resource_id']}: {i['title']} (id {i['id']})")
    if len(ordered) > DIGEST_MAX_LISTED:
        lines.append(f"... and {len(ordered) - DIGEST_MAX_LISTED} more")
    return subject[:SUBJECT_MAX], "\n".join(lines)


def message_attributes(insight: Mapping[str, Any]) -> dict[str, dict[str, str]]:
    """SNS message attributes so subscribers can filter (e.g. email only for ``critical``).

    ``severity``, ``model`` (``composite`` for a composite insight), ``resource`` and ``kind``.
    """
    return {
        key: {"DataType": "String", "StringValue": str(insight[field])}
        for key, field in (("severity", "severity"), ("model", "model"), ("resource", "resource_id"), ("kind", "kind"))
    }


def machine_payload(insight: Mapping[str, Any]) -> str:
    """The structured JSON body for machine subscribers (SQS, Lambda, HTTP)."""
    return json.dumps({"type": "cloudsage.insight", "insight": dict(insight)}, sort_keys=True, default=str)


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, (list, tuple)):
        return ", ".join(_fmt(x) for x in v) or "-"
    return str(v)
