"""Working on one script: a starter file, one run in one account and region, the script catalog.

`run_once` builds the script's session exactly as the Worker does (one `assume_member_role`, an
`AccountSession` over the caller's own Session) and normalizes what `collect` returns with the
Worker's own code, so a script that works here behaves the same on the fleet.
"""

from __future__ import annotations

import ast
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from lambda_src import table
from lambda_src.aws_session import (
    RETRY_CONFIG,
    AccountSession,
    assume_member_role,
    member_role_arn,
)
from lambda_src.scripts import (
    BUILTIN_DIR,
    GLOBAL_REGION,
    Account,
    Scope,
    ScriptError,
    builtin_scripts,
    check_script,
    load_script,
    script_location,
)

# Private helpers of the Worker, imported rather than copied: a test run must accept and reject
# exactly what a fleet run does, and name errors the same way.
from lambda_src.worker import error_type_of, records_of
from lambdafan.config import SCRIPT_NAME, Config, known_regions, load_config
from lambdafan.errors import LambdafanError, UsageError

# The Worker caps assumed sessions at the config's session_duration; an hour is the most AWS
# allows for role chaining, and every role allows at least that by default.
DEFAULT_SESSION_DURATION = 3600
# Records of a test run are shaped by the same builder as a fleet run's; they need a run id.
TEST_RUN_ID = "script-test"
# RoleSessionName of test runs without a config; it shows in the member account's CloudTrail.
SESSION_NAME = "lambdafan-script-test"

# --- `script new` ------------------------------------------------------------------------------

_HEADER = '''\
"""__NAME__: TODO say in one line what this script reports (`lambdafan script list` shows it).

__RUNS__
Replace the example in `collect` with your own calls, then try it on one account:
    lambdafan script test __NAME__.py --account 111111111111__REGION_ARG__
"""

# "region": collect runs once per (account, region), for regional services (EC2, RDS, Lambda).
# "account": once per account with region "global", for global ones (IAM, Organizations, S3 list).
SCOPE = "__SCOPE__"


def collect(session, region, account):
    """Yield one dict per thing found; each becomes one row of the results table.

    session: a boto3.Session look-alike already inside the target account (lambdafan assumed
             the member role): make clients with session.client(...), never boto3.client(...),
             which would use lambdafan's own account instead.
    region:  __REGION_DOC__
    account: the target account: account.id, account.name, account.tags.
    """
'''

_REGION_BODY = """\
    ec2 = session.client("ec2", region_name=region)
    # A paginator fetches every page; a bare describe_instances() stops after the first one.
    for page in ec2.get_paginator("describe_instances").paginate():
        for reservation in page["Reservations"]:
            for instance in reservation["Instances"]:
                # Plain values only; datetimes and Decimals are converted for you.
                yield {
                    "instance_id": instance["InstanceId"],
                    "type": instance["InstanceType"],
                    "state": instance["State"]["Name"],
                    "launched": instance["LaunchTime"],
                }
"""

_ACCOUNT_BODY = """\
    # IAM is global: any region reaches it, so the client keeps the session's default region.
    iam = session.client("iam")
    # A paginator fetches every page; a bare list_users() stops after the first 100 users.
    for page in iam.get_paginator("list_users").paginate():
        for user in page["Users"]:
            # Plain values only; datetimes and Decimals are converted for you.
            yield {
                "user_name": user["UserName"],
                "arn": user["Arn"],
                "created": user["CreateDate"],
                "password_last_used": user.get("PasswordLastUsed"),
            }
"""

_BY_SCOPE: dict[Scope, dict[str, str]] = {
    "region": {
        "__RUNS__": "Runs once in every region of every account.",
        "__REGION_ARG__": " --region us-east-1",
        "__REGION_DOC__": "the region to look in: pass it on, as in region_name=region.",
        "body": _REGION_BODY,
    },
    "account": {
        "__RUNS__": "Runs once per account (see SCOPE below), for a global service.",
        "__REGION_ARG__": "",
        "__REGION_DOC__": '"global" (SCOPE = "account"): not a real region, don\'t pass it on.',
        "body": _ACCOUNT_BODY,
    },
}


def starter_script(name: str, scope: Scope) -> str:
    """The text of a commented starter script that follows the contract."""
    parts = _BY_SCOPE[scope]
    text = _HEADER.replace("__NAME__", name).replace("__SCOPE__", scope)
    for placeholder in ("__RUNS__", "__REGION_ARG__", "__REGION_DOC__"):
        text = text.replace(placeholder, parts[placeholder])
    return text + parts["body"]


def script_name(name: str) -> str:
    """A valid script name from what the user typed (`foo` or `foo.py`); else a UsageError."""
    stem = name.removesuffix(".py")
    if not SCRIPT_NAME.fullmatch(stem):
        # The name ends up in the results table's keys, where `#` separates fields.
        raise UsageError(
            f"{name!r} is not a valid script name: use only letters, digits, '_' and '-'"
        )
    return stem


def write_starter(name: str, scope: Scope, folder: Path, *, force: bool = False) -> Path:
    """Write `folder/NAME.py` from the starter; refuses to overwrite unless `force`."""
    path = folder / f"{script_name(name)}.py"
    text = starter_script(path.stem, scope)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        # "x" fails if the file appeared since we looked: no silent overwrite in any case.
        with path.open("w" if force else "x", encoding="utf-8") as handle:
            handle.write(text)
    except FileExistsError:
        raise UsageError(f"{path} already exists (use --force to overwrite it)") from None
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from None
    return path


