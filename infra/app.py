"""CDK app entry point: ``cdk synth`` runs ``python -m infra.app`` (see cdk.json)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from aws_cdk import App, Environment

# The runtime package lives in lambdas/ (installed by pyproject); keep synth working from a plain checkout too.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "lambdas"))

from infra.settings import STACK_NAME, InfraSettings
from infra.stacks.cloudsage_stack import CloudSageStack


def build_app(
    context: dict[str, object] | None = None, outdir: str | None = None, *, nag: bool = False
) -> tuple[App, CloudSageStack]:
    """Build the app and its stack (used by ``cdk synth``, the local run and the infra tests).

    With ``nag`` the AwsSolutions cdk-nag pack runs at synth and fails it on any unacknowledged finding.
    """
    app = App(context=context or {}, outdir=outdir)
    settings = InfraSettings.from_context(app.node.try_get_context)
    stack = CloudSageStack(
        app,
        STACK_NAME,
        settings=settings,
        env=Environment(account=os.environ.get("CDK_DEFAULT_ACCOUNT"), region=os.environ.get("CDK_DEFAULT_REGION")),
    )
    if nag:
        from infra.nag import add_nag

        add_nag(app, stack)
    return app, stack


if __name__ == "__main__":
    built, _ = build_app(nag=True)
    built.synth()
