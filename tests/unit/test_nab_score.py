"""NAB scorer, baseline detectors and runner: behaviour pinned on tiny hand-made cases."""

from __future__ import annotations

import itertools
import json
import math
import os
import random
from pathlib import Path

import numpy as np
import pytest

from benchmarks.nab import detectors as det
from benchmarks.nab.run import load_corpus, main, round_significant
from benchmarks.nab.score import (
    PROFILES,
    CostProfile,
    normalise,
    optimise_threshold,
    prepare_file,
    probationary_length,
    scaled_sigmoid,
    score_at_threshold,
    score_corpus,
    sweep_weights,
    threshold_curve,
    windows_to_indices,
)

STD = PROFILES["standard"]
LOW_FP = PROFILES["reward_low_FP_rate"]
LOW_FN = PROFILES["reward_low_FN_rate"]
S1 = float(scaled_sigmoid(1.0))  # -0.98661


def one_file(
    n: int, window: tuple[int, int], hits: dict[int, float], profile: CostProfile = STD, probation: float = 0.0
) -> float:
    """Raw score of one file with one window; ``hits`` maps row -> score, threshold 0.5."""
    s = np.zeros(n)
    for i, v in hits.items():
        s[i] = v
    r = score_corpus({"cat/f.csv": s}, {"cat/f.csv": [window]}, profile, probation_percent=probation, threshold=0.5)
    return r.files["cat/f.csv"].raw


# --------------------------------------------------------------------------------------------------- basics


def test_profiles_match_nab_v11() -> None:
    assert (STD.tp, STD.fp, STD.fn) == (1.0, 0.11, 1.0)
    assert (LOW_FP.tp, LOW_FP.fp, LOW_FP.fn) == (1.0, 0.22, 1.0)
    assert (LOW_FN.tp, LOW_FN.fp, LOW_FN.fn) == (1.0, 0.11, 2.0)


def test_scaled_sigmoid() -> None:
    assert float(scaled_sigmoid(-1.0)) == pytest.approx(0.98661, abs=1e-5)
    assert float(scaled_sigmoid(-0.5)) == pytest.approx(0.84828, abs=1e-5)
    assert float(scaled_sigmoid(0.0)) == 0.0
    assert float(scaled_sigmoid(1.0)) == pytest.approx(-0.98661, abs=1e-5)
    assert float(scaled_sigmoid(3.0)) == pytest.approx(2 / (1 + math.exp(15)) - 1)
    assert float(scaled_sigmoid(3.0001)) == -1.0
    assert float(scaled_sigmoid(50.0)) == -1.0


def test_probationary_length() -> None:
    assert probationary_length(100) == 15
    assert probationary_length(4032) == 604
    assert probationary_length(10_000) == 750  # capped at 0.15 * 5000
    assert probationary_length(100, 0.0) == 0


def test_windows_to_indices_exact_first_occurrence() -> None:
    ts = ["2014-03-09 02:55:00", "2014-03-09 03:00:00", "2014-03-09 03:00:00", "2014-03-09 03:05:00"]
    got = windows_to_indices(ts, [["2014-03-09 03:00:00.000000", "2014-03-09 03:05:00.000000"]])
    assert got == [(1, 3)]
    with pytest.raises(ValueError):
        windows_to_indices(ts, [["2014-03-09 03:01:00", "2014-03-09 03:05:00"]])


# --------------------------------------------------------------------------------------------------- TP / FN


def test_detection_at_window_start_scores_tp_weight() -> None:
    assert one_file(100, (40, 49), {40: 1.0}) == pytest.approx(1.0)
    assert one_file(100, (40, 49), {40: 1.0}, LOW_FN) == pytest.approx(1.0)


def test_detection_at_window_end_scores_about_zero() -> None:
    # NAB's sweeper uses y = -(right - i + 1) / width, so the last row gets sigma(-1/width) / sigma(-1): about 0
    # for a wide window, exactly this formula for any width.
    width = 10
    expect = float(scaled_sigmoid(-1.0 / width)) / float(scaled_sigmoid(-1.0))
    assert one_file(100, (40, 49), {49: 1.0}) == pytest.approx(expect)
    assert one_file(5000, (1000, 2999), {2999: 1.0}) == pytest.approx(0.0, abs=3e-3)


def test_tp_score_decreases_through_the_window_and_only_first_detection_counts() -> None:
    scores = [one_file(100, (40, 59), {i: 1.0}) for i in range(40, 60)]
    assert all(a > b for a, b in itertools.pairwise(scores))
    assert all(s > 0 for s in scores)
    # A later detection in the same window adds nothing; the earliest one decides.
    assert one_file(100, (40, 59), {45: 1.0, 50: 1.0, 58: 1.0}) == pytest.approx(scores[5])


