"""Run one invocation of a function's code in a clean interpreter, as Lambda's Python runtime.

The child is `python -I -S bootstrap.py`: no site-packages, no user site, no PYTHON* variables;
its `sys.path` is the function's extracted zip first (Lambda's /var/task), then a folder holding
only boto3 and its dependencies (what Lambda's runtime ships), then the standard library. Its
environment is Lambda's variables, the function's own, the execution role's credentials and
`AWS_ENDPOINT_URL` — nothing of this process's.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib.util
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lambdafan.lambda_runtime import RUNTIME_MODULES

BOOTSTRAP = Path(__file__).resolve().parent / "bootstrap.py"
LOG_TAIL_BYTES = 4096  # what Lambda returns in X-Amz-Log-Result
MEMORY_POLL_S = 0.02
TREE_POLL_EVERY = 10  # polls: the process tree's memory every 200 ms


@dataclass(frozen=True)
class FunctionConfig:
    """What an invocation needs from GetFunction's `Configuration`."""

    name: str
    arn: str
    handler: str
    timeout_s: int
    memory_mb: int
    environment: Mapping[str, str]
    role_arn: str
    code_sha256: str
    version: str = "$LATEST"

    @property
    def region(self) -> str:
        return self.arn.split(":")[3]

    @classmethod
    def from_configuration(cls, configuration: Mapping[str, Any]) -> FunctionConfig:
        return cls(
            name=configuration["FunctionName"],
            arn=configuration["FunctionArn"],
            handler=configuration["Handler"],
            timeout_s=int(configuration.get("Timeout", 3)),
            memory_mb=int(configuration.get("MemorySize", 128)),
            environment=dict(configuration.get("Environment", {}).get("Variables", {})),
            role_arn=configuration["Role"],
            code_sha256=configuration["CodeSha256"],
            version=configuration.get("Version", "$LATEST"),
        )


@dataclass(frozen=True)
class Credentials:
    access_key_id: str
    secret_access_key: str
    session_token: str


@dataclass(frozen=True)
class Outcome:
    """How one invocation ended."""

    payload: bytes  # the handler's JSON result, or Lambda's error document
    error_type: str | None  # None: the handler returned
    log: str  # the child's stdout and stderr
    duration_ms: float  # process start to exit
    startup_ms: float | None  # process start to the handler's call (None: never called)
    init_ms: float | None  # process start to the handler module imported
    peak_memory_kb: int  # the child's VmHWM

    @property
    def ok(self) -> bool:
        return self.error_type is None


def runtime_locations(modules: frozenset[str] = RUNTIME_MODULES) -> dict[str, Path]:
    """Where this interpreter has boto3 and its dependencies: package folders or module files."""
    found: dict[str, Path] = {}
    for name in sorted(modules):
        spec = importlib.util.find_spec(name)
        if spec is None:
            continue
        if spec.submodule_search_locations:
            found[name] = Path(next(iter(spec.submodule_search_locations)))
        elif spec.origin:
            found[name] = Path(spec.origin)
    return found


def build_runtime_lib(folder: Path, locations: Mapping[str, Path]) -> Path:
    """A folder of links to `locations` only: boto3 without the rest of site-packages."""
    folder.mkdir(parents=True, exist_ok=True)
    for path in locations.values():
        link = folder / path.name
        if not link.exists():
            link.symlink_to(path)
    return folder


def child_environment(
    function: FunctionConfig,
    credentials: Credentials,
    endpoint: str,
    task_root: Path,
    request_id: str,
) -> dict[str, str]:
    """The child's whole environment: Lambda's variables, then the function's own."""
    region = function.region
    lambda_vars = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "LANG": "en_US.UTF-8",
        "TZ": ":UTC",
        "PYTHONUNBUFFERED": "1",  # ignored under -I; the bootstrap flushes itself
        "LAMBDA_TASK_ROOT": str(task_root),
        "LAMBDA_RUNTIME_DIR": str(BOOTSTRAP.parent),
        "AWS_EXECUTION_ENV": "AWS_Lambda_python3.12",
        "AWS_LAMBDA_FUNCTION_NAME": function.name,
        "AWS_LAMBDA_FUNCTION_VERSION": function.version,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(function.memory_mb),
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{function.name}",
        "AWS_LAMBDA_LOG_STREAM_NAME": log_stream_name(function, request_id),
        "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
        "AWS_ACCESS_KEY_ID": credentials.access_key_id,
        "AWS_SECRET_ACCESS_KEY": credentials.secret_access_key,
        "AWS_SESSION_TOKEN": credentials.session_token,
        # Local only: every AWS call of the function, its Invokes included, goes to the proxy;
        # no profile of the developer's is read; moto's server rejects compressed metric data.
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "AWS_DISABLE_REQUEST_COMPRESSION": "true",
    }
    return {**lambda_vars, **function.environment}


