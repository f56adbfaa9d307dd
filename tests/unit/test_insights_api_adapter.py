"""The local HTTP -> API Gateway proxy event adapter and the API's body-size guard (no network)."""

from __future__ import annotations

import json

from cloudsage.handlers import api
from cloudsage.local.api_server import to_proxy_event
from tests.conftest import FakeContext


def test_to_proxy_event_maps_method_path_query_and_body():
    event = to_proxy_event("post", "/insights/a%20b?status=open&limit=5&limit=7", {"Host": "x"}, b'{"a": 1}')
    assert event["httpMethod"] == "POST" and event["path"] == "/insights/a b"
    assert event["queryStringParameters"] == {"status": "open", "limit": "7"}
    assert event["multiValueQueryStringParameters"]["limit"] == ["5", "7"]
    assert json.loads(event["body"]) == {"a": 1} and event["isBase64Encoded"] is False


def test_to_proxy_event_binary_body_is_base64():
    event = to_proxy_event("POST", "/analyze", {}, b"\xff\xfe")
    assert event["isBase64Encoded"] is True and event["body"] == "//4="


def test_lambda_handler_body_over_limit_is_413_naming_body(monkeypatch):
    # Given a 2 KB limit and a 3 KB body
    monkeypatch.setenv("TABLE_NAME", "insights")
    monkeypatch.setenv("MAX_BODY_BYTES", "2048")
    event = to_proxy_event("POST", "/analyze", {"Content-Type": "application/json"}, b"x" * 3000)
    # When
    out = api.lambda_handler(event, FakeContext())
    # Then the request is refused before any parsing
    assert out["statusCode"] == 413 and json.loads(out["body"])["field"] == "body"


def test_lambda_handler_unknown_route_is_404_with_error_body(monkeypatch):
    monkeypatch.setenv("TABLE_NAME", "insights")
    out = api.lambda_handler(to_proxy_event("GET", "/nope", {}, b""), FakeContext())
    assert out["statusCode"] == 404 and json.loads(out["body"])["error"] == "not_found"
