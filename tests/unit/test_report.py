"""Tests of the self-contained HTML report."""

from __future__ import annotations

import math
import re
from html.parser import HTMLParser
from typing import Any

import pytest

from cloudsage.core.results import Insight
from cloudsage.local.report import render_report, write_report

T0 = 1_796_342_400.0  # 2026-12-04T00:00Z
VOID = {"meta", "br", "hr", "img", "input", "link", "rect", "line", "polyline", "polygon", "circle", "path"}


def _insight(i: int = 0, **overrides: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "resource_id": f"res-{i}",
        "model": "anomaly",
        "kind": "reactive",
        "severity": "high",
        "confidence": 0.87,
        "title": f"CPU spike on res-{i}",
        "summary": "CPU rose far above its usual level.",
        "recommendation": "Check the deploy at 10:30.",
        "detected_at": T0 + 86_400,
        "window_start": T0 + 3_600,
        "window_end": T0 + 7_200,
        "evidence": {"observed": 95.2, "baseline": 31.0, "co_moving": ["NetworkIn"]},
        "metric": "CPUUtilization",
    }
    fields.update(overrides)
    return Insight(**fields).to_dict()


def _plot(n: int = 288, missing: tuple[int, ...] = (), forecast: bool = False) -> dict[str, Any]:
    ts = [T0 + 300 * k for k in range(n)]
    values: list[float | None] = [30 + 10 * math.sin(k / 20) for k in range(n)]
    for k in missing:
        values[k] = None
    plot: dict[str, Any] = {
        "timestamps": ts,
        "values": values,
        "scores": [0.1 if v is not None else None for v in values],
        "baseline": [30.0] * n,
        "spans": [[T0 + 3_600, T0 + 7_200]],
    }
    if forecast:
        fts = [ts[-1] + 300 * k for k in range(1, 25)]
        plot["forecast"] = {"timestamps": fts, "mean": [40.0] * 24, "lower": [35.0] * 24, "upper": [45.0] * 24}
    return plot


RUN = {"run_id": "run-42", "started_at": T0, "resources": ["res-0", "res-1"], "models": ["anomaly"], "duration_s": 12.5}


