"""CDK assertions: the synthesized template is what the registry, the schema and the handlers expect."""

from __future__ import annotations

import importlib
import json
import re
from typing import Any

import pytest
from aws_cdk.assertions import Match, Template

from cloudsage.core.registry import MODEL_SPECS
from cloudsage.core.store_schema import TABLE_SCHEMA
from cloudsage.handlers import settings as handler_settings
from infra.app import build_app


@pytest.fixture(scope="module")
def template() -> Template:
    _, stack = build_app()
    return Template.from_stack(stack)


def _definition(template: Template) -> dict[str, Any]:
    sm = next(iter(template.find_resources("AWS::StepFunctions::StateMachine").values()))
    parts = sm["Properties"]["DefinitionString"]["Fn::Join"][1]
    text = "".join(p if isinstance(p, str) else "arn:" + p["Fn::GetAtt"][0] for p in parts)
    return json.loads(text)


def _functions(template: Template) -> dict[str, dict[str, Any]]:
    return {k: v["Properties"] for k, v in template.find_resources("AWS::Lambda::Function").items()}


def _batch(template: Template) -> dict[str, Any]:
    """The child workflow run for each batch by the Distributed Map."""
    dmap = _definition(template)["States"]["AnalyzeBatches"]
    assert dmap["ItemProcessor"]["ProcessorConfig"]["Mode"] == "DISTRIBUTED"
    return dmap["ItemProcessor"]


def test_state_machine_has_one_branch_per_registered_model(template):
    processor = _batch(template)["States"]["AnalyzeResources"]["ItemProcessor"]
    branches = processor["States"]["RunModels"]["Branches"]
    assert [b["StartAt"] for b in branches] == [s.state_name for s in MODEL_SPECS]
    for branch in branches:
        task = branch["States"][branch["StartAt"]]
        assert task["Catch"][0]["ErrorEquals"] == ["States.ALL"]  # a failing model is a partial result


def test_state_machine_flow_plan_batches_collect_map_aggregate_publish(template):
    top = _definition(template)
    assert top["StartAt"] == "Plan" and top["States"]["Plan"]["Next"] == "AnalyzeBatches"
    assert top["States"]["AnalyzeBatches"]["MaxConcurrency"] == 10
    states = _batch(template)["States"]
    assert _batch(template)["StartAt"] == "Collect"
    assert states["Collect"]["Next"] == "AnalyzeResources"
    assert states["AnalyzeResources"]["Next"] == "Aggregate"
    assert states["Aggregate"]["Next"] == "Publish"
    assert all(s.get("Retry") for n, s in states.items() if s["Type"] == "Task")


def test_one_function_per_model_plus_pipeline_functions(template):
    fns = _functions(template)
    model_names = sorted(
        f["Environment"]["Variables"]["MODEL_NAME"]
        for f in fns.values()
        if "MODEL_NAME" in f["Environment"]["Variables"]
    )
    assert model_names == sorted(s.name for s in MODEL_SPECS)
    assert len(fns) == len(MODEL_SPECS) + 5  # plan, collect, aggregate, publish, api


from cloudsage.handlers.aggregate import InsightLifecycleSettings  # noqa: E402
from cloudsage.handlers.api import ApiSettings  # noqa: E402
from cloudsage.handlers.publish import AlertSettings  # noqa: E402

_SETTINGS_BY_HANDLER = {
    "cloudsage.handlers.api.lambda_handler": ApiSettings,
    "cloudsage.handlers.plan.lambda_handler": handler_settings.PlanSettings,
    "cloudsage.handlers.collect.lambda_handler": handler_settings.CollectSettings,
    "cloudsage.handlers.model.lambda_handler": handler_settings.ModelSettings,
    "cloudsage.handlers.aggregate.lambda_handler": InsightLifecycleSettings,
    "cloudsage.handlers.publish.lambda_handler": AlertSettings,
}


def test_function_env_vars_are_handler_settings_fields_with_every_required_one(template):
    for props in _functions(template).values():
        runtime = {"OPENBLAS_NUM_THREADS"}  # read by numpy's BLAS, not by the handler
        env = {k for k in props["Environment"]["Variables"] if not k.startswith("POWERTOOLS_") and k not in runtime}
        fields = _SETTINGS_BY_HANDLER[props["Handler"]].model_fields
        required = {k for k, f in fields.items() if f.is_required()}
        assert required <= env <= set(fields), props["Handler"]


def test_every_function_handler_string_imports(template):
    for props in _functions(template).values():
        module, _, name = props["Handler"].rpartition(".")
        assert callable(getattr(importlib.import_module(module), name))


def test_functions_arm64_tracing_and_own_role(template):
    fns = _functions(template)
    roles = {json.dumps(p["Role"]) for p in fns.values()}
    assert len(roles) == len(fns)
    for props in fns.values():
        assert props["Architectures"] == ["arm64"]
        assert props["TracingConfig"] == {"Mode": "Active"}


