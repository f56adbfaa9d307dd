"""Self-contained HTML report of one analysis run.

One page, no external assets: inline CSS and inline SVG plots generated here, so the file can be mailed,
attached to a ticket or opened offline. Every piece of text that comes from data (titles, summaries, resource
ids, alert messages) is HTML-escaped.

Layout: a header with the run information, a summary table of the ranked insights, one card per insight with
a plot of its metric (missing points as gaps, baseline dashed, anomaly spans shaded red, forecast band when
present, the insight's window highlighted) and the alerts sent during the run.
"""

from __future__ import annotations

import html
import itertools
import json
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cloudsage.core.results import SEVERITIES, iso

__all__ = ["render_report", "write_report"]

# plot geometry (SVG user units)
_W = 760
_H = 250
_ML, _MR, _MT, _MB = 64, 16, 14, 30
_SCORE_H = 34
_MAX_POINTS = 1_400  # per line, after min/max decimation

_COLORS = {
    "value": "#1d4e89",
    "baseline": "#6b7280",
    "span": "#dc2626",
    "window": "#f59e0b",
    "forecast": "#7c3aed",
    "score": "#b91c1c",
    "grid": "#e5e7eb",
    "axis": "#9ca3af",
    "text": "#374151",
}

_CSS = """
:root { color-scheme: light; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif;
       color: #1f2937; background: #f3f4f6; }
header { background: #0f172a; color: #f8fafc; padding: 20px 32px; }
header h1 { margin: 0 0 4px; font-size: 22px; }
header .sub { color: #cbd5e1; margin: 0 0 12px; }
header dl { display: grid; grid-template-columns: repeat(auto-fit, minmax(170px, 1fr)); gap: 8px 24px; margin: 0; }
header dt { font-size: 11px; text-transform: uppercase; letter-spacing: .05em; color: #94a3b8; }
header dd { margin: 0; font-weight: 600; word-break: break-word; }
main { max-width: 1120px; margin: 0 auto; padding: 16px 24px 40px; }
section { margin-top: 24px; }
h2 { font-size: 18px; margin: 0 0 10px; }
.counts { display: flex; gap: 8px; flex-wrap: wrap; margin-bottom: 10px; }
table { width: 100%; border-collapse: collapse; background: #fff; border-radius: 6px; overflow: hidden;
        box-shadow: 0 1px 2px rgba(0,0,0,.08); }
th, td { text-align: left; vertical-align: top; padding: 7px 10px; border-bottom: 1px solid #e5e7eb; }
th { background: #f9fafb; font-size: 12px; text-transform: uppercase; letter-spacing: .04em; color: #6b7280; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
td a { color: #1d4e89; text-decoration: none; }
td a:hover { text-decoration: underline; }
.badge { display: inline-block; padding: 1px 8px; border-radius: 999px; font-size: 12px; font-weight: 600;
         white-space: nowrap; }
.sev-critical { background: #7f1d1d; color: #fff; }
.sev-high { background: #dc2626; color: #fff; }
.sev-medium { background: #f59e0b; color: #111827; }
.sev-low { background: #fde68a; color: #111827; }
.sev-info { background: #dbeafe; color: #1e3a8a; }
.sev-unknown { background: #e5e7eb; color: #111827; }
.card { background: #fff; border-radius: 8px; padding: 16px 20px; margin: 16px 0;
        box-shadow: 0 1px 3px rgba(0,0,0,.1); border-left: 5px solid #9ca3af; }
.card.sev-border-critical { border-left-color: #7f1d1d; }
.card.sev-border-high { border-left-color: #dc2626; }
.card.sev-border-medium { border-left-color: #f59e0b; }
.card.sev-border-low { border-left-color: #facc15; }
.card.sev-border-info { border-left-color: #60a5fa; }
.card h3 { margin: 0 0 4px; font-size: 16px; }
.meta { color: #6b7280; font-size: 12px; margin-bottom: 8px; }
.meta span { margin-right: 14px; }
.rec { background: #ecfdf5; border-left: 3px solid #10b981; padding: 6px 10px; margin: 8px 0; }
.plot { margin: 10px 0 4px; overflow-x: auto; }
.plot svg { display: block; max-width: 100%; height: auto; }
.legend { font-size: 12px; color: #4b5563; display: flex; flex-wrap: wrap; gap: 14px; margin-bottom: 8px; }
.sw { display: inline-block; width: 18px; height: 10px; margin-right: 5px; vertical-align: middle; }
.sw-value { border-top: 2px solid #1d4e89; height: 0; }
.sw-baseline { border-top: 2px dashed #6b7280; height: 0; }
.sw-span { background: rgba(220,38,38,.25); }
.sw-window { background: rgba(245,158,11,.25); border: 1px solid #f59e0b; }
.sw-forecast { background: rgba(124,58,237,.2); border-top: 2px dashed #7c3aed; }
.sw-score { background: rgba(185,28,28,.5); }
details.evidence summary { cursor: pointer; color: #4b5563; font-size: 12px; }
details.evidence table { margin-top: 6px; font-size: 12px; box-shadow: none; }
details.evidence td { padding: 3px 8px; font-family: ui-monospace, SFMono-Regular, Menlo, monospace; }
.alert { background: #fff; border-radius: 6px; padding: 10px 14px; margin: 10px 0;
         box-shadow: 0 1px 2px rgba(0,0,0,.08); }
.alert h3 { margin: 0 0 6px; font-size: 14px; }
.alert pre { margin: 0; white-space: pre-wrap; word-break: break-word; font-size: 12px; color: #374151;
             font-family: ui-monospace, SFMono-Regular, Menlo, monospace; }
.empty { color: #6b7280; font-style: italic; }
footer { text-align: center; color: #9ca3af; font-size: 12px; padding: 16px; }
@media print { body { background: #fff; } .card, table, .alert { box-shadow: none; } }
"""


