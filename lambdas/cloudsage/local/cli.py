"""``cloudsage``: run the whole pipeline locally on the demo fleet, a CSV file or your CloudWatch metrics."""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import sys
import time
from pathlib import Path
from typing import Any

EPILOG = """\
examples:
  cloudsage run                                   analyse the bundled demo fleet (what `make run` does)
  cloudsage demo-csv demo.csv                     write the demo fleet as a long-format CSV
  cloudsage analyze --metrics demo.csv            analyse metrics from a CSV file
  cloudsage analyze --source cloudwatch --resources fleet.json
                                                  analyse real CloudWatch metrics (your AWS credentials)
  cloudsage api --port 8080                       serve the Insights API on 127.0.0.1 over an analysed demo fleet
  cloudsage prices refresh                        rebuild the price snapshot from the AWS Price List API
  cloudsage schedule --group web-api-asg --metrics demo.csv --recurring
                                                  the group's capacity plan as scheduled actions (dry run)
  cloudsage schedule --group my-asg --source cloudwatch --resources fleet.json --apply
                                                  write them to the Auto Scaling group (your AWS credentials)

CSV format (header required; unit and resource_type optional):
  timestamp,resource_id,metric,value[,unit][,resource_type]
  2026-11-20T00:00:00Z,i-0abc,CPUUtilization,41.5,Percent,ec2
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="cloudsage",
        description="CloudSage: CloudWatch metrics in, ranked and explained insights out. Runs the real "
        "state machine (synthesized by the CDK app) on an embedded AWS emulator.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="analyse the bundled demo fleet end to end")
    _common(run)
    run.add_argument("--seed", type=int, default=7, help="demo fleet seed (default 7)")

    analyze = sub.add_parser("analyze", help="analyse metrics from a CSV file or from CloudWatch")
    _common(analyze)
    analyze.add_argument("--metrics", type=Path, help="long-format CSV: timestamp,resource_id,metric,value[,unit]")
    analyze.add_argument("--source", choices=("csv", "cloudwatch"), default="csv")
    analyze.add_argument("--resources", type=Path, help="with --source cloudwatch: JSON list of resources")
    analyze.add_argument("--days", type=int, default=14, help="with --source cloudwatch: history to fetch")
    analyze.add_argument(
        "--period",
        type=int,
        default=300,
        choices=(60, 300, 900, 3600),
        help="with --source cloudwatch: seconds per datapoint (default 300; 3600 for long histories)",
    )

    prices = sub.add_parser("prices", help="the EC2/EBS price snapshot")
    prices_sub = prices.add_subparsers(dest="prices_command", required=True)
    refresh = prices_sub.add_parser("refresh", help="rebuild the snapshot from the AWS Price List Query API")
    refresh.add_argument("--region", default="us-east-1")
    refresh.add_argument("--out", type=Path, help="where to write it (default: the packaged snapshot)")

    sched = sub.add_parser(
        "schedule",
        help="plan an Auto Scaling group's capacity and write it as scheduled actions (dry run unless --apply)",
        description="Forecast the group's load, learn its per-instance capacity and plan capacity ahead of the "
        "forecast (ScalingPredictor), then print the plan as EC2 Auto Scaling scheduled actions. Nothing is written "
        "unless --apply is given; target tracking stays in charge, the scheduled actions raise its floor ahead of "
        "forecast peaks.",
    )
    sched.add_argument("--group", required=True, help="Auto Scaling group name (its resource_id in the metrics)")
    sched.add_argument("--metrics", type=Path, help="long-format CSV (as for analyze)")
    sched.add_argument("--source", choices=("csv", "cloudwatch"), default="csv")
    sched.add_argument("--resources", type=Path, help="with --source cloudwatch: JSON list of resources")
    sched.add_argument("--days", type=int, default=14, help="with --source cloudwatch: history to fetch")
    sched.add_argument("--period", type=int, default=300, choices=(60, 300, 900, 3600))
    sched.add_argument("--horizon-hours", type=float, default=48.0, help="plan this far ahead (default 48)")
    sched.add_argument("--warmup-s", type=float, default=300.0, help="instance warm-up: act this much earlier")
    sched.add_argument("--instance-type", help="prices the plan in $/hour (list price; default: instance-hours)")
    sched.add_argument(
        "--min-size",
        type=int,
        help="the group's minimum size (default: its MinSize in Auto Scaling with --apply or --source cloudwatch, "
        "else its attributes, else 1)",
    )
    sched.add_argument(
        "--max-size",
        type=int,
        help="the group's maximum size (default: its MaxSize in Auto Scaling with --apply or --source cloudwatch, "
        "else its attributes, else twice today's size)",
    )
    sched.add_argument(
        "--recurring", action="store_true", help="write the changes the plan repeats every day as daily cron actions"
    )
    sched.add_argument("--apply", action="store_true", help="write the actions (replacing earlier cloudsage-* ones)")

    api = sub.add_parser("api", help="serve the Insights API on 127.0.0.1 (demo data unless --table)", add_help=False)
    api.add_argument("api_args", nargs=argparse.REMAINDER, help="see `cloudsage api --help`")

    demo_csv = sub.add_parser("demo-csv", help="write the demo fleet as a long-format CSV file")
    demo_csv.add_argument("path", type=Path)
    demo_csv.add_argument("--seed", type=int, default=7)

    raw = list(sys.argv[1:] if argv is None else argv)
    if raw[:1] == ["api"]:  # the API server has its own options
        from cloudsage.local.api_server import main as api_main

        return api_main(raw[1:])
    args = parser.parse_args(raw)
    try:
        if args.command == "demo-csv":
            return _demo_csv(args)
        if args.command == "prices":
            return _prices_refresh(args)
        if args.command == "schedule":
            return _schedule(args)
        return _run(args)
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", type=Path, default=Path("out"), help="folder for insights.json and report.html")
    p.add_argument("--run-id", help="run id (default: derived from the end of the data window)")
    p.add_argument("--rerun", action="store_true", help="run the same analysis twice (shows no duplicates)")
    p.add_argument("--quiet", action="store_true", help="no progress lines")


def _demo_csv(args: argparse.Namespace) -> int:
    from cloudsage.local.demo import build_demo_fleet, fleet_to_csv

    fleet_to_csv(build_demo_fleet(seed=args.seed), args.path)
    print(f"wrote {args.path}")
    return 0


def _prices_refresh(args: argparse.Namespace) -> int:
    """Needs AWS credentials allowed ``pricing:GetProducts`` (the API lives in us-east-1)."""
    from cloudsage.adapters.pricing import refresh_snapshot
    from cloudsage.core import catalog

    out = args.out or catalog.snapshot_path(args.region)
    snapshot = refresh_snapshot(args.region, out)
    print(f"wrote {out} ({len(snapshot.get('ec2', {}))} EC2 types)")
    return 0


def _schedule(args: argparse.Namespace) -> int:
    """Plan one group's capacity and print (or, with --apply, write) it as scheduled actions."""
    from cloudsage.adapters.autoscaling import ScheduledActionWriter
    from cloudsage.core.errors import CloudSageError
    from cloudsage.core.models.scaling import group_plan

    resources = _schedule_resources(args)
    group = next((r for r in resources if r.resource_id == args.group), None)
    if group is None:
        known = ", ".join(sorted(r.resource_id for r in resources)) or "none"
        raise SystemExit(f"cloudsage schedule: no metrics for group {args.group!r} (resources: {known})")
    writer = ScheduledActionWriter()
    given = {"instance_type": args.instance_type, "min_size": args.min_size, "max_size": args.max_size}
    extra = {k: v for k, v in given.items() if v is not None}
    bounds_from = _bounds_origin(group.attributes, extra)
    if (args.source == "cloudwatch" or args.apply) and not {"min_size", "max_size"} <= set(extra):
        # talking to AWS anyway: the group's own MinSize/MaxSize beat a fleet file's (flags beat both)
        live = _live_bounds(writer, args.group, fatal=args.apply)
        extra = {**{k: v for k, v in live.items() if k not in extra}, **extra}
        if live:
            flagged = args.min_size is not None or args.max_size is not None
            bounds_from = "flags and the Auto Scaling group" if flagged else "the Auto Scaling group"
    if extra:
        group = dataclasses.replace(group, attributes={**group.attributes, **extra})
    params = {"horizon_s": args.horizon_hours * 3600.0, "warmup_s": args.warmup_s}
    try:
        gp = group_plan(group, **params)
    except CloudSageError as exc:
        raise SystemExit(f"cloudsage schedule: {args.group}: {exc}") from None
    plan = gp.plan
    print(
        f"{args.group}: {gp.current} instances now; {gp.capacity.per_instance:.1f} {gp.unit} per instance at the "
        f"target CPU ({gp.capacity.method}); {gp.forecast.seasonality} forecast, {len(gp.forecast.mean)} steps; "
        f"plan {plan.instance_hours:.1f} instance-hours vs {plan.instance_hours_current:.1f} at today's size"
    )
    print(f"bounds: min {plan.min_size}, max {plan.max_size} (from {bounds_from})")
    print(_plan_table(plan.actions))
    if gp.price_origin:
        print(f"prices: {gp.price_origin}")
    now = time.time()
    if args.apply:
        removed = writer.clear(args.group)
        written = writer.write(args.group, plan, apply=True, now=now, recurring=args.recurring)
        print(f"wrote {len(written)} scheduled actions to {args.group} (replaced {removed} earlier cloudsage-* ones)")
        return 0
    planned = writer.write(args.group, plan, apply=False, now=now, recurring=args.recurring)
    if not planned:
        past = sum(a.kind in ("scale_out", "scale_in") and a.at <= now for a in plan.actions)
        if args.recurring:
            why = "the plan repeats no change at the same time (within 30 minutes) every day"
        elif past:
            ends = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(gp.forecast.start))
            why = f"the plan's {past} changes are in the past (the metrics end {ends})"
        else:
            why = "the plan keeps today's size"
        print(f"nothing to schedule: {why}")
    print("dry run: nothing written (add --apply to write these scheduled actions)")
    return 0


