"""The local run: emulator up, CDK template provisioned, metrics loaded, one real state-machine execution.

This module only orchestrates; every step of the analysis itself runs in the Lambda handlers, invoked by the
Step Functions interpreter exactly as the deployed state machine would invoke them.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from cloudsage.adapters.aws import client as aws_client
from cloudsage.adapters.insights_store import InsightsTable
from cloudsage.adapters.snapshots import SnapshotStore, safe_key_part
from cloudsage.core.metrics_catalog import metric_info
from cloudsage.core.registry import MODEL_SPECS
from cloudsage.core.resource import ResourceMetrics, ResourceSpec
from cloudsage.local.emulator import LocalAWS
from cloudsage.local.provision import LocalStack, provision, synthesize_template

PUT_BATCH = 1000  # CloudWatch PutMetricData: at most 1,000 metric data items per call
IMPORTED_NAMESPACE = "CloudSage/Imported"


# A model that raises these did not fail: it does not apply to that resource (e.g. no request metrics).
NOT_APPLICABLE = ("InsufficientDataError",)


class PipelineError(RuntimeError):
    """The local run failed; the message says at which step and why."""


@dataclass
class FleetSource:
    """Resources to analyse with their raw datapoints, and where the data window ends."""

    specs: list[ResourceSpec]
    points: dict[str, dict[str, tuple[np.ndarray, np.ndarray]]]  # resource_id -> metric -> (epoch s, values)
    end_time: float
    period: int = 300
    lookback_days: int = 14
    label: str = "demo fleet"


@dataclass
class RunResult:
    run_id: str
    status: str
    insights: list[dict[str, Any]]
    alerts: list[dict[str, Any]]
    failures: list[dict[str, Any]]
    details: dict[str, dict[str, Any]]
    stored: int
    duration_s: float
    not_applicable: list[dict[str, Any]] = field(default_factory=list)
    definition_changes: list[str] = field(default_factory=list)  # what the local interpreter could not run as is
    execution_output: dict[str, Any] = field(default_factory=dict)
    steps: list[str] = field(default_factory=list)


def source_from_resources(resources: Sequence[ResourceMetrics], label: str) -> FleetSource:
    """Wrap already-gridded resources (CSV import, real CloudWatch) as a source to load into the emulator."""
    if not resources:
        raise PipelineError("no resources to analyse")
    specs, points = [], {}
    end, period = 0.0, 300
    for r in resources:
        specs.append(
            ResourceSpec(
                r.resource_id,
                r.resource_type,
                IMPORTED_NAMESPACE,
                {"ResourceId": r.resource_id},
                tuple(r.series),
                dict(r.attributes),
            )
        )
        points[r.resource_id] = {}
        for name, s in r.series.items():
            ok = s.mask
            points[r.resource_id][name] = (s.timestamps[ok], s.values[ok])
            end = max(end, s.end + s.period)
            period = s.period
    span_days = max(1, int(np.ceil((end - min(s.start for r in resources for s in r.series.values())) / 86400)))
    return FleetSource(specs, points, end, period=max(60, period - period % 60), lookback_days=span_days, label=label)


def source_from_demo(fleet: Any) -> FleetSource:
    """The demo fleet as a source: raw points published under each metric's real namespace/dimensions."""
    specs = [
        ResourceSpec(
            r.resource_id,
            r.resource_type,
            r.namespace,
            dict(r.dimensions),
            tuple(r.metrics),
            dict(r.attributes),
            dict(r.metric_namespaces),
            {k: dict(v) for k, v in r.metric_dimensions.items()},
        )
        for r in fleet.resources
    ]
    points = {r.resource_id: dict(r.metrics) for r in fleet.resources}
    days = int(np.ceil((fleet.end - fleet.start) / 86400))
    return FleetSource(specs, points, float(fleet.end), period=fleet.period, lookback_days=days)


def load_metrics(source: FleetSource, progress: Callable[[str], None]) -> int:
    """PutMetricData every datapoint of the source into the emulator's CloudWatch; returns the count."""
    cw = aws_client("cloudwatch")
    total = 0
    for spec in source.specs:
        refs = {ref.name: ref for ref in spec.metric_refs()}
        by_ns: dict[str, list[dict[str, Any]]] = {}
        for metric, (ts, vs) in source.points[spec.resource_id].items():
            ref = refs[metric]
            dims = [{"Name": k, "Value": v} for k, v in ref.dimensions]
            unit = metric_info(metric).unit
            for t, v in zip(ts, vs, strict=True):
                if not np.isfinite(v):
                    continue
                by_ns.setdefault(ref.namespace, []).append(
                    {
                        "MetricName": metric,
                        "Dimensions": dims,
                        "Timestamp": datetime.fromtimestamp(float(t), tz=UTC),
                        "Value": float(v),
                        "Unit": unit if unit != "None" else "None",
                    }
                )
        for ns, data in by_ns.items():
            for i in range(0, len(data), PUT_BATCH):
                cw.put_metric_data(Namespace=ns, MetricData=data[i : i + PUT_BATCH])
            total += len(data)
        progress(f"loaded {spec.resource_id}")
    return total


