"""The vectorised drift pass equals the point-by-point drift test (``_drift_point``, which it replaced in batch runs
and which streaming updates of a few points still run)."""

from __future__ import annotations

import copy

import numpy as np
from hypothesis import example, given, settings
from hypothesis import strategies as st

from cloudsage.core.models import anomaly as an


@settings(max_examples=60, deadline=None)
@example(seed=5, seg=24, n=1500, gap_share=0.0, ramp=0.05, cut=700)  # samples every 2 points, drift z non-zero
@example(seed=6, seg=24, n=1500, gap_share=0.2, ramp=0.05, cut=1499)  # a sample matures at a skipped point
@given(
    seed=st.integers(0, 2**31 - 1),
    seg=st.sampled_from([4, 12, 24, 48]),  # from 24 on, a sample is taken every 2+ points: most points are skipped
    n=st.integers(10, 1500),
    gap_share=st.sampled_from([0.0, 0.2, 0.6]),
    ramp=st.sampled_from([0.0, 0.05, -0.2]),
    cut=st.integers(0, 1500),
)
def test_drift_pass_equals_the_point_by_point_test(seed, seg, n, gap_share, ramp, cut):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n) + ramp * np.arange(n)
    valid = rng.random(n) >= gap_share
    cs = np.concatenate(([0.0], np.cumsum(np.where(valid, x, 0.0)))).tolist()
    cn = np.concatenate(([0], np.cumsum(valid))).tolist()
    scored = np.flatnonzero(valid)  # missing points are not scored: the scored points' times have holes
    ks = scored + 1
    ts = (scored + 7).tolist()  # a stream that started earlier
    sig = np.abs(rng.normal(size=scored.size)) + 0.1
    zthr = 3.0
    oracle, fast = an._DriftTest(seg), an._DriftTest(seg)
    want = [an._drift_point(oracle, cs, cn, int(k), t, float(s), zthr) for k, t, s in zip(ks, ts, sig, strict=True)]
    # in two passes split anywhere, the second over a window of the prefix sums (as the detector flushes them)
    m = scored.size
    cut = min(cut, m)
    z1, r1 = an._drift_pass(fast, np.asarray(cs), np.asarray(cn), ks[:cut], 0, ts[:cut], sig[:cut], zthr)
    base = max(0, int(ks[cut]) - an._DRIFT_SEGMENTS * seg) if cut < m else 0
    z2, r2 = an._drift_pass(
        fast, np.asarray(cs[base:]), np.asarray(cn[base:]), ks[cut:] - base, base, ts[cut:], sig[cut:], zthr
    )
    np.testing.assert_array_equal(np.concatenate([z1, z2]), [w[0] for w in want])
    np.testing.assert_array_equal(np.concatenate([r1, r2]), [w[1] for w in want])
    assert (fast.scale, fast.samples, fast.pending) == (oracle.scale, oracle.samples, oracle.pending)


def test_a_stream_in_chunks_equals_one_run_through_seasonality_switches_and_trims():
    """Chunk boundaries, seasonality re-fits (which restate the prefix sums) and history trims all flush the drift
    test; a stream fed in odd-sized chunks (the small ones run the drift test point by point) must give exactly the
    one-run trace."""
    rng = np.random.default_rng(3)
    n = 288 * 75  # long enough to trim the history (it keeps five weeks, trimmed at ten) and fit a daily profile
    t = np.arange(n)
    y = 50 + 10 * np.sin(2 * np.pi * t / 288) + rng.normal(0, 1, n) + np.where(t > 288 * 60, 0.004 * (t - 288 * 60), 0)
    y[rng.random(n) < 0.02] = np.nan
    y[288 * 50 : 288 * 50 + 30] += 40  # an incident: alerts, then the quiet period
    det = an.AnomalyDetector(**an.ALERT_DEFAULTS).fit(y)
    cfg = det.config_
    state = an._State()
    parts = []
    for lo, hi in [(0, 1000), (1000, 1001), (1001, 5000), (5000, 5003), (5003, 9000), (9000, n)]:
        parts.append(an._run(y[lo:hi], cfg, state))
    for name in ("z", "kind", "reference", "novelty", "suppressed"):
        np.testing.assert_array_equal(np.concatenate([getattr(p, name) for p in parts]), getattr(det.trace_, name))
    assert det.seasonality_ != "none" and state.hist_t0 > 0  # the profile was fitted and the history trimmed
    assert {an._KIND_DRIFT, an._KIND_NOVEL} <= set(det.trace_.kind.tolist())
    assert det.trace_.suppressed.any()
    assert copy.deepcopy(state).t == n


def test_the_pinned_examples_exercise_skipped_points_and_a_non_zero_statistic():
    rng = np.random.default_rng(5)
    n, seg = 1500, 24
    x = rng.normal(size=n) + 0.05 * np.arange(n)
    cs = np.concatenate(([0.0], np.cumsum(x)))
    cn = np.arange(n + 1)
    ks = np.arange(1, n + 1)
    z, _ = an._drift_pass(an._DriftTest(seg), cs, cn, ks, 0, (ks + 7).tolist(), np.ones(n), 3.0)
    assert np.count_nonzero(z) > 100 and seg // an._DRIFT_SAMPLES_PER_SEGMENT >= 2


