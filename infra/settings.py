"""Typed infrastructure settings and every resource/env-var name the stacks use.

The environment variables set on each function are exactly the fields of the matching handler settings model
in ``lambdas/cloudsage/handlers/settings.py`` (a test checks this).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cloudsage.core.results import SEVERITIES

REPO_ROOT = Path(__file__).resolve().parent.parent
LAMBDA_CODE_DIR = REPO_ROOT / "lambdas"
SCIENCE_LAYER_BUILD_DIR = REPO_ROOT / "layers" / "science" / "build"
SCIENCE_LAYER_STUB_DIR = REPO_ROOT / "layers" / "science" / "stub"

SERVICE_NAME = "cloudsage"
STACK_NAME = "CloudSage"

# Logical ids the local run and the tests look up in the synthesized template.
STATE_MACHINE_ID = "AnalysisStateMachine"


@dataclass(frozen=True, slots=True)
class InfraSettings:
    """What can be configured through CDK context (``cdk.json`` or ``-c key=value``).

    Parameters
    ----------
    layer_dir : str
        Folder holding the science layer (``python/`` inside). Defaults to the built layer when present,
        else a small stub so synth stays fast in tests.
    min_alert_severity : str
        Lowest severity that is published to SNS.
    lookback_days : int
        History collected per analysis.
    map_max_concurrency : int
        Resources analysed at once.
    snapshot_retention_days : int
        Lifecycle expiry of metric snapshots in S3.
    schedule : str
        EventBridge Scheduler expression of the scheduled analysis (``rate(...)`` or ``cron(...)``).
    alert_emails, ops_emails : tuple of str
        Email subscriptions of the insight-alert topic and of the operations (alarm) topic.
    discover_tags : tuple
        Tag filter the scheduled analysis discovers resources with (default: any resource tagged ``cloudsage``).
    log_retention_days : int
        Retention of every log group.
    architecture : str
        ``arm64`` (default: Graviton, about 20 % cheaper per GB-second) or ``x86_64``.
    resolve_after_runs : int
        Runs without the condition after which an insight is resolved.
    alert_cooldown_minutes : int
        Per-resource alert cooldown (a more severe alert breaks through).
    price_source : str
        ``live`` (default: price-aware models refresh list prices from the Price List Query API at most weekly and
        share them in the snapshot bucket; the packaged snapshot when the API cannot be used) or ``snapshot``
        (the packaged, dated snapshot only; no ``pricing:GetProducts`` permission is granted).
    """

    layer_dir: str = ""
    min_alert_severity: str = "medium"
    lookback_days: int = 14
    map_max_concurrency: int = 10
    snapshot_retention_days: int = 30
    schedule: str = "rate(1 hour)"
    alert_emails: tuple[str, ...] = ()
    ops_emails: tuple[str, ...] = ()
    discover_tags: tuple[tuple[str, tuple[str, ...]], ...] = (("cloudsage", ()),)
    log_retention_days: int = 30
    resolve_after_runs: int = 3
    architecture: str = "arm64"
    alert_cooldown_minutes: int = 60
    price_source: str = "live"

    @classmethod
    def from_context(cls, get: Any) -> InfraSettings:
        """Build from a ``node.try_get_context``-like getter; validates each value."""
        default_layer = SCIENCE_LAYER_BUILD_DIR if (SCIENCE_LAYER_BUILD_DIR / "python").is_dir() else None
        layer_dir = get("science_layer_dir") or (str(default_layer) if default_layer else str(SCIENCE_LAYER_STUB_DIR))
        d = cls()
        settings = cls(
            layer_dir=str(layer_dir),
            min_alert_severity=str(get("min_alert_severity") or d.min_alert_severity),
            lookback_days=int(get("lookback_days") or d.lookback_days),
            map_max_concurrency=int(get("map_max_concurrency") or d.map_max_concurrency),
            snapshot_retention_days=int(get("snapshot_retention_days") or d.snapshot_retention_days),
            schedule=str(get("schedule") or d.schedule),
            alert_emails=tuple(_as_list(get("alert_emails"))),
            ops_emails=tuple(_as_list(get("ops_emails"))),
            discover_tags=_tags(get("discover_tags")) or d.discover_tags,
            log_retention_days=int(get("log_retention_days") or d.log_retention_days),
            resolve_after_runs=int(get("resolve_after_runs") or d.resolve_after_runs),
            architecture=str(get("architecture") or d.architecture),
            alert_cooldown_minutes=int(get("alert_cooldown_minutes") or d.alert_cooldown_minutes),
            price_source=str(get("price_source") or d.price_source),
        )
        if settings.price_source not in ("live", "snapshot"):
            raise ValueError("context price_source must be live or snapshot")
        if settings.architecture not in ("arm64", "x86_64"):
            raise ValueError("context architecture must be arm64 or x86_64 (build the layer with --arch to match)")
        if not settings.schedule.startswith(("rate(", "cron(", "at(")):
            raise ValueError("context schedule must be rate(...), cron(...) or at(...)")
        for email in (*settings.alert_emails, *settings.ops_emails):
            if "@" not in email:
                raise ValueError(f"context alert_emails/ops_emails: not an email address: {email!r}")
        if settings.min_alert_severity not in SEVERITIES:
            raise ValueError(f"context min_alert_severity must be one of {SEVERITIES}")
        if not 1 <= settings.lookback_days <= 455:
            raise ValueError("context lookback_days must be in [1, 455] (CloudWatch keeps 5-minute data 63 days)")
        return settings


def _as_list(value: Any) -> list[str]:
    """Context values arrive as JSON lists (cdk.json) or comma-separated strings (``-c key=a,b``)."""
    if not value:
        return []
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    return [str(v) for v in value]


def _tags(value: Any) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """``{"team": ["a"], "cloudsage": []}`` or ``"team=a,cloudsage"`` to a hashable tag filter."""
    if not value:
        return ()
    if isinstance(value, str):
        pairs = [p.split("=", 1) for p in value.split(",") if p.strip()]
        return tuple((p[0].strip(), (p[1].strip(),) if len(p) == 2 else ()) for p in pairs)
    return tuple((str(k), tuple(str(x) for x in v)) for k, v in dict(value).items())
