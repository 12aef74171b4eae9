"""moto's server in a child process on 127.0.0.1: the AWS that `demo` and the local runtime use."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import IO

from lambdafan.errors import LambdafanError, UsageError


@dataclass(frozen=True)
class MotoServer:
    endpoint: str
    pid: int


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


MOTO_MAIN = "lambdafan.local_cloud.moto_main"


@contextmanager
def moto_server(start_timeout_s: float = 30.0) -> Iterator[MotoServer]:
    """moto's server in a child process on 127.0.0.1 (`moto_main`: DynamoDB requests one at a
    time, no access log); stopped on exit."""
    port = _free_port()
    env = {**os.environ, "MOTO_EC2_LOAD_DEFAULT_AMIS": "false"}
    with tempfile.TemporaryFile() as errors:
        try:
            process = subprocess.Popen(
                [sys.executable, "-m", MOTO_MAIN, "-H", "127.0.0.1", "-p", str(port)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=errors,
                env=env,
            )
        except OSError as exc:
            raise LambdafanError(f"cannot start moto's server: {exc}") from None
        endpoint = f"http://127.0.0.1:{port}"
        try:
            _wait_until_up(process, endpoint, start_timeout_s, errors)
            yield MotoServer(endpoint=endpoint, pid=process.pid)
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _wait_until_up(
    process: subprocess.Popen[bytes], endpoint: str, timeout_s: float, errors: IO[bytes]
) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        if process.poll() is not None:
            errors.seek(0)
            detail = errors.read().decode(errors="replace")
            if "No module named" in detail:
                raise UsageError(
                    "lambdafan demo needs moto's server: pip install 'lambdafan[demo]'"
                )
            raise LambdafanError(f"moto's server exited: {detail.strip()[-300:]}")
        try:
            urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise LambdafanError(f"moto's server did not answer on {endpoint}") from None
            time.sleep(0.1)