def _bounds_origin(attributes: dict[str, Any], flags: dict[str, Any]) -> str:
    if {"min_size", "max_size"} & set(flags):
        return "--min-size/--max-size"
    if {"min_size", "max_size"} & set(attributes):
        return "the resource's attributes"
    return "defaults: 1 and twice today's size"


def _live_bounds(writer: Any, group: str, *, fatal: bool) -> dict[str, int]:
    """The group's MinSize/MaxSize from Auto Scaling; empty, with a line saying why, when they cannot be read, or
    (``fatal``: about to write to the group) an exit before anything is written."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        live: dict[str, int] = writer.group_bounds(group)
    except (BotoCoreError, ClientError) as exc:
        why = f"could not read {group}'s MinSize/MaxSize from Auto Scaling ({exc})"
        if fatal:
            raise SystemExit(f"cloudsage schedule: {why}: nothing written") from None
        print(f"note: {why}; planning without them")
        return {}
    if not live:
        if fatal:
            raise SystemExit(f"cloudsage schedule: Auto Scaling has no group {group!r} here: nothing written")
        print(f"note: Auto Scaling has no group {group!r}; planning without its MinSize/MaxSize")
    return live


def _schedule_resources(args: argparse.Namespace) -> list[Any]:
    from cloudsage.core.errors import CloudSageError

    if args.source == "cloudwatch":
        return list(_cloudwatch_resources(args, "schedule"))
    if not args.metrics:
        raise SystemExit("cloudsage schedule: --metrics FILE.csv is required with --source csv")
    from cloudsage.local.csvio import read_metrics_csv

    try:
        return read_metrics_csv(args.metrics)
    except (CloudSageError, OSError) as exc:
        raise SystemExit(f"cloudsage schedule: {args.metrics}: {exc}") from None


def _plan_table(actions: Any) -> str:
    rows = [("when (UTC)", "action", "from", "to", "confidence", "cost/hour")]
    for a in actions:
        when = time.strftime("%Y-%m-%d %H:%M", time.gmtime(a.at))
        cost = f"{a.cost_delta_per_hour:+.3f} {a.cost_unit}"
        rows.append((when, a.kind, str(a.previous), str(a.target), f"{a.confidence:.2f}", cost))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows)


def _load_source(args: argparse.Namespace) -> Any:
    from cloudsage.core.errors import CloudSageError
    from cloudsage.local import pipeline

    if args.command == "run":
        from cloudsage.local.demo import build_demo_fleet

        return pipeline.source_from_demo(build_demo_fleet(seed=args.seed))
    if args.source == "csv":
        if not args.metrics:
            raise SystemExit("cloudsage analyze: --metrics FILE.csv is required with --source csv")
        from cloudsage.local.csvio import read_metrics_csv

        try:
            resources = read_metrics_csv(args.metrics)
        except (CloudSageError, OSError) as exc:
            raise SystemExit(f"cloudsage analyze: {args.metrics}: {exc}") from None
        return pipeline.source_from_resources(resources, label=str(args.metrics))
    return _cloudwatch_source(args)


def _cloudwatch_source(args: argparse.Namespace) -> Any:
    """Fetch real metrics with the user's credentials, before the emulator takes over the endpoint."""
    from cloudsage.local import pipeline

    return pipeline.source_from_resources(_cloudwatch_resources(args, "analyze"), label="CloudWatch")


