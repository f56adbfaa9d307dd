"""Discovery: find the resources to analyse by tag, with the Resource Groups Tagging API (boto3 adapter).

Each tagged ARN becomes a :class:`~cloudsage.core.resource.ResourceSpec` with the CloudWatch namespace,
dimensions and default metrics of its type. Resources of other types are ignored (and counted).
"""

from __future__ import annotations

import re
from typing import Any

from cloudsage.adapters.aws import client as aws_client
from cloudsage.core.resource import ResourceSpec

# resource type -> (Tagging API type filter, namespace, dimension name, default metrics)
TYPES: dict[str, tuple[str, str, str, tuple[str, ...]]] = {
    "ec2": ("ec2:instance", "AWS/EC2", "InstanceId", ("CPUUtilization", "NetworkIn", "NetworkOut")),
    "asg": (
        "autoscaling:autoScalingGroup",
        "AWS/EC2",
        "AutoScalingGroupName",
        ("CPUUtilization", "NetworkIn", "NetworkOut", "GroupInServiceInstances"),
    ),
    "rds": (
        "rds:db",
        "AWS/RDS",
        "DBInstanceIdentifier",
        ("CPUUtilization", "DatabaseConnections", "ReadLatency", "FreeableMemory"),
    ),
    "lambda": (
        "lambda:function",
        "AWS/Lambda",
        "FunctionName",
        ("Invocations", "Errors", "Duration", "Throttles", "ConcurrentExecutions"),
    ),
    "cache": (
        "elasticache:cluster",
        "AWS/ElastiCache",
        "CacheClusterId",
        ("CPUUtilization", "CurrConnections", "CacheHitRate"),
    ),
}
_PER_METRIC_NAMESPACE = {"asg": {"GroupInServiceInstances": "AWS/AutoScaling"}}

_ARN = [
    ("ec2", re.compile(r"^arn:aws[\w-]*:ec2:[^:]*:\d*:instance/(?P<id>i-[0-9a-f]+)$")),
    (
        "asg",
        re.compile(r"^arn:aws[\w-]*:autoscaling:[^:]*:\d*:autoScalingGroup:[^:]*:autoScalingGroupName/(?P<id>.+)$"),
    ),
    ("rds", re.compile(r"^arn:aws[\w-]*:rds:[^:]*:\d*:db:(?P<id>.+)$")),
    ("lambda", re.compile(r"^arn:aws[\w-]*:lambda:[^:]*:\d*:function:(?P<id>[^:]+)$")),
    ("cache", re.compile(r"^arn:aws[\w-]*:elasticache:[^:]*:\d*:cluster:(?P<id>.+)$")),
]


def spec_from_arn(arn: str, tags: dict[str, str] | None = None) -> ResourceSpec | None:
    """The collect spec for one ARN, or None when its type is not analysed."""
    for rtype, pattern in _ARN:
        m = pattern.match(arn)
        if m:
            _, namespace, dim, metrics = TYPES[rtype]
            rid = m.group("id")
            return ResourceSpec(
                resource_id=rid,
                resource_type=rtype,
                namespace=namespace,
                dimensions={dim: rid},
                metrics=metrics,
                attributes={"arn": arn, "tags": dict(tags or {})},
                metric_namespaces=dict(_PER_METRIC_NAMESPACE.get(rtype, {})),
            )
    return None


def discover(tag_filters: dict[str, list[str]], tagging_client: Any | None = None) -> tuple[list[ResourceSpec], int]:
    """Every analysable resource carrying the tags (``{"key": ["value", ...]}``; empty list = any value).

    Returns
    -------
    (specs, ignored)
        Specs in ARN order, and how many tagged resources were of a type CloudSage does not analyse.
    """
    tagging = tagging_client or aws_client("resourcegroupstaggingapi")
    filters = [{"Key": k, "Values": list(v)} if v else {"Key": k} for k, v in sorted(tag_filters.items())]
    specs: list[ResourceSpec] = []
    ignored = 0
    for page in tagging.get_paginator("get_resources").paginate(
        TagFilters=filters, ResourceTypeFilters=[t[0] for t in TYPES.values()]
    ):
        for item in page.get("ResourceTagMappingList", []):
            tags = {t["Key"]: t["Value"] for t in item.get("Tags", [])}
            spec = spec_from_arn(item["ResourceARN"], tags)
            if spec is None:
                ignored += 1
            else:
                specs.append(spec)
    specs.sort(key=lambda s: s.attributes["arn"])
    return specs, ignored
