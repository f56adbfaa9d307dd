"""The insights table's key schema and indexes: defined once, used by CDK, the local run and the tests.

Plain data, no imports beyond the standard library, so ``infra/`` can read it cheaply. The design is documented
in ``docs/insights.md``:

- ``pk`` = ``INSIGHT#<id>``, ``sk`` = ``META``: one item per insight (deterministic id, so re-runs update it).
- ``pk`` = ``RESOURCE#<resource id>``, ``sk`` = ``ALERTS``: the resource's alert cooldown (last alert time, rank).
- GSI ``by_resource``: ``resource_id`` / ``detected_at`` (ISO-8601): a resource's insights over time.
- GSI ``by_status``: ``status`` / ``sev_time`` (``<severity rank>#<detected_at>``): the open queue, most severe
  and newest first; a severity filter is a ``begins_with`` on the sort key.
- GSI ``by_run``: ``run_id`` (the last run that saw the insight) / ``pk``: what one analysis run produced.
- GSI ``by_time``: ``entity`` (always ``INSIGHT``) / ``detected_at``: every insight, newest first.
- GSI ``by_pending``: ``pending_alert`` / ``pk``, sparse: only insights whose alert SNS has not accepted yet.
- ``expires_at`` (epoch seconds) is the TTL attribute, set on resolved and closed insights.
"""

from __future__ import annotations

from typing import Any

PARTITION_KEY = "pk"
SORT_KEY = "sk"
TTL_ATTRIBUTE = "expires_at"
INSIGHT_PREFIX = "INSIGHT#"
RESOURCE_PREFIX = "RESOURCE#"
META = "META"
COOLDOWN_SK = "ALERTS"
ENTITY = "INSIGHT"
PENDING = "PENDING"

TABLE_SCHEMA: dict[str, Any] = {
    "partition_key": {"name": PARTITION_KEY, "type": "S"},
    "sort_key": {"name": SORT_KEY, "type": "S"},
    "ttl_attribute": TTL_ATTRIBUTE,
    "global_secondary_indexes": [
        {
            "name": "by_resource",
            "partition_key": {"name": "resource_id", "type": "S"},
            "sort_key": {"name": "detected_at", "type": "S"},
        },
        {
            "name": "by_status",
            "partition_key": {"name": "status", "type": "S"},
            "sort_key": {"name": "sev_time", "type": "S"},
        },
        {
            "name": "by_run",
            "partition_key": {"name": "run_id", "type": "S"},
            "sort_key": {"name": PARTITION_KEY, "type": "S"},
        },
        {
            "name": "by_time",
            "partition_key": {"name": "entity", "type": "S"},
            "sort_key": {"name": "detected_at", "type": "S"},
        },
        {
            "name": "by_pending",
            "partition_key": {"name": "pending_alert", "type": "S"},
            "sort_key": {"name": PARTITION_KEY, "type": "S"},
        },
    ],
}


def index_keys(index_name: str) -> tuple[str, str]:
    """Partition and sort key attribute names of one GSI."""
    for g in TABLE_SCHEMA["global_secondary_indexes"]:
        if g["name"] == index_name:
            return g["partition_key"]["name"], g["sort_key"]["name"]
    raise KeyError(index_name)


def boto3_table_definition(table_name: str) -> dict[str, Any]:
    """``create_table`` keyword arguments (on-demand) built from :data:`TABLE_SCHEMA`."""
    attrs: dict[str, str] = {}

    def key_schema(pk: dict[str, str], sk: dict[str, str] | None) -> list[dict[str, str]]:
        attrs[pk["name"]] = pk["type"]
        keys = [{"AttributeName": pk["name"], "KeyType": "HASH"}]
        if sk:
            attrs[sk["name"]] = sk["type"]
            keys.append({"AttributeName": sk["name"], "KeyType": "RANGE"})
        return keys

    table_keys = key_schema(TABLE_SCHEMA["partition_key"], TABLE_SCHEMA["sort_key"])
    gsis = [
        {
            "IndexName": g["name"],
            "KeySchema": key_schema(g["partition_key"], g.get("sort_key")),
            "Projection": {"ProjectionType": "ALL"},
        }
        for g in TABLE_SCHEMA["global_secondary_indexes"]
    ]
    return {
        "TableName": table_name,
        "KeySchema": table_keys,
        "AttributeDefinitions": [{"AttributeName": k, "AttributeType": v} for k, v in sorted(attrs.items())],
        "GlobalSecondaryIndexes": gsis,
        "BillingMode": "PAY_PER_REQUEST",
    }
