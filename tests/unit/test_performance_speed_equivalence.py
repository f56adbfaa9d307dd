"""The fast paths of the capacity model give the very same floats as the direct computations they replace.

Each test compares bit for bit (``_same``): a fast path that moves any output by one ulp is a bug here.
"""

from __future__ import annotations

import json
import math
import warnings
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cloudsage.core.loadtest import LoadPoint
from cloudsage.core.models import performance as perf
from cloudsage.core.results import jsonable


def _same(a: Any, b: Any) -> bool:
    """Bit-identical floats (NaN equals NaN, 0.0 differs from -0.0), element by element."""
    a_arr, b_arr = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a_arr.shape != b_arr.shape:
        return False
    both_nan = np.isnan(a_arr) & np.isnan(b_arr)
    bits = a_arr.view(np.int64) == b_arr.view(np.int64)
    return bool(np.all(both_nan | bits))


# ------------------------------------------------------------------------------ the direct computations
def _erlang_c_direct(m: int, a: np.ndarray | float) -> np.ndarray:
    a_arr = np.atleast_1d(np.asarray(a, dtype=np.float64))
    b = np.ones_like(a_arr)
    for k in range(1, int(m) + 1):
        b = a_arr * b / (k + a_arr * b)
    rho = a_arr / m
    with np.errstate(divide="ignore", invalid="ignore"):
        c = b / (1.0 - rho * (1.0 - b))
    return np.where(rho >= 1.0, 1.0, np.clip(c, 0.0, 1.0))


def _sojourn_quantile_direct(q: float, s: float, c: float, theta: float) -> float:
    from scipy.optimize import brentq

    mu = 1.0 / s
    if not math.isfinite(theta) or theta <= 0:
        return math.inf

    def cdf(t: float) -> float:
        base = 1.0 - math.exp(-mu * t)
        if abs(theta - mu) < 1e-9 * mu:
            h = 1.0 - math.exp(-mu * t) * (1.0 + mu * t)
        else:
            h = 1.0 - (theta * math.exp(-mu * t) - mu * math.exp(-theta * t)) / (theta - mu)
        return (1.0 - c) * base + c * h - q

    hi = s
    while cdf(hi) < 0:
        hi *= 2.0
        if hi > 1e9 * s:
            return math.inf
    return float(brentq(cdf, 0.0, hi, xtol=1e-12 * max(s, 1e-9), rtol=1e-10))


def _q95_direct(m: int, s: float, rho: float, v: float) -> float:
    c = float(_erlang_c_direct(m, rho * m)[0]) if rho > 0 else 0.0
    theta = (m / s) * (1.0 - rho) / v if rho < 1.0 else 0.0
    if c <= 0.0:
        return -s * math.log(0.05)
    return _sojourn_quantile_direct(0.95, s, c, theta)


def _boot_direct(ceil: Any, points: list[LoadPoint], rng: np.random.Generator, n: int) -> np.ndarray:
    return np.array([perf._boot_ceiling(ceil, points, rng, True) for _ in range(n)])


# ------------------------------------------------------------------------------ queueing maths
@settings(max_examples=200, deadline=None)
@given(
    m=st.integers(1, 12),
    a=st.lists(st.floats(0.0, 15.0, allow_nan=False), min_size=1, max_size=20),
)
def test_erlang_c_equals_the_direct_recursion(m: int, a: list[float]) -> None:
    assert _same(perf.erlang_c(m, np.array(a)), _erlang_c_direct(m, np.array(a)))


@settings(max_examples=300, deadline=None)
@given(
    s=st.floats(1e-5, 10.0),
    c=st.floats(1e-6, 1.0),
    theta_ratio=st.one_of(st.floats(1e-3, 1e3), st.just(1.0), st.just(1.0 + 1e-12)),
)
def test_sojourn_quantile_equals_public_brentq(s: float, c: float, theta_ratio: float) -> None:
    theta = theta_ratio / s
    want = _sojourn_quantile_direct(0.95, s, c, theta)
    assert _same(perf._sojourn_quantile(0.95, s, c, theta), want)


@settings(max_examples=200, deadline=None)
@given(m=st.integers(1, 8), s=st.floats(1e-4, 1.0), rho=st.floats(0.0, 0.999999), v=st.floats(0.25, 10.0))
def test_q95_with_a_known_erlang_c_equals_the_direct_q95(m: int, s: float, rho: float, v: float) -> None:
    c = float(perf.erlang_c(m, np.array([rho]) * m)[0])
    want = _q95_direct(m, s, rho, v)
    assert _same(perf._q95(m, s, rho, v), want)
    assert _same(perf._q95(m, s, rho, v, c), want)


