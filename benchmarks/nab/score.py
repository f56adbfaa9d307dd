"""NAB (Numenta Anomaly Benchmark) scoring, re-implemented from the published method.

References: A. Lavin and S. Ahmad, "Evaluating Real-time Anomaly Detection Algorithms - the Numenta Anomaly
Benchmark", ICMLA 2015 (arXiv:1510.03336), and the scoring rules of NAB v1.1 (``nab/sweeper.py``,
``nab/optimizer.py``, ``config/profiles.json``). No NAB code is used; the semantics below follow NAB's sweeper:

* Every row of a file gets a *sweep weight*, computed from row indices only (NAB scores rows, not times):

  - a row inside an anomaly window ``[left, right]`` (inclusive, ``width = right - left + 1`` rows) gets
    ``tp * sigma(-(right - i + 1) / width) / sigma(-1)``; so a detection on the first row of a window is worth
    exactly ``tp`` and one on the last row is worth ``tp * sigma(-1/width) / sigma(-1)`` (small, > 0);
  - a row outside every window gets ``fp * sigma(|i - prev_right| / (prev_width - 1))`` where ``prev`` is the last
    window that ended before it (a negative number, ~0 just after the window, -fp far after it), or ``-fp`` when no
    window precedes it;
  - ``sigma(y) = 2 / (1 + exp(5 y)) - 1``, and ``sigma(y) = -1`` for ``y > 3``.

* The first ``min(floor(0.15 * n), 0.15 * 5000)`` rows of a file (the probationary period) are never scored.
* For a threshold ``T`` a row is a detection when ``score >= T``. Each window contributes the weight of its best
  (i.e. earliest) detection, or ``-fn`` when it holds none; each detection outside every window adds its (negative)
  weight. True negatives contribute nothing.
* One threshold per profile is chosen for the whole corpus: all rows of all files are swept from the highest
  detector score down, and the threshold with the highest corpus score wins (ties: the highest threshold, as in NAB
  where the first of the stably-sorted candidates wins). The first candidate, 1.1, detects nothing.
* Normalised score: ``100 * (raw - null) / (perfect - null)`` with ``null`` the score of a detector that never fires
  (``-fn`` per window) and ``perfect = tp * number of windows`` (every window detected on its first row).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

__all__ = [
    "NO_DETECTION_THRESHOLD",
    "PROBATION_PERCENT",
    "PROFILES",
    "SHORT_PROFILE_NAMES",
    "CorpusScore",
    "CostProfile",
    "FileScore",
    "FileSweep",
    "GroupScore",
    "ThresholdCurve",
    "normalise",
    "optimise_threshold",
    "prepare_file",
    "probationary_length",
    "scaled_sigmoid",
    "score_at_threshold",
    "score_corpus",
    "sweep_weights",
    "threshold_curve",
    "windows_to_indices",
]

PROBATION_PERCENT = 0.15
"""Share of each file (capped at ``0.15 * 5000 = 750`` rows) that is never scored."""

NO_DETECTION_THRESHOLD = 1.1
"""NAB's first sweep candidate: above every score in [0, 1], so it detects nothing."""


@dataclass(frozen=True)
class CostProfile:
    """One NAB application profile (cost matrix). ``tn`` is listed by NAB but never used in the score."""

    name: str
    tp: float
    fp: float
    fn: float
    tn: float = 1.0


PROFILES: dict[str, CostProfile] = {
    "standard": CostProfile("standard", tp=1.0, fp=0.11, fn=1.0),
    "reward_low_FP_rate": CostProfile("reward_low_FP_rate", tp=1.0, fp=0.22, fn=1.0),
    "reward_low_FN_rate": CostProfile("reward_low_FN_rate", tp=1.0, fp=0.11, fn=2.0),
}
"""NAB v1.1 ``config/profiles.json``."""

SHORT_PROFILE_NAMES = {"standard": "standard", "reward_low_FP_rate": "low_fp", "reward_low_FN_rate": "low_fn"}


def scaled_sigmoid(y: float | np.ndarray) -> np.ndarray:
    """NAB's scaled sigmoid ``2 / (1 + exp(5 y)) - 1``, forced to ``-1`` for ``y > 3``.

    ``y = -1`` (window start) gives 0.98661, ``y = 0`` (window end) gives 0 and ``y = 1`` gives -0.98661.
    """
    arr = np.asarray(y, dtype=float)
    with np.errstate(over="ignore"):
        val = 2.0 / (1.0 + np.exp(5.0 * arr)) - 1.0
    return np.where(arr > 3.0, -1.0, val)


_MAX_TP = float(scaled_sigmoid(-1.0))


