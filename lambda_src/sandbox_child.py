"""The sandbox's side: a zygote that forks one process per job to run a user's script.

Started by `lambda_src.sandbox` as a fresh interpreter with a scrubbed environment, the zygote
imports boto3 once and then waits. For each job it forks a supervisor, which forks the runner:
the runner sets its memory limit, binds boto3 to the job's credentials (the member account's,
and nothing else it could find), imports the script and runs its regions on threads, writing
messages to the job's socket. The supervisor waits for the runner and reports how it ended
(`os._exit`, a signal, a kill at the memory limit), and kills it as soon as the Worker closes
the socket (a pair stopped at its time limit, the deadline, Ctrl-C). Nothing a script does
reaches the zygote, so the next job starts clean: no module state carries from one to the next.
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import select
import signal
import socket
import sys
import threading
from typing import Any

from lambda_src.sandbox import CONTROL_FD_ENV

# How often the supervisor checks the runner's memory and whether the Worker has hung up: an
# allocation outruns the limit by at most what it writes in this time.
SUPERVISE_S = 0.02
MB = 1024 * 1024
# The services of the built-in scripts (and STS): forks share their models and client classes.
PRELOADED = ("sts", "ec2", "s3", "iam", "lambda")
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
CREDENTIAL_ENV = {
    "AWS_ACCESS_KEY_ID": "AccessKeyId",
    "AWS_SECRET_ACCESS_KEY": "SecretAccessKey",
    "AWS_SESSION_TOKEN": "SessionToken",
}


def main() -> None:
    """The zygote's loop: one job per byte received on the control socket, with its socket."""
    control = socket.socket(fileno=int(os.environ.pop(CONTROL_FD_ENV)))
    _preload()
    # The zygote never waits for its supervisors: the kernel reaps them.
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    while True:
        try:
            _, fds, _, _ = socket.recv_fds(control, 1, 1)
        except OSError:
            return
        if not fds:  # the Worker closed the control socket: it is done with the sandbox
            return
        pid = os.fork()
        if pid == 0:
            control.close()
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            _supervise(socket.socket(fileno=fds[0]))
            os._exit(0)
        os.close(fds[0])


def _preload() -> None:
    """Import boto3 and prepare the clients scripts use most, once, before any fork."""
    import boto3
    import botocore.session

    # What every runner imports, imported once here so that forks share it.
    import lambda_src.sandbox
    import lambda_src.script_runner  # noqa: F401

    _cache_client_classes()
    core = botocore.session.get_session()
    core.set_config_variable("sts_regional_endpoints", "regional")
    core.set_config_variable("retry_mode", "adaptive")
    core.set_config_variable("max_attempts", 10)
    boto3.setup_default_session(botocore_session=core)
    # A first client loads its service's models and builds its class: done here once (with
    # placeholder keys, so no credential is looked for), every fork inherits them.
    default: Any = boto3.DEFAULT_SESSION  # typed stubs know only literal service names
    for service in PRELOADED:
        default.client(
            service, region_name="us-east-1", aws_access_key_id="-", aws_secret_access_key="-"
        )
    # What is loaded now is shared with every fork until written to; a garbage collection
    # writes to every object it visits, so keep these objects out of the collector's reach.
    gc.collect()
    gc.freeze()


def _cache_client_classes() -> None:
    """Build a service's client class once per event emitter, not once per client: a script
    making a client per region would otherwise hold ~1 MB of identical methods and docstrings
    per client (the class depends on the service and its hooks, never on region or keys)."""
    import botocore.client

    creator: Any = botocore.client.ClientCreator  # a private method, patched
    build = creator._create_client_class
    # Keyed by the emitter's id, holding the emitter so that id is never reused.
    classes: dict[tuple[str, str, int], tuple[Any, type]] = {}
    lock = threading.Lock()

    def cached(self: Any, service_name: str, service_model: Any) -> type:
        key = (service_name, service_model.api_version, id(self._event_emitter))
        with lock:
            if key not in classes:
                classes[key] = (self._event_emitter, build(self, service_name, service_model))
            return classes[key][1]

    creator._create_client_class = cached


