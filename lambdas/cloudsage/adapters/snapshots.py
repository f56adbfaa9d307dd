"""SnapshotStore: JSON documents in the snapshot bucket (metric snapshots, model outputs, run summaries)."""

from __future__ import annotations

import json
import re
from typing import Any

from cloudsage.adapters.aws import client as aws_client

_SAFE = re.compile(r"[^A-Za-z0-9._=-]")


def safe_key_part(text: str) -> str:
    """Make ``text`` safe as one S3 key segment (resource ids may contain ``/`` or ``:``)."""
    return _SAFE.sub("_", text)[:200] or "_"


def batch_key(run_id: str, n: int) -> str:
    return f"runs/{safe_key_part(run_id)}/batches/{n:05d}.json"


def snapshot_key(run_id: str, resource_id: str) -> str:
    return f"runs/{safe_key_part(run_id)}/snapshots/{safe_key_part(resource_id)}.json"


def model_output_key(run_id: str, model: str, resource_id: str) -> str:
    return f"runs/{safe_key_part(run_id)}/models/{safe_key_part(model)}/{safe_key_part(resource_id)}.json"


def summary_key(run_id: str, resource_ids: list[str] | None = None) -> str:
    """Where a batch's summary goes: one per (run, set of resources), so batches never overwrite each other and
    re-running the same batch overwrites its own summary."""
    if not resource_ids:
        return f"runs/{safe_key_part(run_id)}/summary.json"
    import hashlib

    digest = hashlib.sha256("\n".join(sorted(set(resource_ids))).encode()).hexdigest()[:16]
    return f"runs/{safe_key_part(run_id)}/summaries/{digest}.json"


class SnapshotStore:
    """Read and write JSON objects in one bucket.

    Parameters
    ----------
    bucket : str
        Bucket name.
    s3_client : optional
        An injected boto3 S3 client; created lazily when omitted.
    """

    def __init__(self, bucket: str, s3_client: Any | None = None) -> None:
        self.bucket = bucket
        self._client = s3_client

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = aws_client("s3")
        return self._client

    def put_json(self, key: str, document: Any) -> str:
        body = json.dumps(document, separators=(",", ":"), allow_nan=False).encode()
        self.client.put_object(Bucket=self.bucket, Key=key, Body=body, ContentType="application/json")
        return key

    def get_json(self, key: str) -> Any:
        obj = self.client.get_object(Bucket=self.bucket, Key=key)
        return json.loads(obj["Body"].read())
