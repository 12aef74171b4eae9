"""Lambda entry points: `lambda_src.handlers.director`, `.worker`, `.notifier`.

They only wire AWS clients and the bundled settings into the handler functions, which take
everything as arguments and so run unchanged in the local executor and the tests.
"""

from __future__ import annotations

import functools
from typing import Any

import boto3
import botocore.session

from lambda_src.aws_session import RETRY_CONFIG
from lambda_src.delivery import Channels
from lambda_src.director import DirectorDeps, run_director
from lambda_src.dynamo_store import DynamoStore
from lambda_src.invoke import lambda_invoker
from lambda_src.notifier import NotifierDeps, run_notifier
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


def director(event: dict[str, Any], context: Any) -> dict[str, Any]:
    settings = _settings()
    organizations = (
        _session().client("organizations", config=RETRY_CONFIG) if settings.organization else None
    )
    deps = DirectorDeps(store=_store(), organizations=organizations, invoke=_invoker())
    return run_director(event, settings, deps)


def worker(event: dict[str, Any], context: Any) -> dict[str, Any]:
    deps = WorkerDeps(
        store=_store(),
        base_session=_session(),
        invoke=_invoker(),
        scripts=_scripts(),
        sandbox=_sandbox(),
        sandbox_memory_mb=memory_limit_mb(int(context.memory_limit_in_mb)),
        script_packages=_script_packages(),
        remaining_ms=context.get_remaining_time_in_millis,
        cloudwatch=_session().client("cloudwatch", config=RETRY_CONFIG),
    )
    return run_worker(event, _settings(), deps).as_dict()


def notifier(event: dict[str, Any], context: Any) -> dict[str, Any]:
    notify = _settings().notify
    session = _session()

    def client(service: str, wanted: object) -> Any:
        return session.client(service, config=RETRY_CONFIG) if wanted else None

    channels = Channels(
        ssm=client("ssm", notify.slack_webhook_parameter),
        ses=client("ses", notify.email_sender),
        sns=client("sns", notify.sns_topic_arn),
    )
    deps = NotifierDeps(store=_store(), channels=channels, cloudwatch=client("cloudwatch", True))
    return run_notifier(event, _settings(), deps)
