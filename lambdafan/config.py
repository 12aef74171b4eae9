"""The user's fleet config (`lambdafan.yaml`): read, validated, and turned into `FleetSettings`.

Every problem becomes one `ConfigError` line naming the file, the key path and what is wrong, so
the user can fix a typo from the message alone, before anything is deployed or run.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Hashable
from pathlib import Path
from typing import Annotated, Any, get_args

import botocore.session
import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import ErrorDetails

from lambda_src import scripts as script_contract
from lambda_src.settings import AccountRef, FleetSettings, NotifySettings, ScriptRef

# Script names go into the results table's sort keys, where `#` separates fields.
SCRIPT_NAME = re.compile(r"[A-Za-z0-9_-]+")

DEFAULT_SCHEDULE = "cron(0 6 * * ? *)"
_CONFIG_DIR_CONTEXT = "config_dir"


class ConfigError(Exception):
    """A config the user must fix; the message is one line, ready to print."""


class _Invalid(ValueError):
    """A validation failure located below the key pydantic is validating.

    A validator that checks a whole list can only fail the list; `at` carries the item's index
    so the message still points at the offending entry.
    """

    def __init__(self, message: str, at: tuple[str | int, ...] = ()) -> None:
        super().__init__(message)
        self.at = at


# --- YAML --------------------------------------------------------------------------------------


class _YamlInt(int):
    """An int that remembers how it was written, so errors can quote the user's own text."""

    source: str


