"""Send a run's summary to the fleet's channels: Slack (webhook in SSM), SES email, SNS.

Each channel is tried on its own: one that fails is reported and logged, and the others are
still sent. Nothing here raises: the run is complete whatever happens to its summary.

The summary holds text from member accounts, scripts' records and error messages: Slack gets it
escaped (`slack_escape`), in a code block it cannot close (`slack_code_block`), so an account
named ``` <!channel> ``` mentions no one. Email (plain text) and SNS need no escaping.
"""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from lambda_src.settings import NotifySettings

log = logging.getLogger(__name__)
SLACK_TIMEOUT_S = 10
# SNS subjects are limited to 100 characters.
SUBJECT_LIMIT = 100
# Put after each backtick in a Slack code block, so no run of three can close the block.
ZERO_WIDTH_SPACE = "\u200b"


def slack_escape(text: str) -> str:
    """`text` as Slack shows it literally: `&`, `<` and `>` escaped, the only characters Slack's
    mrkdwn decodes, so no mention (`<!channel>`, `<@U123>`) or link (`<https://…|click>`) can be
    spelled by the text."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _inert_backticks(text: str) -> str:
    return text.replace("`", "`" + ZERO_WIDTH_SPACE)


def slack_code_block(text: str) -> str:
    """`text`, escaped, in a ``` code block it cannot close or escape from."""
    return f"```\n{_inert_backticks(slack_escape(text))}\n```"


def slack_message(subject: str, text: str) -> dict[str, Any]:
    """The webhook payload: the subject in bold on one line, then the summary as a code block."""
    line = " ".join(_inert_backticks(slack_escape(subject)).split())
    return {"text": f"*{line}*\n{slack_code_block(text)}"}


def post_json(url: str, payload: dict[str, Any]) -> None:
    """POST JSON to a webhook; an HTTP error status raises."""
    request = urllib.request.Request(
        url,
        data=json.dumps(payload).encode("utf-8"),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=SLACK_TIMEOUT_S) as response:
        response.read()


@dataclass
class Channels:
    """The clients delivery needs; a channel's client is only made when it is configured."""

    ssm: Any | None = None
    ses: Any | None = None
    sns: Any | None = None
    post: Callable[[str, dict[str, Any]], None] = post_json


@dataclass(frozen=True)
class Delivery:
    channel: str
    ok: bool
    detail: str = ""


def deliver(subject: str, text: str, notify: NotifySettings, channels: Channels) -> list[Delivery]:
    """Send to every configured channel; one result per channel."""
    attempts: list[tuple[str, Callable[[], None]]] = []
    if notify.slack_webhook_parameter and channels.ssm is not None:
        parameter = notify.slack_webhook_parameter
        attempts.append(("slack", lambda: _slack(channels, parameter, subject, text)))
    if notify.email_sender and notify.email_recipients and channels.ses is not None:
        sender, recipients = notify.email_sender, list(notify.email_recipients)
        attempts.append(("email", lambda: _email(channels, sender, recipients, subject, text)))
    if notify.sns_topic_arn and channels.sns is not None:
        topic = notify.sns_topic_arn
        attempts.append(("sns", lambda: _sns(channels, topic, subject, text)))
    results = []
    for channel, send in attempts:
        try:
            send()
        except Exception as exc:
            log.warning("could not send the run summary to %s: %s", channel, exc)
            results.append(Delivery(channel, False, f"{type(exc).__name__}: {exc}"))
        else:
            results.append(Delivery(channel, True))
    return results


class DeliveryError(Exception):
    """A channel refused the summary; the message never quotes the webhook URL."""


def _slack(channels: Channels, parameter: str, subject: str, text: str) -> None:
    assert channels.ssm is not None
    # The webhook URL is a secret: it lives in SSM, never in the config, the environment, a log
    # line or an error message, even when it is malformed (urllib's errors quote it).
    url = channels.ssm.get_parameter(Name=parameter, WithDecryption=True)["Parameter"]["Value"]
    parts = urllib.parse.urlsplit(str(url))
    if parts.scheme not in ("https", "http") or not parts.netloc:
        raise DeliveryError(f"the value of {parameter} is not a webhook URL (https://…)")
    try:
        channels.post(url, slack_message(subject, text))
    except urllib.error.HTTPError as exc:
        raise DeliveryError(f"the Slack webhook answered HTTP {exc.code}") from None
    except (ValueError, OSError) as exc:  # URLError is an OSError
        raise DeliveryError(
            f"the webhook in {parameter} could not be reached ({type(exc).__name__})"
        ) from None


def _email(channels: Channels, sender: str, recipients: list[str], subject: str, text: str) -> None:
    assert channels.ses is not None
    channels.ses.send_email(
        Source=sender,
        Destination={"ToAddresses": recipients},
        Message={"Subject": {"Data": subject}, "Body": {"Text": {"Data": text}}},
    )


def _sns(channels: Channels, topic: str, subject: str, text: str) -> None:
    assert channels.sns is not None
    channels.sns.publish(TopicArn=topic, Subject=subject[:SUBJECT_LIMIT], Message=text)
