"""Scenario 1's world: an organization of member accounts in in-process moto, and the task.

Every tool gets the same: `organization(accounts)` starts `mock_aws` with fake keys, creates an
organization and its member accounts (moto assigns their ids) and yields those ids; each
(account, region) task assumes `ROLE` in the account through the tool's own mechanism, calls
`sts get_caller_identity` on a client of that region and sleeps `TASK_SLEEP_S`. `tally` checks
that every answer came from the account it was asked in: a client signing with another
account's keys would answer with that account's id.

moto, unlike AWS, takes one process-wide lock on every request to find the account's backend:
`organization` has it taken only when a backend is made (`moto_fidelity`), for every tool alike.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Iterator
from typing import Any

from bench.moto_fidelity import lock_backends_once

REGIONS = (
    "us-east-1", "us-east-2", "us-west-1", "us-west-2", "eu-west-1", "eu-west-2", "eu-west-3",
    "eu-central-1", "eu-north-1", "ap-south-1", "ap-northeast-1", "ap-northeast-2",
    "ap-southeast-1", "ap-southeast-2", "ca-central-1", "sa-east-1",
)  # fmt: skip
SIZES = {"tiny": (6, 4), "full": (120, 16)}  # accounts, regions
ROLE = "OrganizationAccountAccessRole"
TASK_SLEEP_S = 0.2
HOME = "us-east-1"


def fake_credentials() -> None:
    """Keys for moto, and no endpoint: `mock_aws` answers AWS's own endpoints in-process."""
    os.environ.update(
        AWS_DEFAULT_REGION=HOME, AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench"
    )
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_SESSION_TOKEN"):
        os.environ.pop(name, None)


@contextlib.contextmanager
def organization(accounts: int) -> Iterator[list[str]]:
    """In-process moto with an organization of `accounts` members; yields their ids."""
    fake_credentials()
    import boto3
    from moto import mock_aws

    lock_backends_once()
    with mock_aws():
        org = boto3.client("organizations", region_name=HOME)
        org.create_organization(FeatureSet="ALL")
        ids = []
        for n in range(accounts):
            created = org.create_account(Email=f"member{n}@example.com", AccountName=f"member-{n}")
            ids.append(created["CreateAccountStatus"]["AccountId"])
        yield ids


def tally(
    answers: Iterable[tuple[str, str, str]], accounts: list[str], regions: int
) -> dict[str, Any]:
    """Figures from (asked account, region, account that answered) triples: every pair once,
    and the answers that came from another account (must be 0)."""
    answers = list(answers)
    pairs = {(account, region) for account, region, _ in answers}
    wrong = sum(account != caller for account, _, caller in answers)
    return {
        "pairs": len(pairs),
        "expected_pairs": len(accounts) * regions,
        "duplicates": len(answers) - len(pairs),
        "wrong_account": wrong,
    }


def complete(figures: dict[str, Any]) -> bool:
    """Every pair answered once, by its own account."""
    return (
        figures.get("pairs") == figures.get("expected_pairs")
        and figures.get("duplicates") == 0
        and figures.get("wrong_account") == 0
    )
