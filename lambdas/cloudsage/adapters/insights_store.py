"""InsightsTable: the DynamoDB store of insights (boto3 adapter).

Every write is conditional. A new insight is put with ``attribute_not_exists(pk)``; an existing one is
replaced only if its ``version`` is still the one read (optimistic concurrency, retried on conflict), so
re-running the same run, or two writers at once, never duplicate or lose an update. The lifecycle decisions
themselves are the pure functions of :mod:`cloudsage.core.insights`; this module maps them to items.

Alert bookkeeping: ``pending_alert`` (a sparse index) marks insights whose alert SNS has not accepted yet,
``alerted_rank`` the highest severity alerted; both change only after SNS returned a message id.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from cloudsage.adapters.aws import client as aws_client
from cloudsage.core.errors import CloudSageError, InputValidationError
from cloudsage.core.insights import (
    ACTIVE,
    LifecyclePolicy,
    LifecycleState,
    RankedInsight,
    Transition,
    on_missed,
    on_seen,
    on_user_action,
)
from cloudsage.core.results import SEVERITIES, Insight, iso, severity_rank
from cloudsage.core.store_schema import (
    COOLDOWN_SK,
    ENTITY,
    INSIGHT_PREFIX,
    META,
    PARTITION_KEY,
    PENDING,
    RESOURCE_PREFIX,
    SORT_KEY,
    TTL_ATTRIBUTE,
    index_keys,
)

MAX_ATTEMPTS = 5
MAX_NOTES = 50
_INTERNAL = ("pk", "sk", "entity", "sev_time", "pending_alert", "version", "detected_at_epoch", "doc")
# Attributes kept at the top level of an item: keys, index keys, filter and condition attributes, the TTL. The
# rest of an insight travels in one JSON ``doc`` attribute: a list page then parses ~20 attributes per item
# instead of ~50, and nothing queries inside the doc.
TOP_LEVEL = frozenset(
    {
        PARTITION_KEY,
        SORT_KEY,
        "entity",
        "id",
        "resource_id",
        "detected_at",
        "status",
        "sev_time",
        "run_id",
        "models",
        "severity",
        "pending_alert",
        "pending_rank",
        "alerted_rank",
        "alerted_at",
        "alert_message_id",
        "alert_claim",
        "alert_claim_at",
        "version",
        TTL_ATTRIBUTE,
    }
)
_LIFECYCLE_FIELDS = (
    "status",
    "severity",
    "seen_count",
    "missed_runs",
    "last_run_id",
    "last_missed_run",
    "alerted_rank",
    "acknowledged",
    "resolved_at",
    "expires_at",
)


class ConcurrentUpdateError(CloudSageError):
    """An item kept changing under us for ``MAX_ATTEMPTS`` conditional writes in a row."""


def _pk(insight_id: str) -> str:
    return f"{INSIGHT_PREFIX}{insight_id}"


def to_dynamo(value: Any) -> Any:
    """Plain JSON value to the DynamoDB resource-style value (floats become ``Decimal(str(x))``)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, float):
        return Decimal(str(value))
    if isinstance(value, dict):
        return {k: to_dynamo(v) for k, v in value.items() if v is not None}
    if isinstance(value, (list, tuple)):
        return [to_dynamo(v) for v in value]
    return value


def from_dynamo(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: from_dynamo(v) for k, v in value.items()}
    if isinstance(value, (list, set)):
        return [from_dynamo(v) for v in value]
    return value


def _is_conflict(exc: Exception) -> bool:
    response = getattr(exc, "response", None) or {}
    return bool(response.get("Error", {}).get("Code") == "ConditionalCheckFailedException")


def normalize_since(since: Any) -> str:
    """An ISO-8601 or epoch ``since`` to the stored ``YYYY-MM-DDTHH:MM:SSZ`` form (raises naming ``since``)."""
    from datetime import UTC, datetime

    if isinstance(since, datetime):
        dt = since if since.tzinfo else since.replace(tzinfo=UTC)
        return iso(dt.timestamp())
    if isinstance(since, (int, float)):
        return iso(float(since))
    try:
        return iso(datetime.fromisoformat(str(since).replace("Z", "+00:00")).replace(tzinfo=UTC).timestamp())
    except (ValueError, OverflowError, OSError):
        raise InputValidationError("must be an ISO-8601 date-time", field="since") from None


