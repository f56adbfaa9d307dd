"""PipelineFunctions: the collect, aggregate and publish functions, plus one function per registered model.

Model functions are created by looping over ``MODEL_SPECS``; adding a model adds a function here without
touching this file. Every function gets its own role, built from grants (no hand-written wildcards).
"""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from constructs import Construct

from cloudsage.core.registry import MODEL_SPECS, ModelSpec, get_spec
from infra.settings import LAMBDA_CODE_DIR, SERVICE_NAME, InfraSettings

RUNTIME = lambda_.Runtime.PYTHON_3_14
ARCHITECTURES = {"arm64": lambda_.Architecture.ARM_64, "x86_64": lambda_.Architecture.X86_64}
# "**/*.so": a kernel built for the developer's machine (make native); the layer carries the Lambda architecture's
CODE_EXCLUDES = ["**/__pycache__", "**/*.pyc", "*.egg-info", "**/tests", "**/*.so"]


class PipelineFunctions(Construct):
    """All Lambda functions of the analysis workflow.

    Attributes
    ----------
    plan, collect, aggregate, publish : aws_lambda.Function
    models : dict of str to aws_lambda.Function
        One per ``MODEL_SPECS`` entry, keyed by model name.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: InfraSettings,
        bucket: s3.IBucket,
        table: dynamodb.ITable,
        topic: sns.ITopic,
    ) -> None:
        super().__init__(scope, construct_id)
        self._code = lambda_.Code.from_asset(str(LAMBDA_CODE_DIR), exclude=CODE_EXCLUDES)
        self._settings = settings
        self._architecture = ARCHITECTURES[settings.architecture]  # the layer must be built for the same one
        self._retention = retention(settings.log_retention_days)
        self.logs_key = logs_key(self)
        self.layer = lambda_.LayerVersion(
            self,
            "ScienceLayer",
            code=lambda_.Code.from_asset(settings.layer_dir),
            compatible_runtimes=[RUNTIME],
            compatible_architectures=[self._architecture],
            description="numpy, scipy, scikit-learn, powertools, pydantic for CloudSage",
        )

        self.plan = self._function(
            "Plan",
            "cloudsage.handlers.plan.lambda_handler",
            {"BUCKET_NAME": bucket.bucket_name, "LOOKBACK_DAYS": str(settings.lookback_days)},
            memory_mb=256,
            timeout_s=120,
        )
        self._objects(self.plan, bucket, "s3:GetObject", "s3:PutObject")
        self.plan.add_to_role_policy(
            # Discovery by tag: the Tagging API supports no resource-level permissions.
            iam.PolicyStatement(actions=["tag:GetResources"], resources=["*"])
        )

        self.collect = self._function(
            "Collect",
            "cloudsage.handlers.collect.lambda_handler",
            {"BUCKET_NAME": bucket.bucket_name},
            memory_mb=512,
            timeout_s=300,
        )
        self._objects(self.collect, bucket, "s3:GetObject", "s3:PutObject")
        self.collect.add_to_role_policy(
            # GetMetricData supports no resource-level permissions: "*" is the only valid resource.
            iam.PolicyStatement(actions=["cloudwatch:GetMetricData"], resources=["*"])
        )

        self.models: dict[str, lambda_.Function] = {}
        for spec in MODEL_SPECS:
            fn = self._model_function(spec, bucket)
            self.models[spec.name] = fn

        self.aggregate = self._function(
            "Aggregate",
            "cloudsage.handlers.aggregate.lambda_handler",
            {
                "BUCKET_NAME": bucket.bucket_name,
                "TABLE_NAME": table.table_name,
                "RESOLVE_AFTER_RUNS": str(settings.resolve_after_runs),
            },
            memory_mb=512,
            timeout_s=120,
        )
        self._objects(self.aggregate, bucket, "s3:GetObject", "s3:PutObject")
        self._items(self.aggregate, table, "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem")
        self._index_query(self.aggregate, table, "by_resource")  # the lifecycle: a resource's open insights

        self.publish = self._function(
            "Publish",
            "cloudsage.handlers.publish.lambda_handler",
            {
                "BUCKET_NAME": bucket.bucket_name,
                "TABLE_NAME": table.table_name,
                "TOPIC_ARN": topic.topic_arn,
                "MIN_ALERT_SEVERITY": settings.min_alert_severity,
                "ALERT_COOLDOWN_MINUTES": str(settings.alert_cooldown_minutes),
            },
            memory_mb=256,
            timeout_s=60,
        )
        self._objects(self.publish, bucket, "s3:GetObject")
        self._items(self.publish, table, "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem")
        self._index_query(self.publish, table, "by_pending")  # alerts SNS has not accepted yet
        topic.grant_publish(self.publish)

    def all(self) -> list[lambda_.Function]:
        """Every function of the workflow."""
        return list(self.by_name().values())

    def by_name(self) -> dict[str, lambda_.Function]:
        """Every function of the workflow by a short name (``Collect``, ``ModelAnomaly``...)."""
        named = {"Plan": self.plan, "Collect": self.collect, "Aggregate": self.aggregate, "Publish": self.publish}
        named.update({get_spec(m).function_id: fn for m, fn in self.models.items()})
        return named

    def _model_function(self, spec: ModelSpec, bucket: s3.IBucket) -> lambda_.Function:
        env = {"BUCKET_NAME": bucket.bucket_name, "MODEL_NAME": spec.name}
        if spec.uses_prices:
            env["PRICE_SOURCE"] = self._settings.price_source
        fn = self._function(spec.function_id, spec.handler, env, memory_mb=spec.memory_mb, timeout_s=spec.timeout_s)
        self._objects(fn, bucket, "s3:GetObject", "s3:PutObject")
        if spec.uses_prices and self._settings.price_source == "live":
            # The weekly live price refresh, shared by every container through prices/ in the bucket.
            fn.add_to_role_policy(
                iam.PolicyStatement(
                    actions=["s3:GetObject", "s3:PutObject"], resources=[bucket.arn_for_objects("prices/*")]
                )
            )
            fn.add_to_role_policy(
                # The Price List Query API supports no resource-level permissions.
                iam.PolicyStatement(actions=["pricing:GetProducts"], resources=["*"])
            )
        return fn

    @staticmethod
    def _objects(fn: lambda_.Function, bucket: s3.IBucket, *actions: str) -> None:
        """Object access under ``runs/`` only (no bucket listing, no delete)."""
        fn.add_to_role_policy(iam.PolicyStatement(actions=list(actions), resources=[bucket.arn_for_objects("runs/*")]))

    @staticmethod
    def _index_query(fn: lambda_.Function, table: dynamodb.ITable, index: str) -> None:
        """Query on one named index of the table."""
        fn.add_to_role_policy(
            iam.PolicyStatement(actions=["dynamodb:Query"], resources=[f"{table.table_arn}/index/{index}"])
        )

    @staticmethod
    def _items(fn: lambda_.Function, table: dynamodb.ITable, *actions: str) -> None:
        """Item access on the table itself (no scans, no index queries, no deletes)."""
        fn.add_to_role_policy(iam.PolicyStatement(actions=list(actions), resources=[table.table_arn]))
        if table.encryption_key is not None:  # items are encrypted with the table's customer-managed key
            table.encryption_key.grant(fn, "kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:DescribeKey")

    def make_function(
        self, construct_id: str, handler: str, env: dict[str, str], *, memory_mb: int, timeout_s: int
    ) -> lambda_.Function:
        """A function like the workflow's (runtime, layer, role, logs, tracing), for other constructs."""
        return self._function(construct_id, handler, env, memory_mb=memory_mb, timeout_s=timeout_s)

    def _function(
        self, construct_id: str, handler: str, env: dict[str, str], *, memory_mb: int, timeout_s: int
    ) -> lambda_.Function:
        log_group = logs.LogGroup(self, f"{construct_id}Logs", retention=self._retention, encryption_key=self.logs_key)
        # One role per function, without the AWSLambdaBasicExecutionRole managed policy: write to its own
        # log group only.
        role = iam.Role(self, f"{construct_id}Role", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))
        log_group.grant_write(role)
        return lambda_.Function(
            self,
            construct_id,
            runtime=RUNTIME,
            architecture=self._architecture,
            handler=handler,
            code=self._code,
            layers=[self.layer],
            memory_size=memory_mb,
            timeout=Duration.seconds(timeout_s),
            environment={
                **env,
                "POWERTOOLS_SERVICE_NAME": SERVICE_NAME,
                "POWERTOOLS_METRICS_NAMESPACE": "CloudSage",
                # One BLAS thread: the models' matrices are small, and idle OpenBLAS threads spin (billed CPU).
                "OPENBLAS_NUM_THREADS": "1",
            },
            tracing=lambda_.Tracing.ACTIVE,
            log_group=log_group,
            role=role,
        )


