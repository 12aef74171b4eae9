"""The Worker's side of the script sandbox: starts jobs and reads what they report.

`ProcessSandbox` runs each job (one script, one account) in a process forked from a zygote that
was started with a scrubbed environment: the Worker's credentials, the fleet's settings and the
table never reach it; the job brings the member account's temporary credentials and nothing
else. `InProcessSandbox` (`lambda_src.sandbox_threads`, importable from here too) runs the same
code on the Worker's own threads, for tests against in-process moto and for `--no-sandbox`
debugging; it contains nothing. A Worker on Lambda never uses it, so it is imported on first use.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, Protocol

from lambda_src.script_wire import MAX_LINE, WireError, decode

if TYPE_CHECKING:
    from lambda_src.sandbox_threads import InProcessSandbox as InProcessSandbox
    from lambda_src.script_runner import Job

# What the Worker itself (the parent) needs of the function's memory; the sandbox gets the rest.
PARENT_RESERVE_MB = 160
PR_SET_DUMPABLE = 4  # linux/prctl.h
MIN_SANDBOX_MB = 256
# Variables a script's process may see: none holds a credential or the fleet's settings.
_KEEP = frozenset(
    {
        "PATH", "LANG", "LANGUAGE", "TZ", "TMPDIR", "HOME", "USER",
        "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_CA_BUNDLE", "AWS_STS_REGIONAL_ENDPOINTS",
        "AWS_USE_FIPS_ENDPOINT", "AWS_USE_DUALSTACK_ENDPOINT", "AWS_DISABLE_REQUEST_COMPRESSION",
        "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy",
        "SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE",
    }
)  # fmt: skip
_KEEP_PREFIXES = ("LC_", "AWS_ENDPOINT_URL")
# The zygote finds its control socket at this descriptor number, and its sys.path (the
# Worker's) in this variable (read by `lambda_src.sandbox_child`).
CONTROL_FD_ENV = "LAMBDAFAN_SANDBOX_CONTROL_FD"
SYS_PATH_ENV = "LAMBDAFAN_SANDBOX_PATH"
# A job's control message: "j" and its memory limit in MB (0: none), fixed length.
CONTROL_MESSAGE_BYTES = 8
_BOOT = (
    "import json, os, sys; "
    f"sys.path[:] = json.loads(os.environ.pop({SYS_PATH_ENV!r})); "
    "from lambda_src.sandbox_child import main; main()"
)


def __getattr__(name: str) -> Any:
    """`InProcessSandbox`, imported from `lambda_src.sandbox_threads` when first asked for."""
    if name == "InProcessSandbox":
        from lambda_src.sandbox_threads import InProcessSandbox

        return InProcessSandbox
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class ScriptProcess(Protocol):
    """A started job: its messages as they come (ending when it ends), and a way to stop it."""

    def messages(self) -> Iterator[dict[str, Any]]: ...

    def close(self) -> None: ...


class Sandbox(Protocol):
    """Where jobs run."""

    def start(self, job: Job) -> ScriptProcess: ...

    def close(self) -> None: ...


def sandbox_supported() -> bool:
    """Whether this platform can run the sandbox (it forks: Linux and macOS, not Windows)."""
    return hasattr(os, "fork") and hasattr(socket, "send_fds")


def sandbox_env(environ: Mapping[str, str]) -> dict[str, str]:
    """The environment of a script's process: `environ` without credentials or settings, and
    with boto3's shared files pointed nowhere, so nothing but a job's credentials is found."""
    env = {k: v for k, v in environ.items() if k in _KEEP or k.startswith(_KEEP_PREFIXES)}
    env["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull
    env["AWS_CONFIG_FILE"] = os.devnull
    env["AWS_EC2_METADATA_DISABLED"] = "true"
    # Fewer malloc arenas: less memory held per thread.
    env["MALLOC_ARENA_MAX"] = "2"
    return env


def hide_process_memory() -> bool:
    """Make this process non-dumpable (Linux): its /proc environ and memory become unreadable to
    other processes of the same user, such as a script's. True when that took effect."""
    if not sys.platform.startswith("linux"):
        return False
    import ctypes

    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return False
    return bool(prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) == 0)