def probationary_length(n_rows: int, probation_percent: float = PROBATION_PERCENT) -> int:
    """Rows at the start of a file that are never scored: ``min(floor(p * n), p * 5000)``."""
    return int(min(math.floor(probation_percent * n_rows), probation_percent * 5000))


def _canonical_ts(ts: str) -> str:
    """Timestamp text without NAB's ``.000000`` suffix, so CSV stamps and window bounds compare equal."""
    ts = ts.strip()
    if ts.endswith(".000000"):
        ts = ts[: -len(".000000")]
    return ts


def windows_to_indices(timestamps: Sequence[str], windows: Iterable[Sequence[str]]) -> list[tuple[int, int]]:
    """Map ``[start, end]`` timestamp windows onto inclusive row-index pairs.

    NAB matches bounds by exact timestamp equality and uses the first occurrence of a duplicated stamp, so this does
    the same (no sorted search: some files repeat or step back in time).

    Raises
    ------
    ValueError
        When a window bound is not a timestamp of the file, or a window ends before it starts.
    """
    first: dict[str, int] = {}
    for i, ts in enumerate(timestamps):
        first.setdefault(_canonical_ts(ts), i)
    out: list[tuple[int, int]] = []
    for start, end in windows:
        s, e = _canonical_ts(start), _canonical_ts(end)
        if s not in first or e not in first:
            raise ValueError(f"window [{start}, {end}] does not sit on timestamps of the file")
        left, right = first[s], first[e]
        if right < left:
            raise ValueError(f"window [{start}, {end}] ends before it starts")
        out.append((left, right))
    return sorted(out)


def sweep_weights(
    n_rows: int, windows: Sequence[tuple[int, int]], profile: CostProfile
) -> tuple[np.ndarray, np.ndarray]:
    """Per-row sweep weights and window ids of one file (NAB ``Sweeper.calcSweepScore``).

    Parameters
    ----------
    n_rows
        Number of rows in the file.
    windows
        Inclusive ``(left, right)`` row-index windows, non-overlapping.
    profile
        Cost profile.

    Returns
    -------
    weights, window_id
        ``weights[i]`` is the score row ``i`` adds when it is a detection (for window rows: the score of the window
        if ``i`` is its first detection); ``window_id[i]`` is the index of the window holding row ``i`` or -1.
        The probationary period is *not* removed here (see :func:`prepare_file`).
    """
    idx = np.arange(n_rows, dtype=float)
    weights = np.full(n_rows, -profile.fp, dtype=float)
    window_id = np.full(n_rows, -1, dtype=np.int64)
    ordered = sorted(windows)
    for k, (left, right) in enumerate(ordered):
        if not 0 <= left <= right < n_rows:
            raise ValueError(f"window {(left, right)} outside 0..{n_rows - 1}")
        if np.any(window_id[left : right + 1] >= 0):
            raise ValueError(f"window {(left, right)} overlaps another window")
        width = float(right - left + 1)
        rows = idx[left : right + 1]
        weights[left : right + 1] = profile.tp * scaled_sigmoid(-(right - rows + 1.0) / width) / _MAX_TP
        window_id[left : right + 1] = k
        # Rows after this window and before the next one are false positives relative to this window.
        stop = ordered[k + 1][0] if k + 1 < len(ordered) else n_rows
        after = idx[right + 1 : stop]
        if after.size:
            if width > 1:
                weights[right + 1 : stop] = profile.fp * scaled_sigmoid((after - right) / (width - 1.0))
            else:
                # NAB divides by zero here (width - 1 == 0); treat such FPs as far from the window.
                weights[right + 1 : stop] = -profile.fp
    return weights, window_id


@dataclass(frozen=True)
class FileSweep:
    """The scorable rows of one file under one profile, ready for threshold sweeps."""

    name: str
    scores: np.ndarray
    weights: np.ndarray
    window_id: np.ndarray
    n_windows: int
    n_rows: int
    probation: int

    @property
    def counted_windows(self) -> int:
        """Windows with at least one scorable row (only those can be missed or detected)."""
        return int(np.unique(self.window_id[self.window_id >= 0]).size)


def prepare_file(
    name: str,
    scores: np.ndarray,
    windows: Sequence[tuple[int, int]],
    profile: CostProfile,
    probation_percent: float = PROBATION_PERCENT,
) -> FileSweep:
    """Compute sweep weights for one file and drop its probationary rows.

    Parameters
    ----------
    name
        File name (for reports).
    scores
        Detector anomaly scores, one per row (NaN is treated as 0, i.e. never a detection at a positive threshold).
    windows
        Inclusive ``(left, right)`` row-index windows (see :func:`windows_to_indices`).
    profile
        Cost profile.
    probation_percent
        Probationary share (NAB: 0.15).
    """
    s = np.nan_to_num(np.asarray(scores, dtype=float), nan=0.0)
    n = s.size
    weights, window_id = sweep_weights(n, windows, profile)
    p = probationary_length(n, probation_percent)
    return FileSweep(
        name=name,
        scores=s[p:],
        weights=weights[p:],
        window_id=window_id[p:],
        n_windows=len(windows),
        n_rows=n,
        probation=p,
    )


