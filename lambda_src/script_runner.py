"""Runs one job, one script in the regions of one account, and reports each (script, region)
pair as messages (`lambda_src.script_wire`). The same code runs inside the sandbox process and,
for tests and `--no-sandbox`, on threads of the Worker itself."""

from __future__ import annotations

import functools
import sys
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from traceback import format_exception
from typing import Any

from lambda_src.script_wire import encode, record_message
from lambda_src.scripts import (
    GLOBAL_REGION,
    Account,
    Script,
    ScriptError,
    load_script,
    records_of,
    script_error_message,
    script_error_type,
    script_location,
)

# Sends one encoded message; raises `Closed` once the Worker no longer listens.
Emit = Callable[[bytes], None]
# Runs a pair's function on a thread of its own (or of a pool).
Spawn = Callable[[Callable[[], None]], None]
# Modules a script may import in the Worker without declaring them: Lambda's Python has boto3.
RUNTIME_PACKAGES = frozenset(
    {"boto3", "botocore", "s3transfer", "jmespath", "dateutil", "urllib3", "six"}
)
REQUIREMENTS_HINT = "add it to script_requirements"
# Running on this machine, the script has what this Python has installed.
LOCAL_HINT = "install it here, and add it to script_requirements for the Worker"
CREDENTIAL_KEYS = ("AccessKeyId", "SecretAccessKey", "SessionToken")


class Closed(Exception):
    """The Worker stopped listening to this job (its pairs were stopped): end quietly."""


