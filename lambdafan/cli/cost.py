"""`lambdafan cost`: what a fleet costs a month, from its schedule and its last runs' usage.

The per-run figure is the average measured cost of the last complete runs (each run's usage is
on its run item, priced by `lambda_src.run_cost`); before any run it is estimated from accounts
x regions x scripts with the assumptions below, which the command prints. The estimate itself
is plain functions (`runs_per_month`, `assumed_run_usage`, `estimate`), testable without Typer.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated

import typer
from botocore.exceptions import ClientError

from lambda_src import pricing
from lambda_src.run_cost import ASSUMED_NOTIFIER_SERIES, Usage, metric_series, run_cost
from lambda_src.run_report import RunCost
from lambdafan import results_store, run_rows
from lambdafan.aws import is_not_found
from lambdafan.cli.options import ConfigOption, ProfileOption, RegionOption, options
from lambdafan.config.schema import Config
from lambdafan.render.cost import print_estimate
from lambdafan.schedule import Rate, ScheduleError, parse_cron, parse_schedule

HOURS_PER_MONTH = 730  # AWS's month for prorated charges
# Before any run: what one run is assumed to use (printed with the estimate).
ASSUMED_ORG_ACCOUNTS = 10  # an organization's size is unknown until it is listed
ASSUMED_REGIONS = 17  # "every enabled region": the regions AWS enables by default
ASSUMED_WORKER_BASE_S = 3.0  # a Worker's own work: assume the role, list regions, report
ASSUMED_PAIR_S = 1.0  # Worker seconds per (script, region) pair
ASSUMED_RECORDS_PER_PAIR = 10  # each under 1 KB: one write unit each
ASSUMED_ACCOUNT_WRITE_UNITS = 6  # done item, run counters, usage report, one error item
ASSUMED_ACCOUNT_READ_UNITS = 2
ASSUMED_RUN_FUNCTION_S = 2.0  # the Director's and the Notifier's run each
ASSUMED_RUN_READ_UNITS = 10
# Counting firings of an every-minute cron over a year takes a while: beyond this many, the
# rate so far stands for the month.
MAX_FIRINGS_COUNTED = 50_000


@dataclass(frozen=True)
class CostEstimate:
    """A fleet's cost per run and per month, and what the figures rest on."""

    fleet: str
    region: str
    regional_prices: bool
    schedule: str | None
    runs_per_month: Decimal | None  # None: no schedule, or one this tool cannot count
    per_run: RunCost
    measured_runs: tuple[str, ...]  # the runs averaged; () when the figure is assumed
    assumptions: tuple[str, ...]
    # What CloudWatch's custom metrics cost in a month at most, whatever the number of runs:
    # each series is billed by the hour it is used, up to one metric-month.
    metrics_month_cap_usd: Decimal | None = None

    @property
    def monthly_usd(self) -> Decimal | None:
        if self.runs_per_month is None:
            return None
        cloudwatch = self.per_run.parts_usd.get("cloudwatch", Decimal(0))
        rest = (self.per_run.total_usd - cloudwatch) * self.runs_per_month
        metrics = cloudwatch * self.runs_per_month
        if self.metrics_month_cap_usd is not None:
            metrics = min(metrics, self.metrics_month_cap_usd)
        return (rest + metrics).quantize(Decimal("0.01"))


def runs_per_month(expression: str | None, now: dt.datetime) -> tuple[Decimal | None, str]:
    """How many times a month (730 hours) a schedule fires, and how that was found."""
    if expression is None:
        return None, "no schedule: the fleet runs only when started (lambdafan run)"
    try:
        parsed = parse_schedule(expression.strip())
    except ScheduleError as exc:
        return None, f"schedule {expression} not understood: {exc}"
    if isinstance(parsed, Rate):
        per_month = Decimal(HOURS_PER_MONTH * 60) / Decimal(parsed.minutes)
        return per_month.quantize(Decimal("0.1")), f"{expression}: every {parsed.minutes} min"
    cron = parse_cron(expression)
    if cron is None:
        return None, f"{expression} uses a form (L, W, #) whose firings are not counted here"
    start = now.astimezone(dt.timezone.utc).replace(second=0, microsecond=0)
    end = start + dt.timedelta(days=365)
    count, last = 0, start
    for moment in cron.firings(start):
        if moment >= end:
            break
        count, last = count + 1, moment
        if count >= MAX_FIRINGS_COUNTED:
            end = last
            break
    hours = Decimal((end - start).total_seconds()) / 3600
    per_month = Decimal(count) * HOURS_PER_MONTH / hours if hours else Decimal(0)
    return per_month.quantize(Decimal("0.1")), f"{expression}: firings counted over a year"


def fleet_size(config: Config, accounts: int | None) -> tuple[int, int, int, list[str]]:
    """(accounts, regions, scripts) of a run of the config, and the guesses made."""
    said: list[str] = []
    listed = [e for e in config.accounts.entries if e.id not in set(config.accounts.exclude)]
    if accounts is not None:
        count = accounts
        said.append(f"{accounts} accounts (--accounts)")
    elif config.accounts.organization.enabled:
        count = max(len(listed), ASSUMED_ORG_ACCOUNTS)
        said.append(f"organization accounts not listed here: assumed {count} (--accounts N)")
    else:
        count = len(listed)
    regions = len(config.regions) if config.regions else ASSUMED_REGIONS
    if not config.regions:
        said.append(f"regions: every enabled one, assumed {ASSUMED_REGIONS}")
    return count, regions, len(config.scripts), said


