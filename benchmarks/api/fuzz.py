"""Property-based fuzzing of the Insights API with schemathesis over ``docs/openapi.json`` (``make fuzz-api``).

Starts the local emulator, fills the table by analysing the demo fleet, serves the API on 127.0.0.1 and runs
every operation with ``--examples`` generated requests, checking: no server error, documented status codes and
content types, and response bodies that match the schema. The test suite runs the same with 12 examples.

    python -m benchmarks.api.fuzz --examples 300
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

OPENAPI = Path(__file__).resolve().parents[2] / "docs" / "openapi.json"


def fuzz(base_url: str, *, schema_path: Path = OPENAPI, max_examples: int = 12, session: Any = None) -> dict[str, Any]:
    """Run schemathesis against ``base_url``; returns ``{"calls": n, "failures": [...], "operations": n}``."""
    import requests
    import schemathesis
    from hypothesis import HealthCheck, Phase, given, settings
    from schemathesis import checks

    schema = schemathesis.openapi.from_path(schema_path)
    selected = [
        checks.not_a_server_error,
        checks.status_code_conformance,
        checks.content_type_conformance,
        checks.response_schema_conformance,
    ]
    http = session or requests.Session()
    failures: list[str] = []
    calls = [0]
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()  # type: ignore[union-attr]  # an invalid operation raises here
        operations += 1

        @given(case=operation.as_strategy())
        @settings(
            max_examples=max_examples,
            deadline=None,
            derandomize=True,
            database=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        def run(case: Any) -> None:
            calls[0] += 1
            try:
                case.call_and_validate(base_url=base_url, session=http, checks=selected, timeout=60)
            except AssertionError as exc:
                failures.append(f"{case.method} {case.path}: {str(exc)[:600]}")
                raise

        try:
            run()
        except Exception:  # noqa: BLE001 - recorded in failures; every operation still runs
            pass
    return {"calls": calls[0], "failures": failures, "operations": operations}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--examples", type=int, default=300, help="generated requests per operation")
    args = parser.parse_args(argv)

    import schemathesis

    from cloudsage.local.api_server import FastDynamoQueries, LocalApiServer, create_table, seed_demo
    from cloudsage.local.emulator import LocalAWS

    t0 = time.monotonic()
    with LocalAWS(), FastDynamoQueries():
        table = create_table("api-fuzz")
        seed_demo(table)
        with LocalApiServer(table) as server:
            out = fuzz(server.url, max_examples=args.examples)
    print(
        f"schemathesis {schemathesis.__version__}: {out['operations']} operations, {out['calls']} requests, "
        f"{len(out['failures'])} failures, {time.monotonic() - t0:.0f} s"
    )
    for f in out["failures"]:
        print("FAILURE", f)
    return 1 if out["failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
