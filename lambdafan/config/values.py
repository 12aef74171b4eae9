"""Checks on single config values (account ids, regions, names, ARNs, sizes, the schedule), as
annotated types the schema's fields use. Each failure says what is wrong with the value."""

from __future__ import annotations

import functools
import os
import re
from typing import Annotated

from botocore.loaders import create_loader
from botocore.regions import EndpointResolver
from pydantic import AfterValidator, BeforeValidator

from lambda_src.accounts import is_account_id
from lambda_src.settings import ONLY_ON
from lambda_src.wavefront import url_problem
from lambdafan.config.errors import kind
from lambdafan.lambda_runtime import RUNTIME_DISTRIBUTIONS
from lambdafan.schedule import schedule_problem


def _matching(pattern: str, what: str) -> AfterValidator:
    regex = re.compile(pattern)

    def check(value: str) -> str:
        if not regex.fullmatch(value):
            raise ValueError(f"{value!r} is not {what}")
        return value

    return AfterValidator(check)


def _between(low: int, high: int, unit: str) -> AfterValidator:
    """A validator keeping an int within `low`..`high` (`unit` names them in the message)."""

    def check(value: int) -> int:
        if not low <= value <= high:
            raise ValueError(f"must be between {low} and {high} {unit}, got {value}")
        return value

    return AfterValidator(check)


def _at_least(low: int) -> AfterValidator:
    """A validator keeping an int at `low` or more."""

    def check(value: int) -> int:
        if value < low:
            raise ValueError(f"must be at least {low}, got {value}")
        return value

    return AfterValidator(check)


SCHEDULE_OVERLAPS = ("skip", "allow")


def _schedule_overlap(value: str) -> str:
    if value not in SCHEDULE_OVERLAPS:
        raise ValueError(f"must be skip or allow, got {value!r}")
    return value


def _only_on(value: str) -> str:
    if value not in ONLY_ON:
        raise ValueError(f"must be {', '.join(ONLY_ON[:-1])} or {ONLY_ON[-1]}, got {value!r}")
    return value


def _wavefront_url(value: str) -> str:
    problem = url_problem(value)
    if problem:
        raise ValueError(problem)
    return value


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be empty")
    return value


def null_is_empty(value: object) -> object:
    """A section given as null is an empty section."""
    # `notify:` with nothing under it is how people comment a section out; treat it as absent.
    return {} if value is None else value


def null_is_no_items(value: object) -> object:
    """A list given as null (every item commented out) is an empty list."""
    return [] if value is None else value


_QUOTE_HINT = "quote account ids in YAML: '012345678901'"


def account_id(value: object) -> object:
    """A 12-digit account id as text; YAML numbers are accepted only when they read back as one."""
    if isinstance(value, bool):
        raise ValueError(f"{kind(value)} is not a 12-digit account id")
    if isinstance(value, int):
        text = str(value)
        if is_account_id(text):
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
        if not is_account_id(value):
            raise ValueError(f"{value!r} is not a 12-digit account id")
        return value
    raise ValueError(f"expected a 12-digit account id, got {kind(value)}")


@functools.cache
def known_regions() -> frozenset[str]:
    """Every region botocore knows, in every partition (aws, aws-cn, aws-us-gov, ...)."""
    # EC2's endpoints, by its endpoint prefix: Session.get_available_regions("ec2") would parse
    # EC2's whole service model (megabytes) to look that prefix up. A bare loader, not a
    # session's: a session reads the AWS profile, and a missing AWS_PROFILE is not the config's
    # fault (nor a reason for `validate`, which calls no AWS, to fail).
    loader = create_loader(os.environ.get("AWS_DATA_PATH"))
    resolver = EndpointResolver(loader.load_data("endpoints"))
    return frozenset(
        str(region)
        for partition in resolver.get_available_partitions()
        for region in resolver.get_available_endpoints("ec2", partition)
    )


def _region(value: str) -> str:
    if value not in known_regions():
        raise ValueError(f"{value!r} is not an AWS region")
    return value


def _schedule(value: str) -> str:
    problem = schedule_problem(value)
    if problem:
        raise ValueError(f"{value!r} is not a valid EventBridge schedule: {problem}")
    return value


# The values CloudWatch Logs accepts for a log group's retention.
LOG_RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827,
                      2192, 2557, 2922, 3288, 3653)  # fmt: skip


def _log_retention(days: int) -> int:
    if days not in LOG_RETENTION_DAYS:
        allowed = ", ".join(str(d) for d in LOG_RETENTION_DAYS)
        raise ValueError(f"{days} is not a CloudWatch Logs retention (one of: {allowed})")
    return days


# A PEP 508 requirement limited to what `pip download` of wheels needs: a project name, extras,
# version specifiers and an environment marker. No URLs or paths: the cache and the bundle must
# depend on nothing but this text.
_REQUIREMENT = re.compile(
    r"(?P<name>[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)\s*"
    r"(?:\[\s*[A-Za-z0-9._,\s-]*\])?\s*"
    r"(?:(?:===|==|!=|<=|>=|~=|<|>)\s*[A-Za-z0-9.*+!_-]+\s*(?:,\s*)?)*"
    r"(?:;.*)?"
)


def project_name(requirement: str) -> str:
    """The canonical project name a requirement names (PEP 503: lowercase, runs of -_. as -)."""
    match = _REQUIREMENT.match(requirement.strip())
    name = match.group("name") if match else requirement.strip()
    return re.sub(r"[-_.]+", "-", name).lower()


def _script_requirement(value: str) -> str:
    text = value.strip()
    if not text:
        raise ValueError("must not be empty")
    if text.startswith("-"):
        raise ValueError(
            f"{value!r} is a pip option; list only requirements like 'pyyaml==6.0.2' "
            "(set an index or proxy in pip's own config)"
        )
    if not _REQUIREMENT.fullmatch(text):
        raise ValueError(
            f"{value!r} is not a requirement like 'pyyaml==6.0.2' or 'requests>=2.31,<3' "
            "(URLs and paths are not supported)"
        )
    name = project_name(text)
    if name in RUNTIME_DISTRIBUTIONS:
        raise ValueError(
            f"{name} is already in the Worker: Lambda's Python runtime ships boto3, botocore "
            "and s3transfer, so remove it from script_requirements"
        )
    return text


AccountId = Annotated[str, BeforeValidator(account_id)]
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
SessionDuration = Annotated[int, _between(900, 3600, "seconds")]
TtlDays = Annotated[int, _between(1, 3650, "days")]
LogRetentionDays = Annotated[int, AfterValidator(_log_retention)]
ReservedConcurrency = Annotated[int, _at_least(1)]
ScheduleOverlap = Annotated[str, AfterValidator(_schedule_overlap)]
OnlyOn = Annotated[str, AfterValidator(_only_on)]
WavefrontUrl = Annotated[str, AfterValidator(_wavefront_url)]
ScriptRequirement = Annotated[str, AfterValidator(_script_requirement)]