def assumed_run_usage(config: Config, accounts: int, regions: int, scripts: int) -> Usage:
    """What one run of `accounts` x `regions` x `scripts` is assumed to use (on arm64, the
    architecture deploy chooses; every script counted as regional, an upper bound)."""
    pairs = regions * scripts
    worker_ms = int((ASSUMED_WORKER_BASE_S + ASSUMED_PAIR_S * pairs) * 1000)
    run_ms = int(ASSUMED_RUN_FUNCTION_S * 1000)
    sizes = config.functions
    mb_ms = accounts * worker_ms * sizes.worker.memory + run_ms * (
        sizes.director.memory + sizes.notifier.memory
    )
    return Usage(
        invocations=accounts + 2,
        billed_ms=accounts * worker_ms + 2 * run_ms,
        mb_ms_arm64=mb_ms,
        write_units=accounts * (pairs * ASSUMED_RECORDS_PER_PAIR + ASSUMED_ACCOUNT_WRITE_UNITS),
        read_units_strong=accounts * ASSUMED_ACCOUNT_READ_UNITS + ASSUMED_RUN_READ_UNITS,
        metric_requests=accounts + 1,
    )


def estimate(
    config: Config,
    measured: list[tuple[str, RunCost]],
    now: dt.datetime,
    accounts: int | None = None,
) -> CostEstimate:
    """The fleet's estimate: the average of `measured` run costs, else the assumed usage."""
    region = config.home_region
    prices = pricing.prices_for(region)
    per_month, how = runs_per_month(config.schedule, now)
    said = [how, "list prices, on-demand, first tier; no free tier, no discounts"]
    if not prices.regional:
        said.append(f"no {region} figures recorded: us-east-1 prices used")
    if measured:
        per_run = _average([cost for _, cost in measured])
        said.append(f"per run: the average of the last {len(measured)} complete runs")
    else:
        count, regions, scripts, guesses = fleet_size(config, accounts)
        usage = assumed_run_usage(config, count, regions, scripts)
        per_run = run_cost(usage, region, run_series(scripts))
        said.extend(guesses)
        said.append(
            f"no complete run measured yet: {count} accounts x {regions} regions x "
            f"{scripts} scripts, each (script, region) pair {ASSUMED_PAIR_S:g} s of Worker "
            f"time and {ASSUMED_RECORDS_PER_PAIR} records under 1 KB, each Worker "
            f"{ASSUMED_WORKER_BASE_S:g} s more, on arm64"
        )
    series = run_series(len(config.script_paths()))
    cap = series * prices.cloudwatch_metric_month
    said.append(
        f"CloudWatch: {series} metric series, each billed per hour used, at most "
        f"${prices.cloudwatch_metric_month} a month"
    )
    return CostEstimate(
        metrics_month_cap_usd=cap,
        fleet=config.fleet,
        region=region,
        regional_prices=prices.regional,
        schedule=config.schedule,
        runs_per_month=per_month,
        per_run=per_run,
        measured_runs=tuple(run_id for run_id, _ in measured),
        assumptions=tuple(said),
    )


def run_series(scripts: int) -> int:
    """The CloudWatch metric series a run sends: the Workers', and the Notifier's (its run
    metrics, RunCostUSD, and RecordsAdded/Removed/Changed per script)."""
    return metric_series(scripts, ASSUMED_NOTIFIER_SERIES + 1 + 3 * scripts)


def _average(costs: list[RunCost]) -> RunCost:
    n = Decimal(len(costs))
    parts: dict[str, Decimal] = {}
    for cost in costs:
        for name, amount in cost.parts_usd.items():
            parts[name] = parts.get(name, Decimal(0)) + amount
    averaged = {name: (total / n).quantize(Decimal("0.000001")) for name, total in parts.items()}
    return RunCost(total_usd=sum(averaged.values(), Decimal(0)), parts_usd=averaged)


def cost(
    ctx: typer.Context,
    last: Annotated[
        int,
        typer.Option(
            "--runs", min=1, metavar="N", help="Average the cost of this many recent runs."
        ),
    ] = 5,
    accounts: Annotated[
        int | None,
        typer.Option(
            min=1,
            metavar="N",
            help="Assume this many accounts (before any run, organizations).",
        ),
    ] = None,
    config: ConfigOption = None,
    profile: ProfileOption = None,
    region: RegionOption = None,
) -> None:
    """Estimate the fleet's monthly cost at AWS list prices, from its schedule and the measured
    cost of its last runs (before any run: from accounts x regions x scripts).

    \b
    Examples:
      lambdafan cost -c lambdafan.yaml
      lambdafan cost --accounts 200   # an organization fleet, before any run
    """
    opts = options(ctx, config, profile, region)
    fleet = opts.load()
    settings = fleet.to_settings()
    store = results_store.open_table(opts.aws(fleet), settings)
    try:
        measured = run_rows.recent_costs(store, last, settings.home_region)
    except ClientError as exc:
        if not is_not_found(exc):
            raise
        measured = []  # not deployed yet: estimate from the config
    print_estimate(estimate(fleet, measured, dt.datetime.now(dt.timezone.utc), accounts))
