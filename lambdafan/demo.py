"""`lambdafan demo`: the whole tool against a local, throw-away AWS (moto's server).

Starts moto's server on 127.0.0.1, creates a fake organization with accounts and resources,
writes a config for it, deploys the fleet, runs it with the local executor (moto cannot run
Lambda code) and stops everything it started, unless asked to keep it.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import yaml

from lambda_src.names import partition_for, role_arn
from lambdafan.aws import Aws
from lambdafan.errors import LambdafanError, UsageError

DEMO_REGION = "us-east-1"
DEMO_REGIONS = ("us-east-1", "eu-west-1")
# moto's management account: the credentials below are "in" it.
MANAGEMENT_ACCOUNT = "123456789012"
MEMBER_ROLE = "OrganizationAccountAccessRole"  # created by Organizations in every new account
ACCOUNT_NAMES = (
    "prod", "staging", "dev", "sandbox", "data", "security", "logs", "network",
    "shared", "audit", "ml", "web", "mobile", "payments", "search", "billing",
)  # fmt: skip


@dataclass(frozen=True)
class DemoServer:
    endpoint: str
    pid: int


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def moto_server(keep: bool = False, start_timeout_s: float = 30.0) -> Iterator[DemoServer]:
    """moto's server in a child process on 127.0.0.1; stopped on exit unless `keep`."""
    port = _free_port()
    env = {**os.environ, "MOTO_EC2_LOAD_DEFAULT_AMIS": "false"}
    try:
        process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env=env,
            start_new_session=keep,  # a kept server must outlive this process's terminal group
        )
    except OSError as exc:
        raise LambdafanError(f"cannot start moto's server: {exc}") from None
    endpoint = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(process, endpoint, start_timeout_s)
        yield DemoServer(endpoint=endpoint, pid=process.pid)
    finally:
        if not keep or sys.exc_info()[0] is not None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if process.stderr:
            process.stderr.close()


def _wait_until_up(process: subprocess.Popen[bytes], endpoint: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        if process.poll() is not None:
            detail = process.stderr.read().decode(errors="replace") if process.stderr else ""
            if "No module named" in detail:
                raise UsageError(
                    "lambdafan demo needs moto's server: pip install 'lambdafan[demo]'"
                )
            raise LambdafanError(f"moto's server exited: {detail.strip()[-300:]}")
        try:
            urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise LambdafanError(f"moto's server did not answer on {endpoint}") from None
            time.sleep(0.1)


def demo_environment(endpoint: str) -> dict[str, str]:
    """Environment for talking to the demo AWS only: fake keys, no profile, no ~/.aws files."""
    return {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "demo",
        "AWS_SECRET_ACCESS_KEY": "demo",
        "AWS_DEFAULT_REGION": DEMO_REGION,
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    }


def use_demo_environment(endpoint: str) -> None:
    """Point this process's boto3 at the demo AWS, and nowhere else."""
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "MOTO_ACCOUNT_ID"):
        os.environ.pop(name, None)
    os.environ.update(demo_environment(endpoint))


@dataclass(frozen=True)
class DemoOrganization:
    ou_id: str
    accounts: tuple[tuple[str, str], ...]  # (id, name)


def seed_organization(aws: Aws, count: int) -> DemoOrganization:
    """An organization of `count` accounts, half in an OU, each with a few resources to find."""
    org = aws.client("organizations")
    org.create_organization(FeatureSet="ALL")
    root = org.list_roots()["Roots"][0]["Id"]
    ou_id = org.create_organizational_unit(ParentId=root, Name="workloads")["OrganizationalUnit"][
        "Id"
    ]
    accounts: list[tuple[str, str]] = []
    for index in range(count):
        name = ACCOUNT_NAMES[index % len(ACCOUNT_NAMES)] + (
            f"-{index // len(ACCOUNT_NAMES)}" if index >= len(ACCOUNT_NAMES) else ""
        )
        status = org.create_account(Email=f"{name}@example.com", AccountName=name)
        account_id = status["CreateAccountStatus"]["AccountId"]
        if index % 2 == 0:
            org.move_account(AccountId=account_id, SourceParentId=root, DestinationParentId=ou_id)
        accounts.append((account_id, name))
        _seed_account(aws, account_id, name, index)
    return DemoOrganization(ou_id=ou_id, accounts=tuple(accounts))


def _seed_account(aws: Aws, account_id: str, name: str, index: int) -> None:
    role = role_arn(partition_for(DEMO_REGION), account_id, MEMBER_ROLE)
    member_aws = aws.assume_role(role, "demo-seed")
    s3 = member_aws.client("s3")
    s3.create_bucket(Bucket=f"{name}-{account_id[-4:]}-logs")
    if index % 3 == 0:
        s3.put_public_access_block(
            Bucket=f"{name}-{account_id[-4:]}-logs",
            PublicAccessBlockConfiguration={
                "BlockPublicAcls": True,
                "IgnorePublicAcls": True,
                "BlockPublicPolicy": True,
                "RestrictPublicBuckets": True,
            },
        )
    iam = member_aws.client("iam")
    iam.create_user(UserName=f"{name}-admin")
    if index % 2 == 1:  # a console user without MFA: what iam_users_without_mfa is for
        iam.create_login_profile(UserName=f"{name}-admin", Password="Demo-password-1!")
    region = DEMO_REGIONS[index % len(DEMO_REGIONS)]
    member_aws.client("ec2", region).run_instances(
        ImageId="ami-12c6146b",
        MinCount=1 + index % 2,
        MaxCount=1 + index % 2,
        InstanceType="t3.micro",
        TagSpecifications=[
            {"ResourceType": "instance", "Tags": [{"Key": "Name", "Value": f"{name}-web"}]}
        ],
    )


def write_demo_config(folder: Path) -> Path:
    """The config a newcomer would write for this organization."""
    config = {
        "fleet": "lambdafan-demo",
        "home_region": DEMO_REGION,
        "schedule": "cron(0 6 * * ? *)",
        "accounts": {
            "organization": {"enabled": True},
            "exclude": [MANAGEMENT_ACCOUNT],
        },
        "regions": list(DEMO_REGIONS),
        "member_role": {"name": MEMBER_ROLE},
        "scripts": ["ec2_instances", "s3_buckets", "iam_users_without_mfa"],
    }
    path = folder / "lambdafan.yaml"
    path.write_text(
        "# Written by `lambdafan demo` for its fake organization.\n"
        + yaml.safe_dump(config, sort_keys=False)
    )
    return path