def test_missed_window_costs_fn_weight() -> None:
    assert one_file(100, (40, 49), {}) == pytest.approx(-1.0)
    assert one_file(100, (40, 49), {}, LOW_FN) == pytest.approx(-2.0)


# --------------------------------------------------------------------------------------------------- FP


def test_fp_before_any_window_costs_fp_weight() -> None:
    assert one_file(100, (40, 49), {10: 1.0}) == pytest.approx(-1.0 - 0.11)
    assert one_file(100, (40, 49), {10: 1.0}, LOW_FP) == pytest.approx(-1.0 - 0.22)


def test_late_fp_penalty_grows_with_distance_after_window() -> None:
    base = -1.0  # the window itself is missed
    just_after = one_file(200, (40, 49), {50: 1.0}) - base
    one_width = one_file(200, (40, 49), {49 + 9: 1.0}) - base  # |i - right| / (width - 1) == 1
    far = one_file(200, (40, 49), {49 + 28: 1.0}) - base  # > 3 widths
    assert just_after == pytest.approx(0.11 * float(scaled_sigmoid(1 / 9)))
    assert -0.11 < just_after < 0
    assert one_width == pytest.approx(0.11 * S1)
    assert far == pytest.approx(-0.11)
    penalties = [one_file(200, (40, 49), {i: 1.0}) - base for i in range(50, 90)]
    assert all(a >= b for a, b in itertools.pairwise(penalties))


def test_fp_is_measured_from_the_preceding_window_only() -> None:
    w = {"c/f.csv": [(20, 29), (60, 69)]}
    s = np.zeros(120)
    s[59] = 1.0  # just before the 2nd window: far after the 1st one
    r = score_corpus({"c/f.csv": s}, w, STD, probation_percent=0.0, threshold=0.5)
    pos = (59 - 29) / 9
    assert r.files["c/f.csv"].raw == pytest.approx(-2.0 + 0.11 * float(scaled_sigmoid(pos)))


def test_single_row_window_then_fp_does_not_crash() -> None:
    weights, wid = sweep_weights(10, [(3, 3)], STD)
    assert wid.tolist() == [-1, -1, -1, 0, -1, -1, -1, -1, -1, -1]
    assert weights[3] == pytest.approx(1.0)
    assert np.all(weights[4:] == -0.11)


# --------------------------------------------------------------------------------------------------- probation


def test_probationary_period_is_ignored() -> None:
    # 100 rows -> 15 probationary rows. A detection at row 5 is neither an FP nor anything else.
    assert one_file(100, (40, 49), {5: 1.0, 40: 1.0}, probation=0.15) == pytest.approx(1.0)
    f = prepare_file("c/f.csv", np.ones(100), [(40, 49)], STD)
    assert f.probation == 15 and f.scores.size == 85


# --------------------------------------------------------------------------------------------------- threshold


def test_threshold_sweep_picks_the_best_threshold() -> None:
    n = 200
    a = np.full(n, 0.6)  # many low-level FPs
    a[100] = 0.7  # the window start
    a[20] = 0.9  # one confident FP
    b = np.full(n, 0.1)
    scores = {"c/a.csv": a, "c/b.csv": b}
    windows = {"c/a.csv": [(100, 109)], "c/b.csv": []}
    r = score_corpus(scores, windows, STD, probation_percent=0.0)
    assert r.threshold == pytest.approx(0.7)
    assert r.overall.raw == pytest.approx(1.0 - 0.11)
    assert r.files["c/a.csv"].detected_windows == 1 and r.overall.fp == 1
    # Score >= threshold is a detection; a threshold between two values behaves like the next value up.
    r2 = score_corpus(scores, windows, STD, probation_percent=0.0, threshold=0.65)
    assert r2.overall.raw == pytest.approx(r.overall.raw)


def test_no_useful_threshold_falls_back_to_null_and_ties_prefer_high_threshold() -> None:
    s = np.zeros(100)
    r = score_corpus({"c/f.csv": s}, {"c/f.csv": [(40, 49)]}, STD, probation_percent=0.0)
    assert r.threshold == pytest.approx(1.1)
    assert r.overall.raw == pytest.approx(-1.0)


def test_sweep_curve_matches_brute_force() -> None:
    rng = np.random.default_rng(3)
    files = []
    for k in range(4):
        n = int(rng.integers(150, 300))
        s = np.round(rng.random(n), 2)  # many ties
        left = int(rng.integers(60, n - 40))
        wins = [(left, left + int(rng.integers(0, 20)))]
        if k % 2:
            wins.append((wins[0][1] + 5, wins[0][1] + 15))
        files.append(prepare_file(f"c/{k}.csv", s, wins, LOW_FN))
    curve = threshold_curve(files, LOW_FN.fn)
    for t, total in zip(curve.thresholds, curve.scores, strict=True):
        brute = sum(score_at_threshold(f, t, LOW_FN.fn, LOW_FN.tp).raw for f in files)
        assert total == pytest.approx(brute, abs=1e-9)
    assert optimise_threshold(files, LOW_FN.fn) == curve.best()