def _cloudwatch_resources(args: argparse.Namespace, command: str) -> Any:
    from cloudsage.adapters.cloudwatch import CloudWatchSource
    from cloudsage.handlers.contracts import ResourceSpecModel

    if not args.resources:
        raise SystemExit(f"cloudsage {command}: --resources FILE.json is required with --source cloudwatch")
    try:
        specs = [ResourceSpecModel.model_validate(r).to_spec() for r in json.loads(args.resources.read_text())]
    except (OSError, ValueError) as exc:
        raise SystemExit(f"cloudsage {command}: {args.resources}: {exc}") from None
    end = time.time() // args.period * args.period
    resources, skipped = CloudWatchSource().fetch(specs, end - args.days * 86400, end, args.period)
    for rid, why in skipped.items():
        print(f"  skipped {rid}: {why}", file=sys.stderr)
    return resources


def _run(args: argparse.Namespace) -> int:
    from cloudsage.core.registry import model_names
    from cloudsage.local import pipeline

    progress = (lambda _m: None) if args.quiet else pipeline.stderr_progress
    t0 = time.monotonic()
    source = _load_source(args)
    print(
        f"CloudSage: analysing {len(source.specs)} resources from the {source.label} on the local emulator",
        file=sys.stderr,
    )
    try:
        result = pipeline.run_pipeline(source, run_id=args.run_id, progress=progress, repeat=2 if args.rerun else 1)
    except pipeline.PipelineError as exc:
        print(f"\nFAILED: {exc}", file=sys.stderr)
        return 1
    if not args.quiet and sys.stderr.isatty():
        sys.stderr.write("\n")
    run_info = {
        "run_id": result.run_id,
        "source": source.label,
        "resources": len(source.specs),
        "models": model_names(),
        "duration_s": round(time.monotonic() - t0, 1),
        "generated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "state_machine_steps": result.steps,
    }
    insights_path, report_path = pipeline.write_outputs(result, args.out, run_info)
    print(render_table(result.insights))
    print(render_alerts(result.alerts))
    if result.definition_changes:
        print(
            "\nthe local run changed, from the synthesized template: "
            + "; ".join(result.definition_changes)
            + " (see docs/architecture.md)"
        )
    if result.not_applicable:
        pairs = ", ".join(sorted({f"{f['model']}/{f['resource_id']}" for f in result.not_applicable}))
        print(f"\nnot applicable (too little or no suitable data): {pairs}")
    if result.failures:
        print(f"\n{len(result.failures)} model task(s) failed (partial results):")
        for f in result.failures:
            print(f"  {f['model']} on {f['resource_id']}: {f['error']}")
    print(
        f"\nrun {result.run_id}: {len(result.insights)} insights ({result.stored} in DynamoDB), "
        f"{len(result.alerts)} alerts over SNS, {run_info['duration_s']} s"
    )
    print(f"wrote {insights_path} and {report_path}")
    return 0


