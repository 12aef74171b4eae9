"""The shape of `lambdafan.yaml`: pydantic models, their cross-field checks, and `Config`'s
conversion to the `FleetSettings` the functions run with."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

from pydantic import (
    BeforeValidator,
    Field,
    PrivateAttr,
    ValidationInfo,
    field_validator,
    model_validator,
)

from lambda_src import scripts as script_contract
from lambda_src.settings import (
    AccountRef,
    FleetSettings,
    NotifySettings,
    ScriptRef,
    WavefrontSettings,
)
from lambdafan.config.base import StrictModel as _Model
from lambdafan.config.errors import Invalid, kind, raise_all
from lambdafan.config.notify import Metrics, Notify
from lambdafan.config.results import Results, glue_table_clashes
from lambdafan.config.values import (
    AccountId,
    ExternalId,
    FleetName,
    LogRetentionDays,
    Memory,
    OrganizationalUnit,
    Region,
    ReservedConcurrency,
    RoleName,
    Schedule,
    ScheduleOverlap,
    ScriptRequirement,
    SessionDuration,
    Text,
    Timeout,
    account_id,
    null_is_empty,
    null_is_no_items,
    project_name,
)

# Script names go into the results table's sort keys, where `#` separates fields.
SCRIPT_NAME = re.compile(r"[A-Za-z0-9_-]+")

DEFAULT_SCHEDULE = "cron(0 6 * * ? *)"
CONFIG_DIR_CONTEXT = "config_dir"
# Set (True) to accept the scripts as listed, unchecked: `script test` tries one script of a
# config while another is still being written.
SCRIPTS_UNCHECKED_CONTEXT = "scripts_unchecked"


def _account_entry(value: object) -> object:
    # The short form `- "111111111111"` is checked here so its error points at the list item,
    # not at an `id` key the user never wrote.
    if isinstance(value, (str, int)):
        return {"id": account_id(value)}
    return value


class AccountEntry(_Model):
    """An account named in `accounts.list`."""

    id: AccountId
    name: Text = ""  # replaced by the id when not given

    @model_validator(mode="after")
    def _default_name(self) -> AccountEntry:
        if not self.name:
            self.name = self.id
        return self


class Organization(_Model):
    """Account discovery through AWS Organizations."""

    enabled: bool = False
    ous: list[OrganizationalUnit] = Field(default_factory=list)


class Accounts(_Model):
    """Which accounts a run covers."""

    entries: list[Annotated[AccountEntry, BeforeValidator(_account_entry)]] = Field(
        default_factory=list, alias="list"
    )
    organization: Annotated[Organization, BeforeValidator(null_is_empty)] = Field(
        default_factory=Organization
    )
    exclude: list[AccountId] = Field(default_factory=list)

    @field_validator("entries")
    @classmethod
    def _unique_ids(cls, entries: list[AccountEntry]) -> list[AccountEntry]:
        first_index: dict[str, int] = {}
        problems: list[Invalid] = []
        for index, entry in enumerate(entries):
            if entry.id in first_index:
                problems.append(
                    Invalid(
                        f"account {entry.id!r} is already listed at accounts.list"
                        f"[{first_index[entry.id]}]",
                        at=(index,),
                    )
                )
                continue
            first_index[entry.id] = index
        raise_all(problems)
        return entries

    @model_validator(mode="after")
    def _something_to_run(self) -> Accounts:
        problems: list[Invalid] = []
        if self.organization.ous and not self.organization.enabled:
            problems.append(
                Invalid(
                    "has no effect unless organization.enabled is true", at=("organization", "ous")
                )
            )
        if not self.entries and not self.organization.enabled:
            problems.append(Invalid("name accounts in `list` or enable `organization`"))
        elif not self.organization.enabled and {e.id for e in self.entries} <= set(self.exclude):
            problems.append(
                Invalid("excludes every account in `list`, so nothing would run", at=("exclude",))
            )
        raise_all(problems)
        return self


class MemberRole(_Model):
    """The role the Worker assumes in each account."""

    name: RoleName = "lambdafan-member"
    external_id: ExternalId | None = None
    # The Worker assumes the member role with a role's credentials (role chaining): AWS caps that
    # session at one hour.
    session_duration: SessionDuration = 3600


class FunctionSize(_Model):
    """Memory and timeout of one Lambda function."""

    memory: Memory = 256
    timeout: Timeout = 300


class _WorkerSize(FunctionSize):
    # Workers run every script of an account, so they get the most room by default.
    memory: Memory = 1024
    timeout: Timeout = 900
    # Caps how many Workers run at once (and reserves them from the account's pool); None:
    # no cap. Events over the cap wait in Lambda's queue, within the Worker's event age.
    reserved_concurrency: ReservedConcurrency | None = None


class _NotifierSize(FunctionSize):
    timeout: Timeout = 60


class Functions(_Model):
    """Sizes of the fleet's three functions, and how long their logs are kept."""

    log_retention_days: LogRetentionDays = 30

    director: Annotated[FunctionSize, BeforeValidator(null_is_empty)] = Field(
        default_factory=FunctionSize
    )
    worker: Annotated[_WorkerSize, BeforeValidator(null_is_empty)] = Field(
        default_factory=_WorkerSize
    )
    notifier: Annotated[_NotifierSize, BeforeValidator(null_is_empty)] = Field(
        default_factory=_NotifierSize
    )


