"""The AWS clients deploy, status and destroy use, all in the fleet's home region."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lambdafan.aws import Aws


class LazyClient:
    """Stands for `aws.client(service, region)`, made on first use (a botocore client costs
    tens of ms to build, and a deploy with nothing to change needs only some of them)."""

    def __init__(self, aws: Aws, service: str, region: str) -> None:
        self.aws = aws
        self.service = service
        self.region = region

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            # copy and pickle probe dunders on a bare instance: not the client's to answer.
            raise AttributeError(name)
        # Aws.client makes each client once, under its lock: threads may share this safely.
        return getattr(self.aws.client(self.service, self.region), name)

    def __repr__(self) -> str:
        return f"LazyClient({self.service!r}, {self.region!r})"


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
    # The S3 export's bucket and Glue catalog (`results.export: s3`).
    s3: Any = None
    glue: Any = None

    @classmethod
    def from_aws(cls, aws: Aws, region: str) -> DeployClients:
        """The clients of every service a fleet's resources live in, from the one AWS layer;
        each is built when first used."""
        return cls(
            iam=LazyClient(aws, "iam", region),
            lambda_=LazyClient(aws, "lambda", region),
            logs=LazyClient(aws, "logs", region),
            events=LazyClient(aws, "events", region),
            dynamodb=LazyClient(aws, "dynamodb", region),
            sts=LazyClient(aws, "sts", region),
            sqs=LazyClient(aws, "sqs", region),
            organizations=LazyClient(aws, "organizations", region),
            s3=LazyClient(aws, "s3", region),
            glue=LazyClient(aws, "glue", region),
        )
