"""`script test`: one run of one script in one account and region, as the Worker runs it.

`run_once` runs the script exactly as the Worker does: one `assume_member_role`, then the script
in the sandbox with those credentials only, its records read back with the Worker's own code, so
a script that works here behaves the same on the fleet.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from lambda_src import names, script_wire, table
from lambda_src.aws_session import AccountSession, assume_member_role
from lambda_src.sandbox import (
    InProcessSandbox,
    ProcessSandbox,
    Sandbox,
    ScriptProcess,
    describe_exit,
    hide_process_memory,
)
from lambda_src.script_runner import LOCAL_HINT, Job
from lambda_src.scripts import GLOBAL_REGION, Account, Scope, describe_script
from lambdafan.aws import Aws, describe_error
from lambdafan.config import SCRIPT_NAME, Config, known_regions
from lambdafan.errors import LambdafanError, UsageError

# The Worker caps assumed sessions at the config's session_duration; an hour is the most AWS
# allows for role chaining, and every role allows at least that by default.
DEFAULT_SESSION_DURATION = 3600

# Records of a test run are shaped by the same builder as a fleet run's; they need a run id.
TEST_RUN_ID = "script-test"
TEST_ATTEMPT = "test"

# A pair that printed and yielded nothing: a laptop script's print() not yet turned into yield.
PRINTED_NOTHING_YIELDED = (
    "the script printed {chars} characters and yielded no records: "
    "yield each record (a dict) instead of printing it"
)

# RoleSessionName of test runs without a config; it shows in the member account's CloudTrail.
SESSION_NAME = "lambdafan-script-test"


@dataclass(frozen=True)
class Credentials:
    """How the script's session is made: assume `role` (None: the caller's own credentials)."""

    role: str | None
    external_id: str | None = None
    session_duration: int = DEFAULT_SESSION_DURATION
    session_name: str = SESSION_NAME


@dataclass(frozen=True)
class ScriptFailure:
    """Why a script stopped: where (`file:line`), the error type (AWS code or class), message."""

    location: str
    error_type: str
    message: str
    traceback: str | None = None  # the whole traceback, when `run_once(traceback=True)`

    def line(self) -> str:
        """One line for the terminal: `file:line: Type: message`."""
        return f"{self.location}: {self.error_type}: {self.message}"


@dataclass
class ScriptRun:
    """One run of one script in one account and region."""

    script: str
    scope: Scope
    account: Account
    region: str
    rows: list[dict[str, Any]] = field(default_factory=list)
    elapsed: float = 0.0
    failure: ScriptFailure | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.failure is None


def choose_credentials(
    config: Config | None,
    *,
    assume: bool,
    role: str | None,
    external_id: str | None,
    why_none: str,
) -> Credentials:
    """The fleet's member role (options given win over the config), or the caller's credentials.

    `why_none` starts the error raised when a role is needed and neither names one.
    """
    if not assume:
        if role or external_id:
            raise UsageError("--no-assume assumes no role: drop --role and --external-id")
        return Credentials(role=None)
    if config is None:
        if role is None:
            raise UsageError(
                f"{why_none}: pass --role NAME (the fleet's member role), -c FILE, "
                "or --no-assume to use your current credentials"
            )
        return Credentials(role=role, external_id=external_id)
    member = config.member_role
    return Credentials(
        role=role or member.name,
        external_id=external_id or member.external_id,
        session_duration=member.session_duration,
        session_name=f"lambdafan-{config.fleet}-script-test",
    )


def account_name(config: Config | None, account_id: str) -> str:
    """The account's name in the config's list, else its id (as the Director names it)."""
    if config is not None:
        for entry in config.accounts.entries:
            if entry.id == account_id:
                return entry.name
    return account_id


def run_once(
    path: Path,
    *,
    aws: Aws,
    account: Account | None,
    region: str | None,
    credentials: Credentials,
    sandbox: bool = True,
    memory_mb: int | None = None,
    name_of: Callable[[str], str] = str,
    traceback: bool = False,
) -> ScriptRun:
    """Run the script once, in the Worker's sandbox (or, `sandbox=False`, in this process); a
    script whose source is broken raises `ScriptError`.

    `account` None (only with the caller's own credentials): the caller's account, named by
    `name_of`.

    A script that raises is not an exception here: the records it yielded so far and the failure
    are returned, as the fleet keeps them; with `traceback`, the failure's whole traceback too.
    """
    script = describe_script(path)
    warnings: list[str] = []
    if not SCRIPT_NAME.fullmatch(script.name):
        warnings.append(
            f"{path.name}: a fleet accepts only script file names of letters, digits, '_' and '-'"
        )
    home_region = aws.region
    if not home_region:
        raise UsageError(
            "no AWS region: pass --region, set AWS_DEFAULT_REGION or give your profile a region"
        )
    if script.scope == "account":
        if region and region != GLOBAL_REGION:
            warnings.append(
                f"account-scoped script: it runs once, given region {home_region} (its "
                f'records say "{GLOBAL_REGION}"); --region {region} is ignored'
            )
        region = GLOBAL_REGION
    elif region and region not in known_regions():
        # Caught here, or the script's first client call fails with an endpoint error instead.
        raise UsageError(f"--region: {region!r} is not an AWS region")
    if account is None and credentials.role is not None:
        raise UsageError("--account ACCOUNT_ID is needed to assume a role in it")
    account_id, keys = _script_credentials(
        aws, account.id if account else None, home_region, credentials, warnings
    )
    if account is None:
        account = Account(id=account_id, name=name_of(account_id))
    run = ScriptRun(script.name, script.scope, account, region or home_region, warnings=warnings)
    job = Job(
        script=script.name,
        path=str(path),  # as given: errors name it so (the sandbox starts in this folder)
        regions=(run.region,),
        account=account,
        home_region=home_region,
        credentials=keys,
        memory_mb=memory_mb,
        missing_hint=LOCAL_HINT,
        traceback=traceback,
    )
    if sandbox:
        # This process holds the caller's credentials: the script runs as the same user.
        hide_process_memory()
    box: Sandbox = (
        ProcessSandbox()
        if sandbox
        else InProcessSandbox(lambda _: AccountSession(aws.session, keys, home_region))
    )
    started = time.monotonic()
    try:
        _follow(box.start(job), run, script.key)
    finally:
        box.close()
    run.elapsed = time.monotonic() - started
    return run


def _follow(process: ScriptProcess, run: ScriptRun, key: tuple[str, ...]) -> None:
    """Read the job's messages into `run`: its records as `results` shows them, or why it
    stopped. The process is killed when this returns (or raises: Ctrl-C)."""
    seen: dict[str, int] = {}
    status: int | None = None
    ended = False
    try:
        for message in process.messages():
            kind = message["e"]
            if kind == "rec":
                item = table.record_item(
                    TEST_RUN_ID,
                    run.account.id,
                    run.account.name,
                    run.script,
                    run.region,
                    script_wire.record_of(message),
                    collected_at="",
                    expires_at=0,
                    seen=seen,
                    attempt=TEST_ATTEMPT,
                    key=key,
                )
                # The stored form, read back: what `lambdafan results` would show for it.
                run.rows.append(table.record_view(item))
            elif kind == "big":
                run.warnings.append("a record over DynamoDB's 400 KB item limit was left out")
            elif kind == "err":
                where = str(message.get("w") or run.script)
                trace = message.get("tb")
                run.failure = ScriptFailure(
                    where,
                    str(message.get("t")),
                    str(message.get("m")),
                    trace if isinstance(trace, str) and trace else None,
                )
            elif kind == "exit":
                status = message.get("status") if isinstance(message.get("status"), int) else None
            elif kind == "bad":
                run.failure = ScriptFailure(run.script, "ScriptProcessError", str(message.get("m")))
                ended = True
                break
            elif kind == "end":
                printed = message.get("printed")
                if isinstance(printed, int) and printed > 0 and not run.rows:
                    run.warnings.append(PRINTED_NOTHING_YIELDED.format(chars=printed))
                ended = True
                break
    finally:
        process.close()
    if not ended and run.failure is None:
        error_type, cause = describe_exit(status)
        run.failure = ScriptFailure(run.script, error_type, cause)


def _script_credentials(
    aws: Aws,
    account_id: str | None,
    home_region: str,
    credentials: Credentials,
    warnings: list[str],
) -> tuple[str, dict[str, str | None]]:
    """The account the script runs in (`account_id`, or the caller's when None) and its keys."""
    # As the Worker: a regional STS client in the home region (opt-in regions reject tokens from
    # the global endpoint) and an AccountSession whose default region is the home region.
    sts = aws.client("sts", home_region)
    if credentials.role is None:
        caller = str(sts.get_caller_identity()["Account"])
        if account_id is not None and caller != account_id:
            warnings.append(
                f"--no-assume: your credentials are in account {caller}, not {account_id}; "
                f"the records come from {caller} but are labelled {account_id}"
            )
        own = aws.session.get_credentials()
        if own is None:
            raise UsageError("--no-assume: no AWS credentials found (profile, environment)")
        frozen = own.get_frozen_credentials()
        return caller, {
            "AccessKeyId": frozen.access_key,
            "SecretAccessKey": frozen.secret_key,
            "SessionToken": frozen.token,
        }
    assert account_id is not None  # run_once asks for one to assume a role in
    partition = names.partition_for(home_region)
    try:
        assumed = assume_member_role(
            sts,
            account_id,
            credentials.role,
            partition=partition,
            session_name=credentials.session_name,
            external_id=credentials.external_id,
            duration=credentials.session_duration,
        )
    except ClientError as exc:
        raise LambdafanError(
            f"cannot assume {names.role_arn(partition, account_id, credentials.role)}: "
            f"{describe_error(exc)} "
            "(is the member role deployed there and does it trust your credentials?)"
        ) from None
    return account_id, dict(assumed)