# ---------------------------------------------------------------------------------------------- public API
def render_report(
    insights: Sequence[Mapping[str, Any]],
    details: Mapping[str, Mapping[str, Mapping[str, Any]]],
    alerts: Sequence[Mapping[str, Any]],
    run_info: Mapping[str, Any],
) -> str:
    """Render the HTML report of one run.

    Parameters
    ----------
    insights : list of dict
        ``Insight.to_dict()`` records, already ranked (most important first).
    details : dict
        ``details[resource_id][model]`` is the model's plot detail: a mapping of metric name to
        ``{"timestamps": [...], "values": [...], "scores": [...], "baseline": [...], "spans": [[start, end], ...],
        "forecast": {"timestamps": [...], "mean": [...], "lower": [...], "upper": [...]}}``; times are epoch
        seconds, ``None`` marks a missing value; every key but ``timestamps`` and ``values`` is optional.
    alerts : list of dict
        Alerts sent during the run, each with ``subject`` and ``message`` (other keys are shown as metadata).
    run_info : dict
        Run facts: ``run_id``, ``started_at`` (epoch seconds or text), ``resources`` (count or list),
        ``models`` (list), ``duration_s``; other scalar keys are listed too.

    Returns
    -------
    str
        A complete HTML5 document with no external references.
    """
    run_id = _first(run_info, "run_id", "id") or "local run"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>CloudSage report: {_e(run_id)}</title>",
        f"<style>{_CSS}</style>",
        "</head>",
        "<body>",
        _header(run_info, run_id),
        "<main>",
        _summary(insights),
        _cards(insights, details),
        _alerts(alerts),
        "</main>",
        "<footer>Generated by CloudSage. Times are UTC.</footer>",
        "</body>",
        "</html>",
    ]
    return "\n".join(parts) + "\n"


def write_report(
    path: str | os.PathLike[str],
    insights: Sequence[Mapping[str, Any]],
    details: Mapping[str, Mapping[str, Mapping[str, Any]]],
    alerts: Sequence[Mapping[str, Any]],
    run_info: Mapping[str, Any],
) -> Path:
    """Render the report (see :func:`render_report`) and write it as UTF-8 to ``path``.

    Parent directories are created. Returns the path written.
    """
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render_report(insights, details, alerts, run_info), encoding="utf-8")
    return out


# ---------------------------------------------------------------------------------------------- formatting
def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _first(data: Mapping[str, Any], *keys: str) -> Any:
    for key in keys:
        value = data.get(key)
        if value not in (None, "", [], {}):
            return value
    return None


