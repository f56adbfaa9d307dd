"""Baseline anomaly detectors for the NAB runner, plus an adapter for CloudSage's own detector.

Every detector is a callable ``(values, timestamps) -> scores``: ``values`` and ``timestamps`` (epoch seconds) are
1-D arrays of the same length, and the result holds one anomaly score in ``[0, 1]`` per row. Detectors are causal
(the score of row ``t`` only uses rows ``<= t``), use one parameter set for every file and never see labels.

* :func:`windowed_gaussian` - NAB's ``windowedGaussian`` detector.
* :func:`isolation_forest` - scikit-learn IsolationForest on lagged-value windows, refit periodically on the past.
* :func:`random_scores` - NAB's ``random`` detector (``random.seed(42)`` per file, uniform scores).
* :func:`cloudsage` - ``cloudsage.core.models.anomaly.causal_scores``, imported lazily.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from typing import Any

import numpy as np
from scipy.special import erfc

__all__ = [
    "DETECTORS",
    "Detector",
    "cloudsage",
    "cloudsage_status",
    "infer_period_s",
    "isolation_forest",
    "random_scores",
    "windowed_gaussian",
]

Detector = Callable[[np.ndarray, np.ndarray], np.ndarray]


def _tail_score(values: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """NAB's ``1 - normalProbability``: ``1 - Q(|x - mean| / std)`` with ``Q`` the Gaussian upper tail."""
    z = np.abs(values - mean) / std
    return np.asarray(1.0 - 0.5 * erfc(z / math.sqrt(2.0)), dtype=float)


def windowed_gaussian(
    values: np.ndarray, timestamps: np.ndarray | None = None, window_size: int = 6400, step_size: int = 100
) -> np.ndarray:
    """NAB's windowed Gaussian detector (``nab/detectors/gaussian``), vectorised.

    Row ``t`` is scored against the mean and (population) standard deviation of the window of past values:
    ``score = 1 - Q(|x_t - mean| / std)``, so scores lie in ``[0.5, 1]`` once a first value has been seen (row 0
    scores 0). The window grows to ``window_size`` values, then slides forward ``step_size`` values at a time; a zero
    standard deviation is replaced by ``1e-6``. NAB's tuned parameters (6400 / 100) are the defaults.

    Parameters
    ----------
    values
        Series values.
    timestamps
        Unused (kept for the common detector signature).
    window_size, step_size
        Window length and slide step, in rows.
    """
    del timestamps
    x = np.asarray(values, dtype=float)
    n = x.size
    out = np.zeros(n, dtype=float)
    if n <= 1:
        return out
    # Growing phase: row t (1 <= t <= min(n-1, window_size)) uses x[0:t].
    g_end = min(n - 1, window_size)
    d = x[:g_end] - x[0]  # shift for numerically safer running moments
    cnt = np.arange(1, g_end + 1, dtype=float)
    mean_d = np.cumsum(d) / cnt
    var = np.maximum(np.cumsum(d * d) / cnt - mean_d * mean_d, 0.0)
    std = np.sqrt(var)
    constant = np.maximum.accumulate(x[:g_end]) == np.minimum.accumulate(x[:g_end])
    std = np.where(constant | (std == 0.0), 1e-6, std)
    rows = slice(1, g_end + 1)
    out[rows] = _tail_score(x[rows], mean_d + x[0], std)
    # Sliding phase: rows t >= window_size use x[j*step : window_size + j*step], j = (t - window_size) // step.
    t = window_size + 1
    while t < n:
        j = (t - window_size) // step_size
        win = x[j * step_size : window_size + j * step_size]
        stop = min(n, window_size + (j + 1) * step_size)
        mu, sd = float(np.mean(win)), float(np.std(win))
        out[t:stop] = _tail_score(x[t:stop], np.full(stop - t, mu), np.full(stop - t, sd if sd != 0.0 else 1e-6))
        t = stop
    return out


