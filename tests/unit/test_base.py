"""The light estimator base behaves like scikit-learn's, without importing it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from cloudsage.core.base import Estimator, NotFittedError, check_is_fitted


class _Model(Estimator):
    def __init__(self, alpha: float = 1.0, mode: str = "auto") -> None:
        self.alpha = alpha
        self.mode = mode

    def fit(self, y):
        self.mean_ = sum(y) / len(y)
        return self


def test_get_set_params_round_trip_and_clone():
    from sklearn.base import clone

    m = _Model(alpha=2.0)
    assert m.get_params() == {"alpha": 2.0, "mode": "auto"}
    assert m.set_params(mode="daily") is m and m.mode == "daily"
    c = clone(m)
    assert c is not m and c.get_params() == m.get_params()
    assert repr(m) == "_Model(alpha=2.0, mode='daily')"


def test_set_params_unknown_name_raises():
    with pytest.raises(ValueError, match="beta"):
        _Model().set_params(beta=1)


def test_check_is_fitted_before_and_after_fit():
    m = _Model()
    with pytest.raises(NotFittedError):
        check_is_fitted(m)
    with pytest.raises(AttributeError):  # same bases as scikit-learn's NotFittedError
        check_is_fitted(m)
    check_is_fitted(m.fit([1.0, 3.0]))
    with pytest.raises(NotFittedError):
        check_is_fitted(m, ["mean_", "missing_"])


def test_base_import_does_not_import_sklearn():
    code = "import sys, cloudsage.core.base; print('sklearn' in sys.modules)"
    env = {"PYTHONPATH": str(Path(__file__).resolve().parents[2] / "lambdas"), "PATH": ""}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    assert out.stdout.strip() == "False"
