"""ScheduledActionWriter: write a CloudSage capacity plan as EC2 Auto Scaling scheduled actions (optional actuation).

Off by default: nothing is written unless the caller passes ``apply=True``. The dry run (the default) returns the
``PutScheduledUpdateGroupAction`` requests it would send and prints them, so an operator can review a plan before
letting CloudSage act. Each action sets ``DesiredCapacity`` (and raises ``MinSize`` to it for scale-outs, so that
target tracking, which stays in charge, cannot scale in below the forecast: "reactive as a floor" the other way
round), at the time the plan issues it (ahead of need by the warm-up). Times in the past are skipped: Auto Scaling
rejects them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cloudsage.adapters.aws import client as aws_client
from cloudsage.core.models.scaling import CapacityPlan, ScalingAction, recurring_schedule

ACTION_PREFIX = "cloudsage-"


@dataclass(frozen=True, slots=True)
class ScheduledAction:
    """One request for ``PutScheduledUpdateGroupAction``."""

    group: str
    name: str
    start_time: datetime
    desired: int
    min_size: int | None
    max_size: int | None
    recurrence: str | None = None  # cron (UTC) for recurring actions

    def to_request(self) -> dict[str, Any]:
        req: dict[str, Any] = {
            "AutoScalingGroupName": self.group,
            "ScheduledActionName": self.name,
            "DesiredCapacity": self.desired,
        }
        if self.recurrence:
            req["Recurrence"] = self.recurrence
            req["TimeZone"] = "Etc/UTC"
        else:
            req["StartTime"] = self.start_time
        if self.min_size is not None:
            req["MinSize"] = self.min_size
        if self.max_size is not None:
            req["MaxSize"] = self.max_size
        return req

    def describe(self) -> str:
        when = self.start_time.strftime("%Y-%m-%dT%H:%M:%SZ")
        bounds = f" min={self.min_size}" if self.min_size is not None else ""
        at = f"cron '{self.recurrence}' UTC" if self.recurrence else when
        return f"{self.group}: {self.name} at {at} desired={self.desired}{bounds}"


def scheduled_actions(group: str, plan: CapacityPlan, *, now: float | None = None) -> list[ScheduledAction]:
    """Turn a plan's scale-out / scale-in actions into scheduled-action requests (``maintain`` writes nothing).

    Scale-outs also raise ``MinSize`` to the target (a floor target tracking cannot undercut); scale-ins lower it
    back to the plan's minimum. Actions whose time is before ``now`` are dropped.
    """
    out: list[ScheduledAction] = []
    for a in plan.actions:
        if a.kind not in ("scale_out", "scale_in"):
            continue
        if now is not None and a.at <= now:
            continue
        out.append(_to_scheduled(group, a, plan))
    return out


def recurring_actions(group: str, plan: CapacityPlan) -> list[ScheduledAction]:
    """The plan's daily recurring changes (``recurring_schedule``) as daily cron scheduled actions."""
    out = []
    for a in recurring_schedule(plan):
        start = datetime.fromtimestamp(a.at, tz=UTC)
        kind = "scale-out" if a.target > a.previous else "scale-in"
        floor = a.target if kind == "scale-out" else plan.min_size
        name = f"{ACTION_PREFIX}daily-{kind}-{start.strftime('%H%M')}"
        out.append(ScheduledAction(group, name, start, a.target, floor, None, f"{start.minute} {start.hour} * * *"))
    return out


def _to_scheduled(group: str, a: ScalingAction, plan: CapacityPlan) -> ScheduledAction:
    start = datetime.fromtimestamp(a.at, tz=UTC)
    name = f"{ACTION_PREFIX}{a.kind.replace('_', '-')}-{start.strftime('%Y%m%dT%H%M')}"
    floor = a.target if a.kind == "scale_out" else plan.min_size
    return ScheduledAction(group, name, start, a.target, floor, None)


class ScheduledActionWriter:
    """Write (or, by default, only print) a plan as scheduled actions of one Auto Scaling group.

    Parameters
    ----------
    autoscaling_client : object, optional
        A boto3 ``autoscaling`` client; created lazily (after moto or the local emulator took over) when omitted.
    printer : callable, default=print
        Where the dry run writes its lines.
    """

    def __init__(self, autoscaling_client: Any | None = None, *, printer: Callable[[str], None] = print) -> None:
        self._client = autoscaling_client
        self._print = printer

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = aws_client("autoscaling")
        return self._client

    def write(
        self,
        group: str,
        plan: CapacityPlan,
        *,
        apply: bool = False,
        now: float | None = None,
        recurring: bool = False,
    ) -> Sequence[ScheduledAction]:
        """Write the plan's actions, or print them when ``apply`` is false (the default: a dry run).

        With ``recurring``, the changes the plan repeats every day are written once as daily cron actions instead.

        Returns
        -------
        list of ScheduledAction
            What was (or would be) written, oldest first.
        """
        actions = recurring_actions(group, plan) if recurring else scheduled_actions(group, plan, now=now)
        for act in actions:
            if apply:
                self.client.put_scheduled_update_group_action(**act.to_request())
            else:
                self._print(f"[dry run] {act.describe()}")
        return actions

    def group_bounds(self, group: str) -> dict[str, int]:
        """The group's ``MinSize`` and ``MaxSize`` as Auto Scaling has them, as ``min_size``/``max_size`` (empty when
        there is no such group). A plan must stay inside them: Auto Scaling rejects a desired size outside."""
        groups = self.client.describe_auto_scaling_groups(AutoScalingGroupNames=[group]).get("AutoScalingGroups", [])
        if not groups:
            return {}
        return {"min_size": int(groups[0]["MinSize"]), "max_size": int(groups[0]["MaxSize"])}

    def clear(self, group: str) -> int:
        """Delete the CloudSage-written scheduled actions of ``group`` (before writing a fresh plan)."""
        names: list[str] = []
        paginator = self.client.get_paginator("describe_scheduled_actions")
        for page in paginator.paginate(AutoScalingGroupName=group):
            names += [
                s["ScheduledActionName"]
                for s in page.get("ScheduledUpdateGroupActions", [])
                if s["ScheduledActionName"].startswith(ACTION_PREFIX)
            ]
        for name in names:
            self.client.delete_scheduled_action(AutoScalingGroupName=group, ScheduledActionName=name)
        return len(names)