def test_table_keys_and_indexes_come_from_shared_schema(template):
    template.has_resource_properties(
        "AWS::DynamoDB::Table",
        {
            "KeySchema": [
                {"AttributeName": TABLE_SCHEMA["partition_key"]["name"], "KeyType": "HASH"},
                {"AttributeName": TABLE_SCHEMA["sort_key"]["name"], "KeyType": "RANGE"},
            ],
            "BillingMode": "PAY_PER_REQUEST",
            "TimeToLiveSpecification": {"AttributeName": TABLE_SCHEMA["ttl_attribute"], "Enabled": True},
            "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
            "SSESpecification": {"SSEEnabled": True},
        },
    )
    table = next(iter(template.find_resources("AWS::DynamoDB::Table").values()))["Properties"]
    assert [g["IndexName"] for g in table["GlobalSecondaryIndexes"]] == [
        g["name"] for g in TABLE_SCHEMA["global_secondary_indexes"]
    ]


def test_bucket_private_encrypted_expiring(template):
    template.has_resource_properties(
        "AWS::S3::Bucket",
        {
            "PublicAccessBlockConfiguration": Match.object_like(
                {"BlockPublicAcls": True, "RestrictPublicBuckets": True}
            ),
            "BucketEncryption": Match.any_value(),
            "LifecycleConfiguration": {"Rules": [Match.object_like({"ExpirationInDays": 30, "Status": "Enabled"})]},
        },
    )


def test_no_policy_grants_wildcard_actions(template):
    for policy in template.find_resources("AWS::IAM::Policy").values():
        for stmt in policy["Properties"]["PolicyDocument"]["Statement"]:
            actions = stmt["Action"] if isinstance(stmt["Action"], list) else [stmt["Action"]]
            assert not any(a == "*" or re.fullmatch(r"[a-z0-9-]+:\*", a) for a in actions), actions
            assert not any(a.startswith(("s3:Delete", "dynamodb:Delete")) or a == "dynamodb:Scan" for a in actions)


def test_cdk_nag_aws_solutions_passes_with_only_justified_acknowledgements(tmp_path):
    from infra.nag import STACK_ACKNOWLEDGEMENTS

    app, _ = build_app(outdir=str(tmp_path), nag=True)
    app.synth()  # raises ValidationFailed on any unacknowledged finding
    assert all(len(reason) > 40 for reason in STACK_ACKNOWLEDGEMENTS.values())


def test_context_bad_severity_is_rejected():
    with pytest.raises(ValueError, match="min_alert_severity"):
        build_app(context={"min_alert_severity": "loud"})


def test_schedule_starts_workflow_with_window_retries_dlq_and_tick_run_id(template):
    schedules = template.find_resources("AWS::Scheduler::Schedule")
    assert len(schedules) == 1
    props = next(iter(schedules.values()))["Properties"]
    assert props["ScheduleExpression"] == "rate(1 hour)"
    assert props["FlexibleTimeWindow"] == {"Mode": "FLEXIBLE", "MaximumWindowInMinutes": 15}
    target = props["Target"]
    assert target["RetryPolicy"]["MaximumRetryAttempts"] == 3
    assert "DeadLetterConfig" in target
    payload = json.loads(target["Input"])
    assert payload["run_id"] == "<aws.scheduler.scheduled-time>"  # one tick, one run id: idempotent re-delivery
    assert payload["discover"] == {"tags": {"cloudsage": []}}


def test_table_and_topics_use_customer_managed_keys_with_rotation(template):
    table = next(iter(template.find_resources("AWS::DynamoDB::Table").values()))
    assert table["Properties"]["SSESpecification"]["SSEType"] == "KMS"
    assert table["Properties"]["DeletionProtectionEnabled"] is True
    assert table["DeletionPolicy"] == "Retain"
    for topic in template.find_resources("AWS::SNS::Topic").values():
        assert "KmsMasterKeyId" in topic["Properties"]
    for key in template.find_resources("AWS::KMS::Key").values():
        assert key["Properties"]["EnableKeyRotation"] is True


def test_alarms_cover_failed_runs_dlq_and_every_function(template):
    alarms = template.find_resources("AWS::CloudWatch::Alarm")
    metrics = [a["Properties"].get("MetricName") for a in alarms.values()]
    assert metrics.count("Errors") == len(MODEL_SPECS) + 5
    assert metrics.count("Throttles") == len(MODEL_SPECS) + 5
    assert {"ExecutionsFailed", "ExecutionsTimedOut", "ApproximateNumberOfMessagesVisible"} <= set(metrics)
    assert all(a["Properties"]["AlarmActions"] for a in alarms.values())
    template.resource_count_is("AWS::CloudWatch::Dashboard", 1)


def test_email_subscriptions_come_from_context():
    _, stack = build_app(context={"alert_emails": "oncall@example.com", "ops_emails": ["ops@example.com"]})
    subs = Template.from_stack(stack).find_resources("AWS::SNS::Subscription")
    assert sorted(s["Properties"]["Endpoint"] for s in subs.values()) == ["oncall@example.com", "ops@example.com"]


