"""AnalysisWorkflow: the Step Functions state machine of one analysis run.

Plan -> Distributed Map over batches -> per batch: Collect -> Map over resources (one Parallel per resource,
one branch per registered model, each with its own Catch so a failing model yields a partial result) ->
Aggregate -> Publish. Only S3 keys travel between states (the payload limit is 256 KB).
"""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from cloudsage.core.registry import MODEL_SPECS
from infra.settings import STATE_MACHINE_ID

# Errors a model raises on purpose: no retry, straight to the branch's Catch.
MODEL_DOMAIN_ERRORS = ["InsufficientDataError", "InvalidSeriesError", "InputValidationError"]


class AnalysisWorkflow(Construct):
    """The analysis state machine (exposed as ``.state_machine``).

    Plan -> Distributed Map over batches of resources (one child execution per batch): Collect -> Map over the
    batch's resources (Parallel, one branch per model, each with its own Catch) -> Aggregate -> Publish.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        plan: lambda_.IFunction,
        collect: lambda_.IFunction,
        models: dict[str, lambda_.IFunction],
        aggregate: lambda_.IFunction,
        publish: lambda_.IFunction,
        max_concurrency: int,
        resource_concurrency: int = 10,
        tolerated_failure_percentage: int = 10,
        log_retention: logs.RetentionDays = logs.RetentionDays.ONE_MONTH,
        logs_key: kms.IKey | None = None,
    ) -> None:
        super().__init__(scope, construct_id)

        # The plan replaces the execution input: only keys and counts travel on (the input may be large).
        plan_step = self._invoke("Plan", plan, None, result_path="$")

        # --- one batch (a child execution of the Distributed Map)
        collect_step = self._invoke(
            "Collect",
            collect,
            sfn.TaskInput.from_object(
                {
                    "run_id.$": "$.run_id",
                    "batch_key.$": "$.batch_key",
                    "window_start.$": "$.window_start",
                    "window_end.$": "$.window_end",
                    "period.$": "$.period",
                }
            ),
            result_path="$.collected",
        )
        per_resource = sfn.Parallel(self, "RunModels")
        for spec in MODEL_SPECS:
            per_resource.branch(self._model_branch(spec.name, spec.state_name, models[spec.name]))
        analyze = sfn.Map(
            self,
            "AnalyzeResources",
            items_path="$.collected.items",
            item_selector={
                "run_id.$": "$.collected.run_id",
                "resource_id.$": "$$.Map.Item.Value.resource_id",
                "snapshot_key.$": "$$.Map.Item.Value.snapshot_key",
            },
            max_concurrency=resource_concurrency,
            result_path="$.analysis",
        )
        analyze.item_processor(per_resource)
        aggregate_step = self._invoke(
            "Aggregate",
            aggregate,
            sfn.TaskInput.from_object(
                {"run_id.$": "$.collected.run_id", "results.$": "$.analysis", "skipped.$": "$.collected.skipped"}
            ),
            result_path="$.aggregated",
        )
        publish_step = self._invoke(
            "Publish",
            publish,
            sfn.TaskInput.from_object({"run_id.$": "$.aggregated.run_id", "summary_key.$": "$.aggregated.summary_key"}),
            result_path="$.published",
        )
        batch_done = sfn.Pass(
            self,
            "BatchDone",
            parameters={
                "summary_key.$": "$.aggregated.summary_key",
                "insights.$": "$.aggregated.insight_count",
                "new_insights.$": "$.aggregated.new_count",
                "failed_models.$": "$.aggregated.failed_models",
                "alerts.$": "$.published.published",
            },
        )
        batch = collect_step.next(analyze).next(aggregate_step).next(publish_step).next(batch_done)

        # --- the fleet
        batches = sfn.DistributedMap(
            self,
            "AnalyzeBatches",
            items_path="$.batches",
            item_selector={
                "run_id.$": "$.run_id",
                "batch_key.$": "$$.Map.Item.Value.batch_key",
                "window_start.$": "$.window_start",
                "window_end.$": "$.window_end",
                "period.$": "$.period",
            },
            max_concurrency=max_concurrency,
            tolerated_failure_percentage=tolerated_failure_percentage,
            # Children are Express workflows: billed by duration, not per transition (the per-resource states
            # would cost ~13 Standard transitions each; see docs/benchmarks.md, bench-scale). A batch must finish
            # within Express's 5 minutes: 50 resources take seconds.
            map_execution_type=sfn.StateMachineType.EXPRESS,
            result_path="$.results",
        )
        batches.item_processor(batch)
        done = sfn.Pass(
            self,
            "Done",
            parameters={"run_id.$": "$.run_id", "resources.$": "$.resources", "batches.$": "$.results"},
        )
        chain = plan_step.next(batches).next(done)
        self.state_machine = sfn.StateMachine(
            scope,
            STATE_MACHINE_ID,
            definition_body=sfn.DefinitionBody.from_chainable(chain),
            state_machine_type=sfn.StateMachineType.STANDARD,
            timeout=Duration.hours(1),
            tracing_enabled=True,
            logs=sfn.LogOptions(
                destination=logs.LogGroup(self, "ExecutionLogs", retention=log_retention, encryption_key=logs_key),
                level=sfn.LogLevel.ALL,
                include_execution_data=False,
            ),
        )

    def _invoke(
        self, name: str, fn: lambda_.IFunction, payload: sfn.TaskInput | None, *, result_path: str
    ) -> tasks.LambdaInvoke:
        task = tasks.LambdaInvoke(
            self,
            name,
            lambda_function=fn,
            payload=payload,
            payload_response_only=True,
            result_path=result_path,
            retry_on_service_exceptions=False,
        )
        task.add_retry(
            errors=[
                "Lambda.ServiceException",
                "Lambda.AWSLambdaException",
                "Lambda.SdkClientException",
                "Lambda.TooManyRequestsException",
            ],
            interval=Duration.seconds(2),
            max_attempts=3,
            backoff_rate=2.0,
            jitter_strategy=sfn.JitterType.FULL,
        )
        return task

    def _model_branch(self, model: str, state_name: str, fn: lambda_.IFunction) -> sfn.IChainable:
        task = self._invoke(
            state_name,
            fn,
            sfn.TaskInput.from_object(
                {
                    "run_id.$": "$.run_id",
                    "resource_id.$": "$.resource_id",
                    "snapshot_key.$": "$.snapshot_key",
                    "model": model,
                }
            ),
            result_path="$",
        )
        failed = sfn.Pass(
            self,
            f"{state_name}-Failed",
            parameters={
                "model": model,
                "resource_id.$": "$.resource_id",
                "result_key": None,
                "insight_count": 0,
                "error.$": "$.error.Error",
                "cause.$": "$.error.Cause",
            },
        )
        task.add_catch(failed, errors=["States.ALL"], result_path="$.error")
        return task
