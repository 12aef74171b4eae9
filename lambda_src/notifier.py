"""The Notifier: reads a finished run back from the table, turns it into a summary, sends it.

It reports each run once (a retried Notifier finds the run claimed), stores every channel's
outcome on the run item, and is the on-failure destination of the Worker and the Director, so
neither can fail without the run saying so.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from lambda_src import names, reporting, runs, status, table
from lambda_src.delivery import SUBJECT_LIMIT, Channels, Delivery, deliver, deliver_report
from lambda_src.mail_html import mail_text
from lambda_src.metrics import put_metrics
from lambda_src.run_report import RunCost
from lambda_src.run_summary import run_metrics, summarize
from lambda_src.settings import FleetSettings
from lambda_src.table import ItemStore
from lambda_src.wavefront import from_cloudwatch, wavefront_lines

log = logging.getLogger(__name__)
# What the Notifier keeps for sending after the diff: Slack's retries may wait 20 s.
SEND_RESERVE_MS = 30_000


@dataclass
class NotifierDeps:
    """What the Notifier talks to; without channels (local runs) it only summarizes.

    `cost_for` prices a run (None: no cost in the report); `wavefront` sends metric lines to
    the fleet's Wavefront (None: not configured)."""

    store: ItemStore
    channels: Channels | None = None
    cloudwatch: Any | None = None
    clock: Callable[[], dt.datetime] = field(default=lambda: dt.datetime.now(dt.timezone.utc))
    cost_for: Callable[[str], RunCost | None] | None = None
    wavefront: Callable[[list[str]], None] | None = None
    time_left_ms: Callable[[], int] | None = None  # the invocation's (None: no limit)


def run_notifier(
    event: Mapping[str, Any], settings: FleetSettings, deps: NotifierDeps
) -> dict[str, Any]:
    """Handle `{run_id}`: summarize the run once, send it to the configured channels, store
    each channel's outcome on the run item, put metrics.

    Also handles `{notice}` (a message to send as is, e.g. a skipped scheduled run) and Lambda's
    on-failure records: of a Worker whose retries are exhausted (that account is recorded as
    failed; if it was the last one, the run is reported as usual) and of a Director that could
    not start its run (the run is recorded as `failed to start` and reported). A malformed event
    is rejected and logged.
    """
    # Only reading the event is guarded: an error while reporting must fail the invocation, so
    # that Lambda retries it and, in the end, sends it to the dead-letter queue.
    try:
        kind, run_id = _read_event(event)
    except (KeyError, TypeError, ValueError) as exc:
        log.error("rejected a Notifier event: %s", exc)
        return {"rejected": str(exc)}
    if kind == "worker gave up":
        return _worker_gave_up(event, settings, deps)
    if kind == "director gave up":
        return _director_gave_up(event, settings, deps)
    if kind == "notice":
        return _send_notice(str(event["notice"]), settings, deps)
    return _report(run_id, settings, deps)


def _read_event(event: Mapping[str, Any]) -> tuple[str, str]:
    """What kind of event this is, and its run id, checked ("" when it has none yet)."""
    if "requestPayload" in event and "requestContext" in event:
        payload = event.get("requestPayload") or {}
        if "account" in payload:
            names.account_part(str(payload["account"]["id"]))
            return "worker gave up", names.run_id_part(str(payload["run_id"]))
        if payload.get("run_id"):
            return "director gave up", names.run_id_part(str(payload["run_id"]))
        return "director gave up", ""
    if "notice" in event:
        return "notice", ""
    return "run", names.run_id_part(str(event["run_id"]))


def _report(run_id: str, settings: FleetSettings, deps: NotifierDeps) -> dict[str, Any]:
    if not _claim(deps.store, run_id, deps.clock()):
        # A retried or duplicate Notifier: the run was reported already.
        return {"run_id": run_id, "duplicate": True}
    try:
        summary = summarize(deps.store, run_id)
    except Exception:
        # Nothing was sent: give the claim back, so Lambda's retry of this failure notifies.
        _release(deps.store, run_id)
        raise
    time_left = deps.time_left_ms
    report = reporting.build_report(
        deps.store,
        settings,
        summary,
        cost_for=deps.cost_for,
        # The diff reads every record of two runs: it must leave the time to tell the run.
        out_of_time=lambda: time_left is not None and time_left() < SEND_RESERVE_MS,
    )
    text = mail_text(report)
    delivered: list[Delivery] = []
    told = reporting.wanted(report, settings)
    if deps.channels is not None:
        if told:
            delivered = deliver_report(report, settings.notify, deps.channels)
            outcomes = {d.channel: "sent" if d.ok else f"failed: {d.detail}" for d in delivered}
        else:
            quiet = f"not sent (only_on: {settings.notify.only_on})"
            outcomes = {
                channel: quiet for channel in reporting.configured_channels(settings.notify)
            }
        _record_deliveries(deps.store, run_id, outcomes)
    now = deps.clock()
    failures = sum(1 for d in delivered if not d.ok)
    data = run_metrics(summary, settings.fleet, now, failures)
    data += reporting.change_metrics(report, now)
    if deps.cloudwatch is not None:
        put_metrics(deps.cloudwatch, data)
    if deps.wavefront is not None:
        _send_wavefront(deps.wavefront, data, settings.fleet, now)
    return {
        "summary": summary.as_dict(),
        "text": text,
        "told": told,
        "delivered": [asdict(d) for d in delivered],
    }


