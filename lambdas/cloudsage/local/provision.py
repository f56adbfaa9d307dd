"""Provision, in the local emulator, what the CDK app defines, read from the synthesized template.

The table, bucket, topic, functions (handler, environment, memory, timeout) and the state machine definition
all come from the template the CDK app synthesizes; CloudFormation intrinsics (``Ref``, ``Fn::GetAtt``,
``Fn::Join``, ``Fn::Sub``) are resolved to the local names and ARNs. So the local run exercises exactly the
orchestration AWS runs. The only local addition is an SQS queue subscribed to the alert topic, so alerts
can be read back and shown.
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from dataclasses import dataclass, field
from typing import Any

from cloudsage.adapters.aws import client as aws_client
from cloudsage.local.emulator import LOCAL_ACCOUNT

SUPPORTED = (
    "AWS::DynamoDB::Table",
    "AWS::S3::Bucket",
    "AWS::SNS::Topic",
    "AWS::Lambda::Function",
    "AWS::StepFunctions::StateMachine",
)
# Defined by the app but not needed to run an analysis locally (and not all emulated by moto): the schedule, its
# dead-letter queue, KMS keys, alarms, dashboard, email subscriptions, IAM policies, log groups.


class ProvisionError(RuntimeError):
    """The template could not be provisioned locally (names the resource)."""


def synthesize_template(context: dict[str, Any] | None = None) -> dict[str, Any]:
    """Synthesize the CDK app in-process and return the stack's CloudFormation template."""
    import os

    os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
    os.environ.setdefault("CDK_VALIDATION", "false")
    from aws_cdk.assertions import Template

    _ensure_infra_importable()
    from infra.app import build_app

    _, stack = build_app(context=context)
    return dict(Template.from_stack(stack).to_json())


def _ensure_infra_importable() -> None:
    """``infra/`` is not part of the installed package: find it in the checkout the package lives in."""
    import importlib.util
    import sys
    from pathlib import Path

    if importlib.util.find_spec("infra") is not None:
        return
    root = Path(__file__).resolve().parents[3]
    if not (root / "infra" / "app.py").is_file():
        raise ProvisionError(f"the CDK app (infra/app.py) was not found next to the package in {root}")
    sys.path.insert(0, str(root))


@dataclass
class LocalStack:
    """Names and ARNs of what was provisioned."""

    region: str
    table_name: str = ""
    bucket_name: str = ""
    topic_arn: str = ""
    queue_url: str = ""
    state_machine_arn: str = ""
    functions: dict[str, str] = field(default_factory=dict)  # logical id -> function name
    definition_changes: list[str] = field(default_factory=list)  # what localize_definition had to change
    physical: dict[str, dict[str, str]] = field(default_factory=dict)  # logical id -> {"Ref", "Arn", ...}


def _local_name(logical_id: str) -> str:
    return ("cloudsage-" + re.sub(r"[^A-Za-z0-9-]", "", logical_id)).lower()[:63]


def resolve(node: Any, physical: dict[str, dict[str, str]], region: str) -> Any:
    """Resolve the CloudFormation intrinsics CDK emits to local values."""
    if isinstance(node, list):
        return [resolve(n, physical, region) for n in node]
    if not isinstance(node, dict):
        return node
    if len(node) == 1:
        ((key, arg),) = node.items()
        if key == "Ref":
            pseudo = {
                "AWS::Region": region,
                "AWS::AccountId": LOCAL_ACCOUNT,
                "AWS::Partition": "aws",
                "AWS::URLSuffix": "amazonaws.com",
                "AWS::StackName": "CloudSage",
            }
            if arg in pseudo:
                return pseudo[arg]
            return _lookup(physical, arg, "Ref")
        if key == "Fn::GetAtt":
            logical, attr = arg if isinstance(arg, list) else arg.split(".", 1)
            return _lookup(physical, logical, attr)
        if key == "Fn::Join":
            sep, parts = arg
            return sep.join(str(resolve(p, physical, region)) for p in parts)
        if key == "Fn::Sub":
            template, variables = (arg, {}) if isinstance(arg, str) else arg
            values = {k: resolve(v, physical, region) for k, v in variables.items()}

            def sub(m: re.Match[str]) -> str:
                name = m.group(1)
                if name in values:
                    return str(values[name])
                logical, _, attr = name.partition(".")
                return str(resolve({"Fn::GetAtt": [logical, attr]} if attr else {"Ref": logical}, physical, region))

            return re.sub(r"\$\{([^}]+)\}", sub, template)
    return {k: resolve(v, physical, region) for k, v in node.items()}


