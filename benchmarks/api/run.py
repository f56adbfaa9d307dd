"""``make bench-api``: GET /insights latency over real HTTP with 10,000 insights in the table.

Method: the embedded emulator (moto) holds an insights table built from the shared key schema, filled with
``--insights`` synthetic insights (200 resources, four severities, every lifecycle status, three models) written
with the same item builder the aggregate step uses. The local API server (HTTP -> API Gateway proxy event ->
Powertools resolver -> DynamoDB) answers a fixed mix of list queries; each is repeated ``--reps`` times after a
warm-up, timed client-side over a keep-alive connection. Side by side, in the same process and on the same table:

* ``store``: the same queries through ``InsightsTable.find`` without HTTP or the resolver (the floor);
* ``scan``: the query answered without indexes (Scan + filter + sort in the client), the naive design.

Ends with ``API insights=<n> p95_ms=<p95 over every API request>``.

    python -m benchmarks.api.run --data ../shared/data
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Any

QUERIES: list[tuple[str, dict[str, Any]]] = [
    ("newest page", {}),
    ("open queue", {"status": "open"}),
    ("open critical", {"status": "open", "severity": "critical"}),
    ("one resource", {"resource": "res-017"}),
    ("since 1 day", {"since": "2026-11-19T00:00:00Z"}),
    ("model filter", {"model": "cost"}),
    ("page 2 (cursor)", {"_page2": True}),
]
SEVERITIES = ("low", "medium", "high", "critical")
STATUSES = ("open", "open", "ongoing", "ongoing", "resolved", "closed")
MODELS = ("anomaly", "cost", "performance")


def fill(table_name: str, n: int) -> None:
    """Write ``n`` synthetic insights with the aggregate step's item builder (batched)."""
    from dataclasses import replace

    from cloudsage.adapters.insights_store import InsightsTable, build_item
    from cloudsage.core.insights import RankedInsight, on_seen
    from cloudsage.core.results import Insight

    table = InsightsTable(table_name)
    t_end = 1_795_651_200.0  # 2026-11-20T00:00:00Z
    with table.table.batch_writer() as batch:
        for i in range(n):
            sev = SEVERITIES[i % 4]
            detected = t_end - 300.0 * i
            ins = Insight(
                resource_id=f"res-{i % 200:03d}",
                model=MODELS[i % 3],
                kind="reactive",
                severity=sev,
                confidence=0.5 + (i % 5) / 10,
                title=f"Metric{i % 7} surge on res-{i % 200:03d}",
                summary="synthetic insight for the API benchmark",
                recommendation="none",
                detected_at=detected,
                window_start=detected - 1800,
                window_end=detected,
                evidence={"observed": 90.0 + i % 10, "baseline": 40.0, "key_figure": "90 vs 40 expected"},
                metric=f"Metric{i % 7}",
            )
            t = on_seen(None, sev, "run-bench", t_end)
            t = replace(t, state=replace(t.state, status=STATUSES[i % len(STATUSES)]))
            batch.put_item(Item=build_item(RankedInsight(ins, 0.5, i + 1), t, "run-bench", t_end, None))


def _p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1))))
    return ordered[k]


def _time(fn: Callable[[], Any], reps: int, warmup: int = 3) -> list[float]:
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1000)
    return out


def _scan_query(table: Any, params: dict[str, Any], limit: int) -> list[dict[str, Any]]:
    """The query without indexes: scan everything, filter and sort client-side."""
    from boto3.dynamodb.conditions import Attr

    cond = Attr("sk").eq("META")
    for key, attr in (("resource", "resource_id"), ("status", "status"), ("severity", "severity")):
        if key in params:
            cond = cond & Attr(attr).eq(params[key])
    if "model" in params:
        cond = cond & Attr("models").contains(params["model"])
    if "since" in params:
        cond = cond & Attr("detected_at").gte(params["since"])
    items: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"FilterExpression": cond}
    while True:
        page = table.scan(**kwargs)
        items.extend(page.get("Items", []))
        if "LastEvaluatedKey" not in page:
            break
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    items.sort(key=lambda i: i["detected_at"], reverse=True)
    return items[:limit]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="../shared/data", help="unused: the table is synthetic (kept for make)")
    parser.add_argument("--insights", type=int, default=10_000)
    parser.add_argument("--reps", type=int, default=40, help="timed requests per query")
    parser.add_argument("--scan-reps", type=int, default=1, help="timed runs of the no-index baseline per query")
    parser.add_argument("--limit", type=int, default=50, help="page size")
    args = parser.parse_args(argv)

    import requests

    from cloudsage.adapters.insights_store import InsightFilter, InsightsTable
    from cloudsage.local.api_server import FastDynamoQueries, LocalApiServer, create_table
    from cloudsage.local.emulator import LocalAWS

    with LocalAWS(), FastDynamoQueries():
        table_name = create_table("bench-insights")
        t0 = time.perf_counter()
        fill(table_name, args.insights)
        print(f"filled {args.insights} insights in {time.perf_counter() - t0:.1f} s")
        store = InsightsTable(table_name)
        with LocalApiServer(table_name) as server, requests.Session() as http:
            first = http.get(f"{server.url}/insights", params={"limit": args.limit}, timeout=60).json()
            cursor = first["next_cursor"]
            assert first["count"] == args.limit and cursor, "the table did not fill"
            rows, all_api = [], []
            for name, params in QUERIES:
                q = {k: v for k, v in params.items() if not k.startswith("_")}
                api_params = {**q, "limit": args.limit, **({"cursor": cursor} if params.get("_page2") else {})}

                def call_api(p: dict[str, Any] = api_params) -> None:
                    r = http.get(f"{server.url}/insights", params=p, timeout=60)
                    if r.status_code != 200:
                        raise RuntimeError(f"{r.status_code}: {r.text[:200]}")

                flt = InsightFilter(**q)

                def call_store(
                    f: InsightFilter = flt, c: str | None = cursor if params.get("_page2") else None
                ) -> None:
                    store.find(f, limit=args.limit, cursor=c)

                api_ms = _time(call_api, args.reps)
                store_ms = _time(call_store, args.reps)

                def call_scan(p: dict[str, Any] = q) -> None:
                    _scan_query(store.table, p, args.limit)

                scan_ms = _time(call_scan, args.scan_reps, warmup=0)
                all_api += api_ms
                rows.append((name, api_ms, store_ms, scan_ms))
    header = (
        f"{'query':<17} {'api p50':>8} {'api p95':>8} {'store p50':>9} {'store p95':>9} {'scan p50':>9} {'scan/api':>8}"
    )
    print(f"\nGET /insights, {args.insights} insights, page {args.limit}, {args.reps} requests per query (ms)")
    print(header)
    print("-" * len(header))
    for name, api_ms, store_ms, scan_ms in rows:
        ratio = statistics.median(scan_ms) / statistics.median(api_ms)
        print(
            f"{name:<17} {statistics.median(api_ms):>8.1f} {_p(api_ms, 95):>8.1f} {statistics.median(store_ms):>9.1f} "
            f"{_p(store_ms, 95):>9.1f} {statistics.median(scan_ms):>9.1f} {ratio:>7.1f}x"
        )
    p95 = _p(all_api, 95)
    print(f"{'all queries':<17} {statistics.median(all_api):>8.1f} {p95:>8.1f}")
    print(f"\nAPI insights={args.insights} p95_ms={p95:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