def _resolve_script(entry: str, config_dir: Path) -> Path:
    if not entry.endswith(".py"):
        builtins = script_contract.builtin_scripts()
        if entry in builtins:
            return builtins[entry]
        available = ", ".join(builtins) or "none installed"
        raise ValueError(
            f"{entry!r} is not a built-in script (available: {available}); "
            "a path to your own script must end in .py"
        )
    path = config_dir / Path(entry).expanduser()
    if not path.is_file():
        looked = "" if Path(entry).is_absolute() else f" (looked for {path})"
        problem = "not a file" if path.exists() else "file not found"
        raise ValueError(f"{entry}: {problem}{looked}")
    return path.resolve()


class Config(_Model):
    """A validated `lambdafan.yaml`."""

    fleet: FleetName
    home_region: Region
    schedule: Schedule | None = DEFAULT_SCHEDULE
    # A scheduled run that fires while the previous one still runs: skip it, or allow both.
    schedule_overlap: ScheduleOverlap = "skip"
    accounts: Accounts
    # None means every region enabled in each account.
    regions: Annotated[list[Region], Field(min_length=1)] | None = None
    member_role: Annotated[MemberRole, BeforeValidator(null_is_empty)] = Field(
        default_factory=MemberRole
    )
    scripts: Annotated[list[Text], Field(min_length=1)]
    # pip requirements the scripts import; deploy vendors them into the Worker's bundle only.
    script_requirements: Annotated[list[ScriptRequirement], BeforeValidator(null_is_no_items)] = (
        Field(default_factory=list)
    )
    results: Annotated[Results, BeforeValidator(null_is_empty)] = Field(default_factory=Results)
    functions: Annotated[Functions, BeforeValidator(null_is_empty)] = Field(
        default_factory=Functions
    )
    notify: Annotated[Notify, BeforeValidator(null_is_empty)] = Field(default_factory=Notify)
    metrics: Annotated[Metrics, BeforeValidator(null_is_empty)] = Field(default_factory=Metrics)

    _config_dir: Path = PrivateAttr(default_factory=Path.cwd)

    @property
    def config_dir(self) -> Path:
        """The config file's folder; relative script paths are resolved against it."""
        return self._config_dir

    @field_validator("regions", mode="before")
    @classmethod
    def _all_regions(cls, value: object) -> object:
        if value == "all":
            return None
        if value is None or isinstance(value, str):
            raise ValueError(f"use `all` or a list of region names, got {kind(value)}")
        return value

    @field_validator("regions")
    @classmethod
    def _unique_regions(cls, regions: list[str] | None) -> list[str] | None:
        seen: set[str] = set()
        problems: list[Invalid] = []
        for index, region in enumerate(regions or ()):
            if region in seen:
                problems.append(Invalid(f"{region!r} is listed twice", at=(index,)))
            seen.add(region)
        raise_all(problems)
        return regions

    @field_validator("scripts")
    @classmethod
    def _check_scripts(cls, entries: list[str], info: ValidationInfo) -> list[str]:
        if isinstance(info.context, dict) and info.context.get(SCRIPTS_UNCHECKED_CONTEXT):
            return entries
        config_dir = _config_dir_from(info)
        index_by_name: dict[str, int] = {}
        problems: list[Invalid] = []
        for index, entry in enumerate(entries):
            try:
                path = _resolve_script(entry, config_dir)
                script_contract.check_script(path)
            except (ValueError, script_contract.ScriptError) as exc:
                problems.append(Invalid(str(exc), at=(index,)))
                continue
            if not SCRIPT_NAME.fullmatch(path.stem):
                problems.append(
                    Invalid(
                        f"{path.name}: script file names may use only letters, digits, '_' and '-'",
                        at=(index,),
                    )
                )
            elif path.stem in index_by_name:
                problems.append(
                    Invalid(
                        f"two scripts are named {path.stem!r} (scripts"
                        f"[{index_by_name[path.stem]}] and this one); script names come from "
                        "file names and must be unique",
                        at=(index,),
                    )
                )
            else:
                index_by_name[path.stem] = index
        raise_all(problems)
        return entries

    @field_validator("script_requirements")
    @classmethod
    def _one_requirement_per_project(cls, requirements: list[str]) -> list[str]:
        # pip would fail on two pins of one project; saying where is kinder. Entries with
        # environment markers may name one project twice (one per Python version, say).
        first_index: dict[str, int] = {}
        problems: list[Invalid] = []
        for index, requirement in enumerate(requirements):
            if ";" in requirement:
                continue
            name = project_name(requirement)
            if name in first_index:
                problems.append(
                    Invalid(
                        f"{name} is already required at script_requirements[{first_index[name]}]",
                        at=(index,),
                    )
                )
                continue
            first_index[name] = index
        raise_all(problems)
        return requirements

    @model_validator(mode="after")
    def _remember_config_dir(self, info: ValidationInfo) -> Config:
        self._config_dir = _config_dir_from(info)
        return self

    @model_validator(mode="after")
    def _one_glue_table_per_script(self) -> Config:
        if self.results.export == "s3":
            raise_all(glue_table_clashes(self.script_paths()))
        return self

    def script_paths(self) -> list[Path]:
        """Absolute path of every script, in config order."""
        return [_resolve_script(entry, self._config_dir) for entry in self.scripts]

    def to_settings(self) -> FleetSettings:
        """The settings the Director, Worker and Notifier run with."""
        accounts = self.accounts
        notify = self.notify
        wavefront = self.metrics.wavefront
        return FleetSettings(
            fleet=self.fleet,
            home_region=self.home_region,
            scripts=tuple(ScriptRef(name=p.stem, path=str(p)) for p in self.script_paths()),
            accounts=tuple(AccountRef(id=a.id, name=a.name) for a in accounts.entries),
            organization=accounts.organization.enabled,
            organization_ous=tuple(accounts.organization.ous),
            exclude_accounts=tuple(accounts.exclude),
            regions=None if self.regions is None else tuple(self.regions),
            member_role=self.member_role.name,
            external_id=self.member_role.external_id,
            session_duration=self.member_role.session_duration,
            ttl_days=self.results.ttl_days,
            export=self.results.export,
            worker_timeout_s=self.functions.worker.timeout,
            schedule_overlap=self.schedule_overlap,
            notify=NotifySettings(
                slack_webhook_parameter=notify.slack.webhook_parameter if notify.slack else None,
                email_sender=notify.email.sender if notify.email else None,
                email_recipients=tuple(notify.email.recipients) if notify.email else (),
                sns_topic_arn=notify.sns.topic_arn if notify.sns else None,
                only_on=notify.only_on,
            ),
            wavefront=(
                WavefrontSettings(url=wavefront.url, token_parameter=wavefront.token_parameter)
                if wavefront
                else None
            ),
        )


def _config_dir_from(info: ValidationInfo) -> Path:
    context = info.context if isinstance(info.context, dict) else {}
    config_dir = context.get(CONFIG_DIR_CONTEXT)
    return config_dir if isinstance(config_dir, Path) else Path.cwd()
