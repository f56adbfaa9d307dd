"""AlertPublisher: SNS publishing of insight alerts (boto3 adapter).

Raises whatever boto3 raises when SNS does not accept a message; the caller keeps the alert pending then.
"""

from __future__ import annotations

import json
from typing import Any

from cloudsage.adapters.aws import client as aws_client
from cloudsage.core.alerts import (
    DIGEST_MAX_LISTED,
    compact,
    format_alert,
    format_digest,
    machine_payload,
    message_attributes,
)
from cloudsage.core.results import severity_rank


class AlertPublisher:
    """Publish insights to one topic.

    The message uses SNS ``MessageStructure=json``: email subscribers get the readable text, SQS/HTTP/Lambda
    subscribers get the structured JSON.
    """

    def __init__(self, topic_arn: str, sns_client: Any | None = None, *, insights_url: str = "") -> None:
        self.topic_arn = topic_arn
        self.insights_url = insights_url.rstrip("/")
        self._client = sns_client

    def _link(self, insight_id: str) -> str:
        return f"{self.insights_url}/insights/{insight_id}" if self.insights_url else ""

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = aws_client("sns")
        return self._client

    def publish(self, insight: dict[str, Any]) -> str:
        """Publish one insight alert; returns the SNS message id."""
        subject, body = format_alert(insight, console_hint=self._link(str(insight["id"])))
        message = {"default": machine_payload(insight), "email": body, "email-json": machine_payload(insight)}
        response = self.client.publish(
            TopicArn=self.topic_arn,
            Subject=subject,
            Message=json.dumps(message),
            MessageStructure="json",
            MessageAttributes=message_attributes(insight),
        )
        return str(response["MessageId"])

    def publish_digest(self, insights: list[dict[str, Any]]) -> str:
        """Publish one digest for many insights; returns the SNS message id."""
        subject, body = format_digest(insights)
        if self.insights_url:
            body += f"\n\nMore: {self.insights_url}/insights?status=open"
        listed = [compact(i) for i in insights[:DIGEST_MAX_LISTED]]
        payload = json.dumps(
            {"type": "cloudsage.digest", "count": len(insights), "insights": listed}, default=str, sort_keys=True
        )
        worst = max(insights, key=lambda i: severity_rank(i["severity"]))
        response = self.client.publish(
            TopicArn=self.topic_arn,
            Subject=subject,
            Message=json.dumps({"default": payload, "email": body}),
            MessageStructure="json",
            MessageAttributes={
                "severity": {"DataType": "String", "StringValue": worst["severity"]},
                "kind": {"DataType": "String", "StringValue": "digest"},
            },
        )
        return str(response["MessageId"])
