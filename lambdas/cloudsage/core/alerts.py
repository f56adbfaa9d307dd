"""Alert text: a subject and a body a person reads in an email client, plus the JSON machines read (pure)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

SUBJECT_MAX = 100  # SNS limit for email subjects


def format_alert(insight: dict[str, Any], *, console_hint: str = "") -> tuple[str, str]:
    """Subject and plain-text body for one insight (an ``Insight.to_dict()``-like mapping)."""
    sev = str(insight["severity"]).upper()
    subject = f"[CloudSage {sev}] {insight['title']}"
    if len(subject) > SUBJECT_MAX:
        subject = subject[: SUBJECT_MAX - 1] + "…"
    evidence = insight.get("evidence") or {}
    lines = [
        f"{insight['title']}",
        "",
        f"What:      {insight.get('summary', '')}",
        f"Where:     {insight['resource_id']} ({insight.get('metric') or 'several metrics'})",
        f"Since:     {insight.get('window_start_iso', '')} (last seen {insight.get('window_end_iso', '')})",
        f"Severity:  {insight['severity']} (confidence {float(insight.get('confidence', 0)):.0%})",
        f"Model:     {insight['model']} ({insight['kind']})",
        "",
        "Evidence:",
        *[f"  - {k}: {_fmt(v)}" for k, v in sorted(evidence.items())],
        "",
        f"Recommendation: {insight.get('recommendation', '')}",
        "",
        f"Insight id: {insight['id']}",
    ]
    if console_hint:
        lines.append(f"More: {console_hint}")
    return subject, "\n".join(lines)


DIGEST_MAX_LISTED = 100
COMPACT_FIELDS = ("id", "severity", "resource_id", "model", "kind", "metric", "title", "window_start_iso")


def compact(insight: dict[str, Any]) -> dict[str, Any]:
    """The fields a digest carries per insight (keeps messages far below SNS's 256 KB)."""
    return {k: insight.get(k) for k in COMPACT_FIELDS}


def format_digest(insights: Sequence[dict[str, Any]]) -> tuple[str, str]:
    """One message summarising many insights (sent instead of a burst of single alerts), most severe first."""
    ordered = sorted(insights, key=lambda i: -["info", "low", "medium", "high", "critical"].index(i["severity"]))
    worst = ordered[0]
    subject = f"[CloudSage {worst['severity'].upper()}] {len(insights)} new insights"
    lines = [f"{len(insights)} new insights in this analysis run:", ""]
    for i in ordered[:DIGEST_MAX_LISTED]:
        lines.append(f"- [{i['severity']}] {i['resource_id']}: {i['title']} (id {i['id']})")
    if len(ordered) > DIGEST_MAX_LISTED:
        lines.append(f"... and {len(ordered) - DIGEST_MAX_LISTED} more")
    return subject[:SUBJECT_MAX], "\n".join(lines)


def message_attributes(insight: dict[str, Any]) -> dict[str, dict[str, str]]:
    """SNS message attributes so subscribers can filter (e.g. email only for ``critical``)."""
    return {
        key: {"DataType": "String", "StringValue": str(insight[field])}
        for key, field in (("severity", "severity"), ("model", "model"), ("resource", "resource_id"), ("kind", "kind"))
    }


def machine_payload(insight: dict[str, Any]) -> str:
    return json.dumps({"type": "cloudsage.insight", "insight": insight}, sort_keys=True, default=str)


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, (list, tuple)):
        return ", ".join(_fmt(x) for x in v) or "-"
    return str(v)
