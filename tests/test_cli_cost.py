"""`lambdafan cost` and the cost column of `lambdafan runs`, in this process against moto's
server: an estimate before any run, then from the measured runs."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import boto3

from lambda_src import names, runs, status, table
from lambda_src.dynamo_store import DynamoStore
from lambda_src.run_cost import Usage, metric_series, run_cost
from lambda_src.run_report import RunCost
from lambdafan.cli.cost import assumed_run_usage, estimate, run_series, runs_per_month
from lambdafan.config import load_config
from lambdafan.render.run_history import format_usd
from tests.conftest import cli, deployable_config
from tests.test_run_cost import KNOWN  # $0.720141 at us-east-1 list prices

FLEET = "costs"


def test_runs_per_month_from_rate_and_cron() -> None:
    now = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
    assert runs_per_month("rate(1 day)", now)[0] == Decimal("30.4")  # 730 h / 24 h
    assert runs_per_month("rate(6 hours)", now)[0] == Decimal("121.7")
    assert runs_per_month("cron(0 6 * * ? *)", now)[0] == Decimal("30.4")  # 365 a year
    weekdays, _ = runs_per_month("cron(0 6 ? * MON-FRI *)", now)
    assert weekdays is not None and Decimal("21") < weekdays < Decimal("22")
    assert runs_per_month(None, now)[0] is None
    assert runs_per_month("cron(0 6 L * ? *)", now)[0] is None  # not counted here: said so


def test_cost_before_any_run_is_estimated_from_the_config(server: str, tmp_path: Path) -> None:
    config = deployable_config(tmp_path, FLEET)  # 1 account x 1 region x 2 scripts, daily
    done = cli("cost", "-c", str(config))  # no table yet: not deployed
    assert done.returncode == 0, done.stderr
    usage = assumed_run_usage(load_config(config), accounts=1, regions=1, scripts=2)
    per_run = run_cost(usage, "us-east-1", run_series(2)).total_usd
    assert f"per run:   {format_usd(per_run)}" in done.stdout and "assumed" in done.stdout
    assert f"a month:   ${per_run * Decimal('30.4'):,.2f}" in done.stdout
    assert "no complete run measured yet: 1 accounts x 1 regions x 2 scripts" in done.stdout
    assert "rate(1 day)" in done.stdout and "no free tier" in done.stdout


def _finished_run(store: DynamoStore, run_id: str, usage: Usage, final: str) -> None:
    now = runs.utcnow()
    runs.start_run(
        store, run_id, accounts=["111111111111"], scripts=["ec2_instances", "whoami"],
        trigger="test", now=now, ttl_days=1, worker_timeout_s=900, home_region="us-east-1",
    )  # fmt: skip
    store.update_if(
        names.run_pk(run_id), names.RUN_SK, {"status": final, "finished_at": runs.iso(now)},
        when=("status", status.RUNNING),
    )  # fmt: skip
    if usage.any:
        store.add_counters(names.run_pk(run_id), names.RUN_SK, usage.counters(), ("kind", "run"))


def test_cost_and_runs_from_measured_runs(server: str, tmp_path: Path) -> None:
    config = deployable_config(tmp_path, FLEET)
    client = boto3.client("dynamodb", region_name="us-east-1")
    client.create_table(**table.table_definition(names.table_name(FLEET)))
    store = DynamoStore(client, names.table_name(FLEET))
    double = Usage(**{k.removeprefix("usage_"): 2 * v for k, v in KNOWN.counters().items()})
    _finished_run(store, "20260101T000000Z-aaaaaa", KNOWN, status.COMPLETE)
    _finished_run(store, "20260102T000000Z-bbbbbb", double, status.COMPLETE_WITH_FAILURES)
    _finished_run(store, "20260103T000000Z-cccccc", double, status.INCOMPLETE)  # not averaged
    _finished_run(store, "20260104T000000Z-dddddd", Usage(), status.COMPLETE)  # a local run

    done = cli("cost", "-c", str(config))
    assert done.returncode == 0, done.stderr
    # What each run item's usage costs (2 scripts here, so one metric-hour less than KNOWN in
    # tests/test_run_cost.py, whose Notifier series are assumed, not reported).
    once = run_cost(KNOWN, "us-east-1", metric_series(2, 0)).total_usd
    twice = run_cost(double, "us-east-1", metric_series(2, 0)).total_usd
    average = (once + twice) / 2
    assert f"per run:   {format_usd(average)}" in done.stdout  # $1.08
    assert (
        "measured, 2 runs" in done.stdout and "average of the last 2 complete runs" in done.stdout
    )
    assert f"a month:   ${(average * Decimal('30.4')).quantize(Decimal('0.01')):,.2f}" in (
        done.stdout
    )

    shown = cli("runs", "-c", str(config))
    assert shown.returncode == 0, shown.stderr
    lines = {line.split()[0]: line for line in shown.stdout.splitlines() if "2026" in line}
    assert lines["20260101T000000Z-aaaaaa"].rstrip().endswith(f"${once:.4f}")
    assert lines["20260104T000000Z-dddddd"].rstrip().endswith("-")
    assert max(len(line) for line in shown.stdout.splitlines()) <= 100
    as_json = cli("runs", "-c", str(config), "--format", "json")
    assert f'"cost_usd": {float(once)}' in as_json.stdout


def test_a_frequent_schedule_pays_each_metric_series_one_month_at_most(tmp_path: Path) -> None:
    # Every 5 minutes is 8,760 runs a month; a metric series is billed by the hour it is used,
    # up to $0.30 a month, not once per run.
    config = load_config(deployable_config(tmp_path, FLEET, schedule="rate(5 minutes)"))
    now = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
    per_run = RunCost(
        Decimal("0.0050"), {"lambda": Decimal("0.0010"), "cloudwatch": Decimal("0.0040")}
    )
    figure = estimate(config, [("r1", per_run)], now)
    series = run_series(2)  # 2 + 2 of the Workers; 5 + RunCostUSD + 3 x 2 of the Notifier
    assert series == 16
    assert figure.runs_per_month == Decimal("8760.0")
    assert figure.monthly_usd == (Decimal("0.0010") * 8760 + series * Decimal("0.30")).quantize(
        Decimal("0.01")
    )
    assert any("at most $0.30 a month" in said for said in figure.assumptions)
