"""The sandbox's side: a zygote that forks one process per job to run a user's script.

Started by `lambda_src.sandbox` as a fresh interpreter with a scrubbed environment, the zygote
imports boto3 once and then waits. For each job it forks a runner: the runner reads its job
(the zygote never sees a job's credentials, only its memory limit), binds boto3 to the job's
credentials (the member account's, and nothing else it could find), imports the script and runs
its regions on threads, writing messages to the job's socket. The zygote supervises every
runner: it reports how each ended (`os._exit`, a signal, a kill at the memory limit), and kills
one as soon as the Worker closes its socket (a pair stopped at its time limit, the deadline,
Ctrl-C) or it holds more memory than its job allows. (A supervisor process per job, as before,
held ~1.6 MB of private memory each for a loop.) Nothing a script does reaches the zygote, so
the next job starts clean: no module state carries from one to the next.
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

from lambda_src.sandbox import CONTROL_FD_ENV, CONTROL_MESSAGE_BYTES

# How often the zygote checks its runners' memory and whether the Worker has hung up: an
# allocation outruns the limit by at most what it writes in this time.
SUPERVISE_S = 0.02
REPORT_TIMEOUT_S = 2.0
MB = 1024 * 1024
# The services of the built-in scripts (and STS): forks share their models and client classes.
PRELOADED = ("sts", "ec2", "s3", "iam", "lambda")
PR_SET_PDEATHSIG = 1  # linux/prctl.h
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
CREDENTIAL_ENV = {
    "AWS_ACCESS_KEY_ID": "AccessKeyId",
    "AWS_SECRET_ACCESS_KEY": "SecretAccessKey",
    "AWS_SESSION_TOKEN": "SessionToken",
}


def main() -> None:
    """The zygote's loop: a job's socket (with its memory limit) on the control socket starts a
    runner for it; every runner is supervised here until it ends."""
    control = socket.socket(fileno=int(os.environ.pop(CONTROL_FD_ENV)))
    _preload()
    runners: dict[int, _Runner] = {}

    def stop(signum: int, frame: Any) -> None:
        # The Worker's close(): no runner outlives supervision, on any platform.
        for runner in runners.values():
            with contextlib.suppress(OSError):
                os.kill(runner.pid, signal.SIGKILL)
        os._exit(0)

    signal.signal(signal.SIGTERM, stop)
    accepting = True
    while accepting or runners:
        watched = [r.sock for r in runners.values()] + ([control] if accepting else [])
        try:
            readable, _, _ = select.select(watched, [], [], SUPERVISE_S if runners else None)
        except InterruptedError:
            readable = []
        if control in readable:
            accepting = _accept(control, runners)
        _supervise(runners, readable)
    control.close()


class _Runner:
    """A job's process, as its zygote supervises it."""

    def __init__(self, pid: int, sock: socket.socket, limit: int) -> None:
        self.pid = pid
        self.sock = sock
        self.limit = limit  # MB of resident memory; 0: none
        self.over_limit = False


def _accept(control: socket.socket, runners: dict[int, _Runner]) -> bool:
    """Start a runner for the job whose socket arrives; False when the Worker has closed the
    control socket (it is done with the sandbox: the runners still running are its last)."""
    try:
        data, fds, _, _ = socket.recv_fds(control, CONTROL_MESSAGE_BYTES, 1)
        while fds and len(data) < CONTROL_MESSAGE_BYTES:
            more = control.recv(CONTROL_MESSAGE_BYTES - len(data))
            if not more:
                break
            data += more
    except OSError:
        return False
    if not fds:
        return False
    sock = socket.socket(fileno=fds[0])
    for extra in fds[1:]:
        os.close(extra)
    limit = int(data[1:]) if data[1:].isdigit() else 0
    zygote = os.getpid()
    try:
        pid = os.fork()
    except OSError:  # out of memory or processes: this job is lost (its socket closes), not all
        sock.close()
        return True
    if pid == 0:
        # The runner holds its own job's socket and nothing of the others' or the zygote's.
        control.close()
        for other in runners.values():
            other.sock.close()
        _die_with_parent(zygote)
        try:
            job = _read_job(sock)
            if job is not None:
                _run(sock, job)
        finally:
            os._exit(0)
    runners[pid] = _Runner(pid, sock, limit)
    return True


def _supervise(runners: dict[int, _Runner], readable: list[Any]) -> None:
    """One round: report the runners that ended, kill those whose Worker hung up (no report:
    nobody listens) and those holding more memory than their job allows (reported next)."""
    for runner in list(runners.values()):
        pid, status = os.waitpid(runner.pid, os.WNOHANG)
        if pid:
            del runners[runner.pid]
            _report(runner, status)
        elif runner.sock in readable and not _peek(runner.sock):
            del runners[runner.pid]
            _kill(runner.pid)
            runner.sock.close()
        elif runner.limit and not runner.over_limit and _resident_mb(runner.pid) > runner.limit:
            # Resident memory, not address space: threads reserve 8 MB of address space each,
            # so a limit on that would refuse a script its threads long before its memory.
            runner.over_limit = True
            os.kill(runner.pid, signal.SIGKILL)