class _Loader(yaml.SafeLoader):
    """SafeLoader that rejects duplicate keys, which plain YAML silently resolves to the last."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Hashable, Any]:
        seen: set[tuple[str, str]] = set()
        for key_node, _ in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag.endswith(":merge"):
                continue
            key = (key_node.tag, key_node.value)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key_node.value!r}", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _construct_int(loader: yaml.SafeLoader, node: yaml.Node) -> int:
    assert isinstance(node, yaml.ScalarNode)
    value = _YamlInt(loader.construct_yaml_int(node))
    value.source = str(node.value)
    return value


_Loader.add_constructor("tag:yaml.org,2002:int", _construct_int)


def _read_yaml(path: Path) -> object:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: config file is not UTF-8 text") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config file: {exc.strerror or exc}") from None
    try:
        return yaml.load(text, Loader=_Loader)  # _Loader derives from SafeLoader
    except yaml.MarkedYAMLError as exc:
        line = f"line {exc.problem_mark.line + 1}: " if exc.problem_mark else ""
        raise ConfigError(f"{path}: {line}invalid YAML: {exc.problem or exc}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: invalid YAML: {_one_line(str(exc))}") from None


# --- value checks ------------------------------------------------------------------------------


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _kind(value: object) -> str:
    """How a YAML value reads to the user, for "expected X, got Y" messages."""
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (int, float)):
        return f"the number {getattr(value, 'source', value)}"
    if isinstance(value, str):
        return f"the text {value!r}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return f"a {type(value).__name__}"


def _matching(pattern: str, what: str) -> AfterValidator:
    regex = re.compile(pattern)

    def check(value: str) -> str:
        if not regex.fullmatch(value):
            raise ValueError(f"{value!r} is not {what}")
        return value

    return AfterValidator(check)


def _between(low: int, high: int, unit: str) -> AfterValidator:
    def check(value: int) -> int:
        if not low <= value <= high:
            raise ValueError(f"must be between {low} and {high} {unit}, got {value}")
        return value

    return AfterValidator(check)


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be empty")
    return value


def _null_is_empty(value: object) -> object:
    # `notify:` with nothing under it is how people comment a section out; treat it as absent.
    return {} if value is None else value


_ACCOUNT_ID = re.compile(r"\d{12}")
_QUOTE_HINT = "quote account ids in YAML: '012345678901'"


def _account_id(value: object) -> object:
    if isinstance(value, bool):
        raise ValueError(f"{_kind(value)} is not a 12-digit account id")
    if isinstance(value, int):
        text = str(value)
        if _ACCOUNT_ID.fullmatch(text):
            return text
        source = getattr(value, "source", text)
        if source != text:
            # YAML 1.1 reads 0-prefixed digits as octal: show both, or the error makes no sense.
            raise ValueError(
                f"{source} is not a 12-digit account id: YAML read it as the number {text} "
                f"({_QUOTE_HINT})"
            )
        raise ValueError(f"{text} is not a 12-digit account id ({_QUOTE_HINT})")
    if isinstance(value, str):
        if not _ACCOUNT_ID.fullmatch(value):
            raise ValueError(f"{value!r} is not a 12-digit account id")
        return value
    raise ValueError(f"expected a 12-digit account id, got {_kind(value)}")


@functools.cache
def known_regions() -> frozenset[str]:
    """Every region botocore knows, in every partition (aws, aws-cn, aws-us-gov, ...)."""
    session = botocore.session.get_session()
    return frozenset(
        str(region)
        for partition in session.get_available_partitions()
        for region in session.get_available_regions("ec2", partition_name=partition)
    )


def _region(value: str) -> str:
    if value not in known_regions():
        raise ValueError(f"{value!r} is not an AWS region")
    return value


# Characters EventBridge allows in each cron field, in order.
_CRON_FIELDS: tuple[tuple[str, str], ...] = (
    ("minutes", r"[0-9,*/-]+"),
    ("hours", r"[0-9,*/-]+"),
    ("day-of-month", r"[0-9,*/?LW-]+"),
    ("month", r"[0-9A-Za-z,*/-]+"),
    ("day-of-week", r"[0-9A-Za-z,*?L#-]+"),
    ("year", r"[0-9,*/-]+"),
)
_RATE = re.compile(r"(\d+) ([a-z]+)")
_RATE_UNITS = ("minute", "hour", "day")


def schedule_problem(expression: str) -> str | None:
    """Why `expression` is not a valid EventBridge schedule expression, or None if it is."""
    if expression.startswith("cron(") and expression.endswith(")"):
        return _cron_problem(expression[5:-1].split())
    if expression.startswith("rate(") and expression.endswith(")"):
        return _rate_problem(expression[5:-1].strip())
    return "use cron(minutes hours day-of-month month day-of-week year) or rate(N unit)"


def _cron_problem(fields: list[str]) -> str | None:
    if len(fields) != len(_CRON_FIELDS):
        return f"cron needs {len(_CRON_FIELDS)} fields, got {len(fields)}"
    for value, (name, allowed) in zip(fields, _CRON_FIELDS, strict=True):
        if not re.fullmatch(allowed, value):
            return f"{name} field {value!r} is not valid"
    day_of_month, day_of_week = fields[2], fields[4]
    if (day_of_month == "?") == (day_of_week == "?"):
        return (
            "exactly one of day-of-month and day-of-week must be '?', "
            f"got {day_of_month!r} and {day_of_week!r}"
        )
    return None


def _rate_problem(body: str) -> str | None:
    match = _RATE.fullmatch(body)
    if not match:
        return f"rate needs a whole number and a unit, like rate(5 minutes), got rate({body})"
    count, unit = int(match.group(1)), match.group(2)
    if count < 1:
        return "rate must be at least 1"
    singular = unit.removesuffix("s")
    if singular not in _RATE_UNITS:
        return f"rate unit {unit!r} is not one of minute(s), hour(s), day(s)"
    expected = singular if count == 1 else f"{singular}s"
    if unit != expected:
        return f"use {expected!r} with {count}: rate({count} {expected})"
    return None


def _schedule(value: str) -> str:
    problem = schedule_problem(value)
    if problem:
        raise ValueError(f"{value!r} is not a valid EventBridge schedule: {problem}")
    return value


AccountId = Annotated[str, BeforeValidator(_account_id)]
Region = Annotated[str, AfterValidator(_region)]
Text = Annotated[str, AfterValidator(_not_blank)]
FleetName = Annotated[
    str,
    _matching(
        r"[a-z][a-z0-9-]{2,39}",
        "a valid fleet name (3-40 lowercase letters, digits or hyphens, starting with a letter)",
    ),
]
OrganizationalUnit = Annotated[
    str,
    _matching(
        r"ou-[0-9a-z]{4,32}-[0-9a-z]{8,32}|r-[0-9a-z]{4,32}",
        "an OU id (ou-xxxx-xxxxxxxx) or root id (r-xxxx)",
    ),
]
RoleName = Annotated[str, _matching(r"[A-Za-z0-9_+=,.@-]{1,64}", "a valid IAM role name")]
ExternalId = Annotated[
    str, _matching(r"[A-Za-z0-9_+=,.@:/-]{2,1224}", "a valid external id (2-1224 characters)")
]
SsmParameterName = Annotated[
    str,
    _matching(r"/[A-Za-z0-9_./-]{1,2047}", "an SSM parameter name like /lambdafan/slack-webhook"),
]
EmailAddress = Annotated[
    str, _matching(r"[^@\s]+@[^@\s]+\.[^@\s]+", "an email address like ops@example.com")
]
SnsTopicArn = Annotated[
    str,
    _matching(
        r"arn:aws[-a-z]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}(\.fifo)?",
        "an SNS topic ARN like arn:aws:sns:us-east-1:111111111111:lambdafan",
    ),
]
Schedule = Annotated[str, AfterValidator(_schedule)]
Memory = Annotated[int, _between(128, 10240, "MB")]
Timeout = Annotated[int, _between(1, 900, "seconds")]


# --- the schema --------------------------------------------------------------------------------


class _Model(BaseModel):
    # strict: YAML already types its values, so "true" or "300" in quotes is a mistake to report.
    model_config = ConfigDict(extra="forbid", strict=True)


def _account_entry(value: object) -> object:
    # The short form `- "111111111111"` is checked here so its error points at the list item,
    # not at an `id` key the user never wrote.
    if isinstance(value, (str, int)):
        return {"id": _account_id(value)}
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
    organization: Annotated[Organization, BeforeValidator(_null_is_empty)] = Field(
        default_factory=Organization
    )
    exclude: list[AccountId] = Field(default_factory=list)

    @field_validator("entries")
    @classmethod
    def _unique_ids(cls, entries: list[AccountEntry]) -> list[AccountEntry]:
        first_index: dict[str, int] = {}
        for index, entry in enumerate(entries):
            if entry.id in first_index:
                raise _Invalid(
                    f"account {entry.id!r} is already listed at accounts.list"
                    f"[{first_index[entry.id]}]",
                    at=(index,),
                )
            first_index[entry.id] = index
        return entries

    @model_validator(mode="after")
    def _something_to_run(self) -> Accounts:
        if self.organization.ous and not self.organization.enabled:
            raise _Invalid(
                "has no effect unless organization.enabled is true", at=("organization", "ous")
            )
        if not self.entries and not self.organization.enabled:
            raise ValueError("name accounts in `list` or enable `organization`")
        if not self.organization.enabled and {e.id for e in self.entries} <= set(self.exclude):
            raise _Invalid(
                "excludes every account in `list`, so nothing would run", at=("exclude",)
            )
        return self


class MemberRole(_Model):
    """The role the Worker assumes in each account."""

    name: RoleName = "lambdafan-member"
    external_id: ExternalId | None = None
    # The Worker assumes the member role with a role's credentials (role chaining): AWS caps that
    # session at one hour.
    session_duration: Annotated[int, _between(900, 3600, "seconds")] = 3600


class Results(_Model):
    """The results table."""

    ttl_days: Annotated[int, _between(1, 3650, "days")] = 30
    point_in_time_recovery: bool = False


class FunctionSize(_Model):
    """Memory and timeout of one Lambda function."""

    memory: Memory = 256
    timeout: Timeout = 300


class _WorkerSize(FunctionSize):
    # Workers run every script of an account, so they get the most room by default.
    memory: Memory = 1024
    timeout: Timeout = 900


class _NotifierSize(FunctionSize):
    timeout: Timeout = 60


# The values CloudWatch Logs accepts for a log group's retention.
LOG_RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827,
                      2192, 2557, 2922, 3288, 3653)  # fmt: skip


def _log_retention(days: int) -> int:
    if days not in LOG_RETENTION_DAYS:
        allowed = ", ".join(str(d) for d in LOG_RETENTION_DAYS)
        raise ValueError(f"{days} is not a CloudWatch Logs retention (one of: {allowed})")
    return days


class Functions(_Model):
    """Sizes of the fleet's three functions, and how long their logs are kept."""

    log_retention_days: Annotated[int, AfterValidator(_log_retention)] = 30

    director: Annotated[FunctionSize, BeforeValidator(_null_is_empty)] = Field(
        default_factory=FunctionSize
    )
    worker: Annotated[_WorkerSize, BeforeValidator(_null_is_empty)] = Field(
        default_factory=_WorkerSize
    )
    notifier: Annotated[_NotifierSize, BeforeValidator(_null_is_empty)] = Field(
        default_factory=_NotifierSize
    )