def control_message(memory_mb: int | None) -> bytes:
    """What the zygote receives with a job's socket: the job's memory limit."""
    limit = max(int(memory_mb or 0), 0)
    return (
        b"j"
        + str(min(limit, 10 ** (CONTROL_MESSAGE_BYTES - 1) - 1))
        .zfill(CONTROL_MESSAGE_BYTES - 1)
        .encode()
    )


def memory_limit_mb(function_mb: int) -> int:
    """The most resident memory a script process may hold in a Worker of `function_mb`."""
    return max(function_mb - PARENT_RESERVE_MB, MIN_SANDBOX_MB)


def describe_exit(status: int | None, memory_mb: int | None = None) -> tuple[str, str]:
    """(error type, cause) for a script's process that ended before its pairs did; `memory_mb`
    when its zygote killed it for holding more memory than that."""
    if memory_mb:
        return (
            "ScriptOutOfMemory",
            f"the script's process held more than {memory_mb} MB, the sandbox's memory limit, "
            "and was stopped",
        )
    if status is None:
        return "ScriptProcessLost", "the script's process went away"
    if os.WIFSIGNALED(status):
        number = os.WTERMSIG(status)
        try:
            name = signal.Signals(number).name
        except ValueError:
            name = f"signal {number}"
        why = {"SIGSEGV": " (a segmentation fault)", "SIGKILL": " (out of memory?)"}
        return (
            "ScriptProcessCrashed",
            f"the script's process was killed by {name}{why.get(name, '')}",
        )
    code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else status
    return "ScriptProcessExited", f"the script's process exited (code {code}, e.g. os._exit)"


# How long closing a sandbox waits for its scripts' last printed lines (its runners are gone by
# then, on Linux; elsewhere one may still hold the pipe).
PRINTED_WAIT_S = 1.0


class ProcessSandbox:
    """Jobs in processes forked from one zygote; at most `max_jobs` at once (None: no limit).
    What scripts print goes to this process's stderr, or line by line to `output`."""

    def __init__(
        self,
        *,
        max_jobs: int | None = None,
        environ: Mapping[str, str] | None = None,
        output: Callable[[str], None] | None = None,
    ) -> None:
        self._env = sandbox_env(os.environ if environ is None else environ)
        self._output = output
        self._printed: _Printed | None = None
        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(max_jobs) if max_jobs else None
        self._zygote: subprocess.Popen[bytes] | None = None
        self._control: socket.socket | None = None

    def start(self, job: Job) -> ScriptProcess:
        """Fork a process for the job (waiting for a free slot) and send it the job."""
        if self._slots is not None:
            self._slots.acquire()
        try:
            ours, theirs = socket.socketpair()
            with self._lock, theirs:
                self._send(theirs, job.memory_mb)
            ours.sendall(json.dumps(job.to_dict()).encode("utf-8") + b"\n")
        except BaseException:
            if self._slots is not None:
                self._slots.release()
            raise
        return _SocketProcess(ours, self._slots)

    def _send(self, sock: socket.socket, memory_mb: int | None) -> None:
        """Hand the job's socket to the zygote, with the job's memory limit (the job itself,
        credentials and all, is read by the job's own process, never by the zygote), starting
        the zygote (again) if it is not running."""
        message = control_message(memory_mb)
        for _ in range(2):
            if self._zygote is None or self._zygote.poll() is not None:
                self._start_zygote()
            assert self._control is not None
            try:
                socket.send_fds(self._control, [message], [sock.fileno()])
                return
            except OSError:
                self._zygote = None
        raise OSError("the script sandbox could not be started")

    def _start_zygote(self) -> None:
        if self._control is not None:
            self._control.close()
        self._control, theirs = socket.socketpair()
        env = dict(self._env)
        env[CONTROL_FD_ENV] = str(theirs.fileno())
        env[SYS_PATH_ENV] = json.dumps([p for p in sys.path if p])
        printed = _Printed(self._output) if self._output is not None else None
        self._printed = printed
        stdout = sys.stderr.fileno() if _has_fileno(sys.stderr) else None
        with theirs:
            # -I: no PYTHON* variables, user site or working folder. Not -S: site's .pth hooks
            # are how an editable install finds lambda_src; sys.path is then the Worker's own.
            try:
                self._zygote = subprocess.Popen(
                    [sys.executable, "-I", "-B", "-u", "-c", _BOOT],
                    env=env,
                    pass_fds=[theirs.fileno()],
                    stdin=subprocess.DEVNULL,
                    stdout=printed.fd if printed else stdout,
                    stderr=printed.fd if printed else None,
                    close_fds=True,
                )
            finally:
                if printed is not None:
                    printed.follow()

    def close(self) -> None:
        """Stop the zygote (running jobs end when their sockets close)."""
        with self._lock:
            if self._control is not None:
                self._control.close()
                self._control = None
            if self._zygote is not None:
                try:
                    self._zygote.wait(timeout=2)
                except subprocess.TimeoutExpired:
                    # SIGTERM first: the zygote kills its runners (Linux also kills them with
                    # it; macOS does not), then SIGKILL if it does not go.
                    self._zygote.terminate()
                    try:
                        self._zygote.wait(timeout=1)
                    except subprocess.TimeoutExpired:
                        self._zygote.kill()
                        self._zygote.wait()
                self._zygote = None
            if self._printed is not None:
                self._printed.finish(PRINTED_WAIT_S)
                self._printed = None


