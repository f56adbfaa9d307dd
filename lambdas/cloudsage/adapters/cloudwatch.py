"""CloudWatchSource: collect a fleet's metrics with GetMetricData.

Queries are batched (at most 500 per call, CloudWatch's limit), every page is followed through ``NextToken``,
and throttling is retried by botocore's standard retry mode. Results become validated
:class:`~cloudsage.core.series.MetricSeries` (gaps stay gaps).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

from cloudsage.adapters.aws import client as aws_client
from cloudsage.core.errors import InsufficientDataError
from cloudsage.core.resource import MetricRef, ResourceMetrics, ResourceSpec
from cloudsage.core.series import MetricSeries

MAX_QUERIES_PER_CALL = 500


class CloudWatchSource:
    """Fetch metrics for resources from CloudWatch.

    Parameters
    ----------
    cloudwatch_client : optional
        Injected boto3 CloudWatch client; created lazily otherwise.
    """

    def __init__(self, cloudwatch_client: Any | None = None) -> None:
        self._client = cloudwatch_client
        self.calls = 0

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = aws_client("cloudwatch")
        return self._client

    def fetch(
        self, specs: Sequence[ResourceSpec], start: float, end: float, period: int
    ) -> tuple[list[ResourceMetrics], dict[str, str]]:
        """Collect every metric of every spec over ``[start, end)``.

        Returns
        -------
        (resources, skipped)
            Resources with at least one usable metric, and ``resource_id -> reason`` for the rest.
        """
        queries: list[tuple[str, ResourceSpec, MetricRef]] = []
        for spec in specs:
            for ref in spec.metric_refs():
                queries.append((f"q{len(queries)}", spec, ref))
        points: dict[str, tuple[list[datetime], list[float]]] = defaultdict(lambda: ([], []))
        for batch in _chunks(queries, MAX_QUERIES_PER_CALL):
            for result in self._get_metric_data(batch, start, end, period):
                ts, vs = points[result["Id"]]
                ts.extend(result.get("Timestamps", []))
                vs.extend(result.get("Values", []))

        by_resource: dict[str, dict[str, MetricSeries]] = defaultdict(dict)
        skipped: dict[str, str] = {}
        for qid, spec, ref in queries:
            ts, vs = points.get(qid, ([], []))
            if not ts:
                continue
            try:
                by_resource[spec.resource_id][ref.name] = MetricSeries.from_points(
                    spec.resource_id, ref.name, ts, vs, period=period, stat=ref.stat
                )
            except InsufficientDataError:
                continue
        resources = []
        for spec in specs:
            series = by_resource.get(spec.resource_id)
            if not series:
                skipped[spec.resource_id] = "no datapoints returned for any metric"
                continue
            resources.append(ResourceMetrics(spec.resource_id, spec.resource_type, series, dict(spec.attributes)))
        return resources, skipped

    def _get_metric_data(
        self, batch: Sequence[tuple[str, ResourceSpec, MetricRef]], start: float, end: float, period: int
    ) -> Iterator[dict[str, Any]]:
        request: dict[str, Any] = {
            "MetricDataQueries": [
                {
                    "Id": qid,
                    "MetricStat": {
                        "Metric": {
                            "Namespace": ref.namespace,
                            "MetricName": ref.name,
                            "Dimensions": [{"Name": k, "Value": v} for k, v in ref.dimensions],
                        },
                        "Period": period,
                        "Stat": ref.stat,
                    },
                    "ReturnData": True,
                }
                for qid, _, ref in batch
            ],
            "StartTime": datetime.fromtimestamp(start, tz=UTC),
            "EndTime": datetime.fromtimestamp(end, tz=UTC),
            "ScanBy": "TimestampAscending",
        }
        while True:
            self.calls += 1
            response = self.client.get_metric_data(**request)
            yield from response.get("MetricDataResults", [])
            token = response.get("NextToken")
            if not token:
                return
            request["NextToken"] = token


def _chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]