# --------------------------------------------------------------------------------------------------- normalisation


def test_normalisation_null_is_zero_and_perfect_is_hundred() -> None:
    n = 300
    windows = {"c/a.csv": [(100, 119), (200, 219)], "c/b.csv": [(150, 160)]}
    null = {k: np.zeros(n) for k in windows}
    perfect = {k: np.zeros(n) for k in windows}
    for k, ws in windows.items():
        for left, _ in ws:
            perfect[k][left] = 1.0
    for prof in PROFILES.values():
        assert score_corpus(null, windows, prof).overall.normalised == pytest.approx(0.0)
        assert score_corpus(perfect, windows, prof).overall.normalised == pytest.approx(100.0)
    assert normalise(0.0, 0.0, 0.0) is None


def test_per_category_groups() -> None:
    n = 200
    windows = {"x/a.csv": [(100, 109)], "y/b.csv": [(100, 109)], "y/c.csv": []}
    s = {k: np.zeros(n) for k in windows}
    s["x/a.csv"][100] = 1.0
    r = score_corpus(s, windows, STD, threshold=0.5)
    assert r.categories["x"].normalised == pytest.approx(100.0)
    assert r.categories["y"].normalised == pytest.approx(0.0)
    assert r.overall.normalised == pytest.approx(50.0)
    assert r.files["y/c.csv"].normalised is None


# --------------------------------------------------------------------------------------------------- detectors


def _nab_windowed_gaussian_loop(values: np.ndarray, window_size: int, step_size: int) -> np.ndarray:
    """Straight loop transcription of NAB's windowed Gaussian, as the reference for the vectorised version."""
    data: list[float] = []
    buf: list[float] = []
    mean, std = 0.0, 1.0
    out = []
    for v in values:
        score = 0.0
        if data:
            z = abs(v - mean) / std
            score = 1.0 - 0.5 * math.erfc(z / math.sqrt(2))
        if len(data) < window_size:
            data.append(v)
            mean, std = float(np.mean(data)), float(np.std(data)) or 1e-6
        else:
            buf.append(v)
            if len(buf) == step_size:
                data = data[step_size:] + buf
                buf = []
                mean, std = float(np.mean(data)), float(np.std(data)) or 1e-6
        out.append(score)
    return np.array(out)


def test_windowed_gaussian_matches_nab_algorithm() -> None:
    rng = np.random.default_rng(0)
    x = np.r_[np.full(10, 5.0), 5 + rng.normal(0, 1, 300)]
    x[250] = 15.0
    got = det.windowed_gaussian(x, None, window_size=50, step_size=10)
    ref = _nab_windowed_gaussian_loop(x, 50, 10)
    np.testing.assert_allclose(got, ref, atol=1e-9)
    assert got[250] > 0.999999
    default = det.windowed_gaussian(x)
    np.testing.assert_allclose(default, _nab_windowed_gaussian_loop(x, 6400, 100), atol=1e-9)


def test_random_detector_reproduces_nab_random() -> None:
    s = det.random_scores(np.zeros(5))
    rng = random.Random(42)
    assert s.tolist() == [rng.uniform(0, 1) for _ in range(5)]
    assert s[0] == pytest.approx(0.639426798458)  # first score of every file in NAB's results/random


@pytest.mark.parametrize("name", ["windowed_gaussian", "random", "isolation_forest"])
def test_baselines_are_causal_and_in_range(name: str) -> None:
    rng = np.random.default_rng(1)
    n = 700
    x = np.sin(np.arange(n) / 20) + rng.normal(0, 0.1, n)
    x[600] += 5
    ts = 1.4e9 + 300.0 * np.arange(n)
    fn = det.DETECTORS[name]
    full = fn(x, ts)
    assert full.shape == (n,)
    assert np.all((full >= 0) & (full <= 1))
    m = 430
    np.testing.assert_allclose(fn(x[:m], ts[:m]), full[:m], atol=1e-12)


def test_isolation_forest_flags_a_spike() -> None:
    rng = np.random.default_rng(2)
    x = rng.normal(0, 1, 800)
    x[700] = 12.0
    s = det.isolation_forest(x, None)
    assert s[700:703].max() >= 0.99
    assert s[700] > np.quantile(s[100:700], 0.9)
    assert np.all(s[:100] == 0.0)


def test_infer_period_s() -> None:
    assert det.infer_period_s(np.array([0, 300, 600, 600, 900, 1500])) == 300
    assert det.infer_period_s(np.array([5.0])) == 60


