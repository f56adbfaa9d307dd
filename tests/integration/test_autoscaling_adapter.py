"""ScheduledActionWriter against moto: dry run by default, scheduled actions only when applied."""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from cloudsage.adapters.autoscaling import ScheduledActionWriter, scheduled_actions
from cloudsage.core.models.scaling import Forecast, plan_capacity

START = 1_924_992_000.0  # 2031-01-01T00:00:00Z: scheduled actions must lie in the future


def _plan() -> Any:
    # p90 load needs 2 instances, then 5 from 02:00 for two hours, then 2 again
    up = (150.0,) * 24 + (450.0,) * 24 + (150.0,) * 24
    mean = tuple(u * 0.8 for u in up)
    fc = Forecast(START, 300, mean, mean, up, mean, up, "daily", 0.9, 4032)
    return plan_capacity(fc, 100.0, 2, min_size=1, max_size=10, warmup_s=300.0, cooldown_s=900.0)


def _create_group(name: str, min_size: int, max_size: int, desired: int) -> str:
    """An Auto Scaling group in moto, launched from a launch template of its own."""
    ec2 = boto3.client("ec2")
    ami = ec2.describe_images()["Images"][0]["ImageId"]
    ec2.create_launch_template(
        LaunchTemplateName=f"{name}-lt", LaunchTemplateData={"ImageId": ami, "InstanceType": "t3.micro"}
    )
    boto3.client("autoscaling").create_auto_scaling_group(
        AutoScalingGroupName=name,
        LaunchTemplate={"LaunchTemplateName": f"{name}-lt"},
        MinSize=min_size,
        MaxSize=max_size,
        DesiredCapacity=desired,
        AvailabilityZones=["us-east-1a"],
    )
    return name


@pytest.fixture
def group(moto_aws: None) -> str:
    return _create_group("web-asg", 1, 10, 2)


def test_writer_default_is_dry_run_and_writes_nothing(group: str) -> None:
    # Given a plan with a scale out and a scale in
    lines: list[str] = []
    writer = ScheduledActionWriter(printer=lines.append)
    # When written without apply
    actions = writer.write(group, _plan())
    # Then it prints them and Auto Scaling has no scheduled action
    assert [a.desired for a in actions] == [5, 2]
    assert len(lines) == 2 and lines[0].startswith("[dry run] web-asg: cloudsage-scale-out-20310101T0155")
    resp = boto3.client("autoscaling").describe_scheduled_actions(AutoScalingGroupName=group)
    assert resp["ScheduledUpdateGroupActions"] == []


def test_writer_apply_writes_scheduled_actions_and_clear_removes_them(group: str) -> None:
    # Given the same plan / When applied
    writer = ScheduledActionWriter()
    writer.write(group, _plan(), apply=True)
    # Then Auto Scaling holds one scheduled action per change, scale-outs raising the minimum to the target
    got = boto3.client("autoscaling").describe_scheduled_actions(AutoScalingGroupName=group)
    acts = {a["ScheduledActionName"]: a for a in got["ScheduledUpdateGroupActions"]}
    assert set(acts) == {"cloudsage-scale-out-20310101T0155", "cloudsage-scale-in-20310101T0415"}
    out = acts["cloudsage-scale-out-20310101T0155"]
    assert (out["DesiredCapacity"], out["MinSize"]) == (5, 5)
    # When cleared / Then they are gone
    assert writer.clear(group) == 2
    assert (
        boto3.client("autoscaling").describe_scheduled_actions(AutoScalingGroupName=group)[
            "ScheduledUpdateGroupActions"
        ]
        == []
    )


def test_scheduled_actions_skip_times_in_the_past() -> None:
    # Given "now" after the scale out / Then only the scale in remains
    left = scheduled_actions("g", _plan(), now=START + 3 * 3600)
    assert [a.name for a in left] == ["cloudsage-scale-in-20310101T0415"]


def test_writer_recurring_writes_daily_cron_actions(group: str) -> None:
    # Given a two-day plan that scales out at 02:00 and back in at 04:15 on both days
    day = (150.0,) * 24 + (450.0,) * 24 + (150.0,) * 240
    up = day * 2
    mean = tuple(u * 0.8 for u in up)
    fc = Forecast(START, 300, mean, mean, up, mean, up, "daily", 0.9, 4032)
    plan = plan_capacity(fc, 100.0, 2, min_size=1, max_size=10, warmup_s=300.0, cooldown_s=900.0)
    # When written as recurring actions
    ScheduledActionWriter().write(group, plan, apply=True, recurring=True)
    # Then Auto Scaling holds two daily cron actions
    got = boto3.client("autoscaling").describe_scheduled_actions(AutoScalingGroupName=group)
    rec = {a["ScheduledActionName"]: a["Recurrence"] for a in got["ScheduledUpdateGroupActions"]}
    assert rec == {"cloudsage-daily-scale-out-0155": "55 1 * * *", "cloudsage-daily-scale-in-0415": "15 4 * * *"}


