"""The contract every registered model keeps, parametrized over the registry (a new model is tested here too)."""

from __future__ import annotations

import inspect
import json

import pytest

from cloudsage.core.errors import InsufficientDataError
from cloudsage.core.registry import MODEL_SPECS
from cloudsage.core.results import KINDS, SEVERITIES, ModelOutput
from cloudsage.local.demo import build_demo_fleet

SPECS = [pytest.param(s, id=s.name) for s in MODEL_SPECS]


@pytest.fixture(scope="module")
def resources():
    return build_demo_fleet().to_resource_metrics()


@pytest.mark.parametrize("spec", SPECS)
def test_analyze_runs_on_every_demo_resource_or_says_it_does_not_apply(spec, resources):
    analyze = spec.load_analyze()
    produced = 0
    for resource in resources:
        try:
            out = analyze(resource, **spec.defaults)
        except InsufficientDataError as exc:
            assert exc.needed > exc.got  # names what it needs
            continue
        produced += 1
        assert isinstance(out, ModelOutput) and out.model == spec.name and out.resource_id == resource.resource_id
        for ins in out.insights:
            assert ins.model == spec.name or ins.model.startswith(spec.name)
            assert ins.resource_id == resource.resource_id
            assert ins.severity in SEVERITIES and ins.kind in KINDS and 0.0 <= ins.confidence <= 1.0
            assert ins.window_start <= ins.window_end
        json.dumps(out.to_dict(), allow_nan=False)  # strict JSON: no NaN/inf/numpy types escape
    assert produced >= 1, f"{spec.name} applied to no demo resource"


@pytest.mark.parametrize("spec", SPECS)
def test_analyze_is_deterministic(spec, resources):
    analyze = spec.load_analyze()
    for resource in resources:
        try:
            first = analyze(resource, **spec.defaults).to_dict()
        except InsufficientDataError:
            continue
        assert analyze(resource, **spec.defaults).to_dict() == first
        return


@pytest.mark.parametrize("spec", SPECS)
def test_estimator_params_round_trip_and_init_stores_unchanged(spec):
    from sklearn.base import clone

    cls = spec.load_estimator()
    params = inspect.signature(cls.__init__).parameters
    required = {n: p for n, p in params.items() if n != "self" and p.default is inspect.Parameter.empty}
    kwargs = {n: "m5.large" if "type" in n else 1 for n in required}
    est = cls(**kwargs)
    got = est.get_params()
    assert set(got) == {n for n in params if n != "self" and params[n].kind is not inspect.Parameter.VAR_KEYWORD}
    for name, value in kwargs.items():
        assert got[name] == value  # stored unchanged, no validation in __init__
    twin = clone(est)
    assert twin is not est and twin.get_params() == got


@pytest.mark.parametrize("spec", SPECS)
def test_estimator_module_imports_without_scikit_learn(spec):
    import subprocess
    import sys
    from pathlib import Path

    module = spec.analyze.partition(":")[0]
    code = f"import sys, {module}; print('sklearn' in sys.modules, 'scipy.stats' in sys.modules)"
    env = {"PYTHONPATH": str(Path(__file__).resolve().parents[2] / "lambdas"), "PATH": ""}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    assert out.stdout.split() == ["False", "False"]  # cold starts stay light: heavy imports are lazy