INLINE_RESOURCES_MAX = 100  # above this, the resource list goes to S3 (the execution input is limited to 256 KB)


def workflow_input(
    source: FleetSource, run_id: str, batch_size: int = 50, resources_key: str | None = None
) -> dict[str, Any]:
    """The execution input; with ``resources_key`` the resource list is read from S3 instead of inlined."""
    common = {
        "run_id": run_id,
        "batch_size": batch_size,
        "end_time": datetime.fromtimestamp(source.end_time, tz=UTC).isoformat(),
        "lookback_days": source.lookback_days,
        "period": source.period,
    }
    if resources_key is not None:
        return {**common, "resources_key": resources_key}
    return {**common, "resources": resource_list(source)}


def resource_list(source: FleetSource) -> list[dict[str, Any]]:
    return [
        {
            "resource_id": s.resource_id,
            "resource_type": s.resource_type,
            "namespace": s.namespace,
            "dimensions": s.dimensions,
            "metrics": list(s.metrics),
            "attributes": s.attributes,
            "metric_namespaces": s.metric_namespaces,
            "metric_dimensions": s.metric_dimensions,
        }
        for s in source.specs
    ]


def run_execution(
    stack: LocalStack,
    payload: dict[str, Any],
    progress: Callable[[str], None],
    *,
    execution_name: str | None = None,
    n_resources: int | None = None,
    timeout_s: float = 3600,
) -> tuple[str, dict[str, Any], list[str]]:
    """Start the state machine, report progress while it runs, and wait for it to finish."""
    sfn = aws_client("stepfunctions")
    arn = sfn.start_execution(
        stateMachineArn=stack.state_machine_arn, name=execution_name or payload["run_id"], input=json.dumps(payload)
    )["executionArn"]
    deadline = time.monotonic() + timeout_s
    seen: list[str] = []
    n_models = len(MODEL_SPECS)
    n_resources = n_resources if n_resources is not None else len(payload.get("resources") or [])
    s3 = aws_client("s3")
    prefix = f"runs/{safe_key_part(payload['run_id'])}/"
    while True:
        desc = sfn.describe_execution(executionArn=arn)
        history = sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]
        failed = [e for e in history if e["type"] in ("TaskFailed", "LambdaFunctionFailed")]
        entered = [e["stateEnteredEventDetails"]["name"] for e in history if "stateEnteredEventDetails" in e]
        for name in entered:
            if name not in seen:
                seen.append(name)
        # Child executions of the Distributed Map keep their own history: count their outputs in S3 instead.
        snapshots = _count_keys(s3, stack.bucket_name, prefix + "snapshots/")
        model_done = _count_keys(s3, stack.bucket_name, prefix + "models/")
        progress(
            f"execution {desc['status'].lower()} at {entered[-1] if entered else 'start'}: "
            f"{snapshots}/{n_resources} resources collected, {model_done}/{n_models * n_resources} model tasks done"
            f"{f', {len(failed)} failed' if failed else ''}"
        )
        if desc["status"] != "RUNNING":
            output = json.loads(desc.get("output") or "{}")
            if desc["status"] != "SUCCEEDED":
                cause = desc.get("cause") or desc.get("error") or _last_failure(history)
                raise PipelineError(f"state machine execution {desc['status']}: {cause}")
            return desc["status"], output, seen
        if time.monotonic() > deadline:
            raise PipelineError(f"state machine still running after {timeout_s:.0f} s")
        time.sleep(0.3 if n_resources < 100 else 2.0)


def _count_keys(s3: Any, bucket: str, prefix: str) -> int:
    return sum(
        page.get("KeyCount", 0) for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    )


def _last_failure(history: list[dict[str, Any]]) -> str:
    for e in reversed(history):
        for key, details in e.items():
            if key.endswith("FailedEventDetails") or key.endswith("AbortedEventDetails"):
                return f"{e['type']}: {details.get('error', '')} {details.get('cause', '')}"[:2000]
    return "unknown failure"


def read_alerts(queue_url: str) -> list[dict[str, Any]]:
    """Drain the local alert inbox (an SQS queue subscribed to the topic)."""
    sqs = aws_client("sqs")
    alerts: list[dict[str, Any]] = []
    while True:
        msgs = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", [])
        if not msgs:
            return alerts
        for m in msgs:
            envelope = json.loads(m["Body"])
            alerts.append(
                {
                    "subject": envelope.get("Subject", ""),
                    "message": envelope.get("Message", ""),
                    "attributes": {k: v.get("Value") for k, v in envelope.get("MessageAttributes", {}).items()},
                }
            )
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=m["ReceiptHandle"])


