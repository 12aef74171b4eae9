"""The AWS clients deploy, status and destroy use, all in the fleet's home region."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lambdafan.aws import Aws


@dataclass(frozen=True)
class DeployClients:
    iam: Any
    lambda_: Any
    logs: Any
    events: Any
    dynamodb: Any
    sts: Any
    sqs: Any
    # Only asked for the organization's id, when the config discovers accounts through it.
    organizations: Any = None

    @classmethod
    def from_aws(cls, aws: Aws, region: str) -> DeployClients:
        """The clients of every service a fleet's resources live in, from the one AWS layer."""
        return cls(
            iam=aws.client("iam", region),
            lambda_=aws.client("lambda", region),
            logs=aws.client("logs", region),
            events=aws.client("events", region),
            dynamodb=aws.client("dynamodb", region),
            sts=aws.client("sts", region),
            sqs=aws.client("sqs", region),
            organizations=aws.client("organizations", region),
        )