def _report(runner: _Runner, status: int) -> None:
    report: dict[str, Any] = {"e": "exit", "status": status}
    if runner.over_limit:
        report["memory_mb"] = runner.limit
    # A Worker too slow to read (its queue full) may not hold up the other runners' supervision:
    # the report is given up after REPORT_TIMEOUT_S (the Worker then sees the process lost).
    runner.sock.settimeout(REPORT_TIMEOUT_S)
    with contextlib.suppress(OSError):
        runner.sock.sendall(json.dumps(report).encode() + b"\n")
    runner.sock.close()


def _kill(pid: int) -> None:
    with contextlib.suppress(OSError):
        os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, 0)


def _die_with_parent(zygote: int) -> None:
    """Linux: this process is killed when its zygote goes (no runner outlives supervision;
    elsewhere the zygote kills its runners when the Worker stops it)."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != zygote:  # the zygote went before the line above took effect
        os._exit(0)


def _preload() -> None:
    """Import boto3 and prepare the clients scripts use most, once, before any fork."""
    import boto3
    import botocore.exceptions
    import botocore.session

    # What every runner imports, imported once here so that forks share it.
    if sys.platform.startswith("linux"):
        import ctypes  # noqa: F401  (each runner's _die_with_parent)

    import lambda_src.sandbox
    import lambda_src.script_runner  # noqa: F401
    from lambda_src.shared_handlers import share_handlers

    _cache_client_classes()
    _cache_service_models()
    core = botocore.session.get_session()
    core.set_config_variable("sts_regional_endpoints", "regional")
    core.set_config_variable("retry_mode", "adaptive")
    core.set_config_variable("max_attempts", 10)
    boto3.setup_default_session(botocore_session=core)
    # Every client a runner makes then shares the session's handlers instead of copying them.
    share_handlers(core)
    # A first client loads its service's models and builds its class: done here once (with
    # placeholder keys, so no credential is looked for), every fork inherits them.
    default: Any = boto3.DEFAULT_SESSION  # typed stubs know only literal service names
    loader = core.get_component("data_loader")
    for service in PRELOADED:
        client = default.client(
            service, region_name="us-east-1", aws_access_key_id="-", aws_secret_access_key="-"
        )
        # Its paginators too (the loader caches them, called as `get_paginator` calls it).
        with contextlib.suppress(botocore.exceptions.DataNotFoundError):
            loader.load_service_model(
                service, "paginators-1", client.meta.service_model.api_version
            )
    # A request's first host name looks up the idna codec (importing it): once, here.
    "localhost".encode("idna")
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


def _cache_service_models() -> None:
    """One `ServiceModel` per service and API version, not one per client: a model builds its
    operations and shapes lazily, and every client walks all of a service's operations when it
    is made (botocore looks for an endpoint-discovery operation), so a fresh model per client
    makes each process build them again and, touching the zygote's copy of the service's JSON,
    copy its pages. Built in the zygote, the prepared services' models are shared by every
    fork. A model is never written once built (its caches only fill in), whatever the client."""
    import botocore.client

    creator: Any = botocore.client.ClientCreator  # a private method, patched
    load = creator._load_service_model
    # Keyed by the loader's id, holding the loader so that id is never reused.
    models: dict[tuple[int, str, str | None], tuple[Any, Any]] = {}
    lock = threading.Lock()

    def cached(self: Any, service_name: str, api_version: str | None = None) -> Any:
        key = (id(self._loader), service_name, api_version)
        with lock:
            if key not in models:
                models[key] = (self._loader, load(self, service_name, api_version))
            return models[key][1]

    creator._load_service_model = cached


def _resident_mb(pid: int) -> float:
    """A process's resident memory in MB (0 where /proc is not there to tell)."""
    try:
        with open(f"/proc/{pid}/statm", "rb") as statm:
            pages = int(statm.read().split()[1])
    except (OSError, ValueError, IndexError):
        return 0.0
    return pages * PAGE_SIZE / MB


def _peek(sock: socket.socket) -> bytes:
    """What is waiting on a job's socket, without taking it: b"" once the Worker has hung up.
    Never blocks: the job's runner may have read what was there since `select` saw it."""
    try:
        return sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) or b""
    except BlockingIOError:
        return b"-"  # nothing waiting, and the Worker still there
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
    from lambda_src.script_runner import Closed, Job, count_prints, run_job

    job = Job.from_dict(data)
    # A pair that prints and yields nothing is told apart from one that found nothing.
    count_prints(f"{job.script} {job.account.id}")
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
    sys.argv = [job.path]  # no command line: a script's parse_args() takes its defaults
    run_job(job, session, emit, spawn)
    for thread in threads:
        thread.join()
    sys.stdout.flush()
    sys.stderr.flush()


if __name__ == "__main__":
    main()