def log_stream_name(function: FunctionConfig, request_id: str) -> str:
    """The invocation's log stream: one per invocation, as every local invocation is cold."""
    return f"local/[{function.version}]{request_id}"


def timeout_error(request_id: str, timeout_s: int) -> bytes:
    message = f"RequestId: {request_id} Error: Task timed out after {timeout_s:.2f} seconds"
    return json.dumps({"errorMessage": message, "errorType": "Sandbox.Timedout"}).encode()


def out_of_memory_error(request_id: str) -> bytes:
    message = f"RequestId: {request_id} Error: Runtime exited with error: signal: killed"
    return json.dumps({"errorMessage": message, "errorType": "Runtime.OutOfMemory"}).encode()


def exit_error(request_id: str, returncode: int) -> bytes:
    message = f"RequestId: {request_id} Error: Runtime exited with error: exit status {returncode}"
    return json.dumps({"errorMessage": message, "errorType": "Runtime.ExitError"}).encode()


def process_tree(pid: int) -> list[int]:
    """`pid` and every process below it (children of any of their threads)."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        try:
            tasks = os.listdir(f"/proc/{current}/task")
        except OSError:
            continue
        for task in tasks:
            try:
                with open(f"/proc/{current}/task/{task}/children", encoding="ascii") as children:
                    todo.extend(int(child) for child in children.read().split())
            except OSError:
                continue
    return found


def read_pss_kb(pid: int) -> int:
    """A process's proportional set size: its share of pages it shares with others (0 if gone)."""
    return _proc_kb(f"/proc/{pid}/smaps_rollup", "Pss:")


def read_vm_hwm_kb(pid: int) -> int:
    """A live process's peak resident memory in KiB (0 once it is gone)."""
    return _proc_kb(f"/proc/{pid}/status", "VmHWM:")


def _proc_kb(path: str, field: str) -> int:
    """A `field: N kB` line of a /proc file, in KiB (0 when the process is gone)."""
    try:
        with open(path, encoding="ascii") as lines:
            for line in lines:
                if line.startswith(field):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


