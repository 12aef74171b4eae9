"""`script new`: a commented starter script that follows the script contract."""

from __future__ import annotations

from pathlib import Path

from lambda_src.scripts import Scope
from lambdafan.config import SCRIPT_NAME
from lambdafan.errors import UsageError

_HEADER = '''\
"""__NAME__: TODO say in one line what this script reports (`lambdafan script list` shows it).

__RUNS__
Replace the example in `collect` with your own calls, then try it with your credentials:
    lambdafan script test __NAME__.py --no-assume__REGION_ARG__
or in a fleet account, through its member role: --account ACCOUNT_ID instead of --no-assume.
"""

# "region": collect runs once per (account, region), for regional services (EC2, RDS, Lambda).
# "account": once per account, for global ones (IAM, Organizations, S3 list): `region` is then
# the fleet's home region, and its records are labelled "global".
SCOPE = "__SCOPE__"


def collect(session, region, account):
    """Yield one dict per thing found; each becomes one row of the results table.

    session: a boto3.Session look-alike already inside the target account (lambdafan assumed
             the member role): make clients with session.client(...), which shares them
             across regions and retries throttling (plain boto3 calls reach this account too).
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
        "__REGION_DOC__": 'the fleet\'s home region (SCOPE = "account"); records say "global".',
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
