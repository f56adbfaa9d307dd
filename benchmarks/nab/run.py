"""Run detectors on the NAB corpus and score them with NAB's method.

Usage (from the repository root)::

    PYTHONPATH=lambdas:. python -m benchmarks.nab.run --data ../shared/data/nab --jobs 2

Prints, for each detector, per-category and overall normalised scores (raw scores in brackets) for the three NAB
profiles, the corpus-optimised thresholds and the CPU time per point; then a side-by-side summary with NAB's
published figures for the same files; a leave-one-category-out check (each category scored at the threshold
optimised on the other categories); detection latency (samples from window start and from the labelled point to
the first detection, median, by the kind of test that fired); for CloudSage its score at the shipped default
threshold and the median streaming update cost per point per metric; the whole run's wall time; and as the very
last line ``NAB standard=.. low_fp=.. low_fn=..`` for the CloudSage detector. Writes everything to ``out/nab.json``.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import cast

import numpy as np

from benchmarks.nab.detectors import DETECTORS, cloudsage_status
from benchmarks.nab.score import (
    NO_DETECTION_THRESHOLD,
    PROFILES,
    SHORT_PROFILE_NAMES,
    CorpusScore,
    probationary_length,
    score_corpus,
    windows_to_indices,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_DATA = (REPO_ROOT / ".." / "shared" / "data" / "nab").resolve()
DEFAULT_OUT = REPO_ROOT / "out" / "nab.json"

NAB_SCORE_DIGITS = 12
"""NAB's published results went through CSV files written by Python 2 (``str(float)``: 12 significant digits)."""

PUBLISHED_35: dict[str, tuple[float, float, float]] = {
    "windowed_gaussian": (45.8, 30.4, 55.3),
    "random": (9.5, 1.8, 19.4),
}
"""NAB's published results restricted to these 35 files (standard, low_fp, low_fn), as given in the brief."""


@dataclass(frozen=True)
class NabFile:
    """One NAB series with its windows as row indices."""

    name: str
    timestamps: list[str]
    epoch: np.ndarray
    values: np.ndarray
    windows: list[tuple[int, int]]

    @property
    def category(self) -> str:
        """Directory name under ``data/``."""
        return self.name.split("/", 1)[0]