class _Printed:
    """A pipe for what scripts print, each line handed to `output` on a thread of its own (a
    progress bar then draws them above itself instead of being written over)."""

    def __init__(self, output: Callable[[str], None]) -> None:
        self._output = output
        self._read, self.fd = os.pipe()
        self._reader = threading.Thread(target=self._lines, name="script-output", daemon=True)

    def follow(self) -> None:
        """The zygote has the write end now (or failed to start): read until it and every
        runner have closed it."""
        os.close(self.fd)
        self._reader.start()

    def finish(self, timeout_s: float) -> None:
        """Wait (at most `timeout_s`) for the last lines of processes that have ended: they are
        shown before whatever the caller prints next (a run's summary)."""
        self._reader.join(timeout_s)

    def _lines(self) -> None:
        with open(self._read, encoding="utf-8", errors="replace") as lines:
            for line in lines:
                with contextlib.suppress(Exception):  # a failing display never stops a run
                    self._output(line.rstrip("\n"))


def _has_fileno(stream: Any) -> bool:
    try:
        stream.fileno()
    except (AttributeError, OSError, ValueError):
        return False
    return True


class _SocketProcess:
    """A job in a sandbox process, seen through its socket."""

    def __init__(self, sock: socket.socket, slots: threading.BoundedSemaphore | None) -> None:
        self._sock = sock
        self._slots = slots
        self._closed = False
        self._close_lock = threading.Lock()

    def messages(self) -> Iterator[dict[str, Any]]:
        try:
            reader = self._sock.makefile("rb")
            while True:
                line = reader.readline(MAX_LINE + 1)
                if not line:
                    return
                if not line.endswith(b"\n"):
                    yield {"e": "bad", "m": f"sent a message over {MAX_LINE // 1024} KB"}
                    return
                try:
                    yield decode(line)
                except WireError as exc:
                    yield {"e": "bad", "m": f"sent an unreadable message ({exc})"}
                    return
        except (OSError, ValueError):
            return  # closed under us: the job was stopped

    def close(self) -> None:
        """Hang up: the zygote kills the job's process if it still runs."""
        with self._close_lock:
            if self._closed:
                return
            self._closed = True
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)
        self._sock.close()
        if self._slots is not None:
            self._slots.release()