class Slack(_Model):
    """Slack channel: the webhook URL lives in SSM, never in the config."""

    webhook_parameter: SsmParameterName


class Email(_Model):
    """Email channel, sent through SES."""

    sender: EmailAddress
    recipients: Annotated[list[EmailAddress], Field(min_length=1)]


class Sns(_Model):
    """SNS channel."""

    topic_arn: SnsTopicArn


class Notify(_Model):
    """Where run summaries go; every channel is optional."""

    slack: Slack | None = None
    email: Email | None = None
    sns: Sns | None = None


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
    accounts: Accounts
    # None means every region enabled in each account.
    regions: Annotated[list[Region], Field(min_length=1)] | None = None
    member_role: Annotated[MemberRole, BeforeValidator(_null_is_empty)] = Field(
        default_factory=MemberRole
    )
    scripts: Annotated[list[Text], Field(min_length=1)]
    results: Annotated[Results, BeforeValidator(_null_is_empty)] = Field(default_factory=Results)
    functions: Annotated[Functions, BeforeValidator(_null_is_empty)] = Field(
        default_factory=Functions
    )
    notify: Annotated[Notify, BeforeValidator(_null_is_empty)] = Field(default_factory=Notify)

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
            raise ValueError(f"use `all` or a list of region names, got {_kind(value)}")
        return value

    @field_validator("regions")
    @classmethod
    def _unique_regions(cls, regions: list[str] | None) -> list[str] | None:
        seen: set[str] = set()
        for index, region in enumerate(regions or ()):
            if region in seen:
                raise _Invalid(f"{region!r} is listed twice", at=(index,))
            seen.add(region)
        return regions

    @field_validator("scripts")
    @classmethod
    def _check_scripts(cls, entries: list[str], info: ValidationInfo) -> list[str]:
        config_dir = _config_dir_from(info)
        index_by_name: dict[str, int] = {}
        for index, entry in enumerate(entries):
            try:
                path = _resolve_script(entry, config_dir)
                script_contract.check_script(path)
            except (ValueError, script_contract.ScriptError) as exc:
                raise _Invalid(str(exc), at=(index,)) from None
            if not SCRIPT_NAME.fullmatch(path.stem):
                raise _Invalid(
                    f"{path.name}: script file names may use only letters, digits, '_' and '-'",
                    at=(index,),
                )
            if path.stem in index_by_name:
                raise _Invalid(
                    f"two scripts are named {path.stem!r} (scripts[{index_by_name[path.stem]}] "
                    "and this one); script names come from file names and must be unique",
                    at=(index,),
                )
            index_by_name[path.stem] = index
        return entries

    @model_validator(mode="after")
    def _remember_config_dir(self, info: ValidationInfo) -> Config:
        self._config_dir = _config_dir_from(info)
        return self

    def script_paths(self) -> list[Path]:
        """Absolute path of every script, in config order."""
        return [_resolve_script(entry, self._config_dir) for entry in self.scripts]

    def to_settings(self) -> FleetSettings:
        """The settings the Director, Worker and Notifier run with."""
        accounts = self.accounts
        notify = self.notify
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
            notify=NotifySettings(
                slack_webhook_parameter=notify.slack.webhook_parameter if notify.slack else None,
                email_sender=notify.email.sender if notify.email else None,
                email_recipients=tuple(notify.email.recipients) if notify.email else (),
                sns_topic_arn=notify.sns.topic_arn if notify.sns else None,
            ),
        )