class _Balance(HTMLParser):
    """Checks that every non-void element is closed in order."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.errors: list[str] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list) -> None:
        pass

    def handle_endtag(self, tag: str) -> None:
        if tag in VOID:
            return
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"unexpected </{tag}>, open: {self.stack[-3:]}")
        else:
            self.stack.pop()


def _assert_well_formed(page: str) -> None:
    parser = _Balance()
    parser.feed(page)
    parser.close()
    assert not parser.errors, parser.errors[:3]
    assert parser.stack == [], parser.stack


def _assert_self_contained(page: str) -> None:
    lowered = page.lower()
    for needle in ("http://", "https://", "src=", "<link", "@import", "url(", "<script"):
        assert needle not in lowered, needle


# ---------------------------------------------------------------------------------------------- tests
def test_one_svg_per_insight_and_sections() -> None:
    insights = [_insight(i, severity=s) for i, s in enumerate(["critical", "high", "low"])]
    details = {f"res-{i}": {"anomaly": {"CPUUtilization": _plot()}} for i in range(3)}
    alerts = [{"subject": "[CloudSage] critical on res-0", "message": "CPU spike\nsee report"}]
    page = render_report(insights, details, alerts, RUN)
    assert page.startswith("<!DOCTYPE html>")
    assert page.count("<svg") == 3
    assert page.count('class="card') == 3
    for needle in (
        "run-42",
        "2026-12-04 00:00 UTC",
        "12.5 s",
        "res-0",
        "anomaly",
        "Key figure",
        "Recommendation",
        "95.2 vs 31 expected",
        "Check the deploy at 10:30.",
        "[CloudSage] critical on res-0",
        "see report",
    ):
        assert needle in page, needle
    # rank order kept and summary rows link to the cards
    assert page.index('href="#insight-1"') < page.index('href="#insight-2"') < page.index('href="#insight-3"')
    assert 'id="insight-3"' in page
    assert 'class="badge sev-critical"' in page
    _assert_well_formed(page)
    _assert_self_contained(page)


def test_plot_elements() -> None:
    insights = [_insight(0)]
    details = {"res-0": {"anomaly": {"CPUUtilization": _plot(forecast=True)}}}
    page = render_report(insights, details, [], RUN)
    svg = re.search(r"<svg.*?</svg>", page, re.S).group(0)  # type: ignore[union-attr]
    assert 'class="value"' in svg
    assert 'class="baseline"' in svg and "stroke-dasharray" in svg
    assert 'class="span"' in svg and "#dc2626" in svg
    assert 'class="window"' in svg
    assert 'class="forecast-band"' in svg
    assert 'class="score"' in svg
    # time labels on the x axis and value ticks on the y axis
    assert ">Dec 04<" in svg and ">06:00<" in svg
    assert re.search(r'text-anchor="end"[^>]*>\d+<', svg)


def test_forecast_band_only_when_present() -> None:
    page = render_report([_insight(0)], {"res-0": {"anomaly": {"CPUUtilization": _plot()}}}, [], RUN)
    assert "forecast-band" not in page


def test_missing_values_make_gaps() -> None:
    plot = _plot(missing=(50, 51, 52, 100, 102))  # a 3-point gap and one isolated point at 101
    page = render_report([_insight(0)], {"res-0": {"anomaly": {"CPUUtilization": plot}}}, [], RUN)
    assert page.count('<polyline class="value"') == 3
    assert page.count('<circle class="value"') == 1
    # NaN in place of None is a gap too
    plot["values"] = [math.nan if v is None else v for v in plot["values"]]
    assert (
        render_report([_insight(0)], {"res-0": {"anomaly": {"CPUUtilization": plot}}}, [], RUN).count(
            '<polyline class="value"'
        )
        == 3
    )


def test_all_values_missing_or_no_detail_still_renders_svg() -> None:
    plot = _plot()
    plot["values"] = [None] * len(plot["values"])
    plot.pop("baseline")
    insights = [_insight(0), _insight(1), _insight(2, model="rightsizing")]
    details = {"res-0": {"anomaly": {"CPUUtilization": plot}}, "res-2": {"anomaly": {"CPUUtilization": _plot()}}}
    page = render_report(insights, details, [], RUN)
    assert page.count("<svg") == 3
    assert "no values to plot" in page
    assert page.count(">no plot data for this insight</text>") == 2
    _assert_well_formed(page)


def test_falls_back_to_first_plot_of_the_model() -> None:
    details = {"res-0": {"anomaly": {"window_days": 14, "NetworkIn": _plot()}}}
    page = render_report([_insight(0)], details, [], RUN)
    assert '<polyline class="value"' in page
    assert "metric <b>NetworkIn</b>" in page


def test_escapes_text() -> None:
    evil = "<script>alert('x')</script>"
    insights = [_insight(0, title=evil, summary=evil, recommendation=evil, resource_id='r"<b>', evidence={evil: evil})]
    alerts = [{"subject": evil, "message": f"{evil}\n&amp;", "topic": evil}]
    run = {"run_id": evil, "models": [evil], "note": evil}
    page = render_report(insights, {}, alerts, run)
    assert "<script" not in page.lower()
    assert "&lt;script&gt;" in page
    assert "r&quot;&lt;b&gt;" in page
    assert "&amp;amp;" in page
    _assert_well_formed(page)
    _assert_self_contained(page)


def test_empty_insight_list() -> None:
    page = render_report([], {}, [], {"run_id": "empty-run"})
    assert "<svg" not in page
    assert "No insights in this run" in page
    assert "No alerts were sent" in page
    assert "empty-run" in page
    _assert_well_formed(page)
    _assert_self_contained(page)


def test_empty_insights_with_alerts_and_minimal_run_info() -> None:
    page = render_report([], {}, [{"subject": "s1", "message": "m1"}, {"message": "m2"}], {})
    assert "Alerts (2)" in page and "(no subject)" in page and "m2" in page
    assert "local run" in page


def test_large_series_is_decimated_but_keeps_peaks() -> None:
    n = 20_000
    plot = _plot(n=n)
    plot["values"][12_345] = 500.0
    page = render_report([_insight(0)], {"res-0": {"anomaly": {"CPUUtilization": plot}}}, [], RUN)
    points = re.search(r'<polyline class="value" points="([^"]+)"', page).group(1).split()  # type: ignore[union-attr]
    assert len(points) <= 1_500
    ys = [float(p.split(",")[1]) for p in points]
    assert min(ys) < 60 < 150 < sorted(ys)[1]  # the single 500 peak survives decimation, near the top
    assert len(page) < 400_000


def test_key_figure_fallbacks() -> None:
    insights = [
        _insight(0, evidence={"key_figure": "saves $210/month"}),
        _insight(1, evidence={"hours_to_full": 31.5}),
        _insight(2, evidence={}),
    ]
    page = render_report(insights, {}, [], RUN)
    assert "saves $210/month" in page
    assert "hours to full 31.5" in page
    assert "confidence 87%" in page


def test_run_info_variants() -> None:
    page = render_report(
        [],
        {},
        [],
        {"run_id": "r", "started_at": "2026-12-04T10:00:00Z", "resources": 6, "models": "anomaly", "duration_s": 125},
    )
    assert "2026-12-04T10:00:00Z" in page and ">6<" in page and "2 min 5 s" in page


def test_deterministic_output() -> None:
    args = ([_insight(0)], {"res-0": {"anomaly": {"CPUUtilization": _plot()}}}, [], RUN)
    assert render_report(*args) == render_report(*args)


@pytest.mark.parametrize("nested", [True, False])
def test_write_report(tmp_path, nested: bool) -> None:
    path = tmp_path / ("a/b/report.html" if nested else "report.html")
    out = write_report(path, [_insight(0)], {"res-0": {"anomaly": {"CPUUtilization": _plot()}}}, [], RUN)
    assert out == path and path.read_text(encoding="utf-8").count("<svg") == 1