@dataclass(frozen=True)
class Job:
    """One script to run in some regions of one account, with that account's credentials."""

    script: str
    path: str  # absolute
    regions: tuple[str, ...]
    account: Account
    home_region: str
    # The member account's temporary credentials (AccessKeyId, SecretAccessKey, SessionToken:
    # None for long-term keys, as `script test --no-assume` may pass); None: no credentials.
    credentials: Mapping[str, str | None] | None = None
    memory_mb: int | None = None  # the most resident memory its process may hold
    extra_path: tuple[str, ...] = ()  # the vendored script_requirements
    import_only: bool = False  # only check that the script imports
    # What to do about a package the script imports and the sandbox lacks.
    missing_hint: str = REQUIREMENTS_HINT
    traceback: bool = False  # each failure's message carries its whole traceback (`tb`)

    def to_dict(self) -> dict[str, Any]:
        return {
            "script": self.script,
            "path": self.path,
            "regions": list(self.regions),
            "account": {
                "id": self.account.id,
                "name": self.account.name,
                "tags": dict(self.account.tags),
            },
            "home_region": self.home_region,
            "credentials": None
            if self.credentials is None
            else {k: self.credentials.get(k) for k in CREDENTIAL_KEYS},
            "memory_mb": self.memory_mb,
            "extra_path": list(self.extra_path),
            "import_only": self.import_only,
            "missing_hint": self.missing_hint,
            "traceback": self.traceback,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Job:
        account = data["account"]
        return cls(
            script=str(data["script"]),
            path=str(data["path"]),
            regions=tuple(str(r) for r in data["regions"]),
            account=Account(str(account["id"]), str(account["name"]), dict(account["tags"])),
            home_region=str(data["home_region"]),
            credentials=data.get("credentials"),
            memory_mb=data.get("memory_mb"),
            extra_path=tuple(data.get("extra_path", ())),
            import_only=bool(data.get("import_only", False)),
            missing_hint=str(data.get("missing_hint", REQUIREMENTS_HINT)),
            traceback=bool(data.get("traceback", False)),
        )


def import_failure(
    exc: BaseException, hint: str = REQUIREMENTS_HINT, path: str | None = None
) -> dict[str, str]:
    """The `err` message's fields for a script that cannot be imported: its error type, the
    cause (with `hint` for a missing package, which is not in the standard library or boto3),
    where, and the missing module's name."""
    cause = exc.__context__ if isinstance(exc, ScriptError) and exc.__context__ else exc
    fields = {
        "t": script_error_type(cause),
        "m": script_error_message(cause, Path(path) if path else None),
    }
    if isinstance(exc, ScriptError) and exc.location:
        fields["w"] = exc.location
    if isinstance(cause, ModuleNotFoundError) and cause.name:
        top = cause.name.split(".")[0]
        if top not in sys.stdlib_module_names and top not in RUNTIME_PACKAGES:
            folder = Path(path).parent if path else None
            if folder and ((folder / f"{top}.py").is_file() or (folder / top).is_dir()):
                # As validate says it: installing it would not help.
                hint = f"only the script file itself is deployed, not the {top} module beside it"
            fields["m"] = f"{fields['m']} — {hint}"
            fields["mod"] = top
    return fields


def run_job(
    job: Job,
    session: Any,
    emit: Emit,
    spawn: Spawn,
    load: Callable[[Job], Script] | None = None,
) -> None:
    """Import the job's script and start one pair per region on `spawn`; an import that fails
    fails every pair of the job, and nothing else."""
    try:
        script = (load or _load)(job)
    except Closed:
        raise
    except BaseException as exc:  # whatever a script raises at import is the script's fault
        failure = import_failure(exc, job.missing_hint, job.path)
        if job.traceback:
            cause = exc.__context__ if isinstance(exc, ScriptError) else exc
            failure["tb"] = _traceback_of(cause, Path(job.path))
        for region in job.regions:
            emit(encode({"e": "err", "r": region, **failure}))
            emit(encode({"e": "end", "r": region}))
        return
    if job.import_only:
        emit(encode({"e": "ready"}))
        return
    for region in job.regions:
        spawn(
            functools.partial(
                run_pair,
                script,
                session,
                region,
                job.account,
                emit,
                traceback=job.traceback,
                # An account-scoped script's `region` is one it can make clients in (a
                # regional idiom with "global" builds s3.global.amazonaws.com); its records
                # stay labelled "global".
                collect_region=job.home_region if region == GLOBAL_REGION else region,
            )
        )


def _load(job: Job) -> Script:
    return load_script(Path(job.path), job.script)


def run_pair(
    script: Script,
    session: Any,
    region: str,
    account: Account,
    emit: Emit,
    *,
    traceback: bool = False,
    collect_region: str | None = None,
) -> None:
    """Run one script in one region, sending each record as it is found; its failure, if any,
    with the whole traceback when `traceback`. `collect_region` (default `region`) is what
    collect is given. A pair that printed and found no records says how much it printed
    (`printed`, in its `end` message), where prints are counted."""
    found = 0
    label_prints(f"{script.name} {account.id} {region}")
    printed_before = printed_here()
    try:
        emit(encode({"e": "start", "r": region}))
        for record in records_of(
            script.collect(session, collect_region or region, account), script.collect
        ):
            line = record_message(region, record)
            emit(line if line is not None else encode({"e": "big", "r": region}))
            found += 1
    except Closed:
        return
    except BaseException as exc:  # sys.exit(), MemoryError or its own: fails only this pair
        failure = {
            "e": "err",
            "r": region,
            "t": script_error_type(exc),
            "m": script_error_message(exc, script.path),
        }
        where = script_location(exc, script.path)
        if where:
            failure["w"] = where
        if traceback:
            failure["tb"] = _traceback_of(exc, script.path)
        try:
            emit(encode(failure))
        except Closed:
            return
    flush_prints()
    end: dict[str, Any] = {"e": "end", "r": region}
    printed = printed_here() - printed_before
    if printed and not found:
        end["printed"] = printed
    try:
        emit(encode(end))
    except Closed:
        return


def _traceback_of(exc: BaseException | None, path: Path | None = None) -> str:
    """The whole traceback, chained exceptions too; each starts at the script's own first frame
    (at `path`): lambdafan's frames above it say nothing about the script."""
    if exc is None:
        return ""
    if path is not None:
        target = str(path.resolve())
        seen: set[int] = set()
        link: BaseException | None = exc
        while link is not None and id(link) not in seen:
            seen.add(id(link))
            tb = link.__traceback__
            while tb is not None and str(Path(tb.tb_frame.f_code.co_filename).resolve()) != target:
                tb = tb.tb_next
            if tb is not None:
                link.__traceback__ = tb
            link = link.__cause__ or link.__context__
    return "".join(format_exception(exc))


class PrintCounter:
    """`sys.stdout` or `sys.stderr` of a script's process: counts what each thread writes (a
    pair's `collect` runs on a thread of its own) and writes it through a line at a time, each
    line in one write and labelled with its pair (`script account region: ...`), so that lines
    of pairs printing at once never mix. Installed by the sandbox's runner only: on the
    Worker's own threads (`--no-sandbox`, tests) prints are not counted."""

    def __init__(self, stream: Any, counts: dict[int, int], labels: dict[int, str]) -> None:
        self._stream = stream
        self._counts = counts
        self._labels = labels
        self._partial: dict[int, str] = {}
        self._lock = threading.Lock()

    def write(self, text: str) -> int:
        ident = threading.get_ident()
        with self._lock:
            self._counts[ident] = self._counts.get(ident, 0) + len(text)
            lines, newline, rest = (self._partial.pop(ident, "") + text).rpartition("\n")
            if rest:
                self._partial[ident] = rest
        if newline:
            self._write_lines(ident, lines)
        return len(text)

    def flush(self) -> None:
        """Write this thread's unfinished line (a pair that ends without a newline)."""
        ident = threading.get_ident()
        with self._lock:
            rest = self._partial.pop(ident, "")
        if rest:
            self._write_lines(ident, rest)
        self._stream.flush()

    def _write_lines(self, ident: int, lines: str) -> None:
        label = self._labels.get(ident, self._labels.get(0, ""))
        prefix = f"{label}: " if label else ""
        self._stream.write("".join(f"{prefix}{line}\n" for line in lines.split("\n")))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


# What each thread of a script's process has printed (stdout and stderr), and each pair's label.
_PRINTED: dict[int, int] = {}
_LABELS: dict[int, str] = {}


def count_prints(label: str = "") -> None:
    """Count and label what this process's threads print (the sandbox's runner calls this
    once); `label` names what is printed outside a pair (at import)."""
    if label:
        _LABELS[0] = label
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        if not isinstance(stream, PrintCounter):
            setattr(sys, name, PrintCounter(stream, _PRINTED, _LABELS))


def label_prints(label: str) -> None:
    """What this thread prints from now on is labelled so (a pair: script, account, region)."""
    _LABELS[threading.get_ident()] = label


def printed_here() -> int:
    """Characters this thread has printed, where prints are counted (else 0)."""
    if not isinstance(sys.stdout, PrintCounter):
        return 0
    return _PRINTED.get(threading.get_ident(), 0)


def flush_prints() -> None:
    """Write out this thread's unfinished lines, where prints are counted."""
    for stream in (sys.stdout, sys.stderr):
        if isinstance(stream, PrintCounter):
            stream.flush()