def test_round_significant() -> None:
    assert round_significant(np.array([0.99999999999999, 0.123456789012345]), 12).tolist() == [1.0, 0.123456789012]
    x = np.array([0.1 + 1e-15])
    assert round_significant(x, 0) is x


# --------------------------------------------------------------------------------------------------- runner


def _tiny_corpus(root: Path) -> Path:
    (root / "data" / "catA").mkdir(parents=True)
    (root / "labels").mkdir()
    start = 1_400_000_000
    windows: dict[str, list[list[str]]] = {}
    from datetime import UTC, datetime

    for k in range(2):
        rows = []
        stamps = []
        for i in range(400):
            ts = datetime.fromtimestamp(start + 300 * i, tz=UTC).strftime("%Y-%m-%d %H:%M:%S")
            v = 10.0 + math.sin(i / 10) + (25.0 if i == 300 + 10 * k else 0.0)
            rows.append(f"{ts},{v}")
            stamps.append(ts)
        (root / "data" / "catA" / f"s{k}.csv").write_text("timestamp,value\n" + "\n".join(rows) + "\n")
        windows[f"catA/s{k}.csv"] = [[stamps[295] + ".000000", stamps[315] + ".000000"]]
    windows["otherCat/missing.csv"] = []
    (root / "labels" / "combined_windows.json").write_text(json.dumps(windows))
    return root


def test_load_corpus_and_runner_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = _tiny_corpus(tmp_path / "nab")
    files = load_corpus(data)
    assert [f.name for f in files] == ["catA/s0.csv", "catA/s1.csv"]
    assert files[0].windows == [(295, 315)]
    out = tmp_path / "out.json"
    rc = main(["--data", str(data), "--detectors", "windowed_gaussian,random", "--jobs", "1", "--out", str(out)])
    assert rc == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[-1].startswith("NAB standard=n/a")
    doc = json.loads(out.read_text())
    wg = doc["detectors"]["windowed_gaussian"]
    # Two clean spikes, both caught: early in one window (~0.96 tp), mid-late in the other (~0.62 tp).
    assert wg["summary"]["standard"] == pytest.approx(89.8, abs=0.1)
    assert set(wg["profiles"]) == set(PROFILES)


def test_runner_last_line_uses_cloudsage(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: dict[str, int] = {}

    def fake_causal_scores(values: np.ndarray, period_s: int, **params: object) -> np.ndarray:
        seen["period_s"] = period_s
        return det.windowed_gaussian(values)

    monkeypatch.setattr(det, "_load_causal_scores", lambda: fake_causal_scores)
    data = _tiny_corpus(tmp_path / "nab")
    rc = main(["--data", str(data), "--detectors", "cloudsage", "--jobs", "1", "--out", str(tmp_path / "o.json")])
    assert rc == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert seen["period_s"] == 300
    parts = dict(p.split("=") for p in last.removeprefix("NAB ").split())
    assert set(parts) == {"standard", "low_fp", "low_fn"}
    assert float(parts["standard"]) == pytest.approx(89.8)


def test_runner_skips_missing_cloudsage(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def boom() -> None:
        raise ImportError("No module named 'cloudsage.core.models.anomaly'")

    monkeypatch.setattr(det, "_load_causal_scores", boom)
    data = _tiny_corpus(tmp_path / "nab")
    rc = main(
        ["--data", str(data), "--detectors", "random,cloudsage", "--jobs", "1", "--out", str(tmp_path / "o.json")]
    )
    assert rc == 0
    out = capsys.readouterr().out
    assert "SKIPPING cloudsage" in out
    assert out.strip().splitlines()[-1].startswith("NAB standard=n/a low_fp=n/a low_fn=n/a")


# --------------------------------------------------------------------------------------------------- real corpus

NAB_DATA = Path(os.environ.get("NAB_DATA", Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "nab"))


@pytest.mark.skipif(not (NAB_DATA / "labels" / "combined_windows.json").exists(), reason="NAB data not present")
def test_baselines_reproduce_published_nab_figures() -> None:
    """NAB's published scores of windowedGaussian and random restricted to these 35 files."""
    files = load_corpus(NAB_DATA)
    if len(files) != 35:
        pytest.skip("not the 35-file NAB subset")
    windows = {f.name: f.windows for f in files}
    wg = {f.name: round_significant(det.windowed_gaussian(f.values), 12) for f in files}
    rnd = {f.name: round_significant(det.random_scores(f.values), 12) for f in files}
    expected = {"windowed": (45.8, 30.4, 55.3), "random": (9.5, 1.8, 19.4)}
    for key, scores in (("windowed", wg), ("random", rnd)):
        got = tuple(round(score_corpus(scores, windows, p).overall.normalised, 1) for p in PROFILES.values())
        assert got == expected[key]