def _supervise(sock: socket.socket) -> None:
    """Read the job, fork the runner, report how it ended; kill it when the Worker hangs up or
    when it holds more memory than the job allows."""
    job = _read_job(sock)
    if job is None:
        return
    runner = os.fork()
    if runner == 0:
        try:
            _run(sock, job)
        finally:
            os._exit(0)
    limit = job.get("memory_mb")
    status = None
    over_limit = False
    while status is None:
        pid, wait_status = os.waitpid(runner, os.WNOHANG)
        if pid:
            status = wait_status
            break
        if limit and _resident_mb(runner) > limit:
            # Resident memory, not address space: threads reserve 8 MB of address space each,
            # so a limit on that would refuse a script its threads long before its memory.
            over_limit = True
            os.kill(runner, signal.SIGKILL)
            continue
        readable, _, _ = select.select([sock], [], [], SUPERVISE_S)
        if readable and not _peek(sock):
            os.kill(runner, signal.SIGKILL)
            os.waitpid(runner, 0)
            return
    report: dict[str, Any] = {"e": "exit", "status": status}
    if over_limit:
        report["memory_mb"] = limit
    with contextlib.suppress(OSError):
        sock.sendall(json.dumps(report).encode() + b"\n")


def _resident_mb(pid: int) -> float:
    """A process's resident memory in MB (0 where /proc is not there to tell)."""
    try:
        with open(f"/proc/{pid}/statm", "rb") as statm:
            pages = int(statm.read().split()[1])
    except (OSError, ValueError, IndexError):
        return 0.0
    return pages * PAGE_SIZE / MB


def _peek(sock: socket.socket) -> bytes:
    try:
        return sock.recv(1, socket.MSG_PEEK) or b""
    except OSError:
        return b""


def _read_job(sock: socket.socket) -> dict[str, Any] | None:
    data = b""
    while not data.endswith(b"\n"):
        chunk = sock.recv(65536)
        if not chunk:
            return None
        data += chunk
    job: dict[str, Any] = json.loads(data)
    return job


def _run(sock: socket.socket, data: dict[str, Any]) -> None:
    """The runner: the job's script on threads, bound to the job's account only."""
    import boto3

    from lambda_src.sandbox import hide_process_memory
    from lambda_src.script_runner import Closed, Job, run_job

    job = Job.from_dict(data)
    # Its credentials go in its environment: other scripts' processes (of other accounts, on a
    # laptop) must not read them from /proc.
    hide_process_memory()
    sys.path[:0] = list(job.extra_path)
    if job.credentials is not None:
        # Plain boto3 calls in a script, and any Session it makes, are in the member account.
        for name, key in CREDENTIAL_ENV.items():
            value = job.credentials.get(key)
            if value:
                os.environ[name] = value
    os.environ["AWS_DEFAULT_REGION"] = job.home_region
    # The zygote's default Session, whose models are loaded: a second boto3.Session over the same
    # botocore session would register boto3's S3 methods twice.
    session = boto3.DEFAULT_SESSION or boto3.Session()
    core = session._session
    core.set_config_variable("region", job.home_region)
    if job.credentials is not None:
        core.set_credentials(
            str(job.credentials["AccessKeyId"]),
            str(job.credentials["SecretAccessKey"]),
            job.credentials.get("SessionToken"),
        )

    lock = threading.Lock()
    closed = threading.Event()

    def emit(line: bytes) -> None:
        if closed.is_set():
            raise Closed
        try:
            with lock:
                sock.sendall(line)
        except OSError:
            closed.set()
            raise Closed from None

    threads: list[threading.Thread] = []

    def spawn(fn: Any) -> None:
        thread = threading.Thread(target=fn, daemon=True)
        threads.append(thread)
        thread.start()

    for region in job.regions:
        emit(json.dumps({"e": "start", "r": region}).encode() + b"\n")
    run_job(job, session, emit, spawn)
    for thread in threads:
        thread.join()
    sys.stdout.flush()
    sys.stderr.flush()


if __name__ == "__main__":
    main()