@dataclass(frozen=True)
class ThresholdCurve:
    """Corpus score for every candidate threshold, highest threshold first (NAB ``calcScoreByThreshold``)."""

    thresholds: np.ndarray
    scores: np.ndarray
    tp: np.ndarray
    fp: np.ndarray

    def best(self) -> tuple[float, float]:
        """``(threshold, score)`` with the highest score; ties go to the highest threshold."""
        k = int(np.argmax(self.scores))
        return float(self.thresholds[k]), float(self.scores[k])


def threshold_curve(files: Sequence[FileSweep], fn_weight: float) -> ThresholdCurve:
    """Sweep one threshold over all rows of ``files`` at once.

    Each distinct detector score ``T`` (descending) is a candidate; the score at ``T`` counts every row with
    ``score >= T`` as a detection. ``tp`` / ``fp`` are NAB's row counts (detections inside / outside windows).
    """
    scores = np.concatenate([np.zeros(0)] + [f.scores for f in files])
    weights = np.concatenate([np.zeros(0)] + [f.weights for f in files])
    offsets = np.cumsum([0] + [f.n_windows for f in files])
    gid = np.concatenate(
        [np.zeros(0, dtype=np.int64)]
        + [np.where(f.window_id >= 0, f.window_id + offsets[j], -1) for j, f in enumerate(files)]
    )
    n_counted = sum(f.counted_windows for f in files)
    base = -fn_weight * n_counted

    order = np.argsort(-scores, kind="stable")
    s_sorted = scores[order]
    w_sorted = weights[order]
    g_sorted = gid[order]

    delta = np.where(g_sorted < 0, w_sorted, 0.0)
    in_window = np.flatnonzero(g_sorted >= 0)
    if in_window.size:
        # For each window, the running best weight as the threshold falls; its increments are what the window adds.
        wins = g_sorted[in_window]
        by_window = np.lexsort((in_window, wins))  # group by window, keep sweep order inside a group
        pos = in_window[by_window]
        wv = w_sorted[pos]
        wg = wins[by_window]
        starts = np.r_[0, np.flatnonzero(np.diff(wg)) + 1]
        for a, b in zip(starts, np.r_[starts[1:], wg.size], strict=True):
            running = np.maximum.accumulate(np.r_[-fn_weight, wv[a:b]])
            delta[pos[a:b]] = np.diff(running)
    total = base + np.cumsum(delta)
    tp_cum = np.cumsum(g_sorted >= 0)
    fp_cum = np.cumsum(g_sorted < 0)

    if s_sorted.size:
        last_of_group = np.r_[np.flatnonzero(np.diff(s_sorted) != 0), s_sorted.size - 1]
    else:
        last_of_group = np.zeros(0, dtype=np.int64)
    thresholds = np.r_[NO_DETECTION_THRESHOLD, s_sorted[last_of_group]]
    curve_scores = np.r_[base, total[last_of_group]]
    tp = np.r_[0, tp_cum[last_of_group]]
    fp = np.r_[0, fp_cum[last_of_group]]
    return ThresholdCurve(thresholds=thresholds, scores=curve_scores, tp=tp.astype(int), fp=fp.astype(int))


def optimise_threshold(files: Sequence[FileSweep], fn_weight: float) -> tuple[float, float]:
    """Best single threshold for ``files`` (NAB ``optimizeThreshold``): ``(threshold, raw corpus score)``."""
    return threshold_curve(files, fn_weight).best()


@dataclass(frozen=True)
class FileScore:
    """Score of one file at a given threshold."""

    name: str
    raw: float
    null: float
    perfect: float
    tp: int
    fp: int
    windows: int
    detected_windows: int

    @property
    def normalised(self) -> float | None:
        """Normalised score, ``None`` for files without windows (null == perfect == 0)."""
        return normalise(self.raw, self.null, self.perfect)