@settings(max_examples=200, deadline=None)
@given(
    n=st.integers(1, 5000),
    seed=st.integers(0, 2**31 - 1),
    kind=st.sampled_from(["normal", "ties", "spiky"]),
)
def test_percentile_1_99_is_numpys_to_the_last_bit(n, seed, kind):
    rng = np.random.default_rng(seed)
    v = rng.normal(size=n)
    if kind == "ties":
        v = np.round(v * 3) / 3
    elif kind == "spiky":
        v = np.where(rng.random(n) < 0.02, v * 1e6, v)
    assert an._percentile_1_99(v.copy()) == tuple(float(x) for x in np.percentile(v, [1.0, 99.0]))


def _centered_mean_reference(x: np.ndarray, window: int) -> np.ndarray:  # the code before the fast paths
    ok = ~np.isnan(x)
    c = np.concatenate(([0.0], np.cumsum(np.where(ok, x, 0.0))))
    k = np.concatenate(([0], np.cumsum(ok)))
    n = x.shape[0]
    lo = np.clip(np.arange(n) - window // 2, 0, n)
    hi = np.clip(lo + window, 0, n)
    cnt = k[hi] - k[lo]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(cnt > 0, (c[hi] - c[lo]) / np.maximum(cnt, 1), np.nan)


def _lag_corr_reference(u: np.ndarray, lag: int) -> float:
    if lag >= u.shape[0]:
        return 0.0
    a, b = u[:-lag], u[lag:]
    ok = ~(np.isnan(a) | np.isnan(b))
    if ok.sum() < max(10, lag // 2):
        return 0.0
    lo, hi = np.percentile(u[~np.isnan(u)], [1.0, 99.0])
    a, b = np.clip(a[ok], lo, hi), np.clip(b[ok], lo, hi)
    a, b = a - a.mean(), b - b.mean()
    den = np.sqrt(float(np.sum(a * a)) * float(np.sum(b * b)))
    return float(np.sum(a * b)) / den if den > 0 else 0.0


@settings(max_examples=200, deadline=None)
@given(
    n=st.integers(1, 6000),
    seed=st.integers(0, 2**31 - 1),
    window=st.sampled_from([1, 2, 12, 288, 2016]),
    lag=st.sampled_from([1, 12, 288, 2016]),
    nan_share=st.sampled_from([0.0, 0.01, 0.5, 0.99, 1.0]),
    magnitude=st.integers(-3, 6),
)
def test_seasonality_statistics_equal_the_plain_numpy_code(n, seed, window, lag, nan_share, magnitude):
    rng = np.random.default_rng(seed)
    x = rng.normal(0, 10, n) * 10.0**magnitude + 1e3
    x[rng.random(n) < nan_share] = np.nan
    want = _centered_mean_reference(x, window)
    got = an._centered_mean(x, window)
    assert np.array_equal(got, want, equal_nan=True) and np.array_equal(np.signbit(got), np.signbit(want))
    u = x - want
    r1, r2 = an._lag_corr(u, lag), _lag_corr_reference(u, lag)
    assert r1 == r2 or (np.isnan(r1) and np.isnan(r2))


def _slot_median_reference(u, first_slot, n_slots, bin_steps=1, pool=0):  # the lexsort code before the fast path
    slot = ((first_slot + np.arange(u.shape[0])) % (n_slots * bin_steps)) // bin_steps
    ok = ~np.isnan(u)
    vals, slots = u[ok], slot[ok]
    if pool:
        vals = np.tile(vals, 2 * pool + 1)
        slots = np.concatenate([(slots + k) % n_slots for k in range(-pool, pool + 1)])
    out = np.zeros(n_slots)
    order = np.lexsort((vals, slots))
    s_sorted, v_sorted = slots[order], vals[order]
    starts = np.searchsorted(s_sorted, np.arange(n_slots), "left")
    ends = np.searchsorted(s_sorted, np.arange(n_slots), "right")
    has = ends > starts
    lo, hi = (starts + ends - 1) // 2, (starts + ends) // 2
    out[has] = 0.5 * (v_sorted[lo[has]] + v_sorted[np.minimum(hi[has], ends[has] - 1)])
    return out


@settings(max_examples=200, deadline=None)
@given(
    n=st.integers(0, 6000),
    seed=st.integers(0, 2**31 - 1),
    layout=st.sampled_from([(288, 1, 1), (288, 1, 0), (168, 12, 0), (24, 1, 1), (3, 1, 1), (1, 1, 0)]),
    kind=st.sampled_from(["normal", "ties", "zeros", "signed zeros", "gappy"]),
)
def test_slot_median_equals_the_lexsort_code(n, seed, layout, kind):
    rng = np.random.default_rng(seed)
    n_slots, bin_steps, pool = layout
    u = rng.normal(size=n)
    if kind == "ties":
        u = np.round(u, 1)
    elif kind == "zeros":
        u[rng.random(n) < 0.3] = 0.0
    elif kind == "signed zeros":
        u[rng.random(n) < 0.3] = 0.0
        u[rng.random(n) < 0.1] = -0.0
    elif kind == "gappy":
        u[rng.random(n) < 0.5] = np.nan
    first = int(rng.integers(0, n_slots * bin_steps))
    want = _slot_median_reference(u, first, n_slots, bin_steps, pool)
    got = an._slot_median(u, first, n_slots, bin_steps, pool)
    assert np.array_equal(got, want) and np.array_equal(np.signbit(got), np.signbit(want))