# ---------------------------------------------------------------------------------------------- the CLI
def _recent_group_csv(tmp_path: Any, group: str) -> Any:
    """The demo fleet's web tier, ending now, as the CSV `cloudsage analyze` reads, under the group's name."""
    import time

    from cloudsage.local.demo import build_demo_fleet, fleet_to_csv

    path = tmp_path / "fleet.csv"
    fleet_to_csv(build_demo_fleet(end=time.time() + 86400), path)
    lines = path.read_text().splitlines()
    path.write_text(
        "\n".join([lines[0]] + [ln.replace("web-api-asg", group) for ln in lines[1:] if "web-api-asg" in ln])
    )
    return path


def test_cli_schedule_dry_run_prints_the_plan_and_writes_nothing(group: str, tmp_path: Any, capsys: Any) -> None:
    from cloudsage.local.cli import main

    csv_path = _recent_group_csv(tmp_path, group)
    assert main(["schedule", "--group", group, "--metrics", str(csv_path), "--instance-type", "c6i.large"]) == 0
    out = capsys.readouterr().out
    assert "[dry run] web-asg: cloudsage-scale-out-" in out and "nothing written" in out
    assert "+0.085 USD/h" in out and "prices: c6i.large On-Demand, snapshot" in out  # the dated list price
    assert "requests per 5 min per instance" in out  # capacity learnt from the group's own history
    assert (
        boto3.client("autoscaling").describe_scheduled_actions(AutoScalingGroupName=group)[
            "ScheduledUpdateGroupActions"
        ]
        == []
    )


def test_cli_schedule_apply_writes_future_actions_and_replaces_its_own(group: str, tmp_path: Any, capsys: Any) -> None:
    from cloudsage.local.cli import main

    csv_path = _recent_group_csv(tmp_path, group)
    asg = boto3.client("autoscaling")
    asg.put_scheduled_update_group_action(  # an operator's own action stays
        AutoScalingGroupName=group, ScheduledActionName="nightly-batch", Recurrence="0 2 * * *", DesiredCapacity=3
    )
    for _ in range(2):  # applying twice leaves one set of cloudsage actions
        assert main(["schedule", "--group", group, "--metrics", str(csv_path), "--apply"]) == 0
    names = [
        a["ScheduledActionName"]
        for a in asg.describe_scheduled_actions(AutoScalingGroupName=group)["ScheduledUpdateGroupActions"]
    ]
    ours = [n for n in names if n.startswith("cloudsage-")]
    assert "nightly-batch" in names and ours and len(ours) == len(set(ours))
    assert f"wrote {len(ours)} scheduled actions to {group} (replaced {len(ours)} earlier" in capsys.readouterr().out


def test_cli_schedule_unknown_group_names_the_known_ones(tmp_path: Any) -> None:
    from cloudsage.local.cli import main

    csv_path = _recent_group_csv(tmp_path, "web-asg")
    with pytest.raises(SystemExit, match="no metrics for group 'nope' \\(resources: web-asg\\)"):
        main(["schedule", "--group", "nope", "--metrics", str(csv_path)])


def test_cli_schedule_apply_plans_inside_the_groups_own_bounds(moto_aws: None, tmp_path: Any, capsys: Any) -> None:
    """With --apply (or --source cloudwatch) the plan stays inside the group's MinSize/MaxSize as Auto Scaling has
    them: a desired size outside would be rejected. Flags still win."""
    from cloudsage.local.cli import main

    _create_group("narrow-asg", 3, 4, 3)
    asg = boto3.client("autoscaling")
    csv_path = _recent_group_csv(tmp_path, "narrow-asg")
    # Given a group bounded to 3-4 instances / When its plan is applied
    assert main(["schedule", "--group", "narrow-asg", "--metrics", str(csv_path), "--apply"]) == 0
    out = capsys.readouterr().out
    # Then the plan and every written action stay within 3-4, and the output says where the bounds came from
    assert "bounds: min 3, max 4 (from the Auto Scaling group)" in out
    acts = asg.describe_scheduled_actions(AutoScalingGroupName="narrow-asg")["ScheduledUpdateGroupActions"]
    assert acts and all(3 <= a["DesiredCapacity"] <= 4 for a in acts)
    # When a flag gives the maximum / Then it wins over the group's, the minimum still comes from the group
    assert main(["schedule", "--group", "narrow-asg", "--metrics", str(csv_path), "--max-size", "3", "--apply"]) == 0
    assert "bounds: min 3, max 3 (from flags and the Auto Scaling group)" in capsys.readouterr().out


def test_cli_schedule_apply_to_a_missing_group_writes_nothing_and_says_so(moto_aws: None, tmp_path: Any) -> None:
    from cloudsage.local.cli import main

    csv_path = _recent_group_csv(tmp_path, "ghost-asg")
    with pytest.raises(SystemExit, match="Auto Scaling has no group 'ghost-asg' here: nothing written"):
        main(["schedule", "--group", "ghost-asg", "--metrics", str(csv_path), "--apply"])
    assert boto3.client("autoscaling").describe_scheduled_actions()["ScheduledUpdateGroupActions"] == []