def score_at_threshold(f: FileSweep, threshold: float, fn_weight: float, tp_weight: float) -> FileScore:
    """Score one prepared file with detections ``score >= threshold`` (NAB ``Sweeper.scoreDataSet``)."""
    det = f.scores >= threshold
    fp_mask = det & (f.window_id < 0)
    raw = float(np.sum(f.weights[fp_mask]))
    counted = np.unique(f.window_id[f.window_id >= 0])
    detected = 0
    for k in counted:
        hit = det & (f.window_id == k)
        if hit.any():
            raw += float(np.max(f.weights[hit]))
            detected += 1
        else:
            raw -= fn_weight
    return FileScore(
        name=f.name,
        raw=raw,
        null=-fn_weight * counted.size,
        perfect=tp_weight * counted.size,
        tp=int(np.sum(det & (f.window_id >= 0))),
        fp=int(np.sum(fp_mask)),
        windows=int(counted.size),
        detected_windows=detected,
    )


def normalise(raw: float, null: float, perfect: float) -> float | None:
    """``100 * (raw - null) / (perfect - null)``; ``None`` when ``perfect == null`` (no windows)."""
    if perfect == null:
        return None
    return 100.0 * (raw - null) / (perfect - null)


@dataclass(frozen=True)
class GroupScore:
    """Sum of file scores over a group (a category or the whole corpus)."""

    raw: float
    null: float
    perfect: float
    windows: int
    detected_windows: int
    tp: int
    fp: int

    @property
    def normalised(self) -> float | None:
        """Normalised score of the group (``None`` without windows)."""
        return normalise(self.raw, self.null, self.perfect)

    @staticmethod
    def of(files: Iterable[FileScore]) -> GroupScore:
        """Aggregate file scores."""
        fs = list(files)
        return GroupScore(
            raw=sum(f.raw for f in fs),
            null=sum(f.null for f in fs),
            perfect=sum(f.perfect for f in fs),
            windows=sum(f.windows for f in fs),
            detected_windows=sum(f.detected_windows for f in fs),
            tp=sum(f.tp for f in fs),
            fp=sum(f.fp for f in fs),
        )


@dataclass(frozen=True)
class CorpusScore:
    """Result of scoring one detector on a corpus under one profile."""

    profile: str
    threshold: float
    overall: GroupScore
    categories: dict[str, GroupScore] = field(default_factory=dict)
    files: dict[str, FileScore] = field(default_factory=dict)

    def to_dict(self) -> dict[str, object]:
        """JSON-friendly view."""

        def grp(g: GroupScore) -> dict[str, object]:
            return {
                "raw": g.raw,
                "normalised": g.normalised,
                "null": g.null,
                "perfect": g.perfect,
                "windows": g.windows,
                "detected_windows": g.detected_windows,
                "tp_rows": g.tp,
                "fp_rows": g.fp,
            }

        return {
            "profile": self.profile,
            "threshold": self.threshold,
            "overall": grp(self.overall),
            "categories": {k: grp(v) for k, v in self.categories.items()},
            "files": {
                k: {
                    "raw": v.raw,
                    "normalised": v.normalised,
                    "windows": v.windows,
                    "detected_windows": v.detected_windows,
                    "tp_rows": v.tp,
                    "fp_rows": v.fp,
                }
                for k, v in self.files.items()
            },
        }


def _category(name: str) -> str:
    return name.split("/", 1)[0] if "/" in name else ""


def score_corpus(
    scores: Mapping[str, np.ndarray],
    windows: Mapping[str, Sequence[tuple[int, int]]],
    profile: CostProfile,
    probation_percent: float = PROBATION_PERCENT,
    threshold: float | None = None,
) -> CorpusScore:
    """Score a detector on a corpus under one profile.

    Parameters
    ----------
    scores
        ``{"<category>/<file>.csv": anomaly scores (one per row)}``.
    windows
        Same keys: inclusive ``(left, right)`` row-index windows (see :func:`windows_to_indices`).
    profile
        Cost profile.
    probation_percent
        Probationary share (NAB: 0.15).
    threshold
        Use this threshold instead of optimising one over the corpus.

    Returns
    -------
    CorpusScore
        Threshold, overall / per-category / per-file raw and normalised scores. Categories are the part of the key
        before the first ``/``.
    """
    names = sorted(scores)
    prepared = [prepare_file(n, scores[n], windows.get(n, []), profile, probation_percent) for n in names]
    if threshold is None:
        threshold, _ = optimise_threshold(prepared, profile.fn)
    per_file = {f.name: score_at_threshold(f, threshold, profile.fn, profile.tp) for f in prepared}
    cats: dict[str, list[FileScore]] = {}
    for name, fs in per_file.items():
        cats.setdefault(_category(name), []).append(fs)
    return CorpusScore(
        profile=profile.name,
        threshold=float(threshold),
        overall=GroupScore.of(per_file.values()),
        categories={c: GroupScore.of(v) for c, v in sorted(cats.items())},
        files=per_file,
    )
