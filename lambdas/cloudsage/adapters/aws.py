"""Lazy, injectable boto3 clients.

Clients are created on first use, never at import time (so moto and the local emulator can take over), and
honour ``AWS_ENDPOINT_URL`` (the local run points every adapter at the embedded emulator this way).
"""

from __future__ import annotations

import os
import threading
from typing import Any

from botocore.config import Config

_LOCK = threading.Lock()
_CLIENTS: dict[tuple[str, str, str], Any] = {}

RETRY_CONFIG = Config(retries={"max_attempts": 5, "mode": "standard"}, connect_timeout=5, read_timeout=30)


def client(service: str) -> Any:
    """A cached boto3 client for ``service`` for the current region and endpoint."""
    import boto3  # imported lazily: keeps cold starts of model functions light

    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    endpoint = os.environ.get("AWS_ENDPOINT_URL", "")
    key = (service, region, endpoint)
    with _LOCK:
        if key not in _CLIENTS:
            _CLIENTS[key] = boto3.client(service, region_name=region, config=RETRY_CONFIG)
        return _CLIENTS[key]


def reset_clients() -> None:
    """Forget cached clients (tests and the local run call this when the endpoint changes)."""
    with _LOCK:
        _CLIENTS.clear()
