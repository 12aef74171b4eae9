"""`lambdafan demo`: the whole tool against a local, throw-away AWS.

The AWS is moto's server with lambdafan's local Lambda runtime in front of it (one process,
`python -m lambdafan.local_cloud`), so the deployed functions' own zips run as on AWS. This
module seeds it: a fake organization with accounts and resources, an inbox for the Notifier,
and the config a newcomer would write for it.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import yaml

from lambda_src.names import partition_for, role_arn
from lambdafan.aws import Aws
from lambdafan.local_cloud.serve import RunningCloud, start_cloud

SEED_THREADS = 4
DEMO_REGION = "us-east-1"
DEMO_REGIONS = ("us-east-1", "eu-west-1")
# moto's management account: the credentials below are "in" it.
MANAGEMENT_ACCOUNT = "123456789012"
MEMBER_ROLE = "OrganizationAccountAccessRole"  # created by Organizations in every new account
ACCOUNT_NAMES = (
    "prod", "staging", "dev", "sandbox", "data", "security", "logs", "network",
    "shared", "audit", "ml", "web", "mobile", "payments", "search", "billing",
)  # fmt: skip


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


@contextmanager
def demo_cloud(keep: bool) -> Iterator[RunningCloud]:
    """The local cloud for a demo: stopped at the end, unless `keep` and nothing failed."""
    cloud = start_cloud(detach=keep)
    try:
        yield cloud
    except BaseException:
        cloud.stop()
        raise
    if not keep:
        cloud.stop()


@contextmanager
def demo_folder(keep: bool) -> Iterator[Path]:
    """A new folder for the demo's config; removed at the end unless `keep` (the commands the
    kept demo prints name the config in it)."""
    folder = Path(tempfile.mkdtemp(prefix="lambdafan-demo-"))
    try:
        yield folder
    finally:
        if not keep:
            shutil.rmtree(folder, ignore_errors=True)


@dataclass(frozen=True)
class NotifierInbox:
    """An SNS topic for the Notifier, and an SQS queue subscribed to it to read what it sent."""

    topic_arn: str
    queue_url: str


def create_inbox(aws: Aws) -> NotifierInbox:
    """The topic the demo's Notifier publishes to, delivered raw to a queue the demo reads."""
    sns, sqs = aws.client("sns"), aws.client("sqs")
    topic_arn = sns.create_topic(Name="lambdafan-demo-notices")["TopicArn"]
    queue_url = sqs.create_queue(QueueName="lambdafan-demo-inbox")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    sns.subscribe(
        TopicArn=topic_arn,
        Protocol="sqs",
        Endpoint=queue_arn,
        Attributes={"RawMessageDelivery": "true"},
    )
    return NotifierInbox(topic_arn=topic_arn, queue_url=queue_url)


def read_inbox(aws: Aws, inbox: NotifierInbox, wait_s: int = 10) -> str | None:
    """The Notifier's message, waiting up to `wait_s` for it (None if none came)."""
    sqs = aws.client("sqs")
    answer = sqs.receive_message(
        QueueUrl=inbox.queue_url, MaxNumberOfMessages=1, WaitTimeSeconds=wait_s
    )
    messages = answer.get("Messages", [])
    return str(messages[0]["Body"]) if messages else None


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
    # Threads: half of seeding an account is building its clients, here, while moto works.
    with ThreadPoolExecutor(SEED_THREADS) as pool:
        seeded = [
            pool.submit(_seed_account, aws, account_id, name, index)
            for index, (account_id, name) in enumerate(accounts)
        ]
        for future in seeded:
            future.result()
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


def write_demo_config(folder: Path, inbox: NotifierInbox) -> Path:
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
        "notify": {"sns": {"topic_arn": inbox.topic_arn}},
    }
    path = folder / "lambdafan.yaml"
    path.write_text(
        "# Written by `lambdafan demo` for its fake organization.\n"
        + yaml.safe_dump(config, sort_keys=False)
    )
    return path
