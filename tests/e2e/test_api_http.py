"""The Insights API over real HTTP: local server -> API Gateway proxy events -> resolver -> emulator table.

The same tests can point at a deployed stage later (only the ``api_url`` fixture changes).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import requests

from cloudsage.local.api_server import FastDynamoQueries, LocalApiServer, create_table, seed_demo
from cloudsage.local.emulator import LocalAWS

pytestmark = pytest.mark.e2e

OPENAPI = Path(__file__).resolve().parents[2] / "docs" / "openapi.json"
BODY_LIMIT = 400_000
SERIES_LIMIT = 5_000


@pytest.fixture(scope="module")
def api() -> Iterator[dict[str, Any]]:
    """Emulator + table filled by analysing the demo fleet + the API server on a free port."""
    with LocalAWS(), FastDynamoQueries():
        table = create_table("api-e2e")
        summary = seed_demo(table)
        env = {"MAX_BODY_BYTES": str(BODY_LIMIT), "MAX_SERIES_POINTS": str(SERIES_LIMIT)}
        with LocalApiServer(table, environment=env) as server, requests.Session() as session:
            yield {"url": server.url, "summary": summary, "http": session}


def _get(api: dict[str, Any], path: str, **params: Any) -> requests.Response:
    return api["http"].get(api["url"] + path, params=params, timeout=30)


def _series(n: int = 2016, spike_at: int | None = 1800) -> dict[str, Any]:
    t = np.arange(n)
    values = 40 + 15 * np.sin(2 * np.pi * t / 288) + np.random.default_rng(0).normal(0, 1, n)
    if spike_at is not None:
        values[spike_at : spike_at + 3] = 99.0
    return {"values": values.round(3).tolist(), "start": 1_790_000_000.0}


def test_health_reports_models_and_table(api):
    from cloudsage.core.registry import model_names

    r = _get(api, "/health")
    assert r.status_code == 200 and r.json() == {"status": "ok", "models": model_names(), "table": "reachable"}


def test_list_insights_shows_composites_and_pages_cover_all_once(api):
    # Given the analysed demo fleet; When paging through every insight, 4 at a time
    seen, cursor, pages = [], None, 0
    while True:
        body = _get(api, "/insights", limit=4, **({"cursor": cursor} if cursor else {})).json()
        seen += body["items"]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
    # Then every stored insight came exactly once, and the capacity-risk composite carries its members
    ids = [i["id"] for i in seen]
    assert len(ids) == len(set(ids)) == len(api["summary"]["insights"]) and pages > 1
    comp = next(i for i in seen if i["resource_id"] == "web-api-asg" and i["model"] == "composite")
    assert comp["evidence"]["composite"] == "capacity_risk" and len(comp["members"]) >= 2
    assert {"TargetResponseTime", "CPUUtilization"} <= set(comp["evidence"]["metrics"])


@pytest.mark.parametrize(
    ("params", "check"),
    [
        ({"resource": "web-api-asg"}, lambda i: i["resource_id"] == "web-api-asg"),
        ({"severity": "critical"}, lambda i: i["severity"] == "critical"),
        ({"status": "open", "severity": "high"}, lambda i: i["status"] == "open" and i["severity"] == "high"),
        ({"model": "anomaly"}, lambda i: "anomaly" in i["models"]),
        ({"since": "2026-12-01T00:00:00Z"}, lambda i: i["detected_at_iso"] >= "2026-12-01T00:00:00Z"),
    ],
)
def test_list_insights_filters(api, params, check):
    r = _get(api, "/insights", limit=200, **params)
    assert r.status_code == 200
    items = r.json()["items"]
    assert items and all(check(i) for i in items)


def test_get_and_patch_insight_lifecycle(api):
    # Given an open insight
    first = _get(api, "/insights", status="open", limit=1).json()["items"][0]
    url = f"{api['url']}/insights/{first['id']}"
    # When it is acknowledged, then resolved with a note
    ack = api["http"].patch(url, json={"action": "acknowledge", "note": "on it"}, timeout=30)
    res = api["http"].patch(url, json={"action": "resolve", "note": "scaled out"}, timeout=30)
    # Then it is closed, keeps both notes, and shows up under status=closed
    assert ack.status_code == 200 and ack.json()["acknowledged"] is True
    assert res.status_code == 200 and res.json()["status"] == "closed"
    assert [n["note"] for n in api["http"].get(url, timeout=30).json()["notes"]] == ["on it", "scaled out"]
    closed = _get(api, "/insights", status="closed", limit=200).json()["items"]
    assert first["id"] in {i["id"] for i in closed}


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status", "field"),
    [
        ("get", "/insights", {"params": {"severity": "urgent"}}, 422, "severity"),
        ("get", "/insights", {"params": {"limit": 0}}, 422, "limit"),
        ("get", "/insights", {"params": {"since": "yesterday"}}, 422, "since"),
        ("get", "/insights", {"params": {"cursor": "not-a-cursor"}}, 400, "cursor"),
        ("get", "/insights/0123456789abcdef0123", {}, 404, "insight_id"),
        ("patch", "/insights/0123456789abcdef0123", {"json": {"action": "resolve"}}, 404, "insight_id"),
        ("patch", "/insights/x", {"json": {"action": "delete"}}, 422, "action"),
        ("post", "/analyze", {"data": "{not json", "headers": {"Content-Type": "application/json"}}, 400, "body"),
        ("post", "/analyze", {"json": {"series": {}}}, 422, "resource_id"),
        (
            "post",
            "/models/cost/predict",
            {
                "json": {
                    "resource_id": "r",
                    "series": {"C": {"values": [1], "start": 0}},
                    "params": {"price_path": "/x"},
                }
            },
            422,
            "params",
        ),
        (
            "post",
            "/analyze",
            {"json": {"resource_id": "r", "series": {"CPU": {"values": [1.0]}}}},
            400,
            "series.CPU.timestamps",
        ),
        (
            "post",
            "/analyze",
            {"json": {"resource_id": "r", "period": 45, "series": {"C": {"values": [1]}}}},
            422,
            "period",
        ),
        (
            "post",
            "/analyze",
            {"json": {"resource_id": "r", "models": ["nope"], "series": {"C": {"values": [1], "start": 0}}}},
            404,
            "models.0",
        ),
        (
            "post",
            "/analyze",
            {"json": {"resource_id": "r", "series": {"C": {"values": [1, 2, 3], "start": 0}}}},
            422,
            "series",
        ),
        (
            "post",
            "/analyze",
            {"json": {"resource_id": "r", "series": {"C": {"values": [1.0] * (SERIES_LIMIT + 1), "start": 0}}}},
            413,
            "series.C.values",
        ),
        (
            "post",
            "/analyze",
            {"json": {"resource_id": "r", "series": {"C": {"values": [1, 2], "timestamps": [0, 4e9]}}}},
            413,
            "series.C.timestamps",
        ),
        ("post", "/analyze", {"data": "x" * (BODY_LIMIT + 1)}, 413, "body"),
        (
            "post",
            "/models/nope/predict",
            {"json": {"resource_id": "r", "series": {"C": {"values": [1], "start": 0}}}},
            404,
            "name",
        ),
        (
            "post",
            "/models/anomaly/predict",
            {"json": {"resource_id": "r", "params": {"bogus": 1}, "series": {"CPUUtilization": _series(600)}}},
            400,
            "params",
        ),
    ],
)
def test_bad_input_gets_4xx_naming_the_field(api, method, path, kwargs, status, field):
    r = api["http"].request(method, api["url"] + path, timeout=30, **kwargs)
    assert r.status_code == status, r.text
    assert r.json()["field"] == field and r.json()["message"]


def test_analyze_posted_metrics_returns_ranked_insights(api):
    # Given two weeks of 5-minute CPU with a spike, and request count
    body = {"resource_id": "adhoc-1", "resource_type": "ec2", "series": {"CPUUtilization": _series()}}
    # When
    r = api["http"].post(api["url"] + "/analyze", json=body, timeout=60)
    # Then the spike is found; nothing is stored
    assert r.status_code == 200, r.text
    out = r.json()
    assert "anomaly" in out["models_run"]
    assert all(e["error"].endswith("Error") for e in out["errors"])  # a model that does not apply says why
    assert any(i["metric"] == "CPUUtilization" and i["rank"] == 1 for i in out["insights"])
    assert _get(api, "/insights", resource="adhoc-1").json()["count"] == 0


def test_predict_returns_plot_detail(api):
    body = {"resource_id": "adhoc-2", "series": {"CPUUtilization": _series()}}
    r = api["http"].post(api["url"] + "/models/anomaly/predict", json=body, timeout=60)
    assert r.status_code == 200, r.text
    detail = r.json()["detail"]["CPUUtilization"]
    assert len(detail["timestamps"]) == len(detail["values"]) > 0


def test_schemathesis_finds_no_server_error_or_schema_violation(api):
    """A bounded run of schemathesis over docs/openapi.json (``make fuzz-api`` runs a long one)."""
    from benchmarks.api.fuzz import fuzz

    # When every operation gets 12 generated requests (valid and invalid)
    out = fuzz(api["url"], max_examples=12, session=api["http"])
    # Then none got a 5xx, an undocumented status or a body that violates the schema
    assert out["operations"] == 6 and out["calls"] >= 30
    assert out["failures"] == [], json.dumps(out["failures"][:5], indent=1)
