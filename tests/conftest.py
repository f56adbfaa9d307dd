"""Shared fixtures: fake credentials, moto, the insights table from the shared schema."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
os.environ.setdefault("CDK_VALIDATION", "false")
os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

# CI (CI=true) replays the same property-test examples every run, so main stays green for reasons in the code,
# not in the draw; local runs keep exploring new examples.
from hypothesis import settings as _hypothesis_settings

_hypothesis_settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    _hypothesis_settings.load_profile("ci")


@pytest.fixture
def aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SECURITY_TOKEN", "AWS_SESSION_TOKEN"):
        monkeypatch.setenv(key, "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)


@pytest.fixture
def moto_aws(aws_credentials: None) -> Iterator[None]:
    from moto import mock_aws

    from cloudsage.adapters.aws import reset_clients

    with mock_aws():
        reset_clients()
        yield
    reset_clients()


@pytest.fixture
def stack_env(moto_aws: None, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Bucket, insights table (from the shared schema) and topic + inbox queue, with the handlers' env set."""
    import boto3

    from cloudsage.core.store_schema import boto3_table_definition

    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="snapshots")
    boto3.client("dynamodb").create_table(**boto3_table_definition("insights"))
    sns = boto3.client("sns")
    topic = sns.create_topic(Name="alerts")["TopicArn"]
    sqs = boto3.client("sqs")
    queue_url = sqs.create_queue(QueueName="inbox")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)
    env = {
        "BUCKET_NAME": "snapshots",
        "TABLE_NAME": "insights",
        "TOPIC_ARN": topic,
        "MIN_ALERT_SEVERITY": "medium",
        "MODEL_NAME": "anomaly",
        "LOOKBACK_DAYS": "14",
    }
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    return {**env, "QUEUE_URL": queue_url}


class FakeContext:
    function_name = "test"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:test"
    aws_request_id = "req-1"
    function_version = "$LATEST"
    log_group_name = "/aws/lambda/test"
    log_stream_name = "s"

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


@pytest.fixture
def lambda_context() -> FakeContext:
    return FakeContext()