def _config_dir_from(info: ValidationInfo) -> Path:
    context = info.context if isinstance(info.context, dict) else {}
    config_dir = context.get(_CONFIG_DIR_CONTEXT)
    return config_dir if isinstance(config_dir, Path) else Path.cwd()


# --- loading -----------------------------------------------------------------------------------


def load_config(path: Path) -> Config:
    """Read, parse and validate a config file; any problem raises a one-line `ConfigError`."""
    data = _read_yaml(path)
    if data is None:
        raise ConfigError(f"{path}: config file is empty (see config.example.yaml)")
    if not isinstance(data, dict):
        raise ConfigError(
            f"{path}: expected a mapping of keys (fleet, home_region, accounts, ...), "
            f"got {_kind(data)}"
        )
    try:
        return Config.model_validate(data, context={_CONFIG_DIR_CONTEXT: path.parent.resolve()})
    except ValidationError as exc:
        raise ConfigError(f"{path}: {_summarise(exc)}") from exc


def _summarise(exc: ValidationError) -> str:
    # An unknown key is usually a misspelt one, which also makes a required key "missing":
    # naming the typo first explains both.
    errors = sorted(exc.errors(), key=lambda e: e["type"] != "extra_forbidden")
    loc, message = _describe(errors[0])
    where = f"{_format_loc(loc)}: " if loc else ""
    more = len(errors) - 1
    suffix = f" (and {more} more problem{'s' if more > 1 else ''})" if more else ""
    return _one_line(f"{where}{message}{suffix}")


