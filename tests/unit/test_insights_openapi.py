"""The committed OpenAPI document is the one the code generates (regenerate: python -m cloudsage.handlers.api)."""

from __future__ import annotations

import json
from pathlib import Path

from cloudsage.handlers.api import openapi_document

COMMITTED = Path(__file__).resolve().parents[2] / "docs" / "openapi.json"


def test_openapi_json_is_not_stale():
    # Given the document generated from the routes and models now
    generated = openapi_document()
    # Then docs/openapi.json matches it exactly
    assert json.loads(COMMITTED.read_text()) == generated, (
        "docs/openapi.json is stale: run `PYTHONPATH=lambdas python -m cloudsage.handlers.api docs/openapi.json`"
    )


def test_openapi_is_3_1_with_every_route_and_error_body():
    doc = openapi_document()
    assert doc["openapi"].startswith("3.1")
    ops = {(m.upper(), p) for p, item in doc["paths"].items() for m in item}
    assert ops == {
        ("GET", "/health"),
        ("GET", "/insights"),
        ("GET", "/insights/{insight_id}"),
        ("PATCH", "/insights/{insight_id}"),
        ("POST", "/analyze"),
        ("POST", "/models/{name}/predict"),
    }
    analyze = doc["paths"]["/analyze"]["post"]["responses"]
    assert {"200", "400", "404", "413", "422"} <= set(analyze)
    assert analyze["413"]["content"]["application/json"]["schema"]["$ref"].endswith("/ErrorBody")
