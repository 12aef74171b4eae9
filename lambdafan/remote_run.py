"""`lambdafan run --now`: start the deployed Director and watch the run item until it completes.

The Director is invoked asynchronously with a run id chosen here; a run has started only once
the Director has created its item. When it does not within PICKUP_LIMIT_S, `run --now` says
so, with the likely cause, rather than report a run that does not exist.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import time
import urllib.parse
from collections.abc import Callable, Sequence
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from lambda_src import runs, status, table
from lambda_src.names import function_name, log_group_name
from lambda_src.runs import Clock
from lambda_src.settings import FleetSettings
from lambda_src.table import Item, ItemStore
from lambdafan.aws import error_code, error_message
from lambdafan.errors import LambdafanError

POLL_INTERVAL_S = 2.0
# How long the Director may take to create the run item before we say it did not start.
START_GRACE_S = 60.0
# How long `run --now` waits for the Director to create the run item (it does within seconds
# of being invoked: a cold start, a Query of recent runs, the fleet's accounts), and how often
# it looks.
PICKUP_LIMIT_S = 10.0
PICKUP_POLL_S = 0.5
# Log times are AWS's: look back a little before the invoke, as this machine's clock sees it.
LOG_CLOCK_SKEW = dt.timedelta(seconds=30)
# The Director's log lines that explain a failure (a Python error, Lambda's own errors).
_ERROR_LINE = re.compile(r"error|exception|traceback|timed out", re.IGNORECASE)
_AWS_HOSTS = (".amazonaws.com", ".amazonaws.com.cn", ".api.aws")
MAX_DETAIL = 300

# `lambdafan COMMAND` as the user can paste it: the CLI passes GlobalOptions.hint, which keeps
# their -c FILE and --profile; the bare command is for callers without options.
Hint = Callable[[str], str]


def plain_hint(command: str) -> str:
    return f"lambdafan {command}"


class RunNotStarted(LambdafanError):
    pass


class RunStillRunning(LambdafanError):
    pass


def start_run(
    lambda_client: Any,
    settings: FleetSettings,
    *,
    accounts: Sequence[str] | None,
    scripts: Sequence[str] | None,
    clock: Clock = runs.utcnow,
    hint: Hint = plain_hint,
) -> str:
    """Invoke the Director asynchronously; the run id is chosen here so it can be shown at once.
    An invoke that Lambda refuses, or a Director that failed at once, is a RunNotStarted."""
    run_id = runs.new_run_id(clock())
    payload: dict[str, Any] = {"run_id": run_id, "trigger": "manual"}
    if accounts:
        payload["accounts"] = list(accounts)
    if scripts:
        payload["scripts"] = list(scripts)
    name = function_name(settings.fleet, "director")
    try:
        response = lambda_client.invoke(
            FunctionName=name,
            InvocationType="Event",
            Payload=json.dumps(payload).encode("utf-8"),
        )
    except ClientError as exc:
        raise RunNotStarted(_refused(exc, name, hint)) from None
    if response.get("FunctionError"):
        # AWS never reports a function error for an Event invoke; an endpoint that tried to
        # run the function at once and failed does (moto without Docker: "error running docker").
        detail = _one_line(_payload_text(response))
        endpoint = custom_endpoint(lambda_client)
        where = f"the endpoint {endpoint}" if endpoint else "Lambda"
        message = f"run {run_id} did not start: {where} could not run {name}: {detail}"
        if endpoint:
            message += f"; {_no_runtime(hint)}"
        raise RunNotStarted(message)
    return run_id


def _no_runtime(hint: Hint) -> str:
    return (
        f"moto stores functions without running them: use `{hint('run --now --local')}` to run "
        "the fleet's handlers here"
    )


def _refused(exc: ClientError, name: str, hint: Hint) -> str:
    """One line for an invoke Lambda refused."""
    code, text = error_code(exc), _one_line(error_message(exc))
    if code in {"ResourceNotFoundException", "ResourceNotFound"}:
        return f"the Director function {name} not found: deploy the fleet first ({hint('deploy')})"
    if code in {"AccessDeniedException", "AccessDenied"}:
        return f"not allowed to invoke the Director {name} (lambda:InvokeFunction): {text}"
    if code in {"TooManyRequestsException", "ThrottlingException"}:
        return f"Lambda throttled the invoke of the Director {name}: {text}; try again shortly"
    return f"could not invoke the Director {name}: {code or 'error'}: {text}"


def _payload_text(response: dict[str, Any]) -> str:
    body = response.get("Payload")
    raw = body.read() if body is not None else b""
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
    try:
        parsed = json.loads(text)
    except ValueError:
        return text or "no details"
    if isinstance(parsed, dict) and "errorMessage" in parsed:
        return f"{parsed.get('errorType', 'Error')}: {parsed['errorMessage']}"
    return text


def _one_line(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= MAX_DETAIL else line[: MAX_DETAIL - 1] + "…"


def custom_endpoint(client: Any) -> str | None:
    """The client's endpoint URL when it is not AWS's own (AWS_ENDPOINT_URL: moto, say)."""
    url = str(getattr(client.meta, "endpoint_url", "") or "")
    host = urllib.parse.urlparse(url).hostname or ""
    return None if not host or host.endswith(_AWS_HOSTS) else url


def wait_for_pickup(
    store: ItemStore,
    run_id: str,
    *,
    limit_s: float = PICKUP_LIMIT_S,
    interval_s: float = PICKUP_POLL_S,
    sleep: Callable[[float], None] = time.sleep,
    monotonic: Callable[[], float] = time.monotonic,
) -> Item | None:
    """The run item once the Director has created it; None when it has not within `limit_s`."""
    started = monotonic()
    while True:
        run = table.get_run(store, run_id)
        if run is not None:
            return run
        left = limit_s - (monotonic() - started)
        if left <= 0:
            return None
        sleep(min(interval_s, left))


def not_started(
    lambda_client: Any,
    logs_client: Any,
    settings: FleetSettings,
    run_id: str,
    *,
    waited_s: float,
    since: dt.datetime,
    hint: Hint = plain_hint,
) -> RunNotStarted:
    """The error for a run the Director did not create in time, naming the likely cause: its
    reserved concurrency at 0, its last logged error, an endpoint that cannot run Lambda code;
    else the usual suspects. Each look is one cheap call, skipped when it is refused."""
    name = function_name(settings.fleet, "director")
    head = f"run {run_id} did not start: {name} did not create it within {waited_s:g}s"
    if _reserved_concurrency(lambda_client, name) == 0:
        return RunNotStarted(
            f"{head}: its reserved concurrency is 0, so Lambda throttles every invoke "
            f"(aws lambda delete-function-concurrency --function-name {name} "
            f"--region {settings.home_region})"
        )
    group = log_group_name(settings.fleet, "director")
    logged = last_error(logs_client, group, since - LOG_CLOCK_SKEW)
    if logged:
        return RunNotStarted(
            f"{head}: its log says: {logged} (see `{hint('logs director --since 5m')}`)"
        )
    endpoint = custom_endpoint(lambda_client)
    if endpoint:
        return RunNotStarted(
            f"{head}: the endpoint {endpoint} accepted the invoke but no Director ran; "
            f"{_no_runtime(hint)}"
        )
    return RunNotStarted(
        f"{head}: Lambda may be throttling it (reserved or account concurrency), or it fails "
        f"at import or start: see `{hint('logs director --since 5m')}`; if it starts later, "
        f"`{hint('runs')}` shows it"
    )


def _reserved_concurrency(lambda_client: Any, name: str) -> int | None:
    try:
        response = lambda_client.get_function_concurrency(FunctionName=name)
    except (ClientError, BotoCoreError):
        return None
    value = response.get("ReservedConcurrentExecutions")
    return int(value) if value is not None else None


def last_error(logs_client: Any, group: str, since: dt.datetime) -> str | None:
    """The newest error line in the log group since `since` (one page), if readable."""
    try:
        page = logs_client.filter_log_events(
            logGroupName=group, startTime=int(since.timestamp() * 1000)
        )
    except (ClientError, BotoCoreError):
        return None
    events = sorted(page.get("events", []), key=lambda e: e.get("timestamp", 0))
    errors = [str(e.get("message", "")) for e in events if _ERROR_LINE.search(e.get("message", ""))]
    return _one_line(errors[-1]) if errors else None


def wait_for_run(
    store: ItemStore,
    run_id: str,
    *,
    timeout_s: float,
    on_update: Callable[[Item], None],
    interval_s: float = POLL_INTERVAL_S,
    start_grace_s: float = START_GRACE_S,
    sleep: Callable[[float], None] = time.sleep,
    monotonic: Callable[[], float] = time.monotonic,
    hint: Hint = plain_hint,
) -> Item:
    """Poll the run item until the run has ended (or passed its deadline); the last item read."""
    started = monotonic()
    while True:
        run = table.get_run(store, run_id)
        elapsed = monotonic() - started
        if run is None:
            if elapsed > min(start_grace_s, timeout_s):
                raise RunNotStarted(
                    f"the Director did not start run {run_id} within {elapsed:.0f}s: "
                    f"see `{hint('logs director')}` (an endpoint that cannot run Lambda code, "
                    f"like moto, needs `{hint('run --now --local')}`)"
                )
        else:
            on_update(run)
            # Ended in any way, or past its deadline (closed as incomplete by the next Director).
            if status.is_finished(run.get("status")) or runs.is_overdue(run, runs.utcnow()):
                return run
            if elapsed > timeout_s:
                raise RunStillRunning(
                    f"run {run_id} is still running after {timeout_s:.0f}s: "
                    f"follow it with `{hint(f'results --follow --run {run_id}')}`"
                )
        sleep(interval_s)
