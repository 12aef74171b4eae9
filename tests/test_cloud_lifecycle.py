"""The cloud path end to end: deployed to moto with the local Lambda runtime in front, the
Director's, Workers' and Notifier's own zips run as on AWS, on schedule and with a Worker killed.

`run --now` through the runtime, from the CLI, is tested with the demo (tests/test_cli_demo.py).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from lambda_src import names, table
from lambda_src.dynamo_store import DynamoStore
from lambda_src.run_summary import RunSummary, summarize
from lambdafan import demo, remote_run
from lambdafan.aws import Aws
from lambdafan.config import load_config
from lambdafan.config.schema import FleetSettings
from lambdafan.deploy.clients import DeployClients
from lambdafan.deploy.fleet import deploy_fleet
from lambdafan.local_cloud import LocalCloud

ACCOUNTS = 2
RUN_TIMEOUT_S = 90


@dataclass
class Deployed:
    cloud: LocalCloud
    aws: Aws
    settings: FleetSettings
    store: DynamoStore
    org: demo.DemoOrganization
    inbox: demo.NotifierInbox

    def run_now(self, accounts: list[str] | None = None) -> RunSummary:
        lam = self.aws.client("lambda")
        run_id = remote_run.start_run(lam, self.settings, accounts=accounts, scripts=None)
        remote_run.wait_for_run(
            self.store, run_id, timeout_s=RUN_TIMEOUT_S, on_update=lambda run: None
        )
        assert self.cloud.wait_idle(30)  # the Notifier, after the run's last account
        return summarize(self.store, run_id)

    def invocations(self, function: str) -> list[Any]:
        name = names.function_name(self.settings.fleet, function)
        return [r for r in self.cloud.invocations if r.function == name]


# Holds 100 MB for two seconds in one region: nothing for a Worker of 1,024 MB; within the
# sandbox's own limit for a Worker of 128 MB (256 MB a script process), so what stops that one
# is Lambda's limit on the whole execution environment, as on AWS.
HOG = """
import time

def collect(session, region, account):
    if region == "us-east-1":
        block = bytearray(100 * 1024 * 1024)
        time.sleep(2)
        yield {"held": len(block)}
"""


@pytest.fixture
def deployed(server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Deployed]:
    """The demo's fleet, with the HOG script too, deployed to moto behind the runtime."""
    with LocalCloud(server, retry_delays_s=(0.1, 0.1), log_stream=lambda: None) as cloud:
        monkeypatch.setenv("AWS_ENDPOINT_URL", cloud.endpoint)
        aws = Aws.connect(region=demo.DEMO_REGION)
        org = demo.seed_organization(aws, ACCOUNTS)
        inbox = demo.create_inbox(aws)
        config = demo.write_demo_config(tmp_path, inbox)
        (tmp_path / "hog.py").write_text(HOG)
        document = yaml.safe_load(config.read_text())
        config.write_text(yaml.safe_dump({**document, "scripts": ["s3_buckets", "hog.py"]}))
        fleet = load_config(config)
        deploy_fleet(fleet, DeployClients.from_aws(aws, fleet.home_region))
        settings = fleet.to_settings()
        store = DynamoStore(aws.client("dynamodb"), settings.table_name)
        yield Deployed(cloud, aws, settings, store, org, inbox)


# One test, one deploy: deploying is half of its time.
def test_a_scheduled_run_then_a_worker_killed_on_every_attempt(deployed: Deployed) -> None:
    # The schedule rule, fired as its time would fire it: the Director's own zip starts the run.
    rule = names.rule_name(deployed.settings.fleet)
    assert deployed.cloud.fire_rule(rule, demo.DEMO_REGION) == 1
    deadline = time.monotonic() + RUN_TIMEOUT_S
    while (run := table.latest_run(deployed.store)) is None or run["status"] == "running":
        assert time.monotonic() < deadline, run
        time.sleep(0.2)
    assert deployed.cloud.wait_idle(30)  # the Notifier, after the run's last account
    assert run["trigger"] == "schedule"
    summary = summarize(deployed.store, run["run_id"])
    assert summary.ok and summary.accounts_done == ACCOUNTS, summary
    accounts = {item["account_id"] for item in table.run_records(deployed.store, summary.run_id)}
    assert accounts == {account_id for account_id, _ in deployed.org.accounts}
    assert summary.records_by_script == {"s3_buckets": ACCOUNTS, "hog": ACCOUNTS}
    # The Notifier's own zip published to the topic; the run item says so.
    sent = demo.read_inbox(deployed.aws, deployed.inbox, wait_s=5)
    assert sent is not None and summary.run_id in sent and "accounts: 2/2 done" in sent
    assert summary.deliveries == {"sns": "sent"}
    # Each function ran as itself: one Director, a Worker per account, one Notifier, all ok,
    # within their memory; and every AWS call they made is one their role allows.
    assert [r.ok for r in deployed.invocations("director")] == [True]
    assert [r.ok for r in deployed.invocations("worker")] == [True] * ACCOUNTS
    assert [r.ok for r in deployed.invocations("notifier")] == [True]
    for record in deployed.cloud.invocations:
        assert 0 < record.peak_memory_kb < record.memory_limit_mb * 1024, record
    assert max(r.peak_memory_kb for r in deployed.invocations("worker")) > 100 * 1024  # the hog
    assert deployed.cloud.role_findings() == []
    # Lambda's log lines are in CloudWatch Logs, where `lambdafan logs` reads them.
    group = names.log_group_name(deployed.settings.fleet, "worker")
    events = deployed.aws.client("logs").filter_log_events(logGroupName=group)["events"]
    assert sum(e["message"].startswith("REPORT RequestId: ") for e in events) == ACCOUNTS

    # A Worker of 128 MB whose script holds 100 MB: killed on every attempt. Lambda's two
    # retries, then the on-failure destination (the Notifier), which records the account as
    # failed and, as it was the run's last, reports the run.
    worker = names.function_name(deployed.settings.fleet, "worker")
    deployed.aws.client("lambda").update_function_configuration(FunctionName=worker, MemorySize=128)
    account = deployed.org.accounts[0][0]
    before = len(deployed.invocations("worker"))

    killed = deployed.run_now(accounts=[account])

    attempts = deployed.invocations("worker")[before:]
    assert [(r.attempt, r.error_type) for r in attempts] == [
        (1, "Runtime.OutOfMemory"),
        (2, "Runtime.OutOfMemory"),
        (3, "Runtime.OutOfMemory"),
    ]
    assert killed.status == "complete with failures" and killed.accounts_failed == 1, killed
    assert [e.error_type for e in killed.errors] == ["Runtime.OutOfMemory"], killed
    assert [r.ok for r in deployed.invocations("notifier")] == [True, True]
    sent = demo.read_inbox(deployed.aws, deployed.inbox, wait_s=5)
    assert sent is not None and killed.run_id in sent