def render_table(insights: list[dict[str, Any]], width: int | None = None) -> str:
    """A ranked table of insights that fits the terminal."""
    from cloudsage.local.report import key_figure

    if not insights:
        return "No insights: nothing needs attention."
    width = width or max(100, shutil.get_terminal_size((160, 40)).columns)
    cols = [("#", 3), ("severity", 8), ("resource", 20), ("model", 11), ("title", 44), ("key figure", 26)]
    fixed = sum(w for _, w in cols) + 2 * len(cols)
    rec_w = max(20, width - fixed)
    header = "  ".join(f"{name:<{w}}" for name, w in cols) + "  recommendation"
    lines = [header, "-" * min(width, len(header) + rec_w)]
    for i in insights:
        cells = [str(i.get("rank", "")), i["severity"], i["resource_id"], i["model"], i["title"], key_figure(i)]
        row = "  ".join(_cut(c, w) for c, (_, w) in zip(cells, cols, strict=True))
        lines.append(row + "  " + _cut(i.get("recommendation", ""), rec_w))
    return "\n".join(lines)


def render_alerts(alerts: list[dict[str, Any]]) -> str:
    if not alerts:
        return "\nAlerts over SNS: none"
    lines = [f"\nAlerts over SNS ({len(alerts)}):"]
    for a in alerts:
        attrs = a.get("attributes", {})
        lines.append(f"  [{attrs.get('severity', '?')}] {a['subject']}")
    return "\n".join(lines)


def _cut(text: str, width: int) -> str:
    text = " ".join(str(text).split())
    return f"{text:<{width}}" if len(text) <= width else text[: width - 1] + "…"


if __name__ == "__main__":
    sys.exit(main())
