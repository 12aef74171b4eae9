"""`python -m lambdafan.local_cloud`: moto's server and the Lambda runtime, in one process to stop.

Starts moto's server (a child), the runtime in front of it, prints one JSON line on stdout
(`{"endpoint": …, "moto": …, "pid": …}`, then nothing more there) and serves until SIGTERM or
SIGINT, when it kills the invocations under way and stops both. What `demo`
starts, and what `demo --keep` leaves running.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import TextIO

from lambdafan.errors import LambdafanError
from lambdafan.local_cloud.cloud import LocalCloud
from lambdafan.local_cloud.moto_server import moto_server

STOP_EVENTS_TIMEOUT_S = 5.0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m lambdafan.local_cloud",
        description="moto's server with a local Lambda runtime in front of it, on 127.0.0.1.",
    )
    parser.add_argument("--log", type=Path, help="append a REPORT line per invocation here")
    args = parser.parse_args(argv)
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    log: TextIO | None = args.log.open("a", encoding="utf-8") if args.log else None
    try:
        with (
            moto_server() as moto,
            LocalCloud(moto.endpoint, log_stream=lambda: log) as cloud,
        ):
            ready = {"endpoint": cloud.endpoint, "moto": moto.endpoint, "pid": os.getpid()}
            print(json.dumps(ready), flush=True)
            # Nobody reads stdout after the ready line; a closed pipe must not stop the cloud.
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115
            while not stop.wait(1.0):
                pass
            # Asked to stop (Ctrl-C, `kill`): now, not after the invocations under way.
            cloud.stop(events_timeout_s=STOP_EVENTS_TIMEOUT_S, kill_running=True)
    except LambdafanError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        if log is not None:
            log.close()
    return 0


@dataclass(frozen=True)
class RunningCloud:
    """A `python -m lambdafan.local_cloud` process: where to reach it and how to stop it."""

    endpoint: str
    moto_endpoint: str
    pid: int
    process: subprocess.Popen[bytes]

    def stop(self, timeout_s: float = 15.0) -> None:
        """SIGTERM, then SIGKILL if it has not stopped within `timeout_s`."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_cloud(
    *, detach: bool = False, log: Path | None = None, timeout_s: float = 60.0
) -> RunningCloud:
    """Start the cloud process and wait for its ready line. `detach`: it outlives this one
    (its own session, so the terminal's Ctrl-C or hangup does not reach it)."""
    command = [sys.executable, "-m", "lambdafan.local_cloud"]
    if log is not None:
        command += ["--log", str(log)]
    process = subprocess.Popen(
        command,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL if detach else None,
        start_new_session=detach,
    )
    assert process.stdout is not None
    line = _read_line(process, timeout_s)
    process.stdout.close()
    try:
        ready = json.loads(line)
        return RunningCloud(ready["endpoint"], ready["moto"], int(ready["pid"]), process)
    except (ValueError, KeyError, TypeError):
        process.kill()
        process.wait()
        raise LambdafanError(
            "the local cloud did not start (run `python -m lambdafan.local_cloud` to see why)"
        ) from None


def _read_line(process: subprocess.Popen[bytes], timeout_s: float) -> str:
    """The first stdout line, or "" when the process exits or `timeout_s` passes first."""
    stdout = process.stdout
    assert stdout is not None
    found: list[bytes] = []
    reader = threading.Thread(target=lambda: found.append(stdout.readline()), daemon=True)
    reader.start()
    deadline = time.monotonic() + timeout_s
    while reader.is_alive() and time.monotonic() < deadline and process.poll() is None:
        reader.join(0.05)
    reader.join(0.5)
    return found[0].decode(errors="replace") if found else ""
