"""InsightsApi: the REST API (IAM-authorised) in front of the Powertools resolver in ``cloudsage.handlers.api``."""

from __future__ import annotations

from collections.abc import Callable

from aws_cdk import Duration
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

API_HANDLER = "cloudsage.handlers.api.lambda_handler"


class InsightsApi(Construct):
    """API Gateway REST API: IAM auth on every method, request validation, throttling, access logs, tracing.

    Routing and body validation happen in the function (Powertools ``APIGatewayRestResolver`` with pydantic),
    which returns 4xx bodies naming the field; API Gateway validates what it can see before the call.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        make_function: Callable[..., lambda_.Function],
        table: dynamodb.ITable,
        logs_key: kms.IKey,
        retention: logs.RetentionDays,
        rate_limit: int = 50,
        burst_limit: int = 100,
    ) -> None:
        super().__init__(scope, construct_id)
        self.function = make_function(
            "Api", API_HANDLER, {"TABLE_NAME": table.table_name}, memory_mb=1024, timeout_s=29
        )
        self.function.add_to_role_policy(
            iam.PolicyStatement(
                actions=["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query"],
                resources=[table.table_arn, f"{table.table_arn}/index/*"],
            )
        )
        if table.encryption_key is not None:
            table.encryption_key.grant(
                self.function, "kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:DescribeKey"
            )

        access_logs = logs.LogGroup(self, "AccessLogs", retention=retention, encryption_key=logs_key)
        self.api = apigw.RestApi(
            self,
            "RestApi",
            description="CloudSage insights API",
            cloud_watch_role=True,
            deploy_options=apigw.StageOptions(
                stage_name="v1",
                throttling_rate_limit=rate_limit,
                throttling_burst_limit=burst_limit,
                tracing_enabled=True,
                logging_level=apigw.MethodLoggingLevel.ERROR,
                data_trace_enabled=False,
                access_log_destination=apigw.LogGroupLogDestination(access_logs),
                access_log_format=apigw.AccessLogFormat.json_with_standard_fields(
                    caller=True,
                    http_method=True,
                    ip=True,
                    protocol=True,
                    request_time=True,
                    resource_path=True,
                    response_length=True,
                    status=True,
                    user=True,
                ),
            ),
            default_method_options=apigw.MethodOptions(authorization_type=apigw.AuthorizationType.IAM),
            endpoint_types=[apigw.EndpointType.REGIONAL],
        )
        validator = self.api.add_request_validator(
            "Validator", validate_request_body=True, validate_request_parameters=True
        )
        integration = apigw.LambdaIntegration(self.function, proxy=True, timeout=Duration.seconds(29))
        options = {"request_validator": validator}
        self.api.root.add_method("ANY", integration, **options)
        self.api.root.add_resource("{proxy+}").add_method("ANY", integration, **options)

    @property
    def url(self) -> str:
        return self.api.url

    def grant_invoke(self, principal: iam.IGrantable) -> iam.Grant:
        """Allow ``principal`` to call the API (IAM auth)."""
        return iam.Grant.add_to_principal(
            grantee=principal,
            actions=["execute-api:Invoke"],
            resource_arns=[self.api.arn_for_execute_api()],
        )
