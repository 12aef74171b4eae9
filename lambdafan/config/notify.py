"""The config's `notify:` and `metrics:` sections: where run summaries and run metrics go."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from lambdafan.config.base import StrictModel as _Model
from lambdafan.config.values import (
    EmailAddress,
    OnlyOn,
    SnsTopicArn,
    SsmParameterName,
    WavefrontUrl,
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
    # Which runs are told: every one, those with changes since the last run (or failures), or
    # those with failures only.
    only_on: OnlyOn = "always"


class Wavefront(_Model):
    """Run metrics to Wavefront too: the API token lives in SSM, never in the config."""

    url: WavefrontUrl
    token_parameter: SsmParameterName


class Metrics(_Model):
    """Where run metrics go besides CloudWatch."""

    wavefront: Wavefront | None = None