def _num(value: Any) -> float:
    """A finite float, or NaN for anything else (None, NaN, inf, text, bool)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        try:
            if value is None or isinstance(value, (str, bytes)):
                return math.nan
            value = float(value)  # numpy scalars
        except (TypeError, ValueError):
            return math.nan
    value = float(value)
    return value if math.isfinite(value) else math.nan


def _fmt_num(value: Any) -> str:
    """Compact human number: 1.2k, 3.4M, 0.0123."""
    v = _num(value)
    if math.isnan(v):
        return "n/a" if value is None else str(value)
    v += 0.0  # no "-0"
    a = abs(v)
    for limit, suffix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e4, "k")):
        if a >= limit:
            return f"{v / limit:.3g}{suffix}"
    if a >= 100 or v == int(v):
        return f"{v:.0f}" if v == int(v) else f"{v:.1f}"
    return f"{v:.3g}"


def _fmt_time(value: Any) -> str:
    v = _num(value)
    if math.isnan(v):
        return "" if value is None else str(value)
    return datetime.fromtimestamp(v, tz=UTC).strftime("%Y-%m-%d %H:%M UTC")


def _fmt_duration(value: Any) -> str:
    v = _num(value)
    if math.isnan(v):
        return "" if value is None else str(value)
    if v < 60:
        return f"{v:.1f} s"
    minutes, seconds = divmod(round(v), 60)
    if minutes < 60:
        return f"{minutes} min {seconds} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


def _fmt_list(value: Any, limit: int = 8) -> str:
    if isinstance(value, (list, tuple, set)):
        items = [str(v) for v in value]
        shown = ", ".join(items[:limit])
        return f"{len(items)}: {shown}" + (f", +{len(items) - limit} more" if len(items) > limit else "")
    return str(value)


def _severity(value: Any) -> str:
    return value if value in SEVERITIES else "unknown"


def _badge(severity: Any) -> str:
    sev = _severity(severity)
    return f'<span class="badge sev-{sev}">{_e(severity if severity else "unknown")}</span>'


def key_figure(insight: Mapping[str, Any]) -> str:
    """The one number that best sums up an insight, from its evidence."""
    ev = insight.get("evidence") or {}
    if not isinstance(ev, Mapping):
        ev = {}
    kf = ev.get("key_figure")
    if isinstance(kf, str) and kf:
        return kf
    observed, baseline = _num(ev.get("observed")), _num(ev.get("baseline"))
    if not math.isnan(observed) and not math.isnan(baseline):
        return f"{_fmt_num(observed)} vs {_fmt_num(baseline)} expected"
    for key in ("deviation", "change", "delta", "score"):
        v = _num(ev.get(key))
        if not math.isnan(v):
            return f"{key} {_fmt_num(v)}"
    for key, value in ev.items():
        v = _num(value)
        if not math.isnan(v):
            return f"{str(key).replace('_', ' ')} {_fmt_num(v)}"
    conf = _num(insight.get("confidence"))
    return f"confidence {conf:.0%}" if not math.isnan(conf) else ""


# ---------------------------------------------------------------------------------------------- sections
def _header(run_info: Mapping[str, Any], run_id: Any) -> str:
    when = _first(run_info, "started_at", "when", "generated_at", "run_at", "finished_at")
    resources = _first(run_info, "resources", "n_resources", "resource_count")
    models = _first(run_info, "models", "model_names")
    duration = _first(run_info, "duration_s", "duration", "elapsed_s")
    items = [
        ("Run", str(run_id)),
        ("When", _fmt_time(when) if isinstance(when, (int, float)) else ("" if when is None else str(when))),
        ("Resources", "" if resources is None else _fmt_list(resources)),
        (
            "Models",
            ""
            if models is None
            else (", ".join(map(str, models)) if isinstance(models, (list, tuple)) else str(models)),
        ),
        ("Duration", "" if duration is None else _fmt_duration(duration)),
    ]
    known = {
        "run_id",
        "id",
        "started_at",
        "when",
        "generated_at",
        "run_at",
        "finished_at",
        "resources",
        "n_resources",
        "resource_count",
        "models",
        "model_names",
        "duration_s",
        "duration",
        "elapsed_s",
        "title",
    }
    for key, value in run_info.items():
        if key in known or isinstance(value, (dict, list, tuple)) or value is None:
            continue
        items.append((str(key).replace("_", " ").capitalize(), str(value)))
    rows = "".join(f"<div><dt>{_e(k)}</dt><dd>{_e(v) or '&ndash;'}</dd></div>" for k, v in items)
    title = run_info.get("title") or "CloudSage report"
    return (
        f"<header><h1>{_e(title)}</h1>"
        f'<p class="sub">AI-ops insights from CloudWatch metrics, run {_e(run_id)}</p>'
        f"<dl>{rows}</dl></header>"
    )


def _summary(insights: Sequence[Mapping[str, Any]]) -> str:
    if not insights:
        return (
            '<section id="summary"><h2>Insights</h2>'
            '<p class="empty">No insights in this run: no model found anything worth reporting.</p></section>'
        )
    counts = dict.fromkeys(reversed(SEVERITIES), 0)
    for ins in insights:
        sev = _severity(ins.get("severity"))
        if sev in counts:
            counts[sev] += 1
    chips = "".join(f'<span class="badge sev-{s}">{c} {s}</span>' for s, c in counts.items() if c)
    rows = []
    for rank, ins in enumerate(insights, start=1):
        rows.append(
            "<tr>"
            f'<td class="num">{rank}</td>'
            f"<td>{_badge(ins.get('severity'))}</td>"
            f"<td>{_e(ins.get('resource_id', ''))}</td>"
            f"<td>{_e(ins.get('model', ''))}</td>"
            f'<td><a href="#insight-{rank}">{_e(ins.get("title", ""))}</a></td>'
            f"<td>{_e(key_figure(ins))}</td>"
            f"<td>{_e(ins.get('recommendation', ''))}</td>"
            "</tr>"
        )
    return (
        f'<section id="summary"><h2>Insights ({len(insights)})</h2><div class="counts">{chips}</div>'
        "<table><thead><tr><th>#</th><th>Severity</th><th>Resource</th><th>Model</th><th>Title</th>"
        "<th>Key figure</th><th>Recommendation</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table></section>"
    )


def _cards(insights: Sequence[Mapping[str, Any]], details: Mapping[str, Mapping[str, Mapping[str, Any]]]) -> str:
    if not insights:
        return ""
    cards = [_card(rank, ins, details) for rank, ins in enumerate(insights, start=1)]
    return '<section id="details"><h2>Details</h2>' + "".join(cards) + "</section>"


def _card(rank: int, ins: Mapping[str, Any], details: Mapping[str, Mapping[str, Mapping[str, Any]]]) -> str:
    sev = _severity(ins.get("severity"))
    resource_id = str(ins.get("resource_id", ""))
    model = str(ins.get("model", ""))
    picked = _pick_plot(details, resource_id, model, str(ins.get("metric") or ""))
    w0, w1 = _num(ins.get("window_start")), _num(ins.get("window_end"))
    window = None if math.isnan(w0) or math.isnan(w1) else (min(w0, w1), max(w0, w1))
    if picked is None:
        metric = str(ins.get("metric") or "")
        svg, legend = _placeholder_svg(f"{resource_id} {metric}".strip(), "no plot data for this insight"), ""
    else:
        metric, plot = picked
        svg, legend = _plot_svg(plot, window, f"{resource_id} {metric}")
    conf = _num(ins.get("confidence"))
    start_text = ins.get("window_start_iso") or (iso(w0) if not math.isnan(w0) else "")
    end_text = ins.get("window_end_iso") or (iso(w1) if not math.isnan(w1) else "")
    meta = [
        f"<span>resource <b>{_e(resource_id)}</b></span>",
        f"<span>model <b>{_e(model)}</b></span>",
    ]
    if metric:
        meta.append(f"<span>metric <b>{_e(metric)}</b></span>")
    if ins.get("kind"):
        meta.append(f"<span>{_e(ins.get('kind'))}</span>")
    if start_text or end_text:
        meta.append(f"<span>window {_e(start_text)} &rarr; {_e(end_text)}</span>")
    if not math.isnan(conf):
        meta.append(f"<span>confidence {conf:.0%}</span>")
    rec = ins.get("recommendation")
    return (
        f'<article class="card sev-border-{sev}" id="insight-{rank}">'
        f"<h3>#{rank} {_badge(ins.get('severity'))} {_e(ins.get('title', ''))}</h3>"
        f'<div class="meta">{"".join(meta)}</div>'
        f"<p>{_e(ins.get('summary', ''))}</p>"
        + (f'<div class="rec"><b>Recommendation:</b> {_e(rec)}</div>' if rec else "")
        + f'<div class="plot">{svg}</div>{legend}'
        + _evidence(ins.get("evidence"))
        + "</article>"
    )


def _evidence(evidence: Any) -> str:
    if not isinstance(evidence, Mapping) or not evidence:
        return ""
    rows = []
    for key, value in list(evidence.items())[:24]:
        if isinstance(value, (dict, list, tuple)):
            text = json.dumps(value, default=str, separators=(", ", ": "))
            text = text if len(text) <= 240 else text[:237] + "..."
        elif isinstance(value, float):
            text = f"{value:.6g}"
        else:
            text = str(value)
        rows.append(f"<tr><td>{_e(key)}</td><td>{_e(text)}</td></tr>")
    return f'<details class="evidence"><summary>Evidence</summary><table>{"".join(rows)}</table></details>'


def _alerts(alerts: Sequence[Mapping[str, Any]]) -> str:
    if not alerts:
        return '<section id="alerts"><h2>Alerts</h2><p class="empty">No alerts were sent in this run.</p></section>'
    items = []
    for alert in alerts:
        subject = alert.get("subject") or "(no subject)"
        message = alert.get("message") or ""
        extra = [
            f"{k}: {v}"
            for k, v in alert.items()
            if k not in ("subject", "message") and not isinstance(v, (dict, list, tuple)) and v is not None
        ]
        meta = f'<div class="meta">{_e(" | ".join(extra))}</div>' if extra else ""
        items.append(f'<div class="alert"><h3>{_e(subject)}</h3>{meta}<pre>{_e(message)}</pre></div>')
    return f'<section id="alerts"><h2>Alerts ({len(alerts)})</h2>{"".join(items)}</section>'


# ---------------------------------------------------------------------------------------------- plots
def _is_plot(value: Any) -> bool:
    return (
        isinstance(value, Mapping)
        and isinstance(value.get("timestamps"), (list, tuple))
        and isinstance(value.get("values"), (list, tuple))
    )


def _pick_plot(
    details: Mapping[str, Mapping[str, Mapping[str, Any]]], resource_id: str, model: str, metric: str
) -> tuple[str, Mapping[str, Any]] | None:
    """The plot of the insight's metric in the model's detail, else the detail's first plot."""
    by_model = details.get(resource_id) if isinstance(details, Mapping) else None
    detail = by_model.get(model) if isinstance(by_model, Mapping) else None
    if not isinstance(detail, Mapping):
        return None
    if metric and _is_plot(detail.get(metric)):
        return metric, detail[metric]
    for name, plot in detail.items():
        if _is_plot(plot):
            return str(name), plot
    return None


