"""Discovery by tag against moto's Resource Groups Tagging API."""

from __future__ import annotations

import boto3
import pytest

from cloudsage.adapters.discovery import discover, spec_from_arn
from cloudsage.core.errors import InputValidationError
from cloudsage.handlers import collect, plan


def _instance(tags):
    ec2 = boto3.client("ec2")
    image = ec2.describe_images()["Images"][0]["ImageId"]
    return ec2.run_instances(
        ImageId=image,
        MinCount=1,
        MaxCount=1,
        InstanceType="m5.large",
        TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}],
    )["Instances"][0]["InstanceId"]


def test_discover_finds_tagged_instances_only(moto_aws):
    # Given two instances, one tagged for CloudSage
    wanted = _instance({"cloudsage": "on", "team": "payments"})
    _instance({"team": "search"})
    # When
    specs, ignored = discover({"cloudsage": ["on"]})
    # Then
    assert [s.resource_id for s in specs] == [wanted]
    assert specs[0].namespace == "AWS/EC2" and specs[0].dimensions == {"InstanceId": wanted}
    assert specs[0].attributes["tags"]["team"] == "payments"
    assert ignored == 0


@pytest.mark.parametrize(
    ("arn", "rtype", "rid"),
    [
        ("arn:aws:ec2:us-east-1:123456789012:instance/i-0abc123", "ec2", "i-0abc123"),
        ("arn:aws:rds:us-east-1:123456789012:db:orders-db", "rds", "orders-db"),
        ("arn:aws:lambda:us-east-1:123456789012:function:orders-processor", "lambda", "orders-processor"),
        ("arn:aws:autoscaling:us-east-1:123456789012:autoScalingGroup:1-2-3:autoScalingGroupName/web", "asg", "web"),
        ("arn:aws:elasticache:us-east-1:123456789012:cluster:sessions", "cache", "sessions"),
    ],
)
def test_spec_from_arn_maps_type_namespace_and_dimension(arn, rtype, rid):
    spec = spec_from_arn(arn)
    assert spec is not None and spec.resource_type == rtype and spec.resource_id == rid
    assert list(spec.dimensions.values()) == [rid]


def test_spec_from_arn_unknown_type_is_none():
    assert spec_from_arn("arn:aws:s3:::bucket") is None


def test_plan_with_both_resources_and_discover_is_rejected(stack_env, lambda_context):
    event = {
        "discover": {"tags": {"cloudsage": []}},
        "resources": [
            {
                "resource_id": "i-1",
                "namespace": "AWS/EC2",
                "dimensions": {"InstanceId": "i-1"},
                "metrics": ["CPUUtilization"],
            }
        ],
    }
    with pytest.raises(InputValidationError, match="exactly one"):
        plan.lambda_handler(event, lambda_context)


def test_plan_discover_runs_through_tagging_api_then_collect_skips_silent(stack_env, lambda_context):
    instance = _instance({"cloudsage": "on"})
    planned = plan.lambda_handler({"discover": {"tags": {"cloudsage": []}}, "lookback_days": 1}, lambda_context)
    assert planned["resources"] == 1
    out = collect.lambda_handler(
        {
            "run_id": planned["run_id"],
            "batch_key": planned["batches"][0]["batch_key"],
            "window_start": planned["window_start"],
            "window_end": planned["window_end"],
        },
        lambda_context,
    )
    # no metrics were published for it: discovered, then reported as skipped
    assert out["items"] == [] and list(out["skipped"]) == [instance]
