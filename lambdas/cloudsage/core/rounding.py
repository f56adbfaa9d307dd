"""Six-significant-digit rounding of plot payloads, vectorised, bit-identical to ``float(f"{v:.6g}")``.

``float(f"{v:.6g}")`` is the double nearest to ``m * 10**(e - 5)``, where ``e`` is the decimal exponent of ``v``
and ``m`` the six-digit integer nearest to the exact ``v * 10**(5 - e)`` (ties to even; Python's formatting and
parsing are both correctly rounded). :func:`rounded6` computes the same thing with numpy:

* ``p = v * 10**k`` (``k = 5 - e``, or ``v / 10**-k`` for large ``v``) is one correctly rounded operation on
  exact operands (``10**j`` is an exact double for ``j <= 22``), so it is within half an ulp (< 6e-11 below
  ``2**20``) of the exact value. When ``p`` is at least ``_TIE_MARGIN`` away from a half-integer, ``rint(p)`` is
  therefore the exact value's nearest integer: ``m``.
* ``m / 10**k`` (or ``m * 10**-k``) is again one correctly rounded operation on exact operands (``m < 2**53``):
  the double nearest to ``m * 10**(e - 5)``, ties to even, as ``float()`` gives.
* ``e`` comes from ``floor(log10(|v|))``, which can be one off next to a power of ten; ``p`` must then land in
  ``[1e5, 1e6)``: an exact value of ``1e6`` or more rounds to at least ``1e6`` (excluded), and one below ``1e5``
  rounds to at most ``1e5``; ``p == 1e5`` there means an exact value within an ulp of ``1e5``, whose correct
  six-digit rounding one exponent lower is ``1e6 * 10**(e - 6)``: the same number as ``1e5 * 10**(e - 5)``.

Everything else (within the margin of a tie, ``|v| < 1e-17`` or ``>= 1e28``, a wrong exponent) takes the exact
formatting route, element by element. Zeros keep their sign (``f"{-0.0:.6g}"`` is ``"-0"``); NaN and
infinities become ``None``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

__all__ = ["rounded6", "rounded_to"]

_DIGITS = 6
_MAX_EXACT_POW10 = 22  # 10**22 is the largest power of ten that is an exact double
_POW10 = np.array([float(f"1e{j}") for j in range(_MAX_EXACT_POW10 + 1)])  # exact: parsed, not computed
_LOW, _HIGH = 10.0 ** (_DIGITS - 1), 10.0**_DIGITS  # 1e5 and 1e6, exact
_TIE_MARGIN = 1e-9  # far above half an ulp below 2**20 (5.8e-11): no rounding error crosses a tie


def _slow(v: float, missing: float | None = None) -> float | None:
    return float(f"{v:.6g}") if math.isfinite(v) else missing


def rounded6(values: Sequence[float] | np.ndarray, missing: float | None = None) -> list[float | None]:
    """``[float(f"{v:.6g}") if math.isfinite(v) else missing for v in values]``, the same floats bit for bit."""
    v = np.asarray(values, dtype=np.float64)
    if v.ndim != 1:  # not a plot series: the reference expression (and its errors) as they are
        return [_slow(x, missing) for x in v.tolist()]
    a = np.abs(v)
    nonzero = np.isfinite(v) & (a != 0.0)
    with np.errstate(all="ignore"):
        e = np.floor(np.log10(np.where(nonzero, a, 1.0)))
    k = (_DIGITS - 1) - e.astype(np.int64)  # p = v * 10**k has six digits before the point
    kc = np.clip(k, -_MAX_EXACT_POW10, _MAX_EXACT_POW10)
    scale = _POW10[np.abs(kc)]
    up = kc >= 0
    with np.errstate(all="ignore"):
        p = np.where(up, v * scale, v / scale)
        ap = np.abs(p)
        frac = ap - np.floor(ap)  # exact: ap < 2**53
        m = np.rint(p)
        r = np.where(up, m / scale, m * scale)
    fast = (
        nonzero
        & (k == kc)
        & (ap >= _LOW)
        & (ap < _HIGH)
        & (np.abs(frac - 0.5) > _TIE_MARGIN)  # the exact p rounds to the same integer as the computed one
    )
    zero = a == 0.0
    out: list[float | None] = np.where(zero, v, r).tolist()  # zeros as they are, sign included
    for i in np.flatnonzero(~(fast | zero)).tolist():
        out[i] = _slow(float(v[i]), missing)
    return out


def rounded_to(values: Sequence[float] | np.ndarray, places: int) -> list[float]:
    """``[round(float(v), places) for v in values]`` for 1-D finite values, the same floats bit for bit.

    ``round`` gives the double nearest to ``m / 10**places``, ``m`` the integer nearest to the exact
    ``v * 10**places`` (ties to even). The same argument as :func:`rounded6`: away from a tie, ``rint`` of the one
    correctly rounded product is that ``m``, and one correctly rounded division gives the double; values near a
    tie, large values and non-finite ones take ``round`` itself.
    """
    if not 0 <= places <= _MAX_EXACT_POW10:
        raise ValueError(f"places must be in [0, {_MAX_EXACT_POW10}], got {places}")
    v = np.asarray(values, dtype=np.float64)
    scale = _POW10[places]
    with np.errstate(all="ignore"):
        p = v * scale
        ap = np.abs(p)
        r = np.rint(p) / scale
        # the product is within half an ulp (ap * 2**-53) of the exact value: far less than this margin to a tie
        fast = np.isfinite(p) & (ap < 2.0**52) & (np.abs(ap - np.floor(ap) - 0.5) > _TIE_MARGIN * np.maximum(1.0, ap))
    out: list[float] = np.where(v == 0.0, v, r).tolist()  # zeros as they are, sign included (round keeps it)
    for i in np.flatnonzero(~fast & (v != 0.0)).tolist():
        out[i] = round(float(v[i]), places)
    return out
