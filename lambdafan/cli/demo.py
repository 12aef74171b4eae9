"""`lambdafan demo`: deploy and run a fleet against a local fake AWS, in one command."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Annotated

import typer

from lambda_src import table
from lambda_src.dynamo_store import DynamoStore
from lambda_src.notifier import format_summary
from lambdafan import demo as demo_aws
from lambdafan.aws import Aws
from lambdafan.cli.options import use_sandbox, user_errors
from lambdafan.config import load_config
from lambdafan.deploy.clients import DeployClients
from lambdafan.deploy.fleet import deploy_fleet
from lambdafan.local import DEFAULT_THREADS, LocalExecutor, fleet_scripts
from lambdafan.render.demo import print_kept_demo, step
from lambdafan.render.deploy import DeployProgress
from lambdafan.render.records import print_records
from lambdafan.render.runs import RunProgress, print_notification


@user_errors
def demo(
    accounts: Annotated[
        int, typer.Option(min=1, max=60, help="Accounts in the fake organization.")
    ] = 12,
    keep: Annotated[
        bool,
        typer.Option("--keep", help="Leave the fake AWS running to explore it afterwards."),
    ] = False,
    limit: Annotated[int, typer.Option(min=0, help="Rows shown per script table.")] = 6,
) -> None:
    """See lambdafan work end to end in one command, with no AWS account and no network.

    \b
    Starts moto's server on 127.0.0.1, creates a fake organization (accounts in an OU, with
    EC2 instances, S3 buckets and IAM users), writes a config for it, deploys the fleet
    (showing the plan), runs every script in every account and region in this process, and
    prints what was found and the run summary. Then it stops everything it started.
      lambdafan demo
      lambdafan demo --accounts 30 --keep
    """
    with demo_aws.moto_server(keep=keep) as server:
        demo_aws.use_demo_environment(server.endpoint)
        step(f"Started a fake AWS (moto) at {server.endpoint}")
        aws = Aws.connect(region=demo_aws.DEMO_REGION, threads=DEFAULT_THREADS)
        org = demo_aws.seed_organization(aws, accounts)
        in_ou = (len(org.accounts) + 1) // 2
        step(
            f"Created an organization of {len(org.accounts)} accounts ({in_ou} in OU "
            f"{org.ou_id}), each with EC2 instances, an S3 bucket and an IAM user"
        )
        folder = Path(tempfile.mkdtemp(prefix="lambdafan-demo-"))
        config_path = demo_aws.write_demo_config(folder)
        fleet = load_config(config_path)
        step(f"Deploying fleet {fleet.fleet} (config: {config_path})")
        with DeployProgress() as progress:
            deploy_fleet(fleet, DeployClients.from_aws(aws, fleet.home_region), observer=progress)
        settings = fleet.to_settings()
        store = DynamoStore(aws.client("dynamodb", settings.home_region), settings.table_name)
        step(
            "Running every script in every account and region "
            "(moto cannot run Lambda code, so the handlers run here)"
        )
        sandbox = use_sandbox(True)
        specs = fleet_scripts(settings, load=not sandbox)
        executor = LocalExecutor(settings, aws, store, specs, sandbox=sandbox)
        with RunProgress() as run_progress:
            executor.observer = run_progress
            result = executor.run()
        rows = (table.record_view(i) for i in table.run_records(store, result.run_id))
        print_records(rows, limit)
        notified = result.notifications[0]["text"] if result.notifications else None
        print_notification(notified or format_summary(result.summary))
        if keep:
            print_kept_demo(server.endpoint, server.pid, config_path)
        else:
            shutil.rmtree(folder, ignore_errors=True)
    raise typer.Exit(0 if result.summary.ok else 1)