def _epoch(ts: str) -> float:
    return datetime.strptime(ts.strip(), "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC).timestamp()


def load_corpus(data_dir: Path) -> list[NabFile]:
    """Read ``data/<category>/<file>.csv`` and ``labels/combined_windows.json`` (entries of present files only).

    Every row is kept (duplicated / out-of-order stamps included): NAB scores rows, not times.
    """
    with open(data_dir / "labels" / "combined_windows.json", encoding="utf-8") as fh:
        all_windows: dict[str, list[list[str]]] = json.load(fh)
    files: list[NabFile] = []
    for path in sorted((data_dir / "data").glob("*/*.csv")):
        name = f"{path.parent.name}/{path.name}"
        stamps: list[str] = []
        vals: list[float] = []
        with open(path, newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            for row in reader:
                stamps.append(row["timestamp"])
                vals.append(float(row["value"]))
        if name not in all_windows:
            raise ValueError(f"{name} has no entry in combined_windows.json")
        files.append(
            NabFile(
                name=name,
                timestamps=stamps,
                epoch=np.array([_epoch(s) for s in stamps], dtype=float),
                values=np.array(vals, dtype=float),
                windows=windows_to_indices(stamps, all_windows[name]),
            )
        )
    if not files:
        raise FileNotFoundError(f"no CSV files under {data_dir / 'data'}")
    return files


def round_significant(scores: np.ndarray, digits: int) -> np.ndarray:
    """Round to ``digits`` significant digits, as a detour through NAB's results CSVs does (``digits <= 0``: no-op).

    This matters for saturating detectors: NAB's windowed Gaussian scores ``1 - Q(z)`` become exactly ``1.0`` in the
    CSV for ``|z| > ~7``, which merges candidate thresholds the exact values would keep apart.
    """
    if digits <= 0:
        return scores
    return np.array([float(f"{x:.{digits}g}") for x in scores.tolist()], dtype=float)


def _run_one(detector: str, values: np.ndarray, epoch: np.ndarray) -> tuple[np.ndarray, float]:
    """Worker: run one detector on one file; returns scores and the CPU seconds spent."""
    t0 = time.process_time()
    scores = np.asarray(DETECTORS[detector](values, epoch), dtype=float)
    return scores, time.process_time() - t0


@dataclass
class DetectorRun:
    """Scores and cost of one detector over the corpus."""

    name: str
    scores: dict[str, np.ndarray]
    cpu_s: float
    wall_s: float
    points: int
    results: dict[str, CorpusScore]

    @property
    def cpu_us_per_point(self) -> float:
        """Mean CPU microseconds per data point."""
        return 1e6 * self.cpu_s / max(self.points, 1)


def run_detectors(
    files: Sequence[NabFile], detectors: Sequence[str], jobs: int, score_digits: int = NAB_SCORE_DIGITS
) -> dict[str, DetectorRun]:
    """Run each detector on every file (in a process pool when ``jobs > 1``) and score it under every profile.

    Scores are rounded to ``score_digits`` significant digits before scoring (see :func:`round_significant`).
    """
    runs: dict[str, DetectorRun] = {}
    points = sum(f.values.size for f in files)
    windows = {f.name: f.windows for f in files}
    pool = ProcessPoolExecutor(max_workers=jobs) if jobs > 1 else None
    try:
        for det in detectors:
            t0 = time.perf_counter()
            if pool is None:
                outs = [_run_one(det, f.values, f.epoch) for f in files]
            else:
                futs = [pool.submit(_run_one, det, f.values, f.epoch) for f in files]
                outs = [fu.result() for fu in futs]
            wall = time.perf_counter() - t0
            scores: dict[str, np.ndarray] = {}
            for f, (s, _) in zip(files, outs, strict=True):
                if s.shape != f.values.shape:
                    raise ValueError(f"{det} returned {s.shape} scores for {f.name} ({f.values.size} rows)")
                if not np.all(np.isfinite(s)) or s.min() < 0.0 or s.max() > 1.0:
                    print(f"warning: {det} scores on {f.name} outside [0, 1] or not finite; clipped", file=sys.stderr)
                    s = np.clip(np.nan_to_num(s, nan=0.0), 0.0, 1.0)
                scores[f.name] = round_significant(s, score_digits)
            results = {p: score_corpus(scores, windows, prof) for p, prof in PROFILES.items()}
            runs[det] = DetectorRun(det, scores, sum(c for _, c in outs), wall, points, results)
    finally:
        if pool is not None:
            pool.shutdown()
    return runs


def leave_one_category_out(run: DetectorRun, files: Sequence[NabFile]) -> dict[str, dict[str, dict[str, float]]]:
    """Per profile and category: the category's score at the threshold optimised on all *other* categories.

    This is how the detector will be judged on NAB categories that are not in the shared folder: the threshold is
    fixed from the data it has seen. Returns ``{profile: {category: {"held_out", "all", "threshold", "fp"}}}``
    (``held_out`` / ``all``: normalised scores, NaN for a category without windows; ``fp``: false-positive rows of
    the category at the held-out threshold).
    """
    windows = {f.name: f.windows for f in files}
    cats = sorted({f.category for f in files})
    out: dict[str, dict[str, dict[str, float]]] = {}
    for p, prof in PROFILES.items():
        out[p] = {}
        for cat in cats:
            rest = {n: s for n, s in run.scores.items() if n.split("/", 1)[0] != cat}
            mine = {n: s for n, s in run.scores.items() if n.split("/", 1)[0] == cat}
            if not rest or not mine:
                continue
            thr = score_corpus(rest, windows, prof).threshold
            held = score_corpus(mine, windows, prof, threshold=thr).overall
            whole = run.results[p].categories[cat]
            out[p][cat] = {
                "held_out": float("nan") if held.normalised is None else held.normalised,
                "all": float("nan") if whole.normalised is None else whole.normalised,
                "threshold": thr,
                "fp": float(held.fp),
            }
    return out


def report_loco(name: str, loco: dict[str, dict[str, dict[str, float]]]) -> list[str]:
    """Table of :func:`leave_one_category_out`."""
    lines = [f"== {name}: leave-one-category-out (threshold optimised on the other categories -> this category)"]
    header = f"   {'held-out category':<22}"
    for p in loco:
        header += f"  {SHORT_PROFILE_NAMES[p] + ' held-out / all':>26}"
    lines.append(header)
    cats = sorted({c for per in loco.values() for c in per})
    for cat in cats:
        row = f"   {cat:<22}"
        for per in loco.values():
            v = per.get(cat)
            if v is None:
                row += f"  {'-':>26}"
            elif math.isnan(v["held_out"]):
                row += f"  {'(no windows) fp rows=' + str(int(v['fp'])):>26}"
            else:
                row += f"  {v['held_out']:>12.1f} / {v['all']:<11.1f}"
        lines.append(row)
    return lines


def _first_occurrence(timestamps: Sequence[str]) -> dict[str, int]:
    first: dict[str, int] = {}
    for i, ts in enumerate(timestamps):
        first.setdefault(ts.strip().removesuffix(".000000"), i)
    return first


def load_labels(data_dir: Path, files: Sequence[NabFile]) -> dict[str, list[int]]:
    """Row indices of the labelled anomaly points (``labels/combined_labels.json``); empty when the file is absent."""
    path = data_dir / "labels" / "combined_labels.json"
    if not path.exists():
        return {}
    with open(path, encoding="utf-8") as fh:
        raw: dict[str, list[str]] = json.load(fh)
    out: dict[str, list[int]] = {}
    for f in files:
        first = _first_occurrence(f.timestamps)
        out[f.name] = sorted(first[t.strip().removesuffix(".000000")] for t in raw.get(f.name, []) if t in first)
    return out


_KIND_NAMES = {0: "none", 1: "point", 2: "shift", 3: "drift", 4: "new extreme"}


def detection_latency(
    scores: dict[str, np.ndarray],
    threshold: float,
    files: Sequence[NabFile],
    labels: dict[str, list[int]],
    kinds: dict[str, np.ndarray] | None = None,
) -> dict[str, object]:
    """Samples from each window's start, and from its labelled point, to the first detection in the window.

    A detection is ``score >= threshold`` (NAB's rule); windows in the probationary period are skipped. NAB windows
    are centred on the labelled point, so the latency after the window start is about half a window even for a
    detector that fires on the labelled point itself: the latency after the label is the one that says how fast
    the detector is. With ``kinds`` (the test that fired at each row) the label latency is also given per kind.
    """
    from_start: list[int] = []
    from_label: list[int] = []
    by_kind: dict[str, list[int]] = {}
    missed = 0
    for f in files:
        s = scores[f.name]
        p = probationary_length(s.size)
        for left, right in f.windows:
            if right < p:
                continue
            hit = np.flatnonzero(s[max(left, p) : right + 1] >= threshold)
            if hit.size == 0:
                missed += 1
                continue
            i = max(left, p) + int(hit[0])
            from_start.append(i - left)
            inside = [k for k in labels.get(f.name, []) if left <= k <= right]
            if inside:
                from_label.append(i - inside[0])
                if kinds is not None:
                    by_kind.setdefault(_KIND_NAMES.get(int(kinds[f.name][i]), "?"), []).append(i - inside[0])

    def med(v: list[int]) -> float | None:
        return float(np.median(v)) if v else None

    return {
        "threshold": threshold,
        "detected": len(from_start),
        "missed": missed,
        "median_from_window_start": med(from_start),
        "median_from_label": med(from_label),
        "share_within_1_of_label": float(np.mean(np.abs(from_label) <= 1)) if from_label else None,
        "median_from_label_by_kind": {k: (med(v), len(v)) for k, v in sorted(by_kind.items())},
    }


def report_latency(name: str, lat: dict[str, object]) -> str:
    """One line of :func:`detection_latency`."""

    def f(x: object) -> str:
        return "n/a" if x is None else f"{x:g}"

    kinds = cast(dict[str, tuple[float | None, int]], lat["median_from_label_by_kind"])
    by_kind = ", ".join(f"{k} {f(m)} (n={n})" for k, (m, n) in kinds.items())
    share = lat["share_within_1_of_label"]
    return (
        f"   {name:<20} thr={lat['threshold']:.6g}: {lat['detected']} windows detected, {lat['missed']} missed; "
        f"median samples after window start {f(lat['median_from_window_start'])}, after the label "
        f"{f(lat['median_from_label'])}"
        + (f" ({100 * share:.0f}% within 1 sample)" if isinstance(share, float) else "")
        + (f"; after the label by kind: {by_kind}" if by_kind else "")
    )


def cloudsage_kinds(files: Sequence[NabFile]) -> dict[str, np.ndarray]:
    """The test that dominated at each row (point/shift/drift/new extreme) at CloudSage's alert defaults."""
    from benchmarks.nab.detectors import infer_period_s
    from cloudsage.core.models.anomaly import ALERT_DEFAULTS, AnomalyDetector

    out: dict[str, np.ndarray] = {}
    for f in files:
        det = AnomalyDetector(**ALERT_DEFAULTS, period_s=infer_period_s(f.epoch)).fit(f.values)
        out[f.name] = np.asarray(det.trace_.kind)
    return out


def streaming_cost(files: Sequence[NabFile], points_per_file: int = 400) -> dict[str, float]:
    """Median wall-clock microseconds of one streaming update (one point of one metric), per file and overall.

    Each file is fitted on its probationary rows, then ``points_per_file`` further rows are fed one at a time
    through :meth:`AnomalyDetector.update` (state advanced, scores returned): the cost of a live stream, call
    overhead included. Returns the median over files of each file's median, and the worst file's median.
    """
    from benchmarks.nab.detectors import infer_period_s
    from cloudsage.core.models.anomaly import ALERT_DEFAULTS, AnomalyDetector, min_points

    medians: list[float] = []
    for f in files:
        period = infer_period_s(f.epoch)
        start = max(probationary_length(f.values.size), min_points(period))
        if f.values.size <= start:
            continue
        det = AnomalyDetector(**ALERT_DEFAULTS, period_s=period).fit(f.values[:start])
        times = []
        for i in range(start, min(f.values.size, start + points_per_file)):
            t0 = time.perf_counter_ns()
            det.update(f.values[i : i + 1])
            times.append(time.perf_counter_ns() - t0)
        medians.append(float(np.median(times)) / 1e3)
    if not medians:
        return {}
    return {"median_us": float(np.median(medians)), "worst_file_median_us": float(max(medians)), "files": len(medians)}


def _fmt(x: float | None, width: int = 6) -> str:
    return f"{'n/a':>{width}}" if x is None else f"{x:{width}.1f}"


def report(run: DetectorRun, files: Sequence[NabFile]) -> list[str]:
    """Per-category and overall table of one detector."""
    lines = [
        f"== {run.name}: CPU {run.cpu_us_per_point:.2f} us/point ({run.points:,} points, {run.cpu_s:.1f} s CPU, "
        f"{run.wall_s:.1f} s wall)",
        "   thresholds: " + "  ".join(f"{SHORT_PROFILE_NAMES[p]}={r.threshold:.12g}" for p, r in run.results.items()),
    ]
    never = [SHORT_PROFILE_NAMES[p] for p, r in run.results.items() if r.threshold >= NO_DETECTION_THRESHOLD]
    if never:
        lines.append(
            f"   note: for {', '.join(never)} no threshold beats never firing (best candidate is "
            f"{NO_DETECTION_THRESHOLD}, i.e. the null detector), so the normalised score is 0"
        )
    header = f"   {'category':<22}{'files':>6}{'windows':>8}"
    for p in run.results:
        header += f"  {SHORT_PROFILE_NAMES[p] + ' norm (raw)':>22}"
    lines.append(header)
    cats = sorted({f.category for f in files})
    n_files = {c: sum(1 for f in files if f.category == c) for c in cats}
    for cat in [*cats, "OVERALL"]:
        row = f"   {cat:<22}{(len(files) if cat == 'OVERALL' else n_files[cat]):>6}"
        first = next(iter(run.results.values()))
        grp0 = first.overall if cat == "OVERALL" else first.categories[cat]
        row += f"{grp0.windows:>8}"
        for r in run.results.values():
            g = r.overall if cat == "OVERALL" else r.categories[cat]
            row += f"  {_fmt(g.normalised, 12)} ({g.raw:7.2f})"
        lines.append(row)
    return lines


def summary(runs: dict[str, DetectorRun]) -> list[str]:
    """Side-by-side overall normalised scores, with NAB's published figures for the same files."""
    lines = [
        "== summary (normalised NAB score, 35 files)",
        f"   {'detector':<20}{'standard':>9}{'low_fp':>9}{'low_fn':>9}{'us/pt':>9}   NAB published (std/low_fp/low_fn)",
    ]
    for name, run in runs.items():
        vals = [run.results[p].overall.normalised for p in PROFILES]
        pub = PUBLISHED_35.get(name)
        pub_s = " / ".join(f"{v:.1f}" for v in pub) if pub else "-"
        lines.append(f"   {name:<20}" + "".join(_fmt(v, 9) for v in vals) + f"{run.cpu_us_per_point:9.2f}   {pub_s}")
    return lines


def to_json(
    runs: dict[str, DetectorRun],
    files: Sequence[NabFile],
    data_dir: Path,
    skipped: dict[str, str],
    score_digits: int,
) -> dict[str, object]:
    """Results document written to ``out/nab.json``."""
    return {
        "benchmark": "NAB v1.1 scoring (Lavin & Ahmad 2015), re-implemented in benchmarks/nab/score.py",
        "data": str(data_dir),
        "files": len(files),
        "points": int(sum(f.values.size for f in files)),
        "windows": int(sum(len(f.windows) for f in files)),
        "profiles": {p: {"tp": c.tp, "fp": c.fp, "fn": c.fn} for p, c in PROFILES.items()},
        "published_35_files": {
            k: dict(zip(("standard", "low_fp", "low_fn"), v, strict=True)) for k, v in PUBLISHED_35.items()
        },
        "score_digits": score_digits,
        "skipped": skipped,
        "detectors": {
            name: {
                "cpu_s": run.cpu_s,
                "wall_s": run.wall_s,
                "cpu_us_per_point": run.cpu_us_per_point,
                "summary": {SHORT_PROFILE_NAMES[p]: r.overall.normalised for p, r in run.results.items()},
                "profiles": {p: r.to_dict() for p, r in run.results.items()},
            }
            for name, run in runs.items()
        },
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help=f"NAB data directory (default {DEFAULT_DATA})")
    ap.add_argument("--detectors", default=",".join(DETECTORS), help="comma-separated detector names")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="worker processes")
    ap.add_argument(
        "--score-digits",
        type=int,
        default=NAB_SCORE_DIGITS,
        help="round detector scores to this many significant digits before scoring, like NAB's results CSVs "
        f"(default {NAB_SCORE_DIGITS}; 0 = exact)",
    )
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"results JSON (default {DEFAULT_OUT})")
    args = ap.parse_args(argv)
    wall0 = time.perf_counter()

    wanted = [d.strip() for d in args.detectors.split(",") if d.strip()]
    unknown = [d for d in wanted if d not in DETECTORS]
    if unknown:
        ap.error(f"unknown detector(s) {unknown}; known: {list(DETECTORS)}")
    skipped: dict[str, str] = {}
    if "cloudsage" in wanted:
        ok, why = cloudsage_status()
        if not ok:
            skipped["cloudsage"] = why
            wanted.remove("cloudsage")
            print(f"SKIPPING cloudsage detector: cloudsage.core.models.anomaly.causal_scores unavailable ({why})")

    files = load_corpus(args.data)
    print(
        f"NAB corpus: {len(files)} files, {sum(f.values.size for f in files):,} points, "
        f"{sum(len(f.windows) for f in files)} windows from {args.data}"
    )
    print(
        "scores rounded to "
        + (f"{args.score_digits} significant digits (as NAB's results CSVs)" if args.score_digits > 0 else "nothing")
        + "; one threshold per profile optimised over the corpus"
    )
    runs = run_detectors(files, wanted, max(1, args.jobs), args.score_digits)
    for run in runs.values():
        print("\n".join(report(run, files)))
    print("\n".join(summary(runs)))
    doc = to_json(runs, files, args.data, skipped, args.score_digits)
    extra = _extras(runs, files, args.data)
    doc.update(extra)
    print(f"benchmark wall time: {time.perf_counter() - wall0:.1f} s (target <= 120 s)")

    args.out.parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "w", encoding="utf-8") as fh:
        json.dump(doc, fh, indent=1)
    print(f"results written to {args.out}")

    cs = runs.get("cloudsage")
    if cs is None:
        reason = skipped.get("cloudsage", "not requested")
        print(f"NAB standard=n/a low_fp=n/a low_fn=n/a (cloudsage detector not run: {reason})")
    else:
        vals = {SHORT_PROFILE_NAMES[p]: r.overall.normalised for p, r in cs.results.items()}
        print("NAB " + " ".join(f"{k}={_fmt(v, 0).strip()}" for k, v in vals.items()))
    return 0


