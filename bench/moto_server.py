"""Bench helper: moto's server on 127.0.0.1 (a free port), started and stopped by its pid."""

from __future__ import annotations

import contextlib
import os
import urllib.request
from collections.abc import Iterator

from lambdafan.local_cloud.moto_server import moto_server as demo_server

FAKE_KEYS = {
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@contextlib.contextmanager
def moto_server() -> Iterator[str]:
    """Start moto's server (lambdafan demo's own), yield its endpoint URL, stop it by its pid."""
    saved = os.environ.pop("AWS_ENDPOINT_URL", None)
    os.environ.update(FAKE_KEYS)
    try:
        with demo_server() as server:
            yield server.endpoint
    finally:
        if saved is not None:
            os.environ["AWS_ENDPOINT_URL"] = saved


def reset(endpoint: str) -> None:
    """Forget every resource moto holds (`POST /moto-api/reset`)."""
    request = urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST")
    urllib.request.urlopen(request, timeout=30).close()


def server_env(endpoint: str) -> dict[str, str]:
    """os.environ for a process that talks to the server with fake keys."""
    env = {**os.environ, **FAKE_KEYS, "AWS_ENDPOINT_URL": endpoint}
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
        env.pop(name, None)
    env["AWS_CONFIG_FILE"] = os.devnull
    env["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull
    return env
