"""What CloudSage knows about common CloudWatch metrics: how to aggregate them and their valid range.

The resampling statistic matters: counts are summed, utilisation is averaged, tail latency keeps the maximum.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class MetricInfo:
    """How one metric behaves.

    Parameters
    ----------
    stat : str
        CloudWatch statistic used when collecting and when resampling: ``Sum``, ``Average`` or ``Maximum``.
    unit : str
        CloudWatch unit.
    lower, upper : float or None
        Physically possible range; values outside it are impossible readings and are masked.
    kind : str
        ``count``, ``utilisation``, ``latency``, ``bytes`` or ``gauge``; models use it to pick directions.
    """

    stat: str
    unit: str
    lower: float | None = 0.0
    upper: float | None = None
    kind: str = "gauge"


METRICS: dict[str, MetricInfo] = {
    "CPUUtilization": MetricInfo("Average", "Percent", 0.0, 100.0, "utilisation"),
    "MemoryUtilization": MetricInfo("Average", "Percent", 0.0, 100.0, "utilisation"),
    "mem_used_percent": MetricInfo("Average", "Percent", 0.0, 100.0, "utilisation"),
    "DatabaseConnections": MetricInfo("Average", "Count", 0.0, None, "gauge"),
    "FreeableMemory": MetricInfo("Average", "Bytes", 0.0, None, "bytes"),
    "ReadIOPS": MetricInfo("Average", "Count/Second", 0.0, None, "gauge"),
    "WriteIOPS": MetricInfo("Average", "Count/Second", 0.0, None, "gauge"),
    "ReadLatency": MetricInfo("Average", "Seconds", 0.0, None, "latency"),
    "RequestCount": MetricInfo("Sum", "Count", 0.0, None, "count"),
    "TargetResponseTime": MetricInfo("Average", "Seconds", 0.0, None, "latency"),
    "Latency": MetricInfo("Maximum", "Milliseconds", 0.0, None, "latency"),
    "Invocations": MetricInfo("Sum", "Count", 0.0, None, "count"),
    "Errors": MetricInfo("Sum", "Count", 0.0, None, "count"),
    "Throttles": MetricInfo("Sum", "Count", 0.0, None, "count"),
    "Duration": MetricInfo("Average", "Milliseconds", 0.0, None, "latency"),
    "ConcurrentExecutions": MetricInfo("Maximum", "Count", 0.0, None, "gauge"),
    "NetworkIn": MetricInfo("Sum", "Bytes", 0.0, None, "bytes"),
    "NetworkOut": MetricInfo("Sum", "Bytes", 0.0, None, "bytes"),
    "CacheHitRate": MetricInfo("Average", "Percent", 0.0, 100.0, "utilisation"),
    "CurrConnections": MetricInfo("Average", "Count", 0.0, None, "gauge"),
    "GroupInServiceInstances": MetricInfo("Average", "Count", 0.0, None, "gauge"),
}

DEFAULT = MetricInfo("Average", "None", None, None, "gauge")


def metric_info(name: str) -> MetricInfo:
    """Return what is known of ``name``; unknown metrics are averaged and unbounded."""
    return METRICS.get(name, DEFAULT)