@settings(max_examples=40, deadline=None)
@given(
    m_open=st.integers(1, 6),
    v=st.floats(0.25, 4.0),
    x_max=st.floats(10.0, 5000.0),
    fractions=st.lists(st.floats(0.0001, 1.3), min_size=1, max_size=30),
)
def test_open_at_equals_one_direct_q95_per_rate(m_open: int, v: float, x_max: float, fractions: list[float]) -> None:
    # Given a fitted-state stub and arrival rates on both sides of saturation (and at the 0.999999 clip)
    model = perf.PerformancePredictor()
    model.params_ = perf._Params("open", x_max, 1.0, 0.01, 0.0, m_open, m_open / x_max, 0.003, v, 0.02, None, False)
    lam = np.array([*fractions, 0.999999, 0.9999995]) * x_max
    # When the mean and p95 are computed
    mean, p95 = model._open_at(lam, x_max)
    # Then the mean is the mean-only path's and each p95 the direct per-rate computation
    assert _same(mean, model._open_mean(lam, x_max)[0])
    s = m_open / x_max
    q0 = _q95_direct(m_open, s, 0.0, v)
    want = [0.02 + (_q95_direct(m_open, s, float(r), v) - q0) if r < 1.0 else math.inf for r in lam / x_max]
    assert _same(p95, want)


# ------------------------------------------------------------------------------ medians
finite_or_special = st.one_of(
    st.floats(-1e6, 1e6, allow_nan=False),
    st.sampled_from([0.0, -0.0, 1.0, math.nan, math.inf, -math.inf]),
)