def _extras(runs: dict[str, DetectorRun], files: Sequence[NabFile], data_dir: Path) -> dict[str, object]:
    """Leave-one-category-out, detection latency, CloudSage at its shipped threshold and streaming cost (printed)."""
    extra: dict[str, object] = {"leave_one_category_out": {}, "latency": {}}
    for name, run in runs.items():
        loco = leave_one_category_out(run, files)
        print("\n".join(report_loco(name, loco)))
        cast(dict[str, object], extra["leave_one_category_out"])[name] = loco
    labels = load_labels(data_dir, files)
    print("== detection latency (first detection per window, at the standard-profile threshold)")
    kinds: dict[str, np.ndarray] | None = None
    if "cloudsage" in runs:
        try:
            kinds = cloudsage_kinds(files)
        except Exception as exc:  # noqa: BLE001 - a stand-in detector (tests) may not match the real one
            print(f"   (no per-kind breakdown: {type(exc).__name__}: {exc})")
    for name, run in runs.items():
        thr = run.results["standard"].threshold
        lat = detection_latency(run.scores, thr, files, labels, kinds if name == "cloudsage" else None)
        print(report_latency(name, lat))
        cast(dict[str, object], extra["latency"])[name] = lat
    cs = runs.get("cloudsage")
    if cs is not None:
        from cloudsage.core.models.anomaly import ALERT_DEFAULTS

        shipped = float(ALERT_DEFAULTS["threshold"])
        windows = {f.name: f.windows for f in files}
        fixed = {
            SHORT_PROFILE_NAMES[p]: score_corpus(cs.scores, windows, prof, threshold=shipped)
            for p, prof in PROFILES.items()
        }
        print(
            f"== cloudsage at its shipped default threshold {shipped:g} (no per-profile optimisation): "
            + " ".join(f"{k}={_fmt(v.overall.normalised, 0).strip()}" for k, v in fixed.items())
        )
        lat = detection_latency(cs.scores, shipped, files, labels, kinds)
        print(report_latency("cloudsage@default", lat))
        extra["cloudsage_shipped_threshold"] = {
            "threshold": shipped,
            "normalised": {k: v.overall.normalised for k, v in fixed.items()},
            "latency": lat,
        }
        cost = streaming_cost(files)
        if cost:
            print(
                f"== cloudsage streaming update: median {cost['median_us']:.1f} us per point per metric (median over "
                f"{int(cost['files'])} files of each file's median; slowest file {cost['worst_file_median_us']:.1f} "
                "us; target <= 50 us)"
            )
        extra["cloudsage_streaming_us_per_point"] = cost
    return extra


if __name__ == "__main__":
    raise SystemExit(main())
