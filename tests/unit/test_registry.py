"""The registry drives everything; it stays import-light and consistent."""

from __future__ import annotations

import subprocess
import sys

import pytest

from cloudsage.core.errors import UnknownModelError
from cloudsage.core.registry import MODEL_SPECS, get_spec, model_names
from cloudsage.core.store_schema import TABLE_SCHEMA, boto3_table_definition


def test_registry_names_unique_and_loadable():
    assert len(set(model_names())) == len(MODEL_SPECS)
    for spec in MODEL_SPECS:
        assert callable(spec.load_analyze())
        assert spec.load_estimator() is not None


def test_registry_unknown_model_raises_typed_error():
    with pytest.raises(UnknownModelError):
        get_spec("astrology")


def test_registry_import_does_not_import_numpy():
    code = "import sys, cloudsage.core.registry, cloudsage.core.store_schema; print('numpy' in sys.modules)"
    import os
    from pathlib import Path

    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "lambdas")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    assert out.stdout.strip() == "False"


def test_table_definition_matches_schema():
    d = boto3_table_definition("t")
    assert d["KeySchema"][0]["AttributeName"] == TABLE_SCHEMA["partition_key"]["name"]
    assert {g["IndexName"] for g in d["GlobalSecondaryIndexes"]} == {
        g["name"] for g in TABLE_SCHEMA["global_secondary_indexes"]
    }
    names = {a["AttributeName"] for a in d["AttributeDefinitions"]}
    keys = {TABLE_SCHEMA["partition_key"]["name"], TABLE_SCHEMA["sort_key"]["name"]}
    for g in TABLE_SCHEMA["global_secondary_indexes"]:
        keys |= {g["partition_key"]["name"], *([g["sort_key"]["name"]] if g.get("sort_key") else [])}
    assert names == keys  # exactly the key attributes (DynamoDB rejects unused attribute definitions)
