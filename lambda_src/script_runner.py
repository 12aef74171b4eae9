"""Runs one job, one script in the regions of one account, and reports each (script, region)
pair as messages (`lambda_src.script_wire`). The same code runs inside the sandbox process and,
for tests and `--no-sandbox`, on threads of the Worker itself."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lambda_src.script_wire import encode, record_message
from lambda_src.scripts import (
    Account,
    Script,
    ScriptError,
    error_type_of,
    load_script,
    records_of,
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
        )


def import_failure(exc: BaseException, hint: str = REQUIREMENTS_HINT) -> dict[str, str]:
    """The `err` message's fields for a script that cannot be imported: its error type, the
    cause (with `hint` for a missing package, which is not in the standard library or boto3),
    where, and the missing module's name."""
    cause = exc.__context__ if isinstance(exc, ScriptError) and exc.__context__ else exc
    fields = {"t": error_type_of(cause), "m": str(cause) or type(cause).__name__}
    if isinstance(exc, ScriptError) and exc.location:
        fields["w"] = exc.location
    if isinstance(cause, ModuleNotFoundError) and cause.name:
        top = cause.name.split(".")[0]
        if top not in sys.stdlib_module_names and top not in RUNTIME_PACKAGES:
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
        failure = import_failure(exc, job.missing_hint)
        for region in job.regions:
            emit(encode({"e": "err", "r": region, **failure}))
            emit(encode({"e": "end", "r": region}))
        return
    if job.import_only:
        emit(encode({"e": "ready"}))
        return
    for region in job.regions:
        spawn(functools.partial(run_pair, script, session, region, job.account, emit))


def _load(job: Job) -> Script:
    return load_script(Path(job.path), job.script)


def run_pair(script: Script, session: Any, region: str, account: Account, emit: Emit) -> None:
    """Run one script in one region, sending each record as it is found."""
    try:
        emit(encode({"e": "start", "r": region}))
        for record in records_of(script.collect(session, region, account)):
            line = record_message(region, record)
            emit(line if line is not None else encode({"e": "big", "r": region}))
    except Closed:
        return
    except BaseException as exc:  # sys.exit(), MemoryError or its own: fails only this pair
        failure = {"e": "err", "r": region, "t": error_type_of(exc), "m": _text_of(exc)}
        where = script_location(exc, script.path)
        try:
            emit(encode({**failure, "w": where} if where else failure))
        except Closed:
            return
    try:
        emit(encode({"e": "end", "r": region}))
    except Closed:
        return


def _text_of(exc: BaseException) -> str:
    """An exception's message; never empty (`MemoryError()` has none)."""
    if str(exc):
        return str(exc)
    return "out of memory" if isinstance(exc, MemoryError) else "(no message)"
