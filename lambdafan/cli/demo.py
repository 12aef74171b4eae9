"""`lambdafan demo`: deploy and run a fleet against a local fake AWS, in one command."""

from __future__ import annotations

import time
from typing import Annotated, Any

import typer

from lambda_src import names, table
from lambda_src.dynamo_store import DynamoStore
from lambda_src.run_summary import RunSummary, format_summary
from lambdafan import demo as demo_aws
from lambdafan.aws import Aws
from lambdafan.cli.options import DEFAULT_ROWS
from lambdafan.cli.run import run_deployed
from lambdafan.config import load_config
from lambdafan.deploy.clients import DeployClients
from lambdafan.deploy.fleet import deploy_fleet
from lambdafan.errors import EXIT_INTERRUPTED
from lambdafan.local import DEFAULT_THREADS
from lambdafan.log_events import parse_report
from lambdafan.render.console import stopped
from lambdafan.render.demo import FunctionReports, print_invocations, print_kept_demo, step
from lambdafan.render.deploy import DeployProgress
from lambdafan.render.records import print_records
from lambdafan.render.runs import print_notification

RUN_TIMEOUT_S = 300
REPORT_WAIT_S = 10.0
ROLE_CHECK = "LOCALCLOUD ROLE CHECK: "  # the runtime's line for a call the role does not allow
# The demo's fake AWS is gone when it ends, unless kept: then `results` shows every field.
DEMO_HINT = "see them with `lambdafan demo --keep`, then `lambdafan results --format jsonl`"


def demo(
    accounts: Annotated[
        int, typer.Option(min=1, max=60, metavar="N", help="Accounts in the fake organization.")
    ] = 12,
    keep: Annotated[
        bool,
        typer.Option(
            "--keep",
            help="Leave the fake AWS, its Lambda runtime and the demo's config in place to "
            "explore them (the demo prints how to stop and remove them).",
        ),
    ] = False,
    limit: Annotated[
        int, typer.Option(min=1, metavar="N", help="Rows shown per script table.")
    ] = DEFAULT_ROWS,
) -> None:
    """See lambdafan work end to end in one command, with no AWS account and no network.

    Starts a fake AWS on 127.0.0.1 (moto's server, with lambdafan's local Lambda runtime in
    front of it, which runs the deployed functions' own zips), creates a fake organization
    (accounts in an OU, with EC2 instances, S3 buckets and IAM users), writes a config for it,
    deploys the fleet (showing the plan), runs it as on AWS (`run --now`: the Director invokes
    a Worker per account, the last Worker the Notifier), and prints what was found, what the
    Notifier sent and what each function used. Then it stops everything it started.

    \b
      lambdafan demo
      lambdafan demo --accounts 30 --keep
    """
    try:
        summary = _demo(accounts, keep, limit)
    except KeyboardInterrupt:
        stopped("interrupted: the demo's fake AWS is stopped")
        raise typer.Exit(EXIT_INTERRUPTED) from None
    raise typer.Exit(0 if summary.ok else 1)


def _demo(accounts: int, keep: bool, limit: int) -> RunSummary:
    with demo_aws.demo_cloud(keep) as cloud, demo_aws.demo_folder(keep) as folder:
        demo_aws.use_demo_environment(cloud.endpoint)
        step(f"Started a fake AWS (moto) with a local Lambda runtime at {cloud.endpoint}")
        aws = Aws.connect(region=demo_aws.DEMO_REGION, threads=DEFAULT_THREADS)
        org = demo_aws.seed_organization(aws, accounts)
        inbox = demo_aws.create_inbox(aws)
        in_ou = (len(org.accounts) + 1) // 2
        step(
            f"Created an organization of {len(org.accounts)} accounts ({in_ou} in OU "
            f"{org.ou_id}), each with EC2 instances, an S3 bucket and an IAM user"
        )
        config_path = demo_aws.write_demo_config(folder, inbox)
        fleet = load_config(config_path)
        step(f"Deploying fleet {fleet.fleet} (config: {config_path})")
        with DeployProgress() as progress:
            deploy_fleet(fleet, DeployClients.from_aws(aws, fleet.home_region), observer=progress)
        settings = fleet.to_settings()
        store = DynamoStore(aws.client("dynamodb", settings.home_region), settings.table_name)
        step(
            "Running the fleet as on AWS (lambdafan run --now): the Director, Workers and "
            "Notifier run their own zips, each in a clean Python with only boto3"
        )
        summary = run_deployed(aws, settings, store, [], [], wait=True, timeout=RUN_TIMEOUT_S)
        assert summary is not None  # waited
        rows = (table.record_view(i) for i in table.run_records(store, summary.run_id))
        order = [spec.name for spec in settings.scripts]
        print_records(rows, limit, order=order, hint=DEMO_HINT)
        sent = demo_aws.read_inbox(aws, inbox)
        print_notification(sent or format_summary(summary), via="SNS" if sent else None)
        print_invocations(_reports(aws, settings.fleet, notified=sent is not None))
        if keep:
            print_kept_demo(cloud.endpoint, cloud.pid, config_path)
    return summary


def _reports(aws: Aws, fleet: str, notified: bool) -> list[FunctionReports]:
    """Each function's REPORT lines, read from CloudWatch Logs as on AWS. A Notifier that has
    sent its message is still ending: its line is waited for, briefly."""
    logs = aws.client("logs")
    found = [_function_reports(logs, fleet, kind) for kind in ("director", "worker")]
    deadline = time.monotonic() + REPORT_WAIT_S
    while True:  # only the Notifier's log is read again
        notifier = _function_reports(logs, fleet, "notifier")
        if not notified or notifier.reports or time.monotonic() > deadline:
            return [*found, notifier]
        time.sleep(0.2)


def _function_reports(logs: Any, fleet: str, kind: str) -> FunctionReports:
    paginator = logs.get_paginator("filter_log_events")
    messages = [
        str(event["message"])
        for page in paginator.paginate(logGroupName=names.log_group_name(fleet, kind))
        for event in page.get("events", [])
    ]
    return FunctionReports(
        kind.capitalize(),
        tuple(report for m in messages if (report := parse_report(m)) is not None),
        tuple(m.partition(ROLE_CHECK)[2] for m in messages if m.startswith(ROLE_CHECK)),
    )
