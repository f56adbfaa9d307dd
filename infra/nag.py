"""cdk-nag (AwsSolutions) on the app, with every acknowledgement and its reason in one place."""

from __future__ import annotations

from aws_cdk import Acknowledgment, Stack, Token, Validations
from cdk_nag import AwsSolutionsChecks, ServerlessChecks
from constructs import Construct

from infra.stacks.cloudsage_stack import CloudSageStack

PACK = "AwsSolutions::"

# Stack-wide: rule id -> reason. None hides a real over-grant.
STACK_ACKNOWLEDGEMENTS: dict[str, str] = {
    "AwsSolutions-IAM5[Resource::*]": (
        "Only actions without resource-level permissions use '*': cloudwatch:GetMetricData, tag:GetResources, "
        "pricing:GetProducts (the live price refresh of the price-aware models: cost, scaling), X-Ray "
        "PutTraceSegments/PutTelemetryRecords (active tracing), and the CloudWatch Logs delivery actions Step "
        "Functions needs for execution logging."
    ),
    "AwsSolutions-IAM5[Action::kms:GenerateDataKey*]": (
        "CDK's SNS publish grant on the topics' customer-managed key: GenerateDataKey and "
        "GenerateDataKeyWithoutPlaintext on those keys only (the resource is the key ARN, not '*')."
    ),
    "AwsSolutions-SQS3": (
        "The only queue is the scheduler's dead-letter queue itself; a DLQ of a DLQ adds nothing, and its depth is "
        "alarmed on (Operations/ScheduleDeadLetters)."
    ),
    "AwsSolutions-COG4": (
        "The API uses IAM authorisation (SigV4): its callers are AWS principals (operators, automation, the "
        "dashboards), so a Cognito user pool would add a second identity system for no one."
    ),
    "AwsSolutions-APIG3": (
        "No anonymous access reaches the API: every method requires IAM auth and the stage is throttled; a WAF "
        "web ACL can be associated per account policy but is not required for an IAM-only API."
    ),
    "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs]": (  # noqa: E501
        "API Gateway's account-level role for execution logging: the AWS-managed policy is the documented way, "
        "and it is attached to a role only API Gateway can assume."
    ),
    "AwsSolutions-S1": (
        "The snapshot bucket holds transient, expiring analysis inputs/outputs written only by this stack's "
        "functions; server access logs would need a second bucket for no audit value over CloudTrail."
    ),
}

SERVERLESS = "Serverless::"
SERVERLESS_ACKNOWLEDGEMENTS: dict[str, str] = {
    "Serverless-LambdaDLQ": (
        "Every function is invoked synchronously by Step Functions, which retries with backoff and records failures "
        "in the execution (a failing model becomes a partial result); a Lambda DLQ only applies to asynchronous "
        "invocations. The asynchronous entry point (EventBridge Scheduler) has its own DLQ."
    ),
    "Serverless-SQSRedrivePolicy": "The only queue is the scheduler's dead-letter queue; it is alarmed on.",
}

# On the role policies only: wildcards that are suffixes of one owned resource.
SCOPED_WILDCARDS_REASON = (
    "Wildcards here are suffixes of a single owned resource: objects under the snapshot bucket's runs/ prefix "
    "(and prices/ for the price-aware models' shared live price file), "
    "and the ':*' version qualifier of the workflow's own functions that the Step Functions Lambda integration "
    "grants."
)


DISTRIBUTED_MAP_REASON = (
    "The Distributed Map's child executions: describe/stop/redrive on executions of this one state machine only "
    "(the execution ids are not known in advance)."
)


def add_nag(app: Construct, stack: CloudSageStack) -> None:
    """Run AwsSolutions checks at synth; synth fails on any finding not acknowledged here."""
    Validations.of(app).add_plugins(AwsSolutionsChecks(app), ServerlessChecks(app))
    acks = [Acknowledgment(id=PACK + rule, reason=reason) for rule, reason in STACK_ACKNOWLEDGEMENTS.items()]
    acks += [Acknowledgment(id=SERVERLESS + r, reason=why) for r, why in SERVERLESS_ACKNOWLEDGEMENTS.items()]
    # Exact findings only (not the whole IAM5 rule), so a new wildcard elsewhere still fails synth.
    bucket = _lid(stack, stack.snapshots.bucket)
    for prefix in ("runs", "prices"):
        acks.append(
            Acknowledgment(
                id=f"{PACK}AwsSolutions-IAM5[Resource::<{bucket}.Arn>/{prefix}/*]", reason=SCOPED_WILDCARDS_REASON
            )
        )
    table = _lid(stack, stack.store.table)
    acks.append(
        Acknowledgment(
            id=f"{PACK}AwsSolutions-IAM5[Resource::<{table}.Arn>/index/*]",
            reason="The API queries the insights table's own indexes (by resource, status, run).",
        )
    )
    for fn in stack.functions.all():
        acks.append(
            Acknowledgment(
                id=f"{PACK}AwsSolutions-IAM5[Resource::<{_lid(stack, fn)}.Arn>:*]", reason=SCOPED_WILDCARDS_REASON
            )
        )
    # Distributed Map: the workflow's role manages its own child executions (executions of this state machine).
    sm = _lid(stack, stack.workflow.state_machine)
    name = f'{{"Fn::Select":[6,{{"Fn::Split":[":",{{"Ref":"{sm}"}}]}}]}}'
    region = "<AWS::Region>" if Token.is_unresolved(stack.region) else stack.region
    account = "<AWS::AccountId>" if Token.is_unresolved(stack.account) else stack.account
    execution = f"arn:<AWS::Partition>:states:{region}:{account}:execution:{name}"
    for suffix in (":*", "/*:*"):
        acks.append(
            Acknowledgment(id=f"{PACK}AwsSolutions-IAM5[Resource::{execution}{suffix}]", reason=DISTRIBUTED_MAP_REASON)
        )
    Validations.of(stack).acknowledge(*acks)


def _lid(stack: Stack, construct: Construct) -> str:
    child = construct.node.default_child
    assert child is not None  # L2 constructs always have one; infra code, never run with -O
    return stack.get_logical_id(child)  # type: ignore[arg-type]
