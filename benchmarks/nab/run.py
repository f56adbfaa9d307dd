"""Run detectors on the NAB corpus and score them with NAB's method.

Usage (from the repository root)::

    PYTHONPATH=lambdas:. python -m benchmarks.nab.run --data ../shared/data/nab --jobs 2

Prints, for each detector, per-category and overall normalised scores (raw scores in brackets) for the three NAB
profiles, the corpus-optimised thresholds and the CPU time per point; then a side-by-side summary with NAB's
published figures for the same files, and as the very last line ``NAB standard=.. low_fp=.. low_fn=..`` for the
CloudSage detector. Writes everything to ``out/nab.json``.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from benchmarks.nab.detectors import DETECTORS, cloudsage_status
from benchmarks.nab.score import (
    NO_DETECTION_THRESHOLD,
    PROFILES,
    SHORT_PROFILE_NAMES,
    CorpusScore,
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

    args.out.parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "w", encoding="utf-8") as fh:
        json.dump(to_json(runs, files, args.data, skipped, args.score_digits), fh, indent=1)
    print(f"results written to {args.out}")

    cs = runs.get("cloudsage")
    if cs is None:
        reason = skipped.get("cloudsage", "not requested")
        print(f"NAB standard=n/a low_fp=n/a low_fn=n/a (cloudsage detector not run: {reason})")
    else:
        vals = {SHORT_PROFILE_NAMES[p]: r.overall.normalised for p, r in cs.results.items()}
        print("NAB " + " ".join(f"{k}={_fmt(v, 0).strip()}" for k, v in vals.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
