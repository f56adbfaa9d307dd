"""The embedded AWS emulator for the laptop path: moto's ``ThreadedMotoServer`` plus two small, tested shims.

1. **Lambda in-process.** moto runs Lambda code only inside Docker. :func:`invoke_in_process` replaces that one
   step: it imports the handler named in the function's configuration, applies the function's environment
   variables, calls it with a Lambda-like context and returns what Lambda would (the result, or an error
   payload with ``errorType`` so Step Functions ``Catch``/``Retry`` match on the class name).
2. **GetMetricData at fleet size.** moto's implementation scans every stored datapoint for every period of
   every query (quadratic: minutes for a 14-day fleet) and never paginates. :class:`FastMetricData` answers
   the same request from a per-metric index, with CloudWatch's page limit (100,800 datapoints, ``NextToken``,
   ``PartialData``), so the collect step's batching and pagination code really runs.

Everything else (S3, DynamoDB, SNS, SQS, IAM, Step Functions with ``execute_state_machine``) is moto as is.
Tested with the moto version pinned in ``constraints.txt``.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import json
import logging
import os
import socket
import threading
import time
import traceback
import uuid
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np

LOCAL_ACCOUNT = "123456789012"
LOCAL_REGION = "us-east-1"
MAX_DATAPOINTS_PER_PAGE = 100_800

_ENV_LOCK = threading.RLock()


# --------------------------------------------------------------------------- Lambda shim
@dataclass
class LocalLambdaContext:
    """The parts of Lambda's context object that handlers and Powertools read."""

    function_name: str
    memory_limit_in_mb: int
    invoked_function_arn: str
    aws_request_id: str
    timeout_s: float
    function_version: str = "$LATEST"
    log_group_name: str = ""
    log_stream_name: str = "local"

    def __post_init__(self) -> None:
        self._deadline = time.monotonic() + self.timeout_s
        self.log_group_name = self.log_group_name or f"/aws/lambda/{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def resolve_handler(handler: str) -> Any:
    """Import ``package.module.function`` the way the Lambda Python runtime does."""
    module_name, _, func_name = handler.rpartition(".")
    if not module_name or not func_name:
        raise ValueError(f"handler {handler!r} is not of the form module.function")
    return getattr(importlib.import_module(module_name), func_name)


@contextlib.contextmanager
def _patched_environ(values: dict[str, str]) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update({k: str(v) for k, v in values.items()})
    try:
        yield
    finally:
        for k, old in saved.items():
            if old is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = old


def invoke_in_process(
    handler: str,
    event: Any,
    *,
    function_name: str,
    function_arn: str,
    environment: dict[str, str],
    memory_mb: int = 128,
    timeout_s: float = 3.0,
) -> tuple[str, bool, str]:
    """Run a Lambda handler in this process.

    Returns
    -------
    (payload, errored, logs)
        ``payload`` is the JSON the Invoke API would return: the handler's result, or
        ``{"errorMessage", "errorType", "stackTrace"}`` when it raised (``errored`` is then True).

    Invocations are serialised: environment variables are process-wide, and each function has its own.
    """
    context = LocalLambdaContext(
        function_name=function_name,
        memory_limit_in_mb=int(memory_mb),
        invoked_function_arn=function_arn,
        aws_request_id=str(uuid.uuid4()),
        timeout_s=float(timeout_s),
    )
    env = {
        **environment,
        "AWS_LAMBDA_FUNCTION_NAME": function_name,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(memory_mb),
        "_HANDLER": handler,
    }
    # What a function prints goes to its logs (CloudWatch Logs on AWS), not to the terminal of the local run.
    out = io.StringIO()
    with _ENV_LOCK, _patched_environ(env), contextlib.redirect_stdout(out):
        try:
            fn = resolve_handler(handler)
            result = fn(event, context)
            return json.dumps(result), False, out.getvalue()
        except Exception as exc:  # noqa: BLE001 - mirror Lambda: any exception becomes an error payload
            payload = {
                "errorMessage": str(exc),
                "errorType": type(exc).__name__,
                "requestId": context.aws_request_id,
                "stackTrace": traceback.format_tb(exc.__traceback__)[-5:],
            }
            return json.dumps(payload), True, out.getvalue() + "".join(traceback.format_exception(exc))