def run_pipeline(
    source: FleetSource,
    *,
    run_id: str | None = None,
    progress: Callable[[str], None] | None = None,
    repeat: int = 1,
    batch_size: int = 50,
) -> RunResult:
    """Run the whole pipeline locally on ``source``; ``repeat`` > 1 re-runs the same analysis (idempotency).

    ``batch_size`` resources go to one child execution of the Distributed Map.
    """
    say = progress or (lambda _m: None)
    t0 = time.monotonic()
    step = "synthesizing the CDK app"
    try:
        say(step)
        template = synthesize_template()
        with LocalAWS() as aws:
            step = "provisioning the synthesized template in the emulator"
            say(f"{step} (moto on {aws.endpoint})")
            stack = provision(template, aws.region)
            for change in stack.definition_changes:
                say(f"local interpreter: {change}")
            step = "loading metrics into CloudWatch"
            say(step)
            n = load_metrics(source, say)
            say(f"loaded {n} datapoints for {len(source.specs)} resources")
            rid = run_id or "run-" + datetime.fromtimestamp(source.end_time, tz=UTC).strftime("%Y%m%dT%H%MZ")
            status, output, steps = "", {}, []
            alerts: list[dict[str, Any]] = []
            for attempt in range(repeat):
                step = "running the analysis state machine"
                if attempt:
                    step += " again (same run id: must not duplicate insights or alerts)"
                say(step)
                # Execution names are unique per state machine; the run id inside the payload stays the same.
                name = rid if not attempt else f"{rid}-rerun{attempt}"
                key = None
                if len(source.specs) > INLINE_RESOURCES_MAX:
                    key = SnapshotStore(stack.bucket_name).put_json(
                        f"runs/{safe_key_part(rid)}/input/resources.json", resource_list(source)
                    )
                status, output, steps = run_execution(
                    stack,
                    workflow_input(source, rid, batch_size, key),
                    say,
                    execution_name=name,
                    n_resources=len(source.specs),
                )
                alerts.extend(read_alerts(stack.queue_url))
            step = "reading results"
            summary = merge_batch_summaries(SnapshotStore(stack.bucket_name), output.get("batches", []))
            stored = len(InsightsTable(stack.table_name).scan_all())
    except PipelineError:
        raise
    except Exception as exc:
        raise PipelineError(f"{step}: {type(exc).__name__}: {exc}") from exc
    return RunResult(
        run_id=rid,
        status=status,
        insights=summary["insights"],
        alerts=alerts,
        failures=[f for f in summary["failures"] if f.get("error") not in NOT_APPLICABLE],
        not_applicable=[f for f in summary["failures"] if f.get("error") in NOT_APPLICABLE],
        definition_changes=list(stack.definition_changes),
        details=summary["details"],
        stored=stored,
        duration_s=time.monotonic() - t0,
        execution_output=output,
        steps=steps,
    )


_last_progress: list[str] = [""]


def merge_batch_summaries(store: SnapshotStore, batches: list[dict[str, Any]]) -> dict[str, Any]:
    """One fleet-wide view of a run: every batch's insights re-ranked together, failures and plot details."""
    insights: list[dict[str, Any]] = []
    failures: list[dict[str, Any]] = []
    details: dict[str, dict[str, Any]] = {}
    for batch in batches:
        if "summary_key" not in batch:  # a failed child execution (tolerated by the Distributed Map)
            failures.append(
                {
                    "model": "*",
                    "resource_id": "*",
                    "error": str(batch.get("Error", "BatchFailed")),
                    "cause": str(batch.get("Cause", ""))[:500],
                }
            )
            continue
        summary = store.get_json(batch["summary_key"])
        insights.extend(summary.get("insights", []))
        failures.extend(summary.get("failures", []))
        for resource_id, models in summary.get("model_outputs", {}).items():
            for model, key in models.items():
                details.setdefault(resource_id, {})[model] = store.get_json(key).get("detail", {})
    insights.sort(key=lambda i: (-float(i.get("priority", 0.0)), i["resource_id"], i["id"]))
    for rank, insight in enumerate(insights, start=1):
        insight["rank"] = rank
    return {"insights": insights, "failures": failures, "details": details}


def stderr_progress(message: str) -> None:
    """One status line, rewritten in place on a terminal; only changes are printed otherwise."""
    if message == _last_progress[0]:
        return
    _last_progress[0] = message
    sys.stderr.write(f"\r\033[K  {message}" if sys.stderr.isatty() else f"  {message}\n")
    sys.stderr.flush()


def write_outputs(result: RunResult, out_dir: Path, run_info: dict[str, Any]) -> tuple[Path, Path]:
    """Write ``insights.json`` and the self-contained ``report.html``."""
    from cloudsage.local.report import write_report

    out_dir.mkdir(parents=True, exist_ok=True)
    insights_path = out_dir / "insights.json"
    insights_path.write_text(
        json.dumps(
            {
                "run_id": result.run_id,
                "insights": result.insights,
                "alerts": result.alerts,
                "failures": result.failures,
            },
            indent=2,
        )
    )
    report_path = out_dir / "report.html"
    write_report(report_path, result.insights, result.details, result.alerts, run_info)
    return insights_path, report_path
