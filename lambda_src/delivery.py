"""Send a run's messages to the fleet's channels: Slack (webhook in SSM), SES email, SNS.

Each channel is tried on its own: one that fails is reported and logged, and the others are
still sent. Nothing here raises: the run is complete whatever happens to its summary.

A run's report is rendered per channel (`deliver_report`): Slack Block Kit (`slack_blocks`),
an email with a text and an HTML part (`mail_html`), SNS plain text. Plain notices (a skipped
run) go through `deliver`. The text holds what member accounts, scripts' records and error
messages say: Slack gets it escaped and unable to close a code block, HTML gets it escaped, and
an SNS subject is cut down to what SNS accepts.
"""

from __future__ import annotations

import json
import logging
import re
import time
import unicodedata
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from lambda_src.mail_html import mail_parts
from lambda_src.run_report import RunReport
from lambda_src.run_summary import subject_line
from lambda_src.settings import NotifySettings
from lambda_src.slack_blocks import ZERO_WIDTH_SPACE as ZERO_WIDTH_SPACE
from lambda_src.slack_blocks import inert_backticks as _inert_backticks
from lambda_src.slack_blocks import slack_blocks
from lambda_src.slack_blocks import slack_escape as slack_escape

log = logging.getLogger(__name__)
SLACK_TIMEOUT_S = 10
# SNS subjects: at most 100 characters (the API accepts 100; its docs say "less than 100"),
# no line breaks or control characters; ASCII, as SNS's email subscriptions once required.
SUBJECT_LIMIT = 100
# Slack webhook retries: 429 and 5xx only, at most this many attempts and this much waiting
# in all (the Notifier's own timeout is short), a Retry-After beyond it is not waited for.
SLACK_ATTEMPTS = 3
SLACK_MAX_WAIT_S = 20.0
SLACK_BACKOFF_S = 1.0


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


class DeliveryError(Exception):
    """A channel refused the summary; the message never quotes the webhook URL."""


def _retry_after(error: urllib.error.HTTPError) -> float | None:
    """The seconds Slack asked to wait (Retry-After), if it said."""
    value = error.headers.get("Retry-After") if error.headers is not None else None
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None  # an HTTP date: Slack sends seconds; fall back to our own backoff


def post_with_retry(
    post: Callable[[str, dict[str, Any]], None],
    url: str,
    payload: dict[str, Any],
    *,
    sleep: Callable[[float], None] = time.sleep,
    attempts: int = SLACK_ATTEMPTS,
    max_wait: float = SLACK_MAX_WAIT_S,
) -> None:
    """`post`, retried on HTTP 429 and 5xx as Retry-After says (else 1 s, 2 s, …), within
    `attempts` and `max_wait` seconds of waiting in all; any other error raises at once."""
    waited = 0.0
    for attempt in range(1, attempts + 1):
        try:
            post(url, payload)
            return
        except urllib.error.HTTPError as exc:
            if (exc.code != 429 and exc.code < 500) or attempt == attempts:
                raise
            wait = _retry_after(exc)
            if wait is None:
                wait = SLACK_BACKOFF_S * 2 ** (attempt - 1)
            if waited + wait > max_wait:
                raise
            exc.close()  # the refused response's connection, before waiting
            log.info("Slack answered HTTP %s: retrying in %.1f s", exc.code, wait)
            sleep(wait)
            waited += wait


def _attempt(attempts: list[tuple[str, Callable[[], str | None]]]) -> list[Delivery]:
    results = []
    for channel, send in attempts:
        try:
            detail = send()
        except Exception as exc:
            log.warning("could not send the run summary to %s: %s", channel, exc)
            results.append(Delivery(channel, False, f"{type(exc).__name__}: {exc}"))
        else:
            results.append(Delivery(channel, True, detail or ""))
    return results


def deliver(
    subject: str,
    text: str,
    notify: NotifySettings,
    channels: Channels,
    *,
    sleep: Callable[[float], None] = time.sleep,
) -> list[Delivery]:
    """Send plain text (a notice) to every configured channel; one result per channel."""
    return _attempt(
        _sends(
            notify,
            channels,
            slack=lambda: (slack_message(subject, text), None),
            email=lambda: (subject, text, None),
            sns=lambda: (subject, text),
            sleep=sleep,
        )
    )


def deliver_report(
    report: RunReport,
    notify: NotifySettings,
    channels: Channels,
    *,
    sleep: Callable[[float], None] = time.sleep,
) -> list[Delivery]:
    """Send a run's report to every configured channel, rendered for each: Slack blocks, an
    email with text and HTML parts, SNS text; one result per channel."""

    subject = subject_line(report.summary, report.fleet)

    def email() -> tuple[str, str, str | None]:
        text, html = mail_parts(report)
        return subject, text, html

    return _attempt(
        _sends(
            notify,
            channels,
            slack=lambda: (slack_blocks(report), slack_message(subject, _short(report))),
            email=email,
            sns=lambda: (subject, mail_parts(report)[0]),
            sleep=sleep,
        )
    )