def _moto_lambda_invoke(self: Any, event: Any = None) -> tuple[str, bool, str]:
    """Replacement for ``moto.awslambda.models.LambdaFunction._invoke_lambda``."""
    if isinstance(event, (str, bytes)):
        event = json.loads(event or "{}")
    return invoke_in_process(
        self.handler,
        event if event is not None else {},
        function_name=self.function_name,
        function_arn=self.function_arn,
        environment=dict(self.environment_vars or {}),
        memory_mb=int(self.memory_size or 128),
        timeout_s=float(self.timeout or 3),
    )


# --------------------------------------------------------------------------- GetMetricData
class FastMetricData:
    """Indexed, paginated GetMetricData over a moto CloudWatch backend (MetricStat queries only)."""

    def __init__(self, backend: Any) -> None:
        self.backend = backend
        self._indexed = -1
        self._index: dict[tuple[str, str, tuple[tuple[str, str], ...]], tuple[np.ndarray, np.ndarray]] = {}

    def _refresh(self) -> None:
        data = self.backend.metric_data
        if self._indexed == len(data):
            return
        grouped: dict[tuple[str, str, tuple[tuple[str, str], ...]], tuple[list[float], list[float]]] = {}
        for md in data:
            value = getattr(md, "value", None)
            if value is None:
                continue
            key = (md.namespace, md.name, tuple(sorted((d.name, d.value) for d in md.dimensions)))
            ts, vs = grouped.setdefault(key, ([], []))
            ts.append(_epoch(md.timestamp))
            vs.append(float(value))
        self._index = {}
        for key, (ts, vs) in grouped.items():
            t, v = np.asarray(ts), np.asarray(vs)
            order = np.argsort(t, kind="stable")
            self._index[key] = (t[order], v[order])
        self._indexed = len(data)

    def query(self, params: dict[str, Any]) -> dict[str, Any]:
        self._refresh()
        start, end = _epoch(params["StartTime"]), _epoch(params["EndTime"])
        descending = (params.get("ScanBy") or "TimestampDescending") == "TimestampDescending"
        offset = int(params.get("NextToken") or 0)
        budget = int(params.get("MaxDatapoints") or MAX_DATAPOINTS_PER_PAGE)
        budget = min(budget, MAX_DATAPOINTS_PER_PAGE)
        results, position, next_token = [], 0, None
        for query in params.get("MetricDataQueries", []):
            stamps, values = self._one(query, start, end)
            if descending:
                stamps, values = stamps[::-1], values[::-1]
            n = len(stamps)
            lo = max(0, offset - position)
            position += n
            if lo >= n and n > 0:
                continue
            take = max(0, min(n - lo, budget))
            budget -= take
            partial = lo + take < n
            if query.get("ReturnData", True):
                results.append(
                    {
                        "id": query["Id"],
                        "label": query.get("Label") or query["MetricStat"]["Metric"]["MetricName"],
                        "timestamps": [datetime.fromtimestamp(t, tz=UTC) for t in stamps[lo : lo + take]],
                        "values": [float(v) for v in values[lo : lo + take]],
                        "status_code": "PartialData" if partial else "Complete",
                    }
                )
            if partial:
                next_token = str(position - (n - lo - take))
                break
        out: dict[str, Any] = {"MetricDataResults": results}
        if next_token is not None:
            out["NextToken"] = next_token
        return out

    def _one(self, query: dict[str, Any], start: float, end: float) -> tuple[np.ndarray, np.ndarray]:
        stat = query["MetricStat"]
        metric = stat["Metric"]
        key = (
            metric["Namespace"],
            metric["MetricName"],
            tuple(sorted((d["Name"], d["Value"]) for d in metric.get("Dimensions", []))),
        )
        ts, vs = self._index.get(key, (np.empty(0), np.empty(0)))
        keep = (ts >= start) & (ts < end)
        ts, vs = ts[keep], vs[keep]
        if ts.size == 0:
            return np.empty(0), np.empty(0)
        period = int(stat["Period"])
        slot = np.floor((ts - start) / period).astype(np.int64)
        slots, first = np.unique(slot, return_index=True)
        name = stat["Stat"]
        if name == "Sum":
            agg = np.add.reduceat(vs, first)
        elif name == "Average":
            agg = np.add.reduceat(vs, first) / np.diff(np.append(first, len(vs)))
        elif name == "Maximum":
            agg = np.maximum.reduceat(vs, first)
        elif name == "Minimum":
            agg = np.minimum.reduceat(vs, first)
        elif name == "SampleCount":
            agg = np.diff(np.append(first, len(vs))).astype(float)
        else:
            raise ValueError(f"statistic {name!r} is not supported by the local emulator")
        return start + slots * period, agg