def _lookup(physical: dict[str, dict[str, str]], logical: str, attr: str) -> str:
    try:
        return physical[logical][attr]
    except KeyError:
        raise ProvisionError(f"template refers to {logical}.{attr}, which is not provisioned locally") from None


def _placeholder(logical: str, rtype: str, region: str) -> dict[str, str]:
    """Stand-in names for resources the local run does not emulate (API Gateway, KMS, alarms ...): values that
    may appear in a function's environment (e.g. the API URL in alert emails) but are never called locally."""
    name = _local_name(logical)
    service = rtype.split("::")[1].lower() if rtype.count("::") == 2 else "local"
    arn = f"arn:aws:{service}:{region}:{LOCAL_ACCOUNT}:{name}"
    return {"Ref": name, "Arn": arn, "RootResourceId": name, "KeyId": name, "QueueUrl": name, "QueueName": name}


# Fields of a Distributed Map that moto's Step Functions interpreter cannot parse; nothing else is changed.
UNSUPPORTED_MAP_FIELDS = (
    "ToleratedFailurePercentage",
    "ToleratedFailureCount",
    "ToleratedFailurePercentagePath",
    "ToleratedFailureCountPath",
    "Label",
)


LOCAL_ENV: dict[str, tuple[str, str]] = {
    "PRICE_SOURCE": ("snapshot", "moto has no Price List Query API"),
}
"""Function environment values the local run replaces, with the reason (reported like definition changes)."""


def localize_definition(definition: dict[str, Any]) -> tuple[str, list[str]]:
    """The synthesized definition, minus what the local interpreter cannot run; returns it and what changed.

    Every state, transition, retry and catch stays as synthesized. Only what moto 5.2's parser rejects changes:
    Distributed Map fields in ``UNSUPPORTED_MAP_FIELDS`` are dropped (tolerating some failed batches only
    matters when a batch fails, which the local run reports as a failure instead), and Express child executions
    run as Standard ones (same states; only billing and history retention differ on AWS).
    """
    changes: list[str] = []

    def walk(states: dict[str, Any]) -> None:
        for name, state in states.items():
            if state.get("Type") == "Map":
                for f in UNSUPPORTED_MAP_FIELDS:
                    if f in state:
                        changes.append(f"{name}: dropped {f}={state.pop(f)!r}")
                processor = state.get("ItemProcessor") or state.get("Iterator") or {}
                config = processor.get("ProcessorConfig", {})
                if config.get("ExecutionType") == "EXPRESS":  # moto 5.2 parses only STANDARD child executions
                    config["ExecutionType"] = "STANDARD"
                    changes.append(f"{name}: child ExecutionType EXPRESS -> STANDARD")
                walk(processor.get("States", {}))
            if state.get("Type") == "Parallel":
                for branch in state.get("Branches", []):
                    walk(branch.get("States", {}))

    walk(definition.get("States", {}))
    return json.dumps(definition), changes


def _zip_stub() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("README.txt", "Code runs in-process from the cloudsage package (see cloudsage.local.emulator).")
    return buf.getvalue()


