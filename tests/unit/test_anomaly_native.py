"""The compiled anomaly kernel (``cloudsage/core/_native/anomaly.c``) gives the Python code's results to the last bit.

``make test`` builds it first (``make native``); where the machine has a C compiler, a missing kernel is a failure,
not a skip, so CI always runs these comparisons.
"""

from __future__ import annotations

import csv
import dataclasses
import itertools
import shutil
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cloudsage.core import native
from cloudsage.core.models import anomaly as an

NAB = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "nab" / "data"


@pytest.fixture(scope="module")
def lib():
    found = native.library()
    if found is None:
        if shutil.which("cc") is None:
            pytest.skip("no C compiler on this machine: the Python code runs (same results)")
        pytest.fail(f"{native.LIBRARY_NAME} is missing or stale: run `make native`")
    return found


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    a, b = np.asarray(a), np.asarray(b)
    if a.dtype.kind == "f":  # NaN where NaN, and the sign of zero too
        return np.array_equal(a, b, equal_nan=True) and np.array_equal(np.signbit(a), np.signbit(b))
    return a.dtype == b.dtype and np.array_equal(a, b)


def _assert_same_run(values: np.ndarray, period: int, params: dict, chunks: list[int]) -> None:
    cfg = an._Config.build(period, params)
    py_state, c_state = an._State(), an._State()
    pos = 0
    for size in chunks:
        part = values[pos : pos + size]
        pos += size
        want = an._run(part, cfg, py_state, native=False)
        got = an._run(part, cfg, c_state, native=True)
        for f in dataclasses.fields(want):
            assert _same(getattr(want, f.name), getattr(got, f.name)), (f.name, pos)
    for f in dataclasses.fields(py_state):  # the state carried to the next chunk too (repr: exact floats, types)
        assert repr(getattr(py_state, f.name)) == repr(getattr(c_state, f.name)), f.name


def _series(seed: int, n: int, period: int, nan_share: float, spikes: int, step: float, quantised: bool) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    y = 50 + rng.normal(0, 1, n) + 8 * np.sin(2 * np.pi * t * period / 86_400)
    for _ in range(spikes):  # bursts, some at the same time of day (habits)
        a = int(rng.integers(0, n))
        y[a : a + int(rng.integers(1, 30))] += rng.normal(0, 25)
    y[n // 2 :] += step  # a level shift: re-anchors, maybe a revert
    y[rng.random(n) < nan_share] = np.nan
    if rng.random() < 0.3:
        a = int(rng.integers(0, n))
        y[a : a + int(rng.integers(10, 300))] = np.nan  # a long gap: the level restarts
    return np.round(y) if quantised else y


PARAMS = [
    {},
    an.ALERT_DEFAULTS,
    {"seasonality": "daily"},
    {"seasonality": "weekly", "adapt_s": 1800.0},
    {"drift_window_s": 0.0},
    {"seasonality": "none", "min_scale": 0.5},
]


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**31 - 1),
    n=st.integers(30, 5000),
    period=st.sampled_from([60, 300, 900, 3600]),
    nan_share=st.sampled_from([0.0, 0.02, 0.3]),
    spikes=st.integers(0, 40),
    step=st.sampled_from([0.0, 15.0, -40.0]),
    quantised=st.booleans(),
    params=st.sampled_from(PARAMS),
    cuts=st.lists(st.floats(0.0, 1.0), max_size=3),
)
def test_kernel_equals_python(lib, seed, n, period, nan_share, spikes, step, quantised, params, cuts):
    y = _series(seed, n, period, nan_share, spikes, step, quantised)
    edges = sorted({0, n, *(int(c * n) for c in cuts)})
    _assert_same_run(y, period, params, [b - a for a, b in itertools.pairwise(edges)])


