"""The AWS clients deploy, status and destroy use, made once from the user's session."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lambda_src.aws_session import RETRY_CONFIG


@dataclass(frozen=True)
class DeployClients:
    iam: Any
    lambda_: Any
    logs: Any
    events: Any
    dynamodb: Any
    sts: Any

    @classmethod
    def from_session(cls, session: Any, region: str) -> DeployClients:
        def client(service: str) -> Any:
            return session.client(service, region_name=region, config=RETRY_CONFIG)

        return cls(
            iam=client("iam"),
            lambda_=client("lambda"),
            logs=client("logs"),
            events=client("events"),
            dynamodb=client("dynamodb"),
            sts=client("sts"),
        )


def error_code(exc: Exception) -> str:
    """The AWS error code of a botocore ClientError ('' for anything else)."""
    response = getattr(exc, "response", None)
    return str(response.get("Error", {}).get("Code", "")) if isinstance(response, dict) else ""