def _send_wavefront(
    send: Callable[[list[str]], None], data: list[dict[str, Any]], fleet: str, now: dt.datetime
) -> None:
    """The same metrics as CloudWatch's, to Wavefront; a failure is logged, never fatal."""
    try:
        send(wavefront_lines(from_cloudwatch(data), fleet, now))
    except Exception as exc:  # WavefrontError says what failed without the token
        log.warning("could not send metrics to Wavefront: %s", exc)


def _send_notice(notice: str, settings: FleetSettings, deps: NotifierDeps) -> dict[str, Any]:
    delivered: list[Delivery] = []
    if deps.channels is not None:
        subject = f"lambdafan {settings.fleet}: {notice}"[:SUBJECT_LIMIT]
        delivered = deliver(subject, notice, settings.notify, deps.channels)
    return {"text": notice, "delivered": [asdict(d) for d in delivered]}


def _worker_gave_up(
    event: Mapping[str, Any], settings: FleetSettings, deps: NotifierDeps
) -> dict[str, Any]:
    payload = event["requestPayload"]
    context = event.get("requestContext") or {}
    response = event.get("responsePayload") or {}
    run_id = names.run_id_part(str(payload["run_id"]))
    account_id = names.account_part(str(payload["account"]["id"]))
    account_name = str(payload["account"]["name"])
    reason = response.get("errorMessage") or context.get("condition") or "unknown error"
    finish = runs.fail_account(
        deps.store,
        run_id,
        account_id,
        account_name,
        error_type=str(response.get("errorType") or "WorkerFailed"),
        message=(
            f"the Worker failed {context.get('approximateInvokeCount', 'every')} "
            f"time(s) and Lambda gave up: {reason}"
        ),
        attempt=runs.GAVE_UP_ATTEMPT,
        now=deps.clock(),
        ttl_days=settings.ttl_days,
    )
    if finish.notify:
        return _report(run_id, settings, deps)
    return {"run_id": run_id, "account_failed": account_id, "finish": finish.value}


def _director_gave_up(
    event: Mapping[str, Any], settings: FleetSettings, deps: NotifierDeps
) -> dict[str, Any]:
    """The Director failed every attempt: its run (the one it was given, or the scheduled
    event's) is recorded as `failed to start` and reported; if there is no table to record it
    in, the channels are still told."""
    payload = event.get("requestPayload") or {}
    response = event.get("responsePayload") or {}
    context = event.get("requestContext") or {}
    now = deps.clock()
    run_id = names.run_id_part(
        str(payload.get("run_id") or runs.scheduled_run_id(payload) or runs.new_run_id(now))
    )
    reason = str(response.get("errorMessage") or context.get("condition") or "unknown error")
    message = f"{response.get('errorType') or 'DirectorFailed'}: {reason}"
    trigger = "schedule" if payload.get("source") == "aws.events" else "manual"
    try:
        recorded = fail_to_start(
            deps.store,
            run_id,
            message=message,
            trigger=trigger,
            now=now,
            ttl_days=settings.ttl_days,
        )
    except Exception as exc:  # e.g. the results table is gone: the channels must still hear
        log.error("could not record run %s as failed to start: %s", run_id, exc)
        return _send_notice(f"run {run_id} failed to start: {message}", settings, deps)
    if not recorded:
        return {"run_id": run_id, "failed_to_start": False}
    return _report(run_id, settings, deps)


def _claim(store: ItemStore, run_id: str, now: dt.datetime) -> bool:
    """True for the one caller that gets to notify about a run (a duplicate Notifier doesn't)."""
    return store.update_if(
        names.run_pk(run_id),
        names.RUN_SK,
        {"notified_at": runs.iso(now)},
        when=("notified_at", None),
    )


def _release(store: ItemStore, run_id: str) -> None:
    """Give a claim back after failing before anything was sent, so Lambda's retry notifies."""
    store.update_if(
        names.run_pk(run_id), names.RUN_SK, {"notified_at": None}, when=("run_id", run_id)
    )


def _record_deliveries(store: ItemStore, run_id: str, outcomes: Mapping[str, str]) -> None:
    """Store each channel's outcome on the run item (`sent`, or why it failed)."""
    store.update_if(
        names.run_pk(run_id), names.RUN_SK, {"deliveries": dict(outcomes)}, when=("run_id", run_id)
    )


def fail_to_start(
    store: ItemStore, run_id: str, *, message: str, trigger: str, now: dt.datetime, ttl_days: int
) -> bool:
    """Record that the Director could not start a run (with why); False if the run had got
    further than that (it is running with Workers, or ended)."""
    item = table.run_item(
        run_id,
        started_at=runs.iso(now),
        accounts_expected=0,
        scripts=(),
        trigger=trigger,
        expires_at=runs.expiry(now, ttl_days),
        deadline_at=runs.iso(now),
    )
    item.update(status=status.FAILED_TO_START, finished_at=runs.iso(now), error=message[:2000])
    if store.put_new(item):
        return True
    # The run item exists: only a run that never got a single account done can fail to start.
    run = table.get_run(store, run_id)
    if run is None or run.get("status") != status.RUNNING or int(run.get("accounts_done", 0)):
        return False
    values = {
        "status": status.FAILED_TO_START,
        "finished_at": runs.iso(now),
        "error": message[:2000],
    }
    return store.update_if(
        names.run_pk(run_id), names.RUN_SK, values, when=("status", status.RUNNING)
    )