def logs_key(scope: Construct) -> kms.Key:
    """A KMS key CloudWatch Logs in this region may use to encrypt the stack's log groups."""
    key = kms.Key(
        scope,
        "LogsKey",
        enable_key_rotation=True,
        description="CloudSage log groups",
        removal_policy=RemovalPolicy.RETAIN,
    )
    key.grant_encrypt_decrypt(iam.ServicePrincipal(f"logs.{Stack.of(scope).region}.amazonaws.com"))
    return key


_RETENTION = [
    (1, logs.RetentionDays.ONE_DAY),
    (3, logs.RetentionDays.THREE_DAYS),
    (5, logs.RetentionDays.FIVE_DAYS),
    (7, logs.RetentionDays.ONE_WEEK),
    (14, logs.RetentionDays.TWO_WEEKS),
    (30, logs.RetentionDays.ONE_MONTH),
    (60, logs.RetentionDays.TWO_MONTHS),
    (90, logs.RetentionDays.THREE_MONTHS),
    (180, logs.RetentionDays.SIX_MONTHS),
    (365, logs.RetentionDays.ONE_YEAR),
    (731, logs.RetentionDays.TWO_YEARS),
]


def retention(days: int) -> logs.RetentionDays:
    """The nearest CloudWatch Logs retention at or above ``days`` (at most two years)."""
    return next((r for d, r in _RETENTION if d >= days), _RETENTION[-1][1])
