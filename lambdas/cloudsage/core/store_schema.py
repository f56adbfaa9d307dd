"""The insights table's key schema and indexes: defined once, used by CDK, the local run and the tests.

Plain data, no imports beyond the standard library, so ``infra/`` can read it cheaply.

Single-table layout (see ``docs/architecture.md``):

- ``pk`` = ``INSIGHT#<id>``, ``sk`` = ``META``: one item per insight (deterministic id, so re-runs update).
- GSI ``by_resource``: ``resource_id`` / ``detected_at`` (ISO-8601): a resource's insights over time.
- GSI ``by_status``: ``status_severity`` (e.g. ``open#high``) / ``detected_at``: the open queue by severity.
- GSI ``by_run``: ``run_id`` / ``pk``: what one analysis run produced.
- ``expires_at`` (epoch seconds) is the TTL attribute.
"""

from __future__ import annotations

from typing import Any

PARTITION_KEY = "pk"
SORT_KEY = "sk"
TTL_ATTRIBUTE = "expires_at"

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
            "partition_key": {"name": "status_severity", "type": "S"},
            "sort_key": {"name": "detected_at", "type": "S"},
        },
        {
            "name": "by_run",
            "partition_key": {"name": "run_id", "type": "S"},
            "sort_key": {"name": PARTITION_KEY, "type": "S"},
        },
    ],
}


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
