"""Lambda entry points: `lambda_src.handlers.director`, `.worker`, `.notifier`.

They only wire AWS clients and the bundled settings into the handler functions, which take
everything as arguments and so run unchanged in the local executor and the tests.
"""

from __future__ import annotations

import functools
import logging
import platform
import time
from collections.abc import Callable, Mapping
from typing import Any

import boto3
import botocore.session

from lambda_src import runs
from lambda_src.aws_session import RETRY_CONFIG
from lambda_src.dynamo_store import DynamoStore
from lambda_src.invoke import lambda_invoker
from lambda_src.run_cost import (
    CountingCloudWatch,
    MeteredStore,
    cost_of_run_id,
    invocation_usage,
    report_usage,
)
from lambda_src.sandbox import ProcessSandbox, hide_process_memory, memory_limit_mb
from lambda_src.scripts import ScriptSpec, describe_script
from lambda_src.settings import (
    SCRIPT_PACKAGES_DIR,
    FleetSettings,
    bundle_root,
    load_settings,
    resolve_script_path,
)
from lambda_src.worker import WorkerDeps, run_worker

log = logging.getLogger(__name__)


@functools.cache
def _settings() -> FleetSettings:
    return load_settings()


@functools.cache
def _session() -> Any:
    core = botocore.session.get_session()
    # Opt-in regions reject tokens from the global STS endpoint; older botocores default to it.
    core.set_config_variable("sts_regional_endpoints", "regional")
    return boto3.Session(botocore_session=core)


@functools.cache
def _scripts() -> tuple[ScriptSpec, ...]:
    # Described from their source only: the Worker itself never imports a user's script.
    return tuple(describe_script(resolve_script_path(r), r.name) for r in _settings().scripts)


@functools.cache
def _sandbox() -> ProcessSandbox | None:
    # The Worker's credentials are in this process's environment: a script, running as the
    # same user, must not read them from /proc.
    hide_process_memory()
    # Its zygote outlives an invocation (it holds no user code); each job is a fresh fork.
    return ProcessSandbox()


def _script_packages() -> tuple[str, ...]:
    packages = bundle_root() / SCRIPT_PACKAGES_DIR
    return (str(packages),) if packages.is_dir() else ()


def _store() -> DynamoStore:
    return DynamoStore(_session().client("dynamodb", config=RETRY_CONFIG), _settings().table_name)


def _invoker() -> Any:
    return lambda_invoker(_session().client("lambda", config=RETRY_CONFIG), _settings())


def _report(
    run_id: object,
    function: str,
    attempt: str,
    started: float,
    context: Any,
    meter: MeteredStore,
    cloudwatch: CountingCloudWatch | None = None,
    series: bool = False,
) -> None:
    """Add this invocation's usage to its run (once per attempt, see `run_cost.report_usage`);
    a failure is logged, never fatal: the run's work is what matters."""
    if not run_id:
        return
    try:
        usage = invocation_usage(
            time.monotonic() - started,
            int(context.memory_limit_in_mb),
            platform.machine(),
            meter,
            cloudwatch.put_requests if cloudwatch is not None else 0,
            # Only the Notifier's series add up: every Worker sends the same ones.
            cloudwatch.series if cloudwatch is not None and series else 0,
        )
        settings = _settings()
        report_usage(
            _store(),
            str(run_id),
            usage,
            function=function,
            attempt=attempt,
            now=runs.utcnow(),
            ttl_days=settings.ttl_days,
        )
    except Exception:
        log.warning("could not record the usage of %s in run %s", function, run_id, exc_info=True)


def _run_id_of(response: Mapping[str, Any]) -> object:
    summary = response.get("summary")
    return response.get("run_id") or (summary.get("run_id") if isinstance(summary, dict) else None)


# One module serves the three functions, and a Worker's cold start pays for every import at
# the top of it: what only the Director or the Notifier needs is imported in their handler.


def director(event: dict[str, Any], context: Any) -> dict[str, Any]:
    from lambda_src.director import DirectorDeps, run_director

    started = time.monotonic()
    settings = _settings()
    organizations = (
        _session().client("organizations", config=RETRY_CONFIG) if settings.organization else None
    )
    meter = MeteredStore(_store())
    deps = DirectorDeps(store=meter, organizations=organizations, invoke=_invoker())
    response = run_director(event, settings, deps)
    if "skipped" not in response:  # a skipped run has no run item to add to
        _report(response.get("run_id"), "director", runs.new_attempt(), started, context, meter)
    return response


def worker(event: dict[str, Any], context: Any) -> dict[str, Any]:
    started = time.monotonic()
    attempt = runs.new_attempt()
    meter = MeteredStore(_store())
    cloudwatch = CountingCloudWatch(_session().client("cloudwatch", config=RETRY_CONFIG))

    def report() -> None:
        _report(event.get("run_id"), "worker", attempt, started, context, meter, cloudwatch)

    deps = WorkerDeps(
        store=meter,
        base_session=_session(),
        invoke=_invoker(),
        scripts=_scripts(),
        sandbox=_sandbox(),
        sandbox_memory_mb=memory_limit_mb(int(context.memory_limit_in_mb)),
        script_packages=_script_packages(),
        remaining_ms=context.get_remaining_time_in_millis,
        cloudwatch=cloudwatch,
        new_attempt=lambda: attempt,
        # The last Worker's usage lands before the Notifier prices the run; the report in
        # `finally` then adds nothing (once per attempt).
        before_notify=report,
    )
    try:
        return run_worker(event, _settings(), deps).as_dict()
    finally:
        # Also when the attempt failed: Lambda billed it, and its retry is another attempt.
        report()


def _wavefront_sender(
    settings: FleetSettings, client: Callable[[str, object], Any]
) -> Callable[[list[str]], None] | None:
    """Sends metric lines to the fleet's Wavefront, its token read from SSM when first needed."""
    wavefront = settings.wavefront
    if wavefront is None:
        return None

    def send(lines: list[str]) -> None:
        from lambda_src.wavefront import read_token, send_to_wavefront

        token = read_token(client("ssm", True), wavefront.token_parameter)
        send_to_wavefront(wavefront.url, token, lines)

    return send


def notifier(event: dict[str, Any], context: Any) -> dict[str, Any]:
    from lambda_src.delivery import Channels
    from lambda_src.notifier import NotifierDeps, run_notifier

    started = time.monotonic()
    notify = _settings().notify
    session = _session()

    def client(service: str, wanted: object) -> Any:
        return session.client(service, config=RETRY_CONFIG) if wanted else None

    channels = Channels(
        ssm=client("ssm", notify.slack_webhook_parameter),
        ses=client("ses", notify.email_sender),
        sns=client("sns", notify.sns_topic_arn),
    )
    meter = MeteredStore(_store())
    cloudwatch = CountingCloudWatch(client("cloudwatch", True))
    settings = _settings()
    deps = NotifierDeps(
        store=meter,
        channels=channels,
        cloudwatch=cloudwatch,
        cost_for=lambda run_id: cost_of_run_id(meter, run_id, settings.home_region),
        wavefront=_wavefront_sender(settings, client),
        time_left_ms=context.get_remaining_time_in_millis,
    )
    response = run_notifier(event, settings, deps)
    run_id, attempt = _run_id_of(response), runs.new_attempt()
    _report(run_id, "notifier", attempt, started, context, meter, cloudwatch, series=True)
    return response
