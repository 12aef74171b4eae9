"""`validate`'s import check: each script is imported in a sandbox, never in the CLI's process,
so a script that sleeps, exits or crashes at import cannot hang or end `validate`."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

from lambda_src.sandbox import ProcessSandbox, Sandbox, ScriptProcess, describe_exit
from lambda_src.script_runner import Job
from lambda_src.scripts import GLOBAL_REGION, Account, ScriptSpec

# How long a script may take to import; the Worker imports every script at every run.
IMPORT_LIMIT_S = 10.0
# How long the sandbox itself may take to start a script's process (a loaded machine is slow).
START_LIMIT_S = 60.0
POLL_S = 0.05
_NOBODY = Account(id="000000000000", name="validate")


# What a script's import raises when it calls AWS: the sandbox gives it no credentials.
NO_CREDENTIALS = "botocore.exceptions.NoCredentialsError"


@dataclass(frozen=True)
class ImportProblem:
    """A script that did not import, as one line naming its file (and line, when known);
    `untried` when what it lacks is a declared requirement this machine does not have;
    `calls_aws` when it called AWS at import (which works in the fleet, in the member account)."""

    text: str
    untried: bool = False
    calls_aws: bool = False

    def __str__(self) -> str:
        return self.text


def import_problems(
    scripts: Sequence[ScriptSpec],
    home_region: str,
    *,
    limit_s: float = IMPORT_LIMIT_S,
    sandbox: Sandbox | None = None,
    declared: frozenset[str] = frozenset(),
) -> list[ImportProblem]:
    """Import every script in its own sandbox process (all at once, without credentials); a
    script still importing `limit_s` after its process started is killed and reported. A
    module missing here that a requirement provides (`declared`) makes the script untried."""
    box = sandbox or ProcessSandbox()
    try:
        checks = [_Check(spec, box, home_region) for spec in scripts]
        give_up = time.monotonic() + START_LIMIT_S + limit_s
        while any(c.running(limit_s) for c in checks) and time.monotonic() < give_up:
            time.sleep(POLL_S)
        late = {id(c) for c in checks if c.thread.is_alive()}
        for check in checks:
            check.stop()
    finally:
        if sandbox is None:
            box.close()
    problems = []
    for check in checks:
        if id(check) in late:
            problems.append(
                ImportProblem(f"{check.spec.path}: still importing after {limit_s:g}s (killed)")
            )
        elif check.missing in declared:
            problems.append(
                ImportProblem(
                    f"{check.spec.path}: import not tried: {check.missing} (from "
                    "script_requirements) is not installed here",
                    untried=True,
                )
            )
        elif check.no_credentials:
            problems.append(
                ImportProblem(
                    f"{check.where}: calls AWS at import (without credentials here: "
                    "NoCredentialsError), so its import was not checked: move the call into "
                    "collect(session, region, account)",
                    calls_aws=True,
                )
            )
        elif not check.ok:
            problems.append(ImportProblem(check.reason or f"{check.spec.path}: fails on import"))
    return problems


class _Check:
    """One script's import, followed on a thread of its own."""

    def __init__(self, spec: ScriptSpec, sandbox: Sandbox, home_region: str) -> None:
        self.spec = spec
        self.ok = False
        self.reason: str | None = None
        self._process: ScriptProcess | None = None
        self._lock = threading.Lock()
        self._began: float | None = None  # when its process started importing it
        self.missing: str | None = None  # the package it lacks, if that is why it failed
        self.no_credentials = False  # it failed calling AWS
        self.where = str(spec.path)  # its file, and the failing line when known
        job = Job(
            script=spec.name,
            path=str(spec.path.resolve()),
            regions=(GLOBAL_REGION,),
            account=_NOBODY,
            home_region=home_region,
            import_only=True,
        )
        self.thread = threading.Thread(target=self._run, args=(sandbox, job), daemon=True)
        self.thread.start()

    def _run(self, sandbox: Sandbox, job: Job) -> None:
        try:
            process = sandbox.start(job)
        except OSError as exc:
            self.reason = f"{self.spec.path}: could not start a sandbox to import it: {exc}"
            return
        with self._lock:
            self._process = process
        status: int | None = None
        for message in process.messages():
            kind = message["e"]
            if kind == "start" and self._began is None:
                self._began = time.monotonic()
            if kind == "ready":
                self.ok = True
                break
            if kind == "err":
                self.where = str(message.get("w") or self.spec.path)
                self.reason = (
                    f"{self.where}: fails on import: {message.get('t')}: {message.get('m')}"
                )
                self.missing = str(message["mod"]) if message.get("mod") else None
                self.no_credentials = message.get("t") == NO_CREDENTIALS
                break
            if kind == "exit":
                status = message.get("status") if isinstance(message.get("status"), int) else None
            if kind == "bad":
                self.reason = f"{self.spec.path}: the sandbox importing it {message.get('m')}"
                break
        else:
            self.reason = f"{self.spec.path}: fails on import: {describe_exit(status)[1]}"
        process.close()

    def running(self, limit_s: float) -> bool:
        """Still importing, and within its time limit (or not started yet)."""
        if not self.thread.is_alive():
            return False
        return self._began is None or time.monotonic() < self._began + limit_s

    def stop(self) -> None:
        with self._lock:
            if self._process is not None:
                self._process.close()