def random_scores(values: np.ndarray, timestamps: np.ndarray | None = None, seed: int = 42) -> np.ndarray:
    """NAB's random detector: ``random.seed(seed)`` for each file, then ``random.uniform(0, 1)`` per row.

    With ``seed=42`` this reproduces the scores in NAB's published ``results/random`` files exactly.
    """
    del timestamps
    rng = random.Random(seed)
    return np.fromiter((rng.uniform(0.0, 1.0) for _ in range(len(values))), dtype=float, count=len(values))


def isolation_forest(
    values: np.ndarray,
    timestamps: np.ndarray | None = None,
    lags: int = 3,
    train_window: int = 2000,
    refit_every: int = 250,
    warmup: int = 100,
    n_estimators: int = 50,
    seed: int = 0,
) -> np.ndarray:
    """IsolationForest on sliding windows of the last ``lags`` values, refit on the past only.

    Features of row ``t`` are ``x[t-lags+1 .. t]`` (left-padded with ``x[0]``). Rows are scored in blocks of
    ``refit_every``: before each block a forest is fit on the feature rows of the previous ``train_window`` rows
    (all strictly before the block), so the score of row ``t`` depends on rows ``<= t`` only. The raw isolation
    score ``-score_samples`` (Liu et al.'s ``2 ** (-E[h] / c(n))``) is calibrated against the forest's scores of
    its own training rows: the result is the share of training rows that are less anomalous, so one threshold
    means the same thing on every series (uncalibrated raw scores do barely better than random on NAB).
    The first ``warmup`` rows score 0.
    """
    from sklearn.ensemble import IsolationForest

    del timestamps
    x = np.asarray(values, dtype=float)
    n = x.size
    out = np.zeros(n, dtype=float)
    if n <= warmup:
        return out
    padded = np.concatenate([np.full(lags - 1, x[0]), x])
    feats = np.lib.stride_tricks.sliding_window_view(padded, lags)  # row t -> x[t-lags+1 .. t]
    start = warmup
    while start < n:
        stop = min(n, start + refit_every)
        train = feats[max(0, start - train_window) : start]
        model = IsolationForest(n_estimators=n_estimators, random_state=seed).fit(train)
        reference = np.sort(-model.score_samples(train))
        raw = -model.score_samples(feats[start:stop])
        out[start:stop] = np.searchsorted(reference, raw, side="left") / (reference.size + 1.0)
        start = stop
    return np.clip(out, 0.0, 1.0)


def infer_period_s(timestamps: np.ndarray) -> int:
    """Sampling period in seconds: the median positive spacing of ``timestamps`` (60 s when undeterminable)."""
    ts = np.asarray(timestamps, dtype=float)
    diffs = np.diff(ts)
    diffs = diffs[diffs > 0]
    if diffs.size == 0:
        return 60
    return max(1, round(float(np.median(diffs))))


def _load_causal_scores() -> Callable[..., np.ndarray]:
    from cloudsage.core.models.anomaly import causal_scores  # lazy: written in parallel, may not exist yet

    return causal_scores


def cloudsage_status() -> tuple[bool, str]:
    """Whether the CloudSage detector can be imported, and why not if it cannot."""
    try:
        _load_causal_scores()
    except Exception as exc:  # noqa: BLE001 - a half-written module may raise anything; report, do not crash
        return False, f"{type(exc).__name__}: {exc}"
    return True, "ok"


def cloudsage(values: np.ndarray, timestamps: np.ndarray, **params: Any) -> np.ndarray:
    """CloudSage's streaming detector: ``causal_scores(values, period_s, **params)`` clipped to ``[0, 1]``.

    ``period_s`` is inferred from the median timestamp spacing.
    """
    causal_scores = _load_causal_scores()
    scores = np.asarray(causal_scores(np.asarray(values, dtype=float), infer_period_s(timestamps), **params), float)
    if scores.shape != np.shape(values):
        raise ValueError(f"causal_scores returned shape {scores.shape}, expected {np.shape(values)}")
    return np.asarray(np.clip(np.nan_to_num(scores, nan=0.0), 0.0, 1.0), dtype=float)


DETECTORS: dict[str, Detector] = {
    "windowed_gaussian": windowed_gaussian,
    "isolation_forest": isolation_forest,
    "random": random_scores,
    "cloudsage": cloudsage,
}
"""Detectors known to the runner, in report order."""
