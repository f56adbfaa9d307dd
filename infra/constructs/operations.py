"""Operations: a CloudWatch dashboard and alarms (to the operations topic) for the analysis workflow."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

NAMESPACE = "CloudSage"
SERVICE = "cloudsage"


class Operations(Construct):
    """Dashboard: runs, failures, duration, insights and alerts, per-function errors/throttles/duration.
    Alarms: failed or timed-out runs, any function error or throttle, messages in the scheduler's DLQ."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        state_machine: sfn.StateMachine,
        functions: dict[str, lambda_.Function],
        ops_topic: sns.ITopic,
        dead_letter_queue: sqs.IQueue,
    ) -> None:
        super().__init__(scope, construct_id)
        action = cw_actions.SnsAction(ops_topic)
        self.alarms: list[cw.Alarm] = []

        def alarm(name: str, metric: cw.IMetric, threshold: float = 1) -> cw.Alarm:
            a = cw.Alarm(
                self,
                name,
                metric=metric,
                threshold=threshold,
                evaluation_periods=1,
                comparison_operator=cw.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
            )
            a.add_alarm_action(action)
            self.alarms.append(a)
            return a

        alarm("RunsFailed", state_machine.metric_failed(period=Duration.minutes(5)))
        alarm("RunsTimedOut", state_machine.metric_timed_out(period=Duration.minutes(5)))
        alarm("ScheduleDeadLetters", dead_letter_queue.metric_approximate_number_of_messages_visible())
        for name, fn in functions.items():
            alarm(f"{name}Errors", fn.metric_errors(period=Duration.minutes(5)))
            alarm(f"{name}Throttles", fn.metric_throttles(period=Duration.minutes(5)))

        def app_metric(name: str) -> cw.Metric:
            return cw.Metric(
                namespace=NAMESPACE,
                metric_name=name,
                dimensions_map={"service": SERVICE},
                statistic="Sum",
                period=Duration.hours(1),
            )

        self.dashboard = cw.Dashboard(self, "Dashboard", default_interval=Duration.days(7))
        self.dashboard.add_widgets(
            cw.GraphWidget(
                title="Analysis runs",
                left=[state_machine.metric_started(), state_machine.metric_succeeded(), state_machine.metric_failed()],
                width=8,
            ),
            cw.GraphWidget(title="Run duration (ms)", left=[state_machine.metric_time()], width=8),
            cw.GraphWidget(
                title="Insights by severity, alerts, model failures",
                left=[app_metric(f"Insights{sev}") for sev in ("Critical", "High", "Medium", "Low", "Info")],
                right=[app_metric("AlertsPublished"), app_metric("ModelFailures")],
                width=8,
            ),
        )
        self.dashboard.add_widgets(
            cw.GraphWidget(title="Function errors", left=[f.metric_errors() for f in functions.values()], width=8),
            cw.GraphWidget(
                title="Function throttles", left=[f.metric_throttles() for f in functions.values()], width=8
            ),
            cw.GraphWidget(
                title="Function duration p95 (ms)",
                left=[f.metric_duration(statistic="p95") for f in functions.values()],
                width=8,
            ),
        )