def _short(report: RunReport, limit: int = 3500) -> str:
    """The report as plain text, short enough for one Slack message."""
    text = mail_parts(report)[0]
    return text if len(text) <= limit else text[:limit] + "\n… (cut: too long for Slack)"


def _sends(
    notify: NotifySettings,
    channels: Channels,
    *,
    slack: Callable[[], tuple[dict[str, Any], dict[str, Any] | None]],
    email: Callable[[], tuple[str, str, str | None]],
    sns: Callable[[], tuple[str, str]],
    sleep: Callable[[float], None],
) -> list[tuple[str, Callable[[], str | None]]]:
    """One send per configured channel; rendering happens inside it, so a rendering error
    fails that channel only."""
    sends: list[tuple[str, Callable[[], str | None]]] = []
    if notify.slack_webhook_parameter and channels.ssm is not None:
        parameter = notify.slack_webhook_parameter
        sends.append(("slack", lambda: _slack(channels, parameter, *slack(), sleep=sleep)))
    if notify.email_sender and notify.email_recipients and channels.ses is not None:
        sender, recipients = notify.email_sender, list(notify.email_recipients)
        sends.append(("email", lambda: _email(channels, sender, recipients, *email())))
    if notify.sns_topic_arn and channels.sns is not None:
        topic = notify.sns_topic_arn
        sends.append(("sns", lambda: _sns(channels, topic, *sns())))
    return sends


def _slack(
    channels: Channels,
    parameter: str,
    payload: dict[str, Any],
    plain: dict[str, Any] | None = None,
    *,
    sleep: Callable[[float], None],
) -> str | None:
    """Post `payload`; if Slack refuses it as malformed (400) and there is a `plain` version,
    post that instead and say so."""
    assert channels.ssm is not None
    # The webhook URL is a secret: it lives in SSM, never in the config, the environment, a log
    # line or an error message, even when it is malformed (urllib's errors quote it).
    url = channels.ssm.get_parameter(Name=parameter, WithDecryption=True)["Parameter"]["Value"]
    parts = urllib.parse.urlsplit(str(url))
    if parts.scheme not in ("https", "http") or not parts.netloc:
        raise DeliveryError(f"the value of {parameter} is not a webhook URL (https://…)")
    try:
        try:
            post_with_retry(channels.post, url, payload, sleep=sleep)
        except urllib.error.HTTPError as exc:
            if exc.code != 400 or plain is None:
                raise
            # Blocks Slack refuses (a limit it tightened, a rendering bug) must not cost the
            # message: the plain text version still says everything.
            refused = f"Slack refused the blocks: HTTP 400{_reason(exc)}"
            log.warning("%s: sending the summary as plain text", refused)
            post_with_retry(channels.post, url, plain, sleep=sleep)
            return f"sent as plain text: {refused}"
    except urllib.error.HTTPError as exc:
        raise DeliveryError(f"the Slack webhook answered HTTP {exc.code}{_reason(exc)}") from None
    except (ValueError, OSError) as exc:  # URLError is an OSError
        raise DeliveryError(
            f"the webhook in {parameter} could not be reached ({type(exc).__name__})"
        ) from None
    return None


def _reason(error: urllib.error.HTTPError) -> str:
    """Slack's one-word reason for a refusal (`invalid_blocks`), when its body is just that."""
    try:
        body = error.read(100).decode("utf-8", "replace").strip()
    except Exception:  # a body already read, or a connection gone: the status is enough
        return ""
    return f" ({body})" if re.fullmatch(r"[a-z_]{1,60}", body) else ""


def email_subject(subject: str) -> str:
    """One line: a line break in a Subject would be refused."""
    return " ".join(subject.split())


def sns_subject(subject: str) -> str:
    """What SNS accepts as a Subject: printable ASCII on one line, at most 100 characters."""
    text = unicodedata.normalize("NFKD", subject.replace("…", "...").replace("—", "-"))
    ascii_text = "".join(
        c if " " <= c <= "~" else " " for c in text if not unicodedata.combining(c)
    )
    line = " ".join(ascii_text.split()) or "lambdafan"
    return line if len(line) <= SUBJECT_LIMIT else line[: SUBJECT_LIMIT - 3] + "..."


def _email(
    channels: Channels,
    sender: str,
    recipients: list[str],
    subject: str,
    text: str,
    html: str | None = None,
) -> None:
    assert channels.ses is not None
    body = {"Text": {"Data": text, "Charset": "UTF-8"}}
    if html is not None:
        body["Html"] = {"Data": html, "Charset": "UTF-8"}
    channels.ses.send_email(
        Source=sender,
        Destination={"ToAddresses": recipients},
        Message={"Subject": {"Data": email_subject(subject), "Charset": "UTF-8"}, "Body": body},
    )


def _sns(channels: Channels, topic: str, subject: str, text: str) -> None:
    assert channels.sns is not None
    channels.sns.publish(TopicArn=topic, Subject=sns_subject(subject), Message=text)
