"""The vectorised drift pass equals the point-by-point drift test (``_drift_point``, which it replaced in batch runs
and which streaming updates of a few points still run)."""

from __future__ import annotations

import copy

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from cloudsage.core.models import anomaly as an


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**31 - 1),
    seg=st.sampled_from([4, 6, 12]),
    n=st.integers(10, 400),
    gap_share=st.sampled_from([0.0, 0.2, 0.6]),
    ramp=st.sampled_from([0.0, 0.05, -0.2]),
    cut=st.integers(0, 400),
)
def test_drift_pass_equals_the_point_by_point_test(seed, seg, n, gap_share, ramp, cut):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n) + ramp * np.arange(n)
    valid = rng.random(n) >= gap_share
    cs = np.concatenate(([0.0], np.cumsum(np.where(valid, x, 0.0)))).tolist()
    cn = np.concatenate(([0], np.cumsum(valid))).tolist()
    ks = np.arange(1, n + 1)
    ts = (ks + 7).tolist()  # a stream that started earlier
    sig = np.abs(rng.normal(size=n)) + 0.1
    zthr = 3.0
    oracle, fast = an._DriftTest(seg), an._DriftTest(seg)
    want = [an._drift_point(oracle, cs, cn, int(k), t, float(s), zthr) for k, t, s in zip(ks, ts, sig, strict=True)]
    # in two passes split anywhere, the second over a window of the prefix sums (as the detector flushes them)
    cut = min(cut, n)
    z1, r1 = an._drift_pass(fast, np.asarray(cs), np.asarray(cn), ks[:cut], 0, ts[:cut], sig[:cut], zthr)
    base = max(0, int(ks[cut]) - an._DRIFT_SEGMENTS * seg) if cut < n else 0
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