class Invoker:
    """Runs invocations in clean interpreters; `work_dir` holds the runtime lib and result files."""

    def __init__(
        self,
        work_dir: Path,
        *,
        python: str = sys.executable,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._work_dir = work_dir
        self._python = python
        self._clock = clock
        self._runtime_lib = build_runtime_lib(work_dir / "runtime", runtime_locations())
        self._running: set[int] = set()  # process group ids of invocations under way
        self._running_lock = threading.Lock()

    def kill_running(self) -> None:
        """Kill every invocation under way, with the processes it started (shutting down)."""
        with self._running_lock:
            groups = list(self._running)
        for group in groups:
            _kill_group(group)

    def run(
        self,
        function: FunctionConfig,
        task_root: Path,
        credentials: Credentials,
        endpoint: str,
        event: bytes,
        request_id: str,
    ) -> Outcome:
        with tempfile.TemporaryDirectory(dir=self._work_dir, prefix="invoke-") as scratch:
            result_file = Path(scratch) / "result.json"
            log_file = Path(scratch) / "log.txt"
            started = self._clock()
            spec = {
                "task_root": str(task_root),
                "runtime_paths": [str(self._runtime_lib)],
                "handler": function.handler,
                "function_name": function.name,
                "function_version": function.version,
                "invoked_function_arn": function.arn,
                "memory_mb": function.memory_mb,
                "request_id": request_id,
                "log_group_name": f"/aws/lambda/{function.name}",
                "log_stream_name": log_stream_name(function, request_id),
                "deadline_ms": int((started + function.timeout_s) * 1000),
                "result_file": str(result_file),
            }
            env = child_environment(function, credentials, endpoint, task_root, request_id)
            with log_file.open("wb") as log:
                process = subprocess.Popen(
                    [self._python, "-I", "-S", str(BOOTSTRAP), json.dumps(spec)],
                    stdin=subprocess.PIPE,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=env,
                    cwd=task_root,
                    # Its own process group: the processes the handler starts (a Worker's
                    # sandbox) end with it, as Lambda's execution environment ends.
                    start_new_session=True,
                )
                with self._running_lock:
                    self._running.add(process.pid)
                peak = _MemoryWatch(process.pid, limit_kb=function.memory_mb * 1024)
                try:
                    timed_out = _feed_and_wait(process, event, function.timeout_s)
                finally:
                    peak.stop()
                    _kill_group(process.pid)
                    with self._running_lock:
                        self._running.discard(process.pid)
            duration_ms = (self._clock() - started) * 1000
            log_text = log_file.read_text(encoding="utf-8", errors="replace")
            document = _read_result(result_file)
        timings = document.get("timings", {}) if document else {}
        outcome_peak = max(peak.peak_kb, int(document.get("peak_memory_kb", 0)) if document else 0)

        def since_start(key: str) -> float | None:
            value = timings.get(key)
            return (float(value) - started) * 1000 if value is not None else None

        base = Outcome(
            payload=b"",
            error_type=None,
            log=log_text,
            duration_ms=duration_ms,
            startup_ms=since_start("handler_started"),
            init_ms=since_start("module_imported"),
            peak_memory_kb=outcome_peak,
        )
        if peak.exceeded:
            payload, error_type = out_of_memory_error(request_id), "Runtime.OutOfMemory"
        elif timed_out:
            payload, error_type = timeout_error(request_id, function.timeout_s), "Sandbox.Timedout"
        elif document is None:
            payload, error_type = exit_error(request_id, process.returncode), "Runtime.ExitError"
        elif document.get("ok"):
            payload, error_type = json.dumps(document.get("result")).encode(), None
        else:
            error = document["error"]
            payload, error_type = json.dumps(error).encode(), str(error["errorType"])
        return dataclasses.replace(base, payload=payload, error_type=error_type)


def _feed_and_wait(process: subprocess.Popen[bytes], event: bytes, timeout_s: float) -> bool:
    """Give the child its event; wait for it to exit. True when it ran past `timeout_s` (killed)."""
    assert process.stdin is not None
    try:
        process.stdin.write(event)
        process.stdin.close()
    except BrokenPipeError:
        pass
    try:
        process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        _kill_group(process.pid)
        process.wait()
        return True
    return False


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):  # nothing left of it
        os.killpg(pid, signal.SIGKILL)


def _read_result(path: Path) -> dict[str, Any] | None:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return document if isinstance(document, dict) else None


class _MemoryWatch:
    """Polls a child's memory until stopped: its peak even when it is killed. Past `limit_kb`
    (the function's MemorySize) it kills the child's process group, as Lambda does.

    Lambda counts the whole execution environment, so the peak is the larger of the child's
    own VmHWM (read often: cheap) and the sum of its process tree's PSS (read less often: a
    Worker's sandbox is a dozen processes sharing the pages they were forked with, which PSS
    counts once and RSS would count in each).
    """

    def __init__(self, pid: int, limit_kb: int, interval_s: float = MEMORY_POLL_S) -> None:
        self.peak_kb = 0
        self.exceeded = False
        self._limit_kb = limit_kb
        self._pid = pid
        self._interval_s = interval_s
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        polls = 0
        while True:
            peak = read_vm_hwm_kb(self._pid)
            if polls % TREE_POLL_EVERY == 0:
                tree = process_tree(self._pid)
                if len(tree) > 1:
                    peak = max(peak, sum(read_pss_kb(pid) for pid in tree))
            self.peak_kb = max(self.peak_kb, peak)
            if self.peak_kb > self._limit_kb and not self.exceeded:
                self.exceeded = True
                _kill_group(self._pid)
            polls += 1
            if self._done.wait(self._interval_s):
                return

    def stop(self) -> None:
        self._done.set()
        self._thread.join()