def test_kernel_equals_python_over_weeks_with_trims_and_switches(lib):
    """Long enough to fit daily then weekly profiles and to trim the history (five weeks kept, trimmed at ten)."""
    rng = np.random.default_rng(7)
    n = 288 * 75
    t = np.arange(n)
    y = 50 + 10 * np.sin(2 * np.pi * t / 288) + 5 * ((t // 288) % 7 >= 5) + rng.normal(0, 1, n)
    y[(t % 288 == 100) & (rng.random(n) < 0.8)] += 30  # a nightly job: a habit
    y[rng.random(n) < 0.02] = np.nan
    _assert_same_run(y, 300, {}, [n])
    _assert_same_run(y, 300, an.ALERT_DEFAULTS, [5000, 17, 10_000, n])


@pytest.mark.skipif(not NAB.is_dir(), reason="needs ../shared/data/nab")
def test_kernel_equals_python_on_nab(lib):
    files = sorted(NAB.rglob("*.csv"))[::4]
    assert files
    for f in files:
        with f.open() as fh:
            y = np.array([float(r[1]) for r in list(csv.reader(fh))[1:]])
        _assert_same_run(y, 300, an.ALERT_DEFAULTS, [len(y)])


def test_analyze_is_the_same_with_and_without_the_kernel(lib, monkeypatch):
    from cloudsage.local.demo import build_demo_fleet

    resources = build_demo_fleet().to_resource_metrics()
    outputs = {}
    for flag in (False, True):
        run = an._run
        monkeypatch.setattr(an, "_run", lambda v, cfg, s, native=None, _r=run, _f=flag: _r(v, cfg, s, native=_f))
        outputs[flag] = [an.analyze(r).to_dict() for r in resources]
        monkeypatch.setattr(an, "_run", run)
    assert outputs[True] == outputs[False]


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**31 - 1),
    seg=st.sampled_from([4, 12, 24, 48]),
    n=st.integers(10, 1500),
    gap_share=st.sampled_from([0.0, 0.2, 0.6]),
    ramp=st.sampled_from([0.0, 0.05, -0.2]),
)
def test_drift_kernel_equals_the_point_by_point_test(lib, seed, seg, n, gap_share, ramp):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n) + ramp * np.arange(n)
    valid = rng.random(n) >= gap_share
    cs = np.concatenate(([0.0], np.cumsum(np.where(valid, x, 0.0))))
    cn = np.concatenate(([0], np.cumsum(valid)))
    scored = np.flatnonzero(valid)
    ks, ts = scored + 1, scored + 7
    sig = np.abs(rng.normal(size=scored.size)) + 0.1
    oracle, fast = an._DriftTest(seg), an._DriftTest(seg)
    want = [
        an._drift_point(oracle, cs.tolist(), cn.tolist(), int(k), int(t), float(s), 3.0)
        for k, t, s in zip(ks, ts, sig, strict=True)
    ]
    half = scored.size // 2  # in two calls: the samples and pending samples carry over
    z1, r1 = an._drift_native(lib, fast, cs, cn, ks[:half], 0, ts[:half], sig[:half], 3.0)
    z2, r2 = an._drift_native(lib, fast, cs, cn, ks[half:], 0, ts[half:], sig[half:], 3.0)
    assert _same(np.concatenate([z1, z2]), np.array([w[0] for w in want]))
    assert _same(np.concatenate([r1, r2]), np.array([w[1] for w in want]))
    assert repr((fast.scale, fast.samples, fast.pending)) == repr((oracle.scale, oracle.samples, oracle.pending))


def test_streaming_updates_chain_across_kernel_and_python_chunks(lib):
    """Long chunks run in the kernel, short ones (< _NATIVE_MIN) in Python: a stream mixing both equals one run."""
    y = _series(11, 3000, 300, 0.02, 20, 15.0, False)
    one = an.AnomalyDetector(novelty=0.0049, threshold=0.9975).fit(y)
    det = an.AnomalyDetector(novelty=0.0049, threshold=0.9975).fit(y[:1000])
    streamed = [det.update(y[a : a + k]) for a, k in ((1000, 1), (1001, 500), (1501, 3), (1504, 1496))]
    ref = an._run(y, det.config_, an._State(), native=False).alert_scores
    assert _same(np.concatenate(streamed), ref[1000:])
    assert one.n_points_ == det.n_points_