def _epoch(value: Any) -> float:
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()
    if isinstance(value, (int, float)):
        return float(value)
    text = str(value)
    try:
        return float(text)
    except ValueError:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).replace(tzinfo=UTC).timestamp()


def _patched_get_metric_data(self: Any) -> Any:
    from moto.core.responses import ActionResult

    backend = self.cloudwatch_backend
    fast = getattr(backend, "_cloudsage_fast", None)
    if fast is None:
        fast = FastMetricData(backend)
        backend._cloudsage_fast = fast
    return ActionResult(fast.query(self._get_params()))


# --------------------------------------------------------------------------- the server
def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


_QUIET = ("moto", "werkzeug", "botocore", "urllib3", "aws_lambda_powertools")


class LocalAWS:
    """Context manager: an embedded AWS emulator that every boto3 client in this process talks to.

    On enter it starts moto on 127.0.0.1 on a free port, enables real Step Functions execution, installs the
    shims above, and points boto3 at it (``AWS_ENDPOINT_URL``, fake credentials). On exit it restores all.

    Examples
    --------
    >>> with LocalAWS() as aws:  # doctest: +SKIP
    ...     boto3.client("s3").list_buckets()
    """

    def __init__(self, region: str = LOCAL_REGION) -> None:
        self.region = region
        self.port = 0
        self._server: Any = None
        self._saved_env: dict[str, str | None] = {}
        self._patches: list[tuple[Any, str, Any]] = []
        self._saved_levels: dict[str, int] = {}

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> LocalAWS:
        from moto.awslambda.models import LambdaFunction
        from moto.cloudwatch.responses import CloudWatchResponse
        from moto.core.config import default_user_config
        from moto.server import ThreadedMotoServer

        from cloudsage.adapters.aws import reset_clients

        self.port = free_port()
        env = {
            "MOTO_PORT": str(self.port),  # moto's Step Functions interpreter calls Lambda at localhost:MOTO_PORT
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_SESSION_TOKEN": "testing",
            "AWS_DEFAULT_REGION": self.region,
            "AWS_REGION": self.region,
            "MOTO_ALLOW_NONEXISTENT_REGION": "true",
            "POWERTOOLS_METRICS_DISABLED": "true",
            "POWERTOOLS_LOG_LEVEL": os.environ.get("POWERTOOLS_LOG_LEVEL", "WARNING"),
            "POWERTOOLS_TRACE_DISABLED": "true",
        }
        self._saved_env = {k: os.environ.get(k) for k in env}
        os.environ.update(env)
        for name in _QUIET:
            lg = logging.getLogger(name)
            self._saved_levels[name] = lg.level
            lg.setLevel(logging.CRITICAL)
        # Powertools warns on every invocation that adds no metric (metrics are disabled locally anyway).
        warnings.filterwarnings("ignore", message="No application metrics to publish")
        self._saved_sfn = dict(default_user_config.get("stepfunctions", {}))
        default_user_config.setdefault("stepfunctions", {})["execute_state_machine"] = True
        self._patch(LambdaFunction, "_invoke_lambda", _moto_lambda_invoke)
        self._patch(CloudWatchResponse, "get_metric_data", _patched_get_metric_data)
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self._server.start()
        reset_clients()
        self.reset()  # moto's backends live in the process: start every emulator empty
        return self

    def __exit__(self, *exc: Any) -> None:
        from moto.core.config import default_user_config

        from cloudsage.adapters.aws import reset_clients

        if self._server is not None:
            self._server.stop()
        for owner, name, original in reversed(self._patches):
            setattr(owner, name, original)
        self._patches.clear()
        default_user_config["stepfunctions"] = self._saved_sfn
        for k, v in self._saved_env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        for name, level in self._saved_levels.items():
            logging.getLogger(name).setLevel(level)
        reset_clients()

    def _patch(self, owner: Any, name: str, replacement: Any) -> None:
        self._patches.append((owner, name, getattr(owner, name)))
        setattr(owner, name, replacement)

    def reset(self) -> None:
        """Drop every resource in the emulator (tests call this between cases)."""
        import urllib.request

        urllib.request.urlopen(urllib.request.Request(f"{self.endpoint}/moto-api/reset", method="POST"), timeout=10)