def test_architecture_comes_from_context():
    _, stack = build_app(context={"architecture": "x86_64"})
    fns = Template.from_stack(stack).find_resources("AWS::Lambda::Function")
    assert {tuple(f["Properties"]["Architectures"]) for f in fns.values()} == {("x86_64",)}


@pytest.mark.parametrize(
    ("context", "message"),
    [
        ({"schedule": "every hour"}, "schedule"),
        ({"alert_emails": "not-an-email"}, "email"),
        ({"architecture": "sparc"}, "architecture"),
        ({"price_source": "cached"}, "price_source"),
    ],
)
def test_bad_context_is_rejected_naming_it(context, message):
    with pytest.raises(ValueError, match=message):
        build_app(context=context)


def test_cdk_nag_passes_with_a_concrete_account_and_region(tmp_path, monkeypatch):
    # `cdk synth`/`cdk deploy` set these: ARNs then carry literal values instead of pseudo parameters.
    monkeypatch.setenv("CDK_DEFAULT_ACCOUNT", "123456789012")
    monkeypatch.setenv("CDK_DEFAULT_REGION", "eu-west-1")
    app, stack = build_app(outdir=str(tmp_path), nag=True)
    assert stack.region == "eu-west-1"
    app.synth()


def test_cdk_nag_fails_synth_when_a_finding_is_not_acknowledged(tmp_path, monkeypatch):
    import infra.nag

    monkeypatch.setattr(infra.nag, "STACK_ACKNOWLEDGEMENTS", {})
    app, _ = build_app(outdir=str(tmp_path), nag=True)
    with pytest.raises(RuntimeError, match=r"(?s)ValidationFailed.*AwsSolutions-S1"):
        app.synth()


def test_cfn_lint_finds_nothing_in_the_synthesized_template(tmp_path):
    import subprocess
    import sys

    app, _ = build_app(outdir=str(tmp_path), nag=True)
    app.synth()
    # W3005 (redundant DependsOn) is how CDK orders roles before functions; harmless.
    from pathlib import Path

    cfn_lint = str(Path(sys.executable).parent / "cfn-lint")
    out = subprocess.run(
        [cfn_lint, "--ignore-checks", "W3005", "--", str(tmp_path / "CloudSage.template.json")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 0, out.stdout + out.stderr


def test_api_iam_auth_throttled_logged_traced(template):
    methods = template.find_resources("AWS::ApiGateway::Method")
    assert methods and all(m["Properties"]["AuthorizationType"] == "AWS_IAM" for m in methods.values())
    assert all("RequestValidatorId" in m["Properties"] for m in methods.values())
    stage = next(iter(template.find_resources("AWS::ApiGateway::Stage").values()))["Properties"]
    assert stage["TracingEnabled"] is True
    assert "DestinationArn" in stage["AccessLogSetting"]
    settings = stage["MethodSettings"][0]
    assert settings["ThrottlingRateLimit"] == 50 and settings["ThrottlingBurstLimit"] == 100


def test_dashboard_shows_insights_by_severity_from_the_aggregate_metrics(template):
    body = json.dumps(next(iter(template.find_resources("AWS::CloudWatch::Dashboard").values()))["Properties"])
    for name in ("InsightsCritical", "InsightsHigh", "InsightsMedium", "InsightsLow", "InsightsInfo"):
        assert name in body


def _role_actions(template: Template) -> dict[str, set[str]]:
    """Actions of each role's inline policies, by role logical id."""
    out: dict[str, set[str]] = {}
    for policy in template.find_resources("AWS::IAM::Policy").values():
        props = policy["Properties"]
        for role in props.get("Roles", []):
            for stmt in props["PolicyDocument"]["Statement"]:
                actions = stmt["Action"] if isinstance(stmt["Action"], list) else [stmt["Action"]]
                out.setdefault(role["Ref"], set()).update(actions)
    return out


@pytest.mark.parametrize("source", ["live", "snapshot"])
def test_only_price_aware_models_may_call_the_price_list_api(source):
    _, stack = build_app(context={"price_source": source})
    template = Template.from_stack(stack)
    priced = {s.function_id for s in MODEL_SPECS if s.uses_prices}
    callers = set()
    for logical, props in _functions(template).items():
        actions = _role_actions(template).get(props["Role"]["Fn::GetAtt"][0], set())
        if "pricing:GetProducts" in actions:
            callers.add(logical)
        env = props["Environment"]["Variables"]
        assert ("PRICE_SOURCE" in env) == any(f in logical for f in priced), logical
        if "PRICE_SOURCE" in env:
            assert env["PRICE_SOURCE"] == source
    assert priced and {c for c in callers if not any(f in c for f in priced)} == set()
    assert bool(callers) == (source == "live")