_EXPECTED = {
    "string_type": "text",
    "int_type": "a whole number",
    "bool_type": "true or false",
    "list_type": "a list",
    "model_type": "a mapping of keys",
    "model_attributes_type": "a mapping of keys",
    "dict_type": "a mapping of keys",
}


def _describe(error: ErrorDetails) -> tuple[tuple[str | int, ...], str]:
    """The key path an error is about, and what is wrong there, in the user's terms."""
    loc = tuple(error["loc"])
    kind = error["type"]
    cause = (error.get("ctx") or {}).get("error")
    if isinstance(cause, _Invalid):
        return loc + cause.at, str(cause)
    if isinstance(cause, Exception):
        return loc, str(cause)
    if kind == "missing":
        return loc, "required key missing"
    if kind == "extra_forbidden":
        parent = loc[:-1]
        expected = ", ".join(_keys_at(parent))
        return parent, f"unknown key {loc[-1]!r} (expected one of: {expected})"
    if kind in _EXPECTED:
        return loc, f"expected {_EXPECTED[kind]}, got {_kind(error['input'])}"
    if kind == "too_short":
        return loc, "must not be empty"
    return loc, error["msg"]


def _format_loc(loc: tuple[str | int, ...]) -> str:
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else part
    return text


def _keys_at(loc: tuple[str | int, ...]) -> list[str]:
    """The keys the model at `loc` accepts, as spelled in YAML."""
    model: type[BaseModel] | None = Config
    for part in loc:
        if model is None or isinstance(part, int):
            continue
        field = next(
            (f for name, f in model.model_fields.items() if (f.alias or name) == part), None
        )
        model = _model_in(field.annotation) if field else None
    if model is None:
        return []
    return [field.alias or name for name, field in model.model_fields.items()]


def _model_in(annotation: object) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        found = _model_in(arg)
        if found:
            return found
    return None