def test_switched_off_or_missing_kernel_runs_python(monkeypatch):
    monkeypatch.setenv("CLOUDSAGE_NATIVE", "0")
    native.library.cache_clear()
    try:
        assert native.library() is None
        y = _series(3, 800, 300, 0.0, 5, 0.0, False)
        cfg = an._Config.build(300, {})
        assert _same(an._run(y, cfg, an._State()).z, an._run(y, cfg, an._State(), native=False).z)
        with pytest.raises(RuntimeError, match="make native"):
            an._run(y, cfg, an._State(), native=True)
    finally:
        monkeypatch.delenv("CLOUDSAGE_NATIVE")
        native.library.cache_clear()


def test_a_library_of_another_abi_is_not_used(tmp_path, monkeypatch):
    if shutil.which("cc") is None:
        pytest.skip("no C compiler")
    src = tmp_path / "old.c"
    src.write_text("int cs_abi(void) { return 999; }\nint cs_layout(void) { return 0; }\n")
    out = tmp_path / "cloudsage_native" / native.LIBRARY_NAME
    monkeypatch.setattr(native, "SOURCES", (src,))
    native.build(out)
    monkeypatch.setattr(native, "_candidates", lambda: [out])
    native.library.cache_clear()
    try:
        assert native.library() is None
    finally:
        native.library.cache_clear()


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    util=st.lists(st.one_of(st.floats(-10.0, 150.0), st.just(float("nan"))), max_size=400),
    start=st.sampled_from([0.0, 0.5, 1.0]),
    vcpu=st.sampled_from([2, 8]),
)
def test_credit_kernel_equals_the_python_loop(lib, util, start, vcpu):
    """CostOptimizer's burstable credit balance: the compiled loop counts the same empty intervals."""
    from cloudsage.core.catalog import instance_spec
    from cloudsage.core.models import cost

    spec = instance_spec("t3.large" if vcpu == 2 else "t3.2xlarge")
    u = np.asarray(util, dtype=np.float64)
    got = cost.credit_exhausted_share(u, spec, 300.0, start)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(cost, "native_library", lambda: None)
        assert got == cost.credit_exhausted_share(u, spec, 300.0, start)


@settings(max_examples=150, deadline=None)
@given(
    seed=st.integers(0, 2**31 - 1),
    n=st.integers(1, 6000),
    window=st.sampled_from([12, 288, 2016]),
    lag=st.sampled_from([1, 12, 288, 2016]),
    nan_share=st.sampled_from([0.0, 0.01, 0.3, 1.0]),
    offset=st.sampled_from([0.0, 1e3, 1e9]),
    daily=st.sampled_from([0.0, 5.0]),
    rounded=st.booleans(),
)
def test_seasonality_correlation_kernel_is_within_its_bound(
    lib, seed, n, window, lag, nan_share, offset, daily, rounded
):
    """cs_season_acf equals numpy's correlation to well within the margin that _acf trusts it by, or says it can't."""
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    h = offset + rng.normal(0, 1, n) + daily * np.sin(2 * np.pi * t / 288)
    if rounded:
        h = np.round(h)
    h[rng.random(n) < nan_share] = np.nan
    exact = an._lag_corr(h - an._centered_mean(h, window), lag)
    work, out = np.empty(4 * (n + 1)), np.zeros(2)
    lib.cs_season_acf(h.ctypes.data, n, window, lag, work.ctypes.data, out.ctypes.data)
    if not out[1]:
        assert abs(out[0] - exact) <= 1e-3 * an._ACF_EXACT_MARGIN
    # and _acf gives numpy's value bit for bit near a threshold or when the kernel cannot bound its error
    assert an._acf(h, window, lag, lib, near=(exact,)) == exact
    assert an._acf(h, window, lag, None) == exact


def test_seasonality_correlation_of_a_flat_series_comes_from_numpy(lib):
    h = np.full(2000, 7.0)
    work, out = np.empty(4 * 2001), np.zeros(2)
    lib.cs_season_acf(h.ctypes.data, 2000, 288, 288, work.ctypes.data, out.ctypes.data)
    assert out[1] == 1.0  # the residuals are all zero: no bound on a correlation of rounding errors
    assert an._acf(h, 288, 288, lib, near=(0.3,)) == an._lag_corr(h - an._centered_mean(h, 288), 288)