@settings(max_examples=400, deadline=None)
@given(values=st.lists(finite_or_special, min_size=1, max_size=40))
def test_median_equals_numpy(values: list[float]) -> None:
    a = np.array(values, dtype=np.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        want = float(np.median(a))
        got = perf._median(a)  # warns where numpy warns (inf - inf in the middle pair)
    assert _same(got, want)
    assert _same(a, values)  # the input is left alone


@settings(max_examples=300, deadline=None)
@given(cols=st.lists(st.lists(finite_or_special, min_size=3, max_size=3), min_size=1, max_size=30))
def test_nanmedian_rows3_equals_numpy(cols: list[list[float]]) -> None:
    win = np.array(cols, dtype=np.float64).T
    win = np.where(np.isfinite(win), win, np.nan)  # what forecast_peak passes
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        want = np.nanmedian(win, axis=0)
        got = perf._nanmedian_rows3(win)
    assert _same(got, want)


@settings(max_examples=300, deadline=None)
@given(
    values=st.lists(
        st.one_of(st.floats(-1e6, -1e-6), st.floats(1e-6, 1e6), st.sampled_from([1.0, 2.0])),
        min_size=1,
        max_size=25,
    ),
    seed=st.integers(0, 2**16),
)
def test_masked_median_equals_numpy_per_row(values: list[float], seed: int) -> None:
    vals = np.array(values)
    mask = np.random.default_rng(seed).random((12, vals.size)) < 0.6
    got = perf._masked_median(vals, mask)
    for row, sel in enumerate(mask):
        want = float(np.median(vals[sel])) if sel.any() else math.inf
        assert _same(got[row], want)


# ------------------------------------------------------------------------------ bootstrap
def test_one_batch_of_integers_is_the_stream_of_many_calls() -> None:
    # the premise of the batched bootstrap draws, for every bit generator numpy ships
    for bitgen in (np.random.PCG64, np.random.PCG64DXSM, np.random.MT19937, np.random.Philox, np.random.SFC64):
        for seed, n in [(0, 2), (1, 3), (2, 13), (3, 16), (4, 100)]:
            a, b = np.random.Generator(bitgen(seed)), np.random.Generator(bitgen(seed))
            a.integers(0, 5, 3)
            b.integers(0, 5, 3)  # start from an odd 32-bit buffer
            seq = np.stack([a.integers(0, n, n) for _ in range(41)])
            assert np.array_equal(seq, b.integers(0, n, (41, n)))
            assert a.random() == b.random()


def _open_points(
    rates: list[float], cpu: list[float | None], other: list[float | None], cores: float, sat: list[bool]
) -> list[LoadPoint]:
    pts = []
    for i, (lam, w, o, short) in enumerate(zip(rates, cpu, other, sat, strict=True)):
        thr = lam * (0.9 if short else 1.0)
        pts.append(
            LoadPoint(
                "open",
                lam,
                thr,
                0.01,
                server_cpu_cores=math.nan if w is None else w,
                other_cpu_cores=math.nan if o is None else o,
                host_cpus=cores,
                rep=i + 1,
            )
        )
    return pts


@st.composite
def open_steps(draw: Any) -> tuple[list[LoadPoint], float]:
    n = draw(st.integers(2, 16))
    rates = sorted(draw(st.lists(st.floats(1.0, 2000.0), min_size=n, max_size=n, unique=True)))
    if draw(st.booleans()):  # CloudWatch-like: CPU rising with the rate, plus noise
        d, u0 = draw(st.floats(1e-4, 5e-3)), draw(st.floats(0.0, 0.5))
        noise = draw(st.lists(st.floats(-0.3, 0.3), min_size=n, max_size=n))
        cpu: list[float | None] = [max(u0 + d * r + e, 0.001) for r, e in zip(rates, noise, strict=True)]
    else:
        cpu = draw(st.lists(st.one_of(st.none(), st.floats(0.001, 8.0), st.just(0.0)), min_size=n, max_size=n))
    other = draw(st.lists(st.one_of(st.none(), st.floats(0.0, 2.0)), min_size=n, max_size=n))
    sat = [False] * (n - 1) + [draw(st.booleans())]
    cores = draw(st.sampled_from([1.0, 2.0, 4.0, math.nan]))
    return _open_points(rates, cpu, other, cores, sat), cores


@settings(max_examples=150, deadline=None)
@given(steps=open_steps(), scope=st.sampled_from(["host", "process"]), seed=st.integers(0, 2**32 - 1))
def test_pairs_bootstrap_equals_one_resample_at_a_time(
    steps: tuple[list[LoadPoint], float], scope: str, seed: int
) -> None:
    # Given open-loop steps with distinct rates (CloudWatch bins), with or without usable CPU
    points, cores = steps
    has_cpu = all(math.isfinite(p.server_cpu_cores) for p in points)
    ceil = perf._Ceiling("open", cores, math.nan, has_cpu, scope, 0.0)
    fast_rng, slow_rng = np.random.default_rng(seed), np.random.default_rng(seed)
    # When the ceilings of 60 resamples are computed both ways
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        fast = perf._boot_ceilings(ceil, points, fast_rng, True, 60)
        slow = _boot_direct(ceil, points, slow_rng, 60)
    # Then they are the same numbers, and the generator is left in the same state
    assert _same(fast, slow)
    assert fast_rng.random() == slow_rng.random()


def test_pairs_bootstrap_takes_the_fast_path_on_cloudwatch_bins() -> None:
    from cloudsage.local.demo import build_demo_fleet

    res = {r.resource_id: r for r in build_demo_fleet().to_resource_metrics()}["web-api-asg"]
    test = perf.operational_points(res)
    points = list(test.points)
    ceil = perf._Ceiling("open", points[0].host_cpus, math.nan, True, test.cpu_scope, 0.0)
    assert perf._PairsBootstrap.build(ceil, points, True) is not None
    fast = perf._boot_ceilings(ceil, points, np.random.default_rng(0), True, 200)
    assert _same(fast, _boot_direct(ceil, points, np.random.default_rng(0), 200))


def test_repeated_levels_keep_the_stratified_bootstrap() -> None:
    pts = _open_points([10.0, 10.0, 20.0, 20.0], [0.1, 0.11, 0.2, 0.21], [None] * 4, 2.0, [False] * 4)
    ceil = perf._Ceiling("open", 2.0, math.nan, True, "host", 0.0)
    assert perf._PairsBootstrap.build(ceil, pts, True) is None
    got = perf._boot_ceilings(ceil, pts, np.random.default_rng(3), True, 30)
    assert _same(got, _boot_direct(ceil, pts, np.random.default_rng(3), 30))


# ------------------------------------------------------------------------------ whole model
@pytest.mark.parametrize("rid", ["web-api-asg", "orders-processor"])
def test_analyze_is_unchanged_without_the_fast_paths(rid: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a demo resource analysed with every fast path
    from cloudsage.local.demo import build_demo_fleet

    res = {r.resource_id: r for r in build_demo_fleet().to_resource_metrics()}[rid]
    fast = json.dumps(perf.analyze(res).to_dict(), sort_keys=True)
    # When the bootstrap, the medians and the p95 reuse fall back to the direct computations
    monkeypatch.setattr(perf._PairsBootstrap, "build", classmethod(lambda cls, *a: None))
    monkeypatch.setattr(perf, "_median", lambda a: float(np.median(a)))
    monkeypatch.setattr(perf, "_nanmedian_rows3", lambda w: np.nanmedian(w, axis=0))
    monkeypatch.setattr(perf, "_q95", lambda m, s, rho, v, c_known=None: _q95_direct(m, s, rho, v))
    monkeypatch.setattr(perf.PerformancePrediction, "to_dict", lambda self: jsonable(_fields(self)))
    slow = json.dumps(perf.analyze(res).to_dict(), sort_keys=True)
    # Then the output is the same JSON
    assert fast == slow


def _fields(obj: Any) -> dict[str, Any]:
    from dataclasses import fields

    return {f.name: getattr(obj, f.name) for f in fields(obj)}