def provision(template: dict[str, Any], region: str) -> LocalStack:
    """Create the template's table, bucket, topic, functions and state machine in the emulator."""
    resources: dict[str, dict[str, Any]] = template["Resources"]
    stack = LocalStack(region=region)
    physical = stack.physical
    by_type: dict[str, list[str]] = {}
    for logical, res in resources.items():
        by_type.setdefault(res["Type"], []).append(logical)

    # Roles and policies are not enforced by moto; one role stands in for every function and the workflow.
    iam = aws_client("iam")
    role_arn = iam.create_role(
        RoleName="cloudsage-local",
        AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []}),
    )["Role"]["Arn"]
    for logical in by_type.get("AWS::IAM::Role", []):
        physical[logical] = {"Ref": "cloudsage-local", "Arn": role_arn}

    for logical in by_type.get("AWS::Lambda::LayerVersion", []):
        physical[logical] = {"Ref": f"arn:aws:lambda:{region}:{LOCAL_ACCOUNT}:layer:{_local_name(logical)}:1"}
    for logical in by_type.get("AWS::Logs::LogGroup", []):
        physical[logical] = {"Ref": _local_name(logical), "Arn": f"arn:aws:logs:{region}:{LOCAL_ACCOUNT}:log-group:x"}

    for logical, res in resources.items():
        if res["Type"] not in SUPPORTED and logical not in physical:
            physical[logical] = _placeholder(logical, res["Type"], region)

    for logical in by_type.get("AWS::DynamoDB::Table", []):
        props = resources[logical]["Properties"]
        name = _local_name(logical)
        ddb = aws_client("dynamodb")
        ddb.create_table(
            TableName=name,
            KeySchema=props["KeySchema"],
            AttributeDefinitions=props["AttributeDefinitions"],
            GlobalSecondaryIndexes=[
                {k: v for k, v in g.items() if k in ("IndexName", "KeySchema", "Projection")}
                for g in props.get("GlobalSecondaryIndexes", [])
            ],
            BillingMode=props.get("BillingMode", "PAY_PER_REQUEST"),
        )
        ttl = props.get("TimeToLiveSpecification")
        if ttl:
            ddb.update_time_to_live(TableName=name, TimeToLiveSpecification=ttl)
        physical[logical] = {"Ref": name, "Arn": f"arn:aws:dynamodb:{region}:{LOCAL_ACCOUNT}:table/{name}"}
        stack.table_name = name

    for logical in by_type.get("AWS::S3::Bucket", []):
        name = _local_name(logical)
        aws_client("s3").create_bucket(Bucket=name)
        physical[logical] = {"Ref": name, "Arn": f"arn:aws:s3:::{name}"}
        stack.bucket_name = name

    for logical in by_type.get("AWS::SNS::Topic", []):
        arn = aws_client("sns").create_topic(Name=_local_name(logical))["TopicArn"]
        physical[logical] = {"Ref": arn, "TopicArn": arn, "TopicName": _local_name(logical)}

    lam = aws_client("lambda")
    code = _zip_stub()
    env_changes: list[str] = []
    for logical in by_type.get("AWS::Lambda::Function", []):
        props = resolve(resources[logical]["Properties"], physical, region)
        name = _local_name(logical)
        variables = props.setdefault("Environment", {}).setdefault("Variables", {})
        for var, (value, why) in LOCAL_ENV.items():
            if var in variables and variables[var] != value:
                env_changes.append(f"{logical}: {var} {variables[var]} -> {value} ({why})")
                variables[var] = value
        created = lam.create_function(
            FunctionName=name,
            Runtime=props["Runtime"],
            Role=role_arn,
            Handler=props["Handler"],
            Code={"ZipFile": code},
            Timeout=int(props.get("Timeout", 3)),
            MemorySize=int(props.get("MemorySize", 128)),
            Environment={"Variables": dict(props.get("Environment", {}).get("Variables", {}))},
            Architectures=props.get("Architectures", ["x86_64"]),
        )
        physical[logical] = {"Ref": name, "Arn": created["FunctionArn"]}
        stack.functions[logical] = name
        env = props.get("Environment", {}).get("Variables", {})
        stack.topic_arn = env.get("TOPIC_ARN", stack.topic_arn)  # the insight-alert topic, not the ops topic

    if stack.topic_arn:
        sqs = aws_client("sqs")
        queue_url = sqs.create_queue(QueueName="cloudsage-alerts-inbox")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        aws_client("sns").subscribe(TopicArn=stack.topic_arn, Protocol="sqs", Endpoint=queue_arn)
        stack.queue_url = queue_url

    sfn = aws_client("stepfunctions")
    for logical in by_type.get("AWS::StepFunctions::StateMachine", []):
        props = resources[logical]["Properties"]
        definition, changes = localize_definition(json.loads(resolve(props["DefinitionString"], physical, region)))
        stack.definition_changes = changes + env_changes
        arn = sfn.create_state_machine(
            name=_local_name(logical), definition=definition, roleArn=role_arn, type="STANDARD"
        )["stateMachineArn"]
        physical[logical] = {"Ref": arn, "Arn": arn, "Name": _local_name(logical)}
        stack.state_machine_arn = arn

    missing = [t for t in SUPPORTED if not by_type.get(t)]
    if missing:
        raise ProvisionError(f"template has no {missing}")
    return stack