@dataclass(frozen=True, slots=True)
class InsightFilter:
    """What ``GET /insights`` asks for; every field optional."""

    resource: str | None = None
    model: str | None = None
    severity: str | None = None
    status: str | None = None
    since: str | None = None  # normalised ISO-8601 (see :func:`normalize_since`)


@dataclass(frozen=True, slots=True)
class Page:
    """One page of insights and the opaque cursor of the next (None on the last page)."""

    items: list[dict[str, Any]]
    cursor: str | None


class InsightsTable:
    """Insight records in one DynamoDB table.

    Parameters
    ----------
    table_name : str
    dynamodb_resource : optional
        Injected ``boto3.resource("dynamodb")``; created lazily otherwise.
    policy : LifecyclePolicy, optional
        When insights resolve and expire.

    Examples
    --------
    >>> table = InsightsTable("insights")  # doctest: +SKIP
    >>> table.record(ranked_insight, "run-1").change  # doctest: +SKIP
    'new'
    """

    def __init__(
        self, table_name: str, dynamodb_resource: Any | None = None, policy: LifecyclePolicy | None = None
    ) -> None:
        self.table_name = table_name
        self.policy = policy or LifecyclePolicy()
        self._resource = dynamodb_resource
        self._table: Any = None

    @property
    def table(self) -> Any:
        if self._table is None:
            if self._resource is None:
                import boto3

                low = aws_client("dynamodb")
                self._resource = boto3.resource(
                    "dynamodb", region_name=low.meta.region_name, endpoint_url=low.meta.endpoint_url
                )
            self._table = self._resource.Table(self.table_name)
        return self._table

    # ------------------------------------------------------------------------------------------ writes
    def record(self, ranked: RankedInsight, run_id: str, *, now: float | None = None) -> Transition:
        """Store one ranked insight seen in ``run_id``; returns the lifecycle transition applied."""
        now = time.time() if now is None else now
        insight = ranked.insight
        for _ in range(MAX_ATTEMPTS):
            old = self._raw(insight.id)
            flat = _unpack(old) if old else None
            t = on_seen(_state(flat) if flat else None, insight.severity, run_id, now)
            if not t.write:
                return t
            item = build_item(ranked, t, run_id, now, flat)
            if self._put(item, old):
                return t
        raise ConcurrentUpdateError(f"insight {insight.id} changed {MAX_ATTEMPTS} times while being recorded")

    def upsert(self, insight: Insight, run_id: str, *, priority: float, now: float | None = None) -> str:
        """Store ``insight`` for ``run_id``; returns the change (``new``, ``ongoing``, ``escalated``, ...)."""
        return self.record(RankedInsight(insight, priority, 1), run_id, now=now).change

    def sweep(
        self,
        run_id: str,
        analysed: Mapping[str, Iterable[str]],
        seen_ids: Iterable[str],
        *,
        absorbed: Mapping[str, str] | None = None,
        now: float | None = None,
    ) -> list[dict[str, Any]]:
        """Apply "not seen in this run" to the active insights of every analysed resource.

        Parameters
        ----------
        analysed : mapping
            Resource id -> the models that ran successfully on it in this run; an insight counts as missed
            only when at least one of its models ran.
        seen_ids : iterable of str
            Ids recorded in this run.
        absorbed : mapping, optional
            Finding id -> id of the composite that now groups it: such findings resolve at once.

        Returns
        -------
        list of dict
            ``{"id", "resource_id", "change", "status"}`` for every insight that changed.
        """
        now = time.time() if now is None else now
        seen, absorbed = set(seen_ids), dict(absorbed or {})
        changes: list[dict[str, Any]] = []
        for resource_id, models in sorted(analysed.items()):
            ran = set(models)
            for old in self._active_of(resource_id):
                iid = str(old["id"])
                if iid in seen:
                    continue
                composite = absorbed.get(iid)
                if composite is None and not ran & set(old.get("models") or [old.get("model")]):
                    continue
                change = self._miss(iid, run_id, now, superseded_by=composite)
                if change:
                    changes.append({"id": iid, "resource_id": resource_id, **change})
        return changes

    def _miss(self, insight_id: str, run_id: str, now: float, superseded_by: str | None) -> dict[str, Any] | None:
        policy = self.policy
        if superseded_by:  # grouped into a composite: resolve now rather than after N runs
            policy = LifecyclePolicy(1, self.policy.resolved_ttl_days, self.policy.closed_ttl_days)
        for _ in range(MAX_ATTEMPTS):
            old = self._raw(insight_id)
            if old is None:
                return None
            flat = _unpack(old)
            t = on_missed(_state(flat), run_id, now, policy)
            if not t.write:
                return None
            item = {**flat, **_state_attrs(t.state), "version": int(flat.get("version", 0)) + 1}
            if t.state.status not in ACTIVE:
                item.pop("pending_alert", None)
            if superseded_by:
                item["superseded_by"] = superseded_by
            if self._put(_pack(item), old):
                return {"change": t.change, "status": t.state.status}
        raise ConcurrentUpdateError(f"insight {insight_id} changed {MAX_ATTEMPTS} times during the sweep")

    def apply_user_action(
        self, insight_id: str, action: str, note: str = "", *, actor: str = "api", now: float | None = None
    ) -> dict[str, Any] | None:
        """Acknowledge or resolve (close) an insight with a note; None when there is no such insight."""
        now = time.time() if now is None else now
        for _ in range(MAX_ATTEMPTS):
            old = self._raw(insight_id)
            if old is None:
                return None
            flat = _unpack(old)
            t = on_user_action(_state(flat), action, now, self.policy)
            notes = list(flat.get("notes") or [])[-(MAX_NOTES - 1) :]
            notes.append({"at": iso(now), "action": action, "note": note, "by": actor})
            item = {**flat, **_state_attrs(t.state), "notes": notes, "version": int(flat.get("version", 0)) + 1}
            item["sev_time"] = _sev_time(str(item["severity"]), str(item["detected_at"]))
            if t.state.status not in ACTIVE:
                item.pop("pending_alert", None)
            packed = _pack(item)
            if self._put(packed, old):
                return self._public(packed)
        raise ConcurrentUpdateError(f"insight {insight_id} changed {MAX_ATTEMPTS} times during the update")

    def _put(self, item: dict[str, Any], old: dict[str, Any] | None) -> bool:
        """Conditional put: the item must not exist (``old`` None) or still have ``old``'s version."""
        try:
            if old is None:
                self.table.put_item(Item=item, ConditionExpression="attribute_not_exists(pk)")
            elif "version" not in old:
                self.table.put_item(
                    Item=item,
                    ConditionExpression="attribute_exists(pk) AND attribute_not_exists(#v)",
                    ExpressionAttributeNames={"#v": "version"},
                )
            else:
                self.table.put_item(
                    Item=item,
                    ConditionExpression="#v = :v",
                    ExpressionAttributeNames={"#v": "version"},
                    ExpressionAttributeValues={":v": old["version"]},
                )
            return True
        except Exception as exc:
            if _is_conflict(exc):
                return False
            raise

    # ------------------------------------------------------------------------------------------ alerts
    def pending_alerts(self) -> list[dict[str, Any]]:
        """Every insight whose alert is still pending (sparse ``by_pending`` index), oldest key first."""
        from boto3.dynamodb.conditions import Key

        return self._query_all({"IndexName": "by_pending", "KeyConditionExpression": Key("pending_alert").eq(PENDING)})

    def needs_alert(self, insight_id: str, severity: str) -> bool:
        item = self.get(insight_id)
        return item is not None and int(item.get("alerted_rank", -1)) < severity_rank(severity)

    def mark_alerted(self, insight_id: str, severity: str, message_id: str, now: float | None = None) -> bool:
        """Record that SNS accepted an alert at ``severity``; clears the pending flag unless it escalated since.

        Returns False when an equal or higher alert was already recorded.
        """
        rank = severity_rank(severity)
        values = {":rank": rank, ":now": time.time() if now is None else now, ":mid": message_id, ":one": 1}
        key = {PARTITION_KEY: _pk(insight_id), SORT_KEY: META}
        base = "SET alerted_rank = :rank, alerted_at = :now, alert_message_id = :mid, #v = #v + :one"
        cond = "attribute_exists(pk) AND alerted_rank < :rank"
        try:
            self.table.update_item(
                Key=key,
                UpdateExpression=base + " REMOVE pending_alert, pending_rank, alert_claim, alert_claim_at",
                ConditionExpression=cond + " AND (attribute_not_exists(pending_rank) OR pending_rank <= :rank)",
                ExpressionAttributeNames={"#v": "version"},
                ExpressionAttributeValues=to_dynamo(values),
            )
            return True
        except Exception as exc:
            if not _is_conflict(exc):
                raise
        try:  # escalated again meanwhile: record this alert but keep the (higher) pending flag
            self.table.update_item(
                Key=key,
                UpdateExpression=base + " REMOVE alert_claim, alert_claim_at",
                ConditionExpression=cond,
                ExpressionAttributeNames={"#v": "version"},
                ExpressionAttributeValues=to_dynamo(values),
            )
            return True
        except Exception as exc:
            if _is_conflict(exc):
                return False
            raise

    def claim_alert(self, insight_id: str, token: str, *, now: float | None = None, stale_s: float = 300.0) -> bool:
        """Take the right to send this insight's alert (publishers of concurrent batches never both send it).

        A claim older than ``stale_s`` (a publisher that died mid-way) can be taken over.
        """
        now = time.time() if now is None else now
        try:
            self.table.update_item(
                Key={PARTITION_KEY: _pk(insight_id), SORT_KEY: META},
                UpdateExpression="SET alert_claim = :t, alert_claim_at = :now",
                ConditionExpression=(
                    "attribute_exists(pk) AND (attribute_not_exists(alert_claim) OR alert_claim_at < :stale)"
                ),
                ExpressionAttributeValues=to_dynamo({":t": token, ":now": float(now), ":stale": float(now - stale_s)}),
            )
            return True
        except Exception as exc:
            if _is_conflict(exc):
                return False
            raise

    def release_claim(self, insight_id: str, token: str) -> None:
        """Give a claim back (the send failed: the alert stays pending for the next attempt)."""
        try:
            self.table.update_item(
                Key={PARTITION_KEY: _pk(insight_id), SORT_KEY: META},
                UpdateExpression="REMOVE alert_claim, alert_claim_at",
                ConditionExpression="alert_claim = :t",
                ExpressionAttributeValues={":t": token},
            )
        except Exception as exc:
            if not _is_conflict(exc):
                raise

    def clear_pending(self, insight_id: str, pending_rank: int) -> bool:
        """Drop a pending flag that needs no alert (below the floor, already alerted, or no longer active)."""
        try:
            self.table.update_item(
                Key={PARTITION_KEY: _pk(insight_id), SORT_KEY: META},
                UpdateExpression="REMOVE pending_alert, pending_rank",
                ConditionExpression="pending_rank = :r",
                ExpressionAttributeValues={":r": pending_rank},
            )
            return True
        except Exception as exc:
            if _is_conflict(exc):
                return False
            raise

    def cooldown(self, resource_id: str) -> tuple[float, int] | None:
        """``(last alert time, highest rank alerted then)`` for a resource, or None."""
        item = self.table.get_item(
            Key={PARTITION_KEY: f"{RESOURCE_PREFIX}{resource_id}", SORT_KEY: COOLDOWN_SK}, ConsistentRead=True
        ).get("Item")
        if not item:
            return None
        return float(item["last_alert_at"]), int(item["last_alert_rank"])

    def start_cooldown(self, resource_id: str, now: float, rank: int) -> None:
        self.table.put_item(
            Item=to_dynamo(
                {
                    PARTITION_KEY: f"{RESOURCE_PREFIX}{resource_id}",
                    SORT_KEY: COOLDOWN_SK,
                    "last_alert_at": float(now),
                    "last_alert_rank": int(rank),
                }
            )
        )

    # ------------------------------------------------------------------------------------------ reads
    def _raw(self, insight_id: str) -> dict[str, Any] | None:
        item = self.table.get_item(Key={PARTITION_KEY: _pk(insight_id), SORT_KEY: META}, ConsistentRead=True)
        return item.get("Item")

    def get(self, insight_id: str) -> dict[str, Any] | None:
        item = self._raw(insight_id)
        return self._public(item) if item else None

    def by_run(self, run_id: str) -> list[dict[str, Any]]:
        from boto3.dynamodb.conditions import Key

        return self._query_all({"IndexName": "by_run", "KeyConditionExpression": Key("run_id").eq(run_id)})

    def _active_of(self, resource_id: str) -> list[dict[str, Any]]:
        from boto3.dynamodb.conditions import Attr, Key

        return self._query_all(
            {
                "IndexName": "by_resource",
                "KeyConditionExpression": Key("resource_id").eq(resource_id),
                "FilterExpression": Attr("status").is_in(list(ACTIVE)),
            }
        )

    def _query_all(self, kwargs: dict[str, Any]) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        while True:
            page = self.table.query(**kwargs)
            items.extend(self._public(i) for i in page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                return items
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def scan_all(self) -> list[dict[str, Any]]:
        """Every insight (cooldown items left out)."""
        from boto3.dynamodb.conditions import Attr

        items: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {"FilterExpression": Attr(SORT_KEY).eq(META)}
        while True:
            page = self.table.scan(**kwargs)
            items.extend(self._public(i) for i in page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                return items
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def find(self, flt: InsightFilter, *, limit: int = 50, cursor: str | None = None) -> Page:
        """One page of insights matching ``flt``, by the index that fits best.

        ``resource`` -> ``by_resource`` (newest first); else ``status`` -> ``by_status`` (most severe, then
        newest first); else ``by_time`` (newest first). Remaining filters become a ``FilterExpression``; the
        query continues until ``limit`` matches or the end, and the cursor points after the last item returned.

        Raises
        ------
        InputValidationError
            ``cursor`` is not one this query returned (names ``cursor``).
        """
        from boto3.dynamodb.conditions import Attr, Key

        if flt.severity is not None and flt.severity not in SEVERITIES:
            raise InputValidationError(f"must be one of {SEVERITIES}", field="severity")
        filters = []
        if flt.resource is not None:
            index = "by_resource"
            cond = Key("resource_id").eq(flt.resource)
            if flt.since:
                cond = cond & Key("detected_at").gte(flt.since)
            if flt.status:
                filters.append(Attr("status").eq(flt.status))
            if flt.severity:
                filters.append(Attr("severity").eq(flt.severity))
        elif flt.status is not None:
            index = "by_status"
            cond = Key("status").eq(flt.status)
            if flt.severity:
                rank = severity_rank(flt.severity)
                cond = cond & (
                    Key("sev_time").between(f"{rank}#{flt.since}", f"{rank}#~")
                    if flt.since
                    else Key("sev_time").begins_with(f"{rank}#")
                )
            elif flt.since:
                filters.append(Attr("detected_at").gte(flt.since))
        else:
            index = "by_time"
            cond = Key("entity").eq(ENTITY)
            if flt.since:
                cond = cond & Key("detected_at").gte(flt.since)
            if flt.severity:
                filters.append(Attr("severity").eq(flt.severity))
        if flt.model:
            filters.append(Attr("models").contains(flt.model))
        kwargs: dict[str, Any] = {"IndexName": index, "KeyConditionExpression": cond, "ScanIndexForward": False}
        if filters:
            combined = filters[0]
            for f in filters[1:]:
                combined = combined & f
            kwargs["FilterExpression"] = combined
        if cursor:
            kwargs["ExclusiveStartKey"] = _decode_cursor(cursor, index)
        out: list[dict[str, Any]] = []
        key_names = (PARTITION_KEY, SORT_KEY, *index_keys(index))
        last_raw: dict[str, Any] | None = None
        while len(out) < limit:
            kwargs["Limit"] = (limit - len(out)) if not filters else max(limit - len(out), 100)
            page = self._query_page(kwargs)
            for raw in page.get("Items", []):
                if len(out) >= limit:
                    break
                out.append(self._public(raw))
                last_raw = raw
            else:
                if "LastEvaluatedKey" not in page:
                    return Page(out, None)
                kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
                continue
            break
        if last_raw is None:
            return Page(out, None)
        return Page(out, _encode_cursor(index, {k: last_raw[k] for k in key_names}))

    def _query_page(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        try:
            return dict(self.table.query(**kwargs))
        except Exception as exc:
            code = (getattr(exc, "response", None) or {}).get("Error", {}).get("Code")
            if code == "ValidationException" and "ExclusiveStartKey" in kwargs:
                raise InputValidationError("not a cursor this query returned", field="cursor") from None
            raise

    @staticmethod
    def _public(item: Mapping[str, Any]) -> dict[str, Any]:
        data = _unpack(item)
        data.setdefault("evidence", {})
        if "detected_at_epoch" in data:
            data["detected_at_iso"] = str(data["detected_at"])
            data["detected_at"] = float(data["detected_at_epoch"])
        data["pending_alert"] = data.get("pending_alert") == PENDING
        for key in _INTERNAL:
            if key != "pending_alert":
                data.pop(key, None)
        return data


# ---------------------------------------------------------------------------------------------- mapping
def _pack(flat: Mapping[str, Any]) -> dict[str, Any]:
    """A flat insight record to a DynamoDB item: :data:`TOP_LEVEL` attributes plus one JSON ``doc``."""
    plain = from_dynamo(dict(flat))
    top = {k: v for k, v in plain.items() if k in TOP_LEVEL and v is not None}
    doc = {k: v for k, v in plain.items() if k not in TOP_LEVEL and k != "doc"}
    top["doc"] = json.dumps(doc, sort_keys=True, allow_nan=False, separators=(",", ":"))
    return dict(to_dynamo(top))


def _unpack(item: Mapping[str, Any]) -> dict[str, Any]:
    """A DynamoDB item back to the flat record (top-level attributes win over the doc)."""
    data = from_dynamo(dict(item))
    doc = json.loads(data.pop("doc", None) or "{}")
    return {**doc, **data}


def _sev_time(severity: str, detected_iso: str) -> str:
    return f"{severity_rank(severity)}#{detected_iso}"


def _state(item: Mapping[str, Any]) -> LifecycleState:
    data = from_dynamo(dict(item))
    return LifecycleState(
        status=str(data.get("status", "open")),
        severity=str(data.get("severity", "info")),
        seen_count=int(data.get("seen_count", 1)),
        missed_runs=int(data.get("missed_runs", 0)),
        last_run_id=str(data.get("run_id", "")),
        last_missed_run=str(data.get("last_missed_run", "")),
        alerted_rank=int(data.get("alerted_rank", -1)),
        acknowledged=bool(data.get("acknowledged", False)),
        resolved_at=data.get("resolved_at"),
        expires_at=data.get(TTL_ATTRIBUTE),
    )


def _state_attrs(state: LifecycleState) -> dict[str, Any]:
    attrs: dict[str, Any] = {f: getattr(state, f) for f in _LIFECYCLE_FIELDS}
    attrs["run_id"] = attrs.pop("last_run_id")
    attrs["severity_rank"] = severity_rank(state.severity)
    attrs[TTL_ATTRIBUTE] = attrs.pop("expires_at")
    return attrs


def build_item(
    ranked: RankedInsight, t: Transition, run_id: str, now: float, old: Mapping[str, Any] | None
) -> dict[str, Any]:
    """The DynamoDB item for an insight after transition ``t`` (keeps first-seen facts and notes of ``old``)."""
    insight = ranked.insight
    data = insight.to_dict()
    evidence = data.pop("evidence")
    detected_iso = data.pop("detected_at_iso")
    models = sorted(set(evidence.get("models") or [insight.model])) if isinstance(evidence, dict) else [insight.model]
    prev = dict(old) if old else {}
    item: dict[str, Any] = {
        PARTITION_KEY: _pk(insight.id),
        SORT_KEY: META,
        "entity": ENTITY,
        **data,
        "detected_at": detected_iso,
        "detected_at_epoch": float(insight.detected_at),
        "evidence": evidence,
        "models": models,
        "members": list(ranked.members),
        "priority": float(ranked.priority),
        "impact": float(ranked.impact),
        "rank": int(ranked.rank),
        "first_seen_run": prev.get("first_seen_run", run_id),
        "first_seen_at": prev.get("first_seen_at", now),
        "last_seen_at": now,
        "notes": prev.get("notes", []),
        "version": int(prev.get("version", 0)) + 1,
        **_state_attrs(t.state),
    }
    item["sev_time"] = _sev_time(insight.severity, detected_iso)
    for key in ("alerted_at", "alert_message_id"):
        if key in prev and t.state.alerted_rank >= 0:
            item[key] = prev[key]
    if t.alert_due:
        item["pending_alert"], item["pending_rank"] = PENDING, severity_rank(insight.severity)
    elif prev.get("pending_alert") == PENDING and t.state.status in ACTIVE:
        item["pending_alert"], item["pending_rank"] = PENDING, prev.get("pending_rank", severity_rank(insight.severity))
    return _pack(item)


def _encode_cursor(index: str, key: Mapping[str, Any]) -> str:
    raw = json.dumps({"i": index, "k": from_dynamo(dict(key))}, sort_keys=True, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode_cursor(cursor: str, index: str) -> dict[str, Any]:
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode())
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise InputValidationError("not a cursor this API returned", field="cursor") from None
    if not isinstance(data, dict) or data.get("i") != index or not isinstance(data.get("k"), dict):
        raise InputValidationError("cursor belongs to a query with other filters", field="cursor")
    expected = {PARTITION_KEY, SORT_KEY, *index_keys(index)}
    key = data["k"]
    if set(key) != expected or not all(isinstance(v, str) for v in key.values()):
        raise InputValidationError("not a cursor this API returned", field="cursor")
    return dict(key)
