"""InsightsTable.find against moto: index choice, filters and cursor pagination."""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import pytest

from cloudsage.adapters.insights_store import InsightFilter, InsightsTable, normalize_since
from cloudsage.core.errors import InputValidationError
from cloudsage.core.insights import RankedInsight
from tests.utils import make_insight

NOW = 1_800_000_000.0
SEVERITIES = ("low", "medium", "high", "critical")


@pytest.fixture(scope="module", params=["moto", "fast-query shim"])
def filled(request: pytest.FixtureRequest) -> Iterator[InsightsTable]:
    # 60 insights: 3 resources x 20, severities cycling, one per 10 minutes (one table for the module: read-only).
    # Every test runs against moto as is and with the local server's FastDynamoQueries shim: same answers.
    import contextlib

    from moto import mock_aws

    from cloudsage.adapters.aws import reset_clients
    from cloudsage.core.store_schema import boto3_table_definition
    from cloudsage.local.api_server import FastDynamoQueries

    shim = FastDynamoQueries() if request.param != "moto" else contextlib.nullcontext()
    with pytest.MonkeyPatch.context() as mp, mock_aws(), shim:
        for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
            mp.setenv(key, "testing")
        mp.setenv("AWS_DEFAULT_REGION", "us-east-1")
        mp.setenv("AWS_REGION", "us-east-1")
        mp.delenv("AWS_ENDPOINT_URL", raising=False)
        reset_clients()
        boto3.client("dynamodb").create_table(**boto3_table_definition("insights"))
        yield _fill(InsightsTable("insights"))
    reset_clients()


def _fill(table: InsightsTable) -> InsightsTable:
    for n in range(60):
        ins = make_insight(
            resource_id=f"res-{n % 3}",
            metric=f"M{n}",
            severity=SEVERITIES[n % 4],
            detected_at=1_700_000_000.0 + 600 * n,
            window_end=1_700_000_000.0 + 600 * n,
            model="anomaly" if n % 2 else "cost",
        )
        table.record(RankedInsight(ins, 0.5, n + 1), "run-1", now=NOW)
    return table


def _all_pages(table: InsightsTable, flt: InsightFilter, limit: int) -> list[list[dict]]:
    pages, cursor = [], None
    while True:
        page = table.find(flt, limit=limit, cursor=cursor)
        pages.append(page.items)
        cursor = page.cursor
        if cursor is None:
            return pages


@pytest.mark.parametrize(
    ("flt", "expected"),
    [
        (InsightFilter(), 60),
        (InsightFilter(resource="res-1"), 20),
        (InsightFilter(resource="res-1", severity="high"), 5),
        (InsightFilter(status="open"), 60),
        (InsightFilter(status="open", severity="critical"), 15),
        (InsightFilter(model="cost"), 30),
        (InsightFilter(severity="low", model="cost"), 15),
        (InsightFilter(status="closed"), 0),
    ],
)
def test_find_pages_cover_every_match_exactly_once(filled, flt, expected):
    # When paging with 7 per page
    pages = _all_pages(filled, flt, limit=7)
    ids = [i["id"] for p in pages for i in p]
    # Then every match appears once, pages are full except the last, and filters hold
    assert len(ids) == len(set(ids)) == expected
    assert all(len(p) == 7 for p in pages[:-1])
    for item in (i for p in pages for i in p):
        assert flt.resource in (None, item["resource_id"])
        assert flt.severity in (None, item["severity"])
        assert flt.model is None or flt.model in item["models"]


def test_find_default_order_is_newest_first(filled):
    items = filled.find(InsightFilter(), limit=60).items
    detected = [i["detected_at"] for i in items]
    assert detected == sorted(detected, reverse=True)


def test_find_status_queue_is_most_severe_first(filled):
    items = filled.find(InsightFilter(status="open"), limit=15).items
    assert {i["severity"] for i in items} == {"critical"}


def test_find_since_filters_on_detected_time(filled):
    since = normalize_since(1_700_000_000.0 + 600 * 50)
    assert len(_flat(filled, InsightFilter(since=since))) == 10
    assert len(_flat(filled, InsightFilter(since=since, status="open"))) == 10
    assert len(_flat(filled, InsightFilter(since=since, status="open", severity="high"))) == 3  # n = 50, 54, 58
    assert len(_flat(filled, InsightFilter(since=since, resource="res-0"))) == 3


def _flat(table, flt):
    return [i for p in _all_pages(table, flt, limit=4) for i in p]


@pytest.mark.parametrize("cursor", ["%%%", "bm90IGpzb24", "eyJpIjoiYnlfdGltZSIsImsiOnt9fQ"])
def test_find_bad_cursor_names_the_field(filled, cursor):
    with pytest.raises(InputValidationError) as err:
        filled.find(InsightFilter(), cursor=cursor)
    assert err.value.field == "cursor"


def test_find_cursor_of_another_query_names_the_field(filled):
    cursor = filled.find(InsightFilter(resource="res-0"), limit=2).cursor
    with pytest.raises(InputValidationError) as err:
        filled.find(InsightFilter(status="open"), cursor=cursor)
    assert err.value.field == "cursor"


def test_normalize_since_bad_value_names_the_field():
    with pytest.raises(InputValidationError) as err:
        normalize_since("yesterday")
    assert err.value.field == "since"
    assert normalize_since("2026-01-01T00:00:00+00:00") == "2026-01-01T00:00:00Z"