def _xy(timestamps: Iterable[Any], values: Iterable[Any]) -> tuple[list[float], list[float]]:
    """Pair up points, keeping missing values as NaN and dropping points without a usable time."""
    xs, ys = [], []
    for t, v in zip(timestamps, values, strict=False):
        tt = _num(t)
        if math.isnan(tt):
            continue
        xs.append(tt)
        ys.append(_num(v))
    return xs, ys


def _segments(xs: list[float], ys: list[float]) -> list[tuple[list[float], list[float]]]:
    """Split into runs of present values (missing values end a run, so they show as gaps)."""
    out: list[tuple[list[float], list[float]]] = []
    cur_x: list[float] = []
    cur_y: list[float] = []
    for x, y in zip(xs, ys, strict=True):
        if math.isnan(y):
            if cur_x:
                out.append((cur_x, cur_y))
                cur_x, cur_y = [], []
            continue
        cur_x.append(x)
        cur_y.append(y)
    if cur_x:
        out.append((cur_x, cur_y))
    return out


def _decimate(xs: list[float], ys: list[float], budget: int) -> tuple[list[float], list[float]]:
    """Min/max decimation: keep the first, last, min and max of each bucket so peaks survive."""
    n = len(xs)
    if n <= budget or budget < 4:
        return xs, ys
    buckets = max(1, budget // 4)
    size = n / buckets
    keep: list[int] = []
    for b in range(buckets):
        lo, hi = int(b * size), min(n, int((b + 1) * size))
        if hi <= lo:
            continue
        chunk = range(lo, hi)
        i_min = min(chunk, key=ys.__getitem__)
        i_max = max(chunk, key=ys.__getitem__)
        keep.extend(sorted({lo, i_min, i_max, hi - 1}))
    return [xs[i] for i in keep], [ys[i] for i in keep]


def _nice_step(span: float, target: int) -> float:
    raw = span / max(1, target)
    mag = 10.0 ** math.floor(math.log10(raw))
    for m in (1, 2, 2.5, 5, 10):
        if raw <= m * mag:
            return m * mag
    return 10 * mag


def _value_ticks(lo: float, hi: float) -> tuple[float, float, list[float]]:
    """Axis range and ticks on a 1-2-2.5-5 grid; non-negative data keeps a floor of 0."""
    non_negative = lo >= 0
    if hi <= lo:
        pad = abs(lo) * 0.1 or 1.0
        lo, hi = lo - pad, hi + pad
    pad = (hi - lo) * 0.06
    lo, hi = lo - pad, hi + pad
    if non_negative:
        lo = max(lo, 0.0)
    step = _nice_step(hi - lo, 5)
    lo, hi = math.floor(lo / step) * step, math.ceil(hi / step) * step
    ticks = [lo + i * step for i in range(round((hi - lo) / step) + 1)]
    return lo, hi, ticks


_TIME_STEPS = (
    300,
    600,
    900,
    1800,
    3600,
    2 * 3600,
    3 * 3600,
    6 * 3600,
    12 * 3600,
    86400,
    2 * 86400,
    7 * 86400,
    14 * 86400,
    30 * 86400,
    90 * 86400,
    365 * 86400,
)


def _time_ticks(t0: float, t1: float) -> list[tuple[float, str]]:
    span = max(t1 - t0, 1.0)
    step = next((s for s in _TIME_STEPS if span / s <= 8), _TIME_STEPS[-1])
    ticks: list[tuple[float, str]] = []
    t = float(math.ceil(t0 / step) * step)
    while t <= t1 and len(ticks) < 20:
        dt = datetime.fromtimestamp(t, tz=UTC)
        label = dt.strftime("%b %d") if step >= 86400 or (dt.hour == 0 and dt.minute == 0) else dt.strftime("%H:%M")
        ticks.append((t, label))
        t += step
    return ticks


def _f(v: float) -> str:
    return f"{v:.1f}"


def _placeholder_svg(label: str, message: str) -> str:
    h = 90
    return (
        f'<svg viewBox="0 0 {_W} {h}" width="{_W}" height="{h}" role="img" aria-label="{_e(label)}: {_e(message)}">'
        f"<title>{_e(label)}</title>"
        f'<rect x="0.5" y="0.5" width="{_W - 1}" height="{h - 1}" fill="#f9fafb" stroke="{_COLORS["grid"]}"/>'
        f'<text x="{_W / 2}" y="{h / 2 + 4}" text-anchor="middle" font-size="13" fill="#6b7280">{_e(message)}</text>'
        "</svg>"
    )


def _plot_svg(plot: Mapping[str, Any], window: tuple[float, float] | None, label: str) -> tuple[str, str]:
    """SVG line plot of one metric plus its HTML legend."""
    xs, ys = _xy(plot.get("timestamps") or [], plot.get("values") or [])
    bx, by = _xy(plot.get("timestamps") or [], plot.get("baseline") or [])
    sx, sy = _xy(plot.get("timestamps") or [], plot.get("scores") or [])
    fc = plot.get("forecast") if isinstance(plot.get("forecast"), Mapping) else None
    fx: list[float] = []
    fm: list[float] = []
    flo: list[float] = []
    fhi: list[float] = []
    if fc:
        fx, fm = _xy(fc.get("timestamps") or [], fc.get("mean") or [])
        _, flo = _xy(fc.get("timestamps") or [], fc.get("lower") or [])
        _, fhi = _xy(fc.get("timestamps") or [], fc.get("upper") or [])
    spans = []
    for span in plot.get("spans") or []:
        if isinstance(span, Mapping):
            s, e = _num(span.get("start")), _num(span.get("end"))
        elif isinstance(span, (list, tuple)) and len(span) >= 2:
            s, e = _num(span[0]), _num(span[1])
        else:
            continue
        if not (math.isnan(s) or math.isnan(e)):
            spans.append((min(s, e), max(s, e)))

    all_x = xs + fx
    finite_y = [v for v in ys + by + fm + flo + fhi if not math.isnan(v)]
    if not all_x or not finite_y:
        return _placeholder_svg(label, "no values to plot"), ""
    t0, t1 = min(all_x), max(all_x)
    diffs = sorted(b - a for a, b in itertools.pairwise(xs) if b > a)
    period = diffs[len(diffs) // 2] if diffs else 0.0
    if t1 <= t0:
        t0, t1 = t0 - max(period, 1800.0), t1 + max(period, 1800.0)
    y0, y1, yticks = _value_ticks(min(finite_y), max(finite_y))

    has_scores = any(not math.isnan(v) for v in sy)
    pw, ph = _W - _ML - _MR, _H - _MT - _MB
    total_h = _H + (_SCORE_H + 6 if has_scores else 0)

    def px(t: float) -> float:
        return _ML + (t - t0) / (t1 - t0) * pw

    def py(v: float) -> float:
        return _MT + (1.0 - (v - y0) / (y1 - y0)) * ph

    min_w = max(2.0, period / (t1 - t0) * pw if period else 2.0)
    out = [
        f'<svg viewBox="0 0 {_W} {total_h}" width="{_W}" height="{total_h}" role="img" '
        f'aria-label="{_e(label)} over time" font-family="sans-serif">',
        f"<title>{_e(label)}</title>",
        f'<rect x="{_ML}" y="{_MT}" width="{pw}" height="{ph}" fill="#ffffff" stroke="{_COLORS["grid"]}"/>',
    ]
    legend = ["value"]

    def band(a: float, b: float, color: str, opacity: float, css: str, extra: str = "") -> str:
        a, b = max(a, t0), min(b, t1)
        if b < a:
            return ""
        x_a = px(a)
        width = max(min_w, px(b) - x_a)
        return (
            f'<rect class="{css}" x="{_f(x_a)}" y="{_MT}" width="{_f(min(width, _ML + pw - x_a))}" height="{ph}" '
            f'fill="{color}" fill-opacity="{opacity}"{extra}/>'
        )

    if window is not None and window[1] >= t0 and window[0] <= t1:
        out.append(
            band(
                window[0],
                window[1],
                _COLORS["window"],
                0.16,
                "window",
                f' stroke="{_COLORS["window"]}" stroke-opacity="0.7"',
            )
        )
        legend.append("window")
    if spans:
        out.extend(band(s, e, _COLORS["span"], 0.18, "span") for s, e in spans)
        legend.append("span")

    # grid and axes
    for v in yticks:
        y = py(v)
        out.append(f'<line x1="{_ML}" y1="{_f(y)}" x2="{_ML + pw}" y2="{_f(y)}" stroke="{_COLORS["grid"]}"/>')
        out.append(
            f'<text x="{_ML - 6}" y="{_f(y + 4)}" text-anchor="end" font-size="11" fill="{_COLORS["text"]}">'
            f"{_e(_fmt_num(v))}</text>"
        )
    for t, text in _time_ticks(t0, t1):
        x = px(t)
        out.append(f'<line x1="{_f(x)}" y1="{_MT}" x2="{_f(x)}" y2="{_MT + ph}" stroke="{_COLORS["grid"]}"/>')
        out.append(
            f'<text x="{_f(x)}" y="{_MT + ph + 16}" text-anchor="middle" font-size="11" fill="{_COLORS["text"]}">'
            f"{_e(text)}</text>"
        )
    out.append(
        f'<line x1="{_ML}" y1="{_MT + ph}" x2="{_ML + pw}" y2="{_MT + ph}" stroke="{_COLORS["axis"]}"/>'
        f'<line x1="{_ML}" y1="{_MT}" x2="{_ML}" y2="{_MT + ph}" stroke="{_COLORS["axis"]}"/>'
    )

    # forecast band and mean
    if fx:
        upper = [(x, v) for x, v in zip(fx, fhi, strict=False) if not math.isnan(v)]
        lower = [(x, v) for x, v in zip(fx, flo, strict=False) if not math.isnan(v)]
        if upper and lower:
            pts = [(px(x), py(v)) for x, v in upper] + [(px(x), py(v)) for x, v in reversed(lower)]
            out.append(
                f'<polygon class="forecast-band" points="{" ".join(f"{_f(a)},{_f(b)}" for a, b in pts)}" '
                f'fill="{_COLORS["forecast"]}" fill-opacity="0.15" stroke="none"/>'
            )
        out.extend(_lines(fx, fm, px, py, _COLORS["forecast"], 1.5, "forecast", dash="5 3"))
        legend.append("forecast")
    if any(not math.isnan(v) for v in by):
        out.extend(_lines(bx, by, px, py, _COLORS["baseline"], 1.2, "baseline", dash="6 4"))
        legend.insert(1, "baseline")
    out.extend(_lines(xs, ys, px, py, _COLORS["value"], 1.4, "value"))

    if has_scores:
        top = _H + 4
        peak = max(abs(v) for v in sy if not math.isnan(v)) or 1.0
        scale = max(peak, 1.0) if peak > 1.0 else 1.0
        out.append(
            f'<rect x="{_ML}" y="{top}" width="{pw}" height="{_SCORE_H}" fill="#fafafa" stroke="{_COLORS["grid"]}"/>'
            f'<text x="{_ML - 6}" y="{top + _SCORE_H / 2 + 4}" text-anchor="end" font-size="10" '
            f'fill="{_COLORS["text"]}">score</text>'
        )

        def sy_px(v: float) -> float:
            return top + _SCORE_H - min(abs(v) / scale, 1.0) * (_SCORE_H - 2)

        for seg_x, seg_y in _segments(sx, sy):
            seg_x, seg_y = _decimate(seg_x, seg_y, _MAX_POINTS)
            pts = [(px(seg_x[0]), top + _SCORE_H)] + [(px(x), sy_px(v)) for x, v in zip(seg_x, seg_y, strict=True)]
            pts.append((px(seg_x[-1]), top + _SCORE_H))
            out.append(
                f'<polygon class="score" points="{" ".join(f"{_f(a)},{_f(b)}" for a, b in pts)}" '
                f'fill="{_COLORS["score"]}" fill-opacity="0.5" stroke="none"/>'
            )
        legend.append("score")
    out.append("</svg>")
    names = {
        "value": "observed",
        "baseline": "baseline (expected)",
        "window": "insight window",
        "span": "anomaly span",
        "forecast": "forecast and band",
        "score": "anomaly score",
    }
    legend_html = (
        '<div class="legend">'
        + "".join(f'<span><span class="sw sw-{k}"></span>{names[k]}</span>' for k in legend)
        + "</div>"
    )
    return "".join(out), legend_html


def _lines(
    xs: list[float], ys: list[float], px: Any, py: Any, color: str, width: float, css: str, dash: str | None = None
) -> list[str]:
    """Polylines for the present runs of a series; isolated points become dots."""
    out = []
    dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
    for seg_x, seg_y in _segments(xs, ys):
        if len(seg_x) == 1:
            cx, cy = _f(px(seg_x[0])), _f(py(seg_y[0]))
            out.append(f'<circle class="{css}" cx="{cx}" cy="{cy}" r="1.8" fill="{color}"/>')
            continue
        seg_x, seg_y = _decimate(seg_x, seg_y, _MAX_POINTS)
        pts = " ".join(f"{_f(px(x))},{_f(py(y))}" for x, y in zip(seg_x, seg_y, strict=True))
        out.append(
            f'<polyline class="{css}" points="{pts}" fill="none" stroke="{color}" stroke-width="{width}"'
            f'{dash_attr} stroke-linejoin="round"/>'
        )
    return out