# --- config and session ------------------------------------------------------------------------


def optional_config(path: Path, *, explicit: bool) -> Config | None:
    """The config if there is one: a missing default file is None, a named one must exist.

    A config that exists but is broken raises `ConfigError`.
    """
    if not explicit and not path.exists():
        return None
    return load_config(path)


def user_session(profile: str | None, region: str | None) -> Any:
    """The caller's own boto3 Session (AWS_ENDPOINT_URL is honoured by boto3)."""
    try:
        session = boto3.Session(profile_name=profile, region_name=region)
    except BotoCoreError as exc:
        raise UsageError(str(exc)) from None
    if not session.region_name:
        raise UsageError(
            "no AWS region: pass --region, set AWS_DEFAULT_REGION or give your profile a region"
        )
    return session


# --- `script test` -----------------------------------------------------------------------------


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
    base_session: Any,
    account: Account,
    region: str | None,
    credentials: Credentials,
) -> ScriptRun:
    """Load the script and run it once; a broken script raises `ScriptError`.

    A script that raises is not an exception here: the records it yielded so far and the failure
    are returned, as the fleet keeps them.
    """
    script = load_script(path)
    warnings: list[str] = []
    if not SCRIPT_NAME.fullmatch(script.name):
        warnings.append(
            f"{path.name}: a fleet accepts only script file names of letters, digits, '_' and '-'"
        )
    home_region: str = base_session.region_name
    if script.scope == "account":
        if region and region != GLOBAL_REGION:
            warnings.append(
                f'account-scoped script: it runs once with region "{GLOBAL_REGION}"; '
                f"--region {region} is ignored"
            )
        region = GLOBAL_REGION
    elif region and region not in known_regions():
        # Caught here, or the script's first client call fails with an endpoint error instead.
        raise UsageError(f"--region: {region!r} is not an AWS region")
    session = _script_session(base_session, account.id, home_region, credentials, warnings)
    run = ScriptRun(script.name, script.scope, account, region or home_region, warnings=warnings)
    seen: dict[str, int] = {}
    started = time.monotonic()
    try:
        for record in records_of(script.collect(session, run.region, account)):
            item = table.record_item(
                TEST_RUN_ID,
                account.id,
                account.name,
                script.name,
                run.region,
                record,
                collected_at="",
                expires_at=0,
                seen=seen,
            )
            # The stored form, read back: what `lambdafan results` would show for this record.
            run.rows.append(table.record_view(item))
    except (Exception, SystemExit) as exc:  # a script calling sys.exit() fails only itself
        run.failure = ScriptFailure(script_location(exc, path), error_type_of(exc), str(exc))
    run.elapsed = time.monotonic() - started
    return run


def _script_session(
    base_session: Any,
    account_id: str,
    home_region: str,
    credentials: Credentials,
    warnings: list[str],
) -> AccountSession:
    # As the Worker: a regional STS client in the home region (opt-in regions reject tokens from
    # the global endpoint) and an AccountSession whose default region is the home region.
    sts = base_session.client("sts", region_name=home_region, config=RETRY_CONFIG)
    if credentials.role is None:
        caller = sts.get_caller_identity()["Account"]
        if caller != account_id:
            warnings.append(
                f"--no-assume: your credentials are in account {caller}, not {account_id}; "
                f"the records come from {caller} but are labelled {account_id}"
            )
        return AccountSession(base_session, None, home_region)
    try:
        assumed = assume_member_role(
            sts,
            account_id,
            credentials.role,
            session_name=credentials.session_name,
            external_id=credentials.external_id,
            duration=credentials.session_duration,
        )
    except ClientError as exc:
        error = exc.response.get("Error", {})
        raise LambdafanError(
            f"cannot assume {member_role_arn(account_id, credentials.role)}: "
            f"{error.get('Code', 'error')}: {error.get('Message', exc)} "
            "(is the member role deployed there and does it trust your credentials?)"
        ) from None
    return AccountSession(base_session, assumed, home_region)


# --- `script list` -----------------------------------------------------------------------------


@dataclass(frozen=True)
class ScriptInfo:
    """One script as `script list` shows it."""

    name: str
    scope: str
    source: str  # "built-in", or the path as written in the config
    summary: str  # first line of the module docstring
    configured: bool


def list_scripts(config: Config | None) -> list[ScriptInfo]:
    """The config's scripts in config order, then the built-ins it does not use."""
    infos: list[ScriptInfo] = []
    used: set[Path] = set()
    if config is not None:
        for entry, path in zip(config.scripts, config.script_paths(), strict=True):
            used.add(path.resolve())
            infos.append(describe_script(path, entry, configured=True))
    for path in builtin_scripts().values():
        if path.resolve() not in used:
            infos.append(describe_script(path, "", configured=False))
    return infos


def describe_script(path: Path, entry: str, *, configured: bool) -> ScriptInfo:
    """Name, scope, source and summary of a script file, without importing it."""
    builtin = path.resolve().parent == BUILTIN_DIR
    source = "built-in" if builtin else entry or str(path)
    try:
        scope: str = check_script(path)
        summary = _summary(path)
    except ScriptError as exc:
        # Listing should still show the other scripts; the row says what is wrong.
        scope, summary = "broken", str(exc)
    return ScriptInfo(path.stem, scope, source, summary, configured)


def _summary(path: Path) -> str:
    docstring = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
    return docstring.strip().splitlines()[0] if docstring.strip() else ""
