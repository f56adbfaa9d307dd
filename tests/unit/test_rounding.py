"""rounded6 returns exactly ``float(f"{v:.6g}")`` (``None`` for NaN and infinities), bit for bit."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from cloudsage.core.rounding import rounded6, rounded_to


def _reference(values: np.ndarray | list[float]) -> list[float | None]:
    return [float(f"{v:.6g}") if math.isfinite(v) else None for v in np.asarray(values, dtype=np.float64).tolist()]


def _assert_same(values: np.ndarray | list[float]) -> None:
    got, want = rounded6(values), _reference(values)
    assert len(got) == len(want)
    for v, g, w in zip(np.asarray(values, dtype=np.float64).tolist(), got, want, strict=True):
        if w is None:
            assert g is None, v
        else:  # same bits: equal values and the same sign of zero
            assert g is not None and g == w and math.copysign(1.0, g) == math.copysign(1.0, w), (v, g, w)
            assert type(g) is float


def _near_ties(rng: np.random.Generator, n: int) -> np.ndarray:
    """Seven-digit decimals ending in 5 (six-digit ties), over many exponents, and their neighbours a few ulps away."""
    mant = rng.integers(10**5, 10**6, n) * 10 + 5
    exp = rng.integers(-30, 32, n)
    base = np.array([float(f"{m}e{e}") for m, e in zip(mant.tolist(), exp.tolist(), strict=True)])
    out = base.copy()
    for ulps in (-2, -1, 1, 2):
        sel = rng.integers(-2, 3, n) == ulps
        x = base[sel]
        for _ in range(abs(ulps)):
            x = np.nextafter(x, math.copysign(math.inf, ulps))
        out[sel] = x
    return out * np.where(rng.random(n) < 0.5, -1.0, 1.0)


@settings(max_examples=500, deadline=None)
@given(st.lists(st.floats(allow_nan=True, allow_infinity=True, allow_subnormal=True), max_size=50))
@example([0.0, -0.0, 1.0, -1.0, 1e5, 1e6, 999999.5, 9999995.0, 0.1, 5e-324, -5e-324, 1.7976931348623157e308])
@example([123456.5, 1234565.0, 2.5e-7, 1e22, 1e23, 1e28, 9.999995e27, 1e-17, 9.999995e-18, 100000.00000000001])
def test_rounded6_matches_float_format_on_any_doubles(values: list[float]) -> None:
    _assert_same(values)


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=0, max_value=2**64 - 1).map(lambda b: np.array([b], dtype=np.uint64).view(np.float64)[0]))
def test_rounded6_matches_on_random_bit_patterns(value: float) -> None:
    _assert_same([value])


@pytest.mark.parametrize("seed", range(3))
def test_rounded6_matches_on_random_arrays(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 40_000
    parts = [
        rng.integers(0, 2**64, n, dtype=np.uint64).view(np.float64),  # every finite double alike (and NaN, inf)
        np.where(rng.random(n) < 0.5, -1.0, 1.0) * 10.0 ** rng.uniform(-20.0, 30.0, n),  # log-uniform, both signs
        _near_ties(rng, n),
        rng.uniform(0.0, 100.0, n),  # percentages
        rng.integers(0, 10**9, n).astype(np.float64),  # counts, bytes
        10.0 ** rng.integers(-25, 30, n),  # powers of ten ...
        np.nextafter(10.0 ** rng.integers(-25, 30, n), np.where(rng.random(n) < 0.5, -np.inf, np.inf)),  # ... +-1 ulp
        rng.integers(0, 2**52, n, dtype=np.uint64).view(np.float64),  # subnormals
        np.array([0.0, -0.0, np.nan, np.inf, -np.inf] * 100),
    ]
    values = np.concatenate(parts)
    rng.shuffle(values)
    _assert_same(values)


def test_rounded6_accepts_lists_tuples_and_empty() -> None:
    _assert_same([])
    assert rounded6((1.23456789, float("nan"))) == [1.23457, None]
    assert rounded6(np.array([], dtype=np.float64)) == []
    for not_a_series in (np.ones((2, 2)), np.float64(1.5)):  # what the reference expression does with them
        with pytest.raises(TypeError):
            _reference(not_a_series)
        with pytest.raises(TypeError):
            rounded6(not_a_series)


@pytest.mark.slow
def test_rounded6_matches_on_a_million_values() -> None:
    # (the helper who wrote rounded6 also ran this at 10**7 values, 20 chunks: no difference)
    rng = np.random.default_rng(20261207)
    for chunk in range(8):
        n = 125_000
        kind = chunk % 4
        if kind == 0:
            values = rng.integers(0, 2**64, n, dtype=np.uint64).view(np.float64)
        elif kind == 1:
            values = np.where(rng.random(n) < 0.5, -1.0, 1.0) * 10.0 ** rng.uniform(-20.0, 30.0, n)
        elif kind == 2:
            values = _near_ties(rng, n)
        else:
            values = np.round(rng.uniform(-100.0, 100.0, n), int(rng.integers(0, 8)))
        got, want = rounded6(values), _reference(values)
        assert got == want  # None == None; equal floats (the bit-level check is in the tests above)
        zeros = [i for i, w in enumerate(want) if w == 0.0]
        assert all(math.copysign(1.0, got[i]) == math.copysign(1.0, want[i]) for i in zeros)  # type: ignore[arg-type]


def test_rounded6_puts_missing_where_a_value_is_not_finite() -> None:
    values = np.array([1.23456789, np.nan, np.inf, -0.0, -np.inf])
    got = rounded6(values, missing=math.nan)
    assert got[0] == 1.23457 and math.copysign(1.0, got[3]) == -1.0  # type: ignore[arg-type]
    assert all(math.isnan(g) for g in (got[1], got[2], got[4]))  # type: ignore[arg-type]
    assert rounded6(values)[1:3] == [None, None]


@settings(max_examples=300, deadline=None)
@given(
    values=st.lists(
        st.one_of(
            st.floats(allow_nan=True, allow_infinity=True),
            st.floats(0.0, 1.0),
            st.integers(0, 10**4).map(lambda k: (k + 0.5) / 1e4),  # ties at four places
        ),
        max_size=50,
    ),
    places=st.sampled_from([0, 1, 2, 4, 6]),
)
def test_rounded_to_is_round_bit_for_bit(values: list[float], places: int) -> None:
    got, want = rounded_to(values, places), [round(float(v), places) for v in values]
    assert [repr(g) for g in got] == [repr(w) for w in want]  # repr: -0.0, nan and inf compare too


def test_rounded_to_on_many_scores_and_near_ties() -> None:
    rng = np.random.default_rng(7)
    near = (np.floor(rng.random(100_000) * 1e4) + 0.5) / 1e4 + rng.integers(-3, 4, 100_000) * 2.0**-52
    for values in (rng.random(100_000), near, rng.normal(0, 1e6, 100_000)):
        assert rounded_to(values, 4) == [round(float(v), 4) for v in values.tolist()]
