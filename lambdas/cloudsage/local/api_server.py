"""``cloudsage api``: serve the Insights API resolver on 127.0.0.1 over the local emulator's table.

A thin adapter: each HTTP request becomes an API Gateway REST proxy event (``httpMethod``, ``path``, headers,
query string, body) handed to :func:`cloudsage.handlers.api.lambda_handler`, exactly what API Gateway hands the
deployed function; the Lambda-proxy result becomes the HTTP response. Requests are served one at a time, as one
Lambda instance does (the resolver keeps per-request state).

Examples
--------
>>> with LocalAWS(), FastDynamoQueries():  # doctest: +SKIP
...     table = create_table()
...     seed_demo(table)
...     with LocalApiServer(table) as server:
...         print(server.url)
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from cloudsage.local.emulator import LOCAL_ACCOUNT, LOCAL_REGION, LocalLambdaContext

MAX_REQUEST_BYTES = 10 * 1024 * 1024  # API Gateway's own payload limit
DEFAULT_TABLE = "cloudsage-insights"
FUNCTION_NAME = "cloudsage-api"


def to_proxy_event(method: str, raw_path: str, headers: dict[str, str], body: bytes) -> dict[str, Any]:
    """An API Gateway REST (v1) proxy event for one HTTP request."""
    parts = urlsplit(raw_path)
    query = parse_qs(parts.query, keep_blank_values=True)
    text: str | None
    b64 = False
    try:
        text = body.decode("utf-8") if body else None
    except UnicodeDecodeError:
        import base64

        text, b64 = base64.b64encode(body).decode(), True
    path = unquote(parts.path) or "/"
    return {
        "resource": path,
        "path": path,
        "httpMethod": method.upper(),
        "headers": dict(headers),
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": {k: v[-1] for k, v in query.items()} or None,
        "multiValueQueryStringParameters": query or None,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": {
            "accountId": LOCAL_ACCOUNT,
            "apiId": "local",
            "httpMethod": method.upper(),
            "path": path,
            "stage": "local",
            "requestId": str(uuid.uuid4()),
            "requestTimeEpoch": int(time.time() * 1000),
            "identity": {"sourceIp": "127.0.0.1", "userAgent": headers.get("User-Agent", "")},
            "resourcePath": path,
        },
        "body": text,
        "isBase64Encoded": b64,
    }


class _Handler(BaseHTTPRequestHandler):
    server_version = "CloudSageLocalAPI/1"
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out as separate writes: no 40 ms delayed-ACK stall
    server: _Server

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_REQUEST_BYTES:
            self._reply(413, {"Content-Type": "application/json"}, _too_large(length))
            self.close_connection = True
            return
        body = self.rfile.read(length) if length else b""
        event = to_proxy_event(self.command, self.path, {k: v for k, v in self.headers.items()}, body)
        result = self.server.invoke(event)
        headers = dict(result.get("headers") or {})
        for k, values in (result.get("multiValueHeaders") or {}).items():
            headers[k] = ", ".join(map(str, values))
        payload = result.get("body") or ""
        if result.get("isBase64Encoded"):
            import base64

            data = base64.b64decode(payload)
        else:
            data = str(payload).encode()
        self._reply(int(result.get("statusCode", 502)), headers, data)

    def _reply(self, status: int, headers: dict[str, str], data: bytes) -> None:
        self.send_response(status)
        for k, v in headers.items():
            if k.lower() not in ("content-length", "connection", "transfer-encoding"):
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = do_OPTIONS = do_HEAD = _serve

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.verbose:
            sys.stderr.write("  api: " + (format % args) + "\n")


def _too_large(length: int) -> bytes:
    return json.dumps(
        {
            "error": "payload_too_large",
            "message": f"request body is {length} bytes; the limit is {MAX_REQUEST_BYTES}",
            "field": "body",
            "details": [],
        }
    ).encode()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], environment: dict[str, str], verbose: bool) -> None:
        super().__init__(address, _Handler)
        self.environment = environment
        self.verbose = verbose
        self._lock = threading.Lock()

    def invoke(self, event: dict[str, Any]) -> dict[str, Any]:
        from cloudsage.handlers.api import lambda_handler

        context = LocalLambdaContext(
            function_name=FUNCTION_NAME,
            memory_limit_in_mb=512,
            invoked_function_arn=f"arn:aws:lambda:{LOCAL_REGION}:{LOCAL_ACCOUNT}:function:{FUNCTION_NAME}",
            aws_request_id=event["requestContext"]["requestId"],
            timeout_s=29.0,
        )
        with self._lock, _environ(self.environment):
            return dict(lambda_handler(event, context))  # type: ignore[arg-type]  # a Lambda-like context


@contextlib.contextmanager
def _environ(values: dict[str, str]) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


class LocalApiServer:
    """Context manager: the API on ``http://host:port`` in a background thread (port 0 = a free port).

    Parameters
    ----------
    table_name : str
        The insights table (in whatever DynamoDB ``AWS_ENDPOINT_URL`` points at, e.g. the local emulator).
    environment : dict, optional
        Extra env vars for the function (e.g. ``MAX_BODY_BYTES``).
    """

    def __init__(
        self,
        table_name: str,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        environment: dict[str, str] | None = None,
        verbose: bool = False,
    ) -> None:
        env = {
            "TABLE_NAME": table_name,
            "POWERTOOLS_SERVICE_NAME": "cloudsage-api",
            "POWERTOOLS_METRICS_DISABLED": "true",
            "POWERTOOLS_TRACE_DISABLED": "true",
            "POWERTOOLS_LOG_LEVEL": os.environ.get("POWERTOOLS_LOG_LEVEL", "WARNING"),
            **(environment or {}),
        }
        self._httpd = _Server((host, port), env, verbose)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = str(self._httpd.server_address[0]), int(self._httpd.server_address[1])
        return f"http://{host}:{port}"

    def start(self) -> LocalApiServer:
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="cloudsage-api", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> LocalApiServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


# --------------------------------------------------------------------------- DynamoDB Query at table size
_GENERATION = [0]  # bumped by every write while the shim is installed; invalidates the index cache
_QUERY_OPS = frozenset({"Query", "Scan", "GetItem", "BatchGetItem", "PutItem", "UpdateItem", "DeleteItem"})


def _sort_value(value: Any) -> Any:
    """A DynamoType key value as a plain comparable value (numbers as Decimal)."""
    from decimal import Decimal

    return Decimal(value.value) if value.type == "N" else value.value


def _wire(obj: Any) -> Any:
    """moto's DynamoType structures in DynamoDB JSON wire form (what botocore parses)."""
    import base64

    from moto.dynamodb.models.dynamo_type import DynamoType

    if isinstance(obj, DynamoType):
        if obj.type == "B":
            return {"B": obj.value if isinstance(obj.value, str) else base64.b64encode(obj.value).decode()}
        if obj.type == "BS":
            return {"BS": [v if isinstance(v, str) else base64.b64encode(v).decode() for v in obj.value]}
        return {obj.type: _wire(obj.value)}
    if isinstance(obj, dict):
        return {k: _wire(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_wire(v) for v in obj]
    if isinstance(obj, (str, int, float, bool)) or obj is None:
        return obj
    raise TypeError(type(obj).__name__)


class FastDynamoQueries:
    """Context manager: make the emulator's DynamoDB answer ``Query`` on a GSI in time independent of table size.

    moto answers every GSI ``Query`` by scanning, sorting (Python comparisons of ``DynamoType``) and deep-copying
    every item of the table, then serialises each returned item through its generic, shape-walking serializer
    (about 17 ms per insight item): seconds per request at 10,000 insights, which would measure moto, not the
    design. This shim changes only *how fast* moto answers, not *what*:

    1. ``Table.query`` on a single-hash, at-most-single-range GSI reads a cached bucket (hash value -> items
       sorted by index range key, then table keys), rebuilt after any write, and applies ``ExclusiveStartKey``
       with a bisection, then moto's own range comparison, ``Limit`` and ``FilterExpression`` objects, with the
       same ``LastEvaluatedKey`` rule as moto. Anything else (table queries, projections, legacy ``QueryFilter``)
       goes to moto unchanged.
    2. Item-returning operations serialise ``DynamoType`` values straight to DynamoDB JSON.

    ``tests/integration/test_store_query.py`` runs every query test with and without the shim.
    """

    def __init__(self) -> None:
        self._patches: list[tuple[Any, str, Any]] = []

    def __enter__(self) -> FastDynamoQueries:
        import moto.dynamodb.responses as responses
        from moto.dynamodb.models import DynamoDBBackend
        from moto.dynamodb.models.table import Table

        original_query = Table.query
        original_result = responses.DynamoResult

        class _FastResult(original_result):  # type: ignore[misc, valid-type]
            def __init__(self, result: object) -> None:
                self._raw = result

            @property
            def result(self) -> object:
                return self._raw

            def execute_result(self, context: Any) -> Any:
                if context.operation_model.name in _QUERY_OPS:
                    try:
                        body = json.dumps(_wire(self._raw), separators=(",", ":"))
                        return 200, {"Content-Type": "application/x-amz-json-1.0"}, body
                    except TypeError:
                        pass
                original_result.__init__(self, self._raw)  # moto's own conversion and serializer
                return super().execute_result(context)

        def fast_query(table: Any, *args: Any, **kwargs: Any) -> Any:
            result = _fast_gsi_query(table, *args, **kwargs)
            return original_query(table, *args, **kwargs) if result is None else result

        self._patch(responses, "DynamoResult", _FastResult)
        self._patch(Table, "query", fast_query)
        for owner, name in (
            (DynamoDBBackend, "put_item"),
            (DynamoDBBackend, "update_item"),
            (DynamoDBBackend, "delete_item"),
            (DynamoDBBackend, "transact_write_items"),
            (DynamoDBBackend, "delete_table"),
            (Table, "put_item"),
            (Table, "delete_item"),
        ):
            self._patch(owner, name, _bumping(getattr(owner, name)))
        _GENERATION[0] += 1
        return self

    def __exit__(self, *exc: Any) -> None:
        for owner, name, original in reversed(self._patches):
            setattr(owner, name, original)
        self._patches.clear()
        _GENERATION[0] += 1

    def _patch(self, owner: Any, name: str, replacement: Any) -> None:
        self._patches.append((owner, name, getattr(owner, name)))
        setattr(owner, name, replacement)


def _bumping(method: Any) -> Any:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return method(*args, **kwargs)
        finally:
            _GENERATION[0] += 1

    wrapper.__wrapped__ = method  # type: ignore[attr-defined]
    return wrapper


def _buckets(table: Any, index: Any, hash_attr: str, range_attr: str | None) -> dict[Any, Any]:
    """Index ``hash value -> (sort keys, items)``, cached per table generation."""
    cache = table.__dict__.setdefault("_cloudsage_gsi_cache", {})
    hit = cache.get(index.name)
    if hit is not None and hit[0] == _GENERATION[0]:
        return hit[1]  # type: ignore[no-any-return]
    grouped: dict[Any, list[tuple[tuple[Any, ...], Any]]] = {}
    for item in table.all_items():
        h = item.attrs.get(hash_attr)
        r = item.attrs.get(range_attr) if range_attr else None
        if h is None or (range_attr and r is None):
            continue  # a GSI holds only items with every key attribute
        key = (_sort_value(r) if r is not None else "", _sort_value(item.hash_key), _range_value(item))
        grouped.setdefault((h.type, json.dumps(_wire(h.value))), []).append((key, item))
    buckets = {}
    for hv, entries in grouped.items():
        entries.sort(key=lambda e: e[0])
        buckets[hv] = ([e[0] for e in entries], [e[1] for e in entries])
    cache[index.name] = (_GENERATION[0], buckets)
    return buckets


def _range_value(item: Any) -> Any:
    return _sort_value(item.range_key) if item.range_key is not None else ""


def _fast_gsi_query(
    table: Any,
    hash_key: Any,
    range_comparison: str | None,
    range_objs: list[Any],
    limit: int | None,
    exclusive_start_key: dict[str, Any] | None,
    scan_index_forward: bool,
    projection_expressions: Any,
    index_name: str | None = None,
    consistent_read: bool = False,
    filter_expression: Any = None,
    hash_key_conditions: list[tuple[str, Any]] | None = None,
    range_key_conditions: list[tuple[str, str, list[Any]]] | None = None,
    **filter_kwargs: Any,
) -> tuple[list[Any], int, dict[str, Any] | None] | None:
    """The fast path of ``Table.query``; None means "not a shape handled here, ask moto"."""
    import bisect

    from moto.dynamodb.models.dynamo_type import DynamoType

    if not index_name or filter_kwargs or projection_expressions or consistent_read:
        return None
    if not hash_key_conditions or len(hash_key_conditions) != 1 or len(range_key_conditions or []) > 1:
        return None
    try:
        index = table.get_index(index_name)
    except KeyError:
        return None
    hashes = [k["AttributeName"] for k in index.schema if k["KeyType"] == "HASH"]
    ranges = [k["AttributeName"] for k in index.schema if k["KeyType"] == "RANGE"]
    projection = (getattr(index, "projection", None) or {}).get("ProjectionType")
    if len(hashes) != 1 or len(ranges) > 1 or projection != "ALL" or not table.range_key_attr:
        return None
    hash_attr, range_attr = hashes[0], (ranges[0] if ranges else None)
    if hash_key_conditions[0][0] != hash_attr or (range_key_conditions and range_key_conditions[0][0] != range_attr):
        return None
    hv = hash_key_conditions[0][1]
    hv = hv if isinstance(hv, DynamoType) else DynamoType(hv)
    keys, items = _buckets(table, index, hash_attr, range_attr).get((hv.type, json.dumps(_wire(hv.value))), ([], []))
    n = len(items)
    order = range(n) if scan_index_forward is not False else range(n - 1, -1, -1)
    if exclusive_start_key:
        esk = {k: (v if isinstance(v, DynamoType) else DynamoType(v)) for k, v in exclusive_start_key.items()}
        try:
            start = (
                _sort_value(esk[range_attr]) if range_attr else "",
                _sort_value(esk[table.hash_key_attr]),
                _sort_value(esk[table.range_key_attr]),
            )
        except KeyError:
            return None
        if scan_index_forward is not False:
            order = range(bisect.bisect_right(keys, start), n)
        else:
            order = range(bisect.bisect_left(keys, start) - 1, -1, -1)
    results: list[Any] = []
    last_key = None
    for i in order:
        item = items[i]
        if limit is not None and len(results) == limit:
            last_key = table._get_last_evaluated_key(results[-1], index_name)
            break
        if range_comparison:
            value = item.attrs.get(range_attr) if range_attr else None
            if value is None or not value.compare(range_comparison, range_objs):
                continue
        results.append(item)
    scanned = len(results)
    if filter_expression is not None:
        results = [item for item in results if filter_expression.expr(item)]
    return results, scanned, last_key


def create_table(table_name: str = DEFAULT_TABLE) -> str:
    """Create the insights table from the shared key schema (in the emulator ``AWS_ENDPOINT_URL`` points at)."""
    from cloudsage.adapters.aws import client
    from cloudsage.core.store_schema import boto3_table_definition

    ddb = client("dynamodb")
    ddb.create_table(**boto3_table_definition(table_name))
    ddb.get_waiter("table_exists").wait(TableName=table_name, WaiterConfig={"Delay": 0.1, "MaxAttempts": 50})
    return table_name


def seed_demo(table_name: str, *, run_id: str = "run-demo", seed: int = 7, now: float | None = None) -> dict[str, Any]:
    """Analyse the demo fleet in-process with every registered model and record it, as the aggregate step does.

    Returns the run summary (``insights`` with rank, priority and change; ``resolved``).
    """
    from cloudsage.adapters.insights_store import InsightsTable
    from cloudsage.core.errors import CloudSageError
    from cloudsage.core.registry import MODEL_SPECS
    from cloudsage.handlers.aggregate import record_run
    from cloudsage.local.demo import build_demo_fleet

    outputs = []
    for resource in build_demo_fleet(seed=seed).to_resource_metrics():
        for spec in MODEL_SPECS:
            try:
                outputs.append(spec.load_analyze()(resource, **spec.defaults))
            except CloudSageError:
                continue
    return record_run(InsightsTable(table_name), run_id, outputs, now=now)


def serve(
    host: str = "127.0.0.1",
    port: int = 8080,
    table_name: str | None = None,
    *,
    full_pipeline: bool = False,
    seed: int = 7,
    verbose: bool = True,
    ready: Callable[[LocalApiServer], None] | None = None,
    stop: threading.Event | None = None,
) -> int:
    """Run the API until interrupted (what ``cloudsage api`` calls).

    Parameters
    ----------
    host, port : str, int
        Where to listen (keep 127.0.0.1: there is no authentication).
    table_name : str, optional
        Serve an existing table at the current endpoint (``AWS_ENDPOINT_URL`` or real AWS) as is. Without it an
        embedded emulator starts and is filled by analysing the demo fleet first.
    full_pipeline : bool
        With no ``table_name``: run the synthesized state machine (as ``make run`` does, slower) instead of the
        in-process analysis.
    ready : callable, optional
        Called with the running server (tests, scripts).
    stop : threading.Event, optional
        Set it to stop serving (otherwise Ctrl-C).
    """
    from cloudsage.local.emulator import LocalAWS

    stop = stop or threading.Event()
    with contextlib.ExitStack() as stack:
        if table_name is None:
            aws = stack.enter_context(LocalAWS())
            stack.enter_context(FastDynamoQueries())

            def say(message: str) -> None:
                if verbose:
                    sys.stderr.write(f"  {message}\n")

            say(f"local AWS emulator on {aws.endpoint}")
            if full_pipeline:
                table_name = _pipeline_table(say, seed)
            else:
                table_name = create_table()
                summary = seed_demo(table_name, seed=seed)
                say(f"analysed the demo fleet: {len(summary['insights'])} insights in table {table_name}")
        server = stack.enter_context(LocalApiServer(table_name, host, port, verbose=verbose))
        if verbose:
            print(f"CloudSage API on {server.url} (table {table_name}); try: curl '{server.url}/insights?limit=5'")
            sys.stdout.flush()
        if ready:
            ready(server)
        try:
            while not stop.wait(0.5):
                pass
        except KeyboardInterrupt:
            pass
    return 0


def _pipeline_table(say: Callable[[str], None], seed: int) -> str:
    """Provision the synthesized stack in the running emulator and run the state machine on the demo fleet."""
    from datetime import UTC, datetime

    from cloudsage.local.demo import build_demo_fleet
    from cloudsage.local.pipeline import load_metrics, run_execution, source_from_demo, workflow_input
    from cloudsage.local.provision import provision, synthesize_template

    say("synthesizing the CDK app and provisioning it")
    stack = provision(synthesize_template(), LOCAL_REGION)
    source = source_from_demo(build_demo_fleet(seed=seed))
    load_metrics(source, say)
    run_id = "run-" + datetime.fromtimestamp(source.end_time, tz=UTC).strftime("%Y%m%dT%H%MZ")
    run_execution(stack, workflow_input(source, run_id), say)
    return stack.table_name


def main(argv: list[str] | None = None) -> int:
    """``python -m cloudsage.local.api_server [--port N] [--table NAME] [--full-pipeline]``."""
    import argparse

    p = argparse.ArgumentParser(prog="cloudsage api", description="Serve the Insights API on 127.0.0.1")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8080)
    p.add_argument("--table", help="serve this existing table (default: analyse the demo fleet in an emulator)")
    p.add_argument("--full-pipeline", action="store_true", help="fill the table with the real state machine run")
    p.add_argument("--seed", type=int, default=7)
    args = p.parse_args(argv)
    return serve(args.host, args.port, args.table, full_pipeline=args.full_pipeline, seed=args.seed)


if __name__ == "__main__":
    sys.exit(main())
