"""A light estimator base: scikit-learn's estimator API without importing scikit-learn.

``import sklearn`` pulls in scipy.stats (and pandas when present): about 0.6 s of CPU on every Lambda cold
start, more than the whole budget of a model handler. Models subclass :class:`Estimator` instead of
``sklearn.base.BaseEstimator``: ``get_params``/``set_params``/``repr`` follow the same rules (parameters are the
keyword arguments of ``__init__``, stored unchanged), so ``sklearn.base.clone`` still works on them, and
:func:`check_is_fitted` raises :class:`NotFittedError`, which subclasses the same built-ins as scikit-learn's.
"""

from __future__ import annotations

import inspect
from typing import Any

from cloudsage.core.errors import CloudSageError


class NotFittedError(CloudSageError, ValueError, AttributeError):
    """A predict-like method was called before ``fit`` (same bases as ``sklearn.exceptions.NotFittedError``)."""


class Estimator:
    """Parameters are the keyword arguments of ``__init__``, stored unchanged under the same names.

    Examples
    --------
    >>> class Model(Estimator):
    ...     def __init__(self, alpha: float = 1.0) -> None:
    ...         self.alpha = alpha
    >>> m = Model(alpha=2.0)
    >>> m.get_params(), m.set_params(alpha=3.0).alpha
    ({'alpha': 2.0}, 3.0)
    """

    @classmethod
    def _get_param_names(cls) -> list[str]:
        init = cls.__init__
        if init is object.__init__:
            return []
        params = inspect.signature(init).parameters.values()
        return sorted(p.name for p in params if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD))

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The constructor parameters and their current values."""
        out: dict[str, Any] = {}
        for name in self._get_param_names():
            value = getattr(self, name)
            if deep and hasattr(value, "get_params") and not isinstance(value, type):
                out.update((f"{name}__{k}", v) for k, v in value.get_params().items())
            out[name] = value
        return out

    def set_params(self, **params: Any) -> Estimator:
        """Set constructor parameters; unknown names raise ``ValueError`` naming them."""
        valid = set(self._get_param_names())
        for key, value in params.items():
            name, _, sub = key.partition("__")
            if name not in valid:
                raise ValueError(f"invalid parameter {name!r} for {type(self).__name__}; valid: {sorted(valid)}")
            if sub:
                getattr(self, name).set_params(**{sub: value})
            else:
                setattr(self, name, value)
        return self

    def __repr__(self) -> str:
        defaults = {
            p.name: p.default for p in inspect.signature(type(self).__init__).parameters.values() if p.name != "self"
        }
        changed = []
        for k, v in self.get_params(deep=False).items():
            try:
                same = v is defaults.get(k) or v == defaults.get(k)
            except ValueError:  # arrays: ambiguous truth value
                same = False
            if not (isinstance(same, bool) and same):
                changed.append(f"{k}={v!r}")
        return f"{type(self).__name__}({', '.join(changed)})"


def check_is_fitted(estimator: Any, attributes: str | list[str] | None = None) -> None:
    """Raise :class:`NotFittedError` unless ``fit`` has set the learned (``*_``) attributes."""
    if attributes is None:
        fitted = [k for k in vars(estimator) if k.endswith("_") and not k.startswith("__")]
    else:
        names = [attributes] if isinstance(attributes, str) else list(attributes)
        fitted = [a for a in names if hasattr(estimator, a)]
        fitted = fitted if len(fitted) == len(names) else []
    if not fitted:
        raise NotFittedError(f"this {type(estimator).__name__} is not fitted yet: call fit() first")
