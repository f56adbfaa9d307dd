"""The ScalingPredictor's faster helpers return the same bits as the straightforward code they replaced.

Each reference below is the previous implementation (or the scipy function it stood for), kept here verbatim; the
inputs cover the edge cases the shortcuts guard (ties, +0/-0, NaN, infinities, short and odd sizes).
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import theilslopes

from cloudsage.core.models import scaling as sc
from cloudsage.core.rounding import rounded6

DAY_S, WEEK_S = sc.DAY_S, sc.WEEK_S


def _same(a: object, b: object) -> bool:
    """Bit-identical arrays (or scalars), NaN payloads aside."""
    a_, b_ = np.asarray(a), np.asarray(b)
    if a_.shape != b_.shape or a_.dtype != b_.dtype:
        return False
    if a_.dtype.kind != "f":
        return bool(np.array_equal(a_, b_))
    nan = np.isnan(a_)
    return bool(np.array_equal(nan, np.isnan(b_)) and a_[~nan].tobytes() == b_[~nan].tobytes())


def _tricky(rng: np.random.Generator, n: int) -> np.ndarray:
    """Residual-like values with ties, exact zeros of both signs and a few large ones."""
    kind = int(rng.integers(0, 4))
    if kind == 0:
        return rng.standard_normal(n)
    if kind == 1:
        return np.round(rng.standard_normal(n))  # many ties, +0 and -0
    if kind == 2:
        x = rng.standard_normal(n)
        x[rng.random(n) < 0.5] = rng.choice([0.0, -0.0])
        return x
    return rng.choice(np.array([0.0, -0.0, 1.0, -1.0, 2.5]), n)


# ---------------------------------------------------------------------------------------------- medians
def _median_ref(x: np.ndarray) -> float:
    k = x.size // 2
    part = x.copy()
    part.partition([k - 1, k] if x.size % 2 == 0 else k)
    return float(part[k]) if x.size % 2 else 0.5 * float(part[k - 1] + part[k])


@pytest.mark.parametrize("seed", range(4))
def test_median_is_the_two_point_partition_median(seed: int) -> None:
    rng = np.random.default_rng(seed)
    for _ in range(400):
        x = _tricky(rng, int(rng.integers(1, 300)))
        if rng.random() < 0.1:
            x[rng.integers(0, x.size)] = np.nan
        got, want = sc._median(x), _median_ref(x)
        assert _same(got, want), x


def _gap_scales_ref(states: np.ndarray) -> list[float]:
    gaps = np.ascontiguousarray((states[:, 1:2] - states[:, 2:]).T)
    n = gaps.shape[1]
    if n == 0:
        return [0.0] * gaps.shape[0]
    k = n // 2
    kth = [k - 1, k] if n % 2 == 0 else k

    def medians(m: np.ndarray) -> np.ndarray:
        part = np.partition(m, kth, axis=1)
        out: np.ndarray = part[:, k] if n % 2 else 0.5 * (part[:, k - 1] + part[:, k])
        return out

    mad = medians(np.abs(gaps - medians(gaps)[:, None])) * 1.4826
    out = mad.tolist()
    for j, v in enumerate(out):
        if not v > 0:
            g = gaps[j]
            out[j] = float(np.mean(np.abs(g - np.mean(g)))) * 1.2533
    return out


@pytest.mark.parametrize("seed", range(3))
def test_gap_scales_match(seed: int) -> None:
    rng = np.random.default_rng(seed)
    for _ in range(200):
        n = int(rng.integers(0, 200))
        states = np.column_stack([_tricky(rng, n) for _ in range(5)]) if n else np.empty((0, 5))
        if rng.random() < 0.3 and n:
            states[:, 2] = states[:, 1]  # a zero gap: medians of 0
        got, want = sc._gap_scales(states), _gap_scales_ref(states)
        assert all(_same(g, w) for g, w in zip(got, want, strict=True))


# ---------------------------------------------------------------------------------------------- design matrix
def _design_matrix_ref(t: np.ndarray, design: sc._Design, period: int | None = None) -> np.ndarray:
    n = len(t)
    out = np.empty((n, design.n_cols))
    out[:, 0] = 1.0

    def cycle(season_s: int) -> tuple[np.ndarray, np.ndarray | None]:
        if period is not None and season_s % period == 0 and n > season_s // period:
            steps = season_s // period
            return t[:steps], np.arange(n) % steps
        return t, None

    col = 1
    if design.daily:
        tt, idx = cycle(DAY_S)
        z = np.exp(2j * np.pi * (tt % DAY_S) / DAY_S)
        zk = np.cumprod(np.broadcast_to(z[:, None], (len(tt), design.daily)), axis=1)
        if idx is not None:
            zk = zk[idx]
        out[:, col : col + design.daily] = zk.real
        out[:, col + design.daily : col + 2 * design.daily] = zk.imag
        col += 2 * design.daily
    if design.weekly:
        tt, idx = cycle(WEEK_S)
        phase = 2.0 * np.pi * (tt % WEEK_S) / WEEK_S
        arg = np.outer(phase, np.asarray(design.weekly, dtype=np.float64))
        c, s_ = np.cos(arg), np.sin(arg)
        if idx is not None:
            c, s_ = c[idx], s_[idx]
        m = len(design.weekly)
        out[:, col : col + m] = c
        out[:, col + m : col + 2 * m] = s_
    return out


@pytest.mark.parametrize("period", [7, 60, 300, 900, 1000, 3600, 7200, 50400, 86400])
def test_design_matrix_matches(period: int) -> None:
    designs = [(0, ()), (1, ()), (12, ()), (3, (1,)), (12, (1, 2, 3)), (0, (1, 2, 3))]
    for n in (1, 2, 5, 287, 288, 289, 2015, 2016, 2017, 4032, 4033, 9000):
        for start in (0.0, 1_795_132_800.0, 1.7e9 + 123.0):
            t = start + period * np.arange(n, dtype=np.float64)
            for daily, weekly in designs:
                design = sc._Design("x", daily, weekly)
                for per in (period, None):
                    assert _same(sc._design_matrix(t, design, per), _design_matrix_ref(t, design, per))
                cached = sc._grid_design_matrix(t, design, period)
                assert _same(cached, _design_matrix_ref(t, design, period))
                assert not cached.flags.writeable  # shared between forecasts: nobody may write into it


def test_grid_design_matrix_is_shared_per_grid_only() -> None:
    t = 1_795_132_800.0 + 300 * np.arange(4032, dtype=np.float64)
    design = sc._Design("daily+weekly", 12, (1, 2, 3))
    assert sc._grid_design_matrix(t, design, 300) is sc._grid_design_matrix(t.copy(), design, 300)
    assert sc._grid_design_matrix(t + 300, design, 300) is not sc._grid_design_matrix(t, design, 300)


# ---------------------------------------------------------------------------------------------- plot helpers
def _bucket_ref(values: np.ndarray, size: int, how: str) -> np.ndarray:
    n = len(values)
    pad = (-n) % size
    arr = np.r_[values, np.full(pad, np.nan)].reshape(-1, size)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        if how == "min":
            return np.asarray(np.nanmin(arr, axis=1))
        if how == "max":
            return np.asarray(np.nanmax(arr, axis=1))
        return np.asarray(np.nanmean(arr, axis=1))


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.floats(allow_nan=True, allow_infinity=True), min_size=1, max_size=40),
    st.sampled_from(["mean", "min", "max"]),
)
def test_bucket_of_one_matches(values: list[float], how: str) -> None:
    v = np.asarray(values, dtype=np.float64)
    assert _same(sc._bucket(v, 1, how), _bucket_ref(v, 1, how))
    assert rounded6(sc._bucket(v, 1, how)) == rounded6(_bucket_ref(v, 1, how))


def test_int_list_matches() -> None:
    rng = np.random.default_rng(0)
    for ts in (
        1_795_132_800.0 + 300 * np.arange(600, dtype=np.float64),
        rng.uniform(-1e12, 1e12, 500),
        np.array([-0.5, 0.5, -1.5, 2.9999, -2.9999, 0.0, -0.0]),
    ):
        got, want = sc._int_list(ts), [int(t) for t in ts]
        assert got == want and all(type(g) is int for g in got)
    with pytest.raises(ValueError):
        sc._int_list(np.array([1.0, np.nan]))


# ---------------------------------------------------------------------------------------------- quantile table
def _quantile_table_ref(errors: list[np.ndarray], qs: tuple[float, ...]) -> np.ndarray:
    g = len(errors)
    q_arr = np.asarray(qs, dtype=np.float64)
    sizes = np.array([e.size for e in errors], dtype=np.int64)
    tab = np.zeros((len(qs), g))
    good = sizes >= 10
    if good.any():
        pad = np.full((g, int(sizes.max())), np.inf)
        for j, e in enumerate(errors):
            pad[j, : e.size] = e
        srt = np.sort(pad, axis=1)
        pos = q_arr[:, None] * (np.maximum(sizes, 1) - 1)[None, :]
        lo = np.floor(pos).astype(np.int64)
        hi = np.minimum(lo + 1, np.maximum(sizes - 1, 0)[None, :])
        cols = np.arange(g)[None, :]
        s_lo, s_hi = srt[cols, lo], srt[cols, hi]
        vals = s_lo + (pos - lo) * (s_hi - s_lo)
        src = np.maximum.accumulate(np.where(good, np.arange(g), -1))
        tab = np.where(src >= 0, vals[:, np.maximum(src, 0)], 0.0)
    for i, q in enumerate(qs):
        if q > 0.5:
            tab[i] = np.maximum.accumulate(tab[i])
        elif q < 0.5:
            tab[i] = np.minimum.accumulate(tab[i])
    return tab


@pytest.mark.parametrize("seed", range(3))
def test_quantile_table_matches(seed: int) -> None:
    rng = np.random.default_rng(seed)
    with np.errstate(all="ignore"):
        for it in range(300):
            errors = []
            for _ in range(int(rng.integers(1, 20))):
                e = _tricky(rng, int(rng.integers(0, 60) if it % 3 == 0 else rng.integers(10, 400)))
                if it % 11 == 0 and e.size:
                    e[0] = [np.nan, np.inf, -np.inf][it % 3]
                errors.append(e)
            assert _same(sc._quantile_table(errors, sc._QUANTILES), _quantile_table_ref(errors, sc._QUANTILES))


# ---------------------------------------------------------------------------------------------- scipy stand-ins
@pytest.mark.parametrize("seed", range(3))
def test_theil_sen_matches_scipy(seed: int) -> None:
    rng = np.random.default_rng(seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for it in range(300):
            n = int(rng.integers(2, 150))
            x = rng.uniform(0.0, 100.0, n)
            if it % 4 == 1:
                x = rng.integers(0, 5, n).astype(np.float64)  # tied x: repeats enter the interval
            y = 3.0 + 0.1 * x + rng.standard_normal(n) * (0.0 if it % 7 == 0 else 1.0)
            if it % 4 == 3:
                y = np.round(y)  # zero slopes
            if it % 13 == 0:
                y[0] = np.inf
            for alpha in (0.9, 0.95, 0.1):
                want = tuple(theilslopes(y, x, alpha=alpha))
                got = sc._theil_sen_ci(y, x, alpha)
                assert all(_same(g, w) and type(g) is type(w) for g, w in zip(got, want, strict=True))


def test_rounded_is_rounded6() -> None:
    v = np.array([1.234567891, -0.0, np.nan, 123456789.0, 1e-300])
    assert sc._rounded(v) == [float(f"{x:.6g}") if math.isfinite(x) else None for x in v.tolist()]
