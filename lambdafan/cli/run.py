"""`lambdafan run`: run the fleet's scripts once, on the deployed fleet or in this process."""

from __future__ import annotations

import concurrent.futures as cf
import datetime as dt
import importlib.util
import sys
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Annotated

import typer
from botocore.exceptions import ClientError

from lambda_src import table
from lambda_src.run_summary import RunSummary, summarize
from lambda_src.sandbox import memory_limit_mb
from lambda_src.settings import FleetSettings
from lambda_src.table import Item, ItemStore
from lambdafan import remote_run
from lambdafan.aws import Aws, describe_error, error_code
from lambdafan.checks import check_organization_accounts, check_run_request
from lambdafan.cli.interrupts import (
    SigintHandler,
    leave_now,
    leave_on_interrupt,
    on_sigint,
    restore_sigint,
    wait_for,
)
from lambdafan.cli.options import (
    DEFAULT_ROWS,
    ConfigOption,
    GlobalOptions,
    ProfileOption,
    RegionOption,
    SandboxOption,
    options,
    use_sandbox,
)
from lambdafan.errors import EXIT_INTERRUPTED, LambdafanError, UsageError
from lambdafan.local import (
    DEFAULT_THREADS,
    LocalExecutor,
    LocalRun,
    fleet_scripts,
    open_store,
)
from lambdafan.render.console import console, note, stopped, warning
from lambdafan.render.records import print_records, results_hint, write_jsonl
from lambdafan.render.runs import RunProgress, print_summary
from lambdafan.results import script_names
from lambdafan.script_tools.fleet_review import habit_lines
from lambdafan.script_tools.imports import fleet_missing_imports

NowOption = Annotated[
    bool, typer.Option("--now", help="Start the deployed fleet now (the Director, async).")
]
LocalOption = Annotated[
    bool,
    typer.Option(
        "--local", help="Run the Director, Workers and Notifier here, with your credentials."
    ),
]
AccountOption = Annotated[
    list[str] | None,
    typer.Option("--account", "-a", metavar="ACCOUNT_ID", help="Only this account (repeatable)."),
]
ScriptOption = Annotated[
    list[str] | None,
    typer.Option("--script", "-s", metavar="SCRIPT", help="Only this script (repeatable)."),
]
WaitOption = Annotated[
    bool | None,
    typer.Option(
        "--wait/--no-wait",
        help="With --now: watch the run until it completes (default: in a terminal).",
        show_default=False,
    ),
]
TimeoutOption = Annotated[
    int,
    typer.Option(
        min=1, metavar="SECONDS", help="With --now: stop waiting after this many seconds."
    ),
]
OutputOption = Annotated[
    Path | None,
    typer.Option(
        "--output", "-o", metavar="FILE", help="Also write every record to FILE, as JSON Lines."
    ),
]
ThreadsOption = Annotated[
    int,
    typer.Option(
        min=1,
        max=512,
        metavar="N",
        help="With --local: threads shared by all (script, region) pairs. A pair mostly waits "
        "on AWS, so many pay off; only as many accounts run at once as keep them busy.",
    ),
]
LimitOption = Annotated[
    int, typer.Option(min=1, metavar="N", help="Rows shown per script table (the rest: -o FILE).")
]
PairTimeoutOption = Annotated[
    float | None,
    typer.Option(
        min=0.1,
        metavar="SECONDS",
        help="With --local: a (script, region) pair still running after this many seconds "
        "becomes a Timeout error, keeping its records (default: the Worker function's "
        "timeout, functions.worker.timeout).",
        show_default=False,
    ),
]

ACCESS_DENIED = {"AccessDeniedException", "AccessDenied"}


def run(
    ctx: typer.Context,
    now: NowOption = False,
    local: LocalOption = False,
    account: AccountOption = None,
    script: ScriptOption = None,
    wait: WaitOption = None,
    timeout: TimeoutOption = 900,
    output: OutputOption = None,
    threads: ThreadsOption = DEFAULT_THREADS,
    limit: LimitOption = DEFAULT_ROWS,
    pair_timeout: PairTimeoutOption = None,
    sandbox: SandboxOption = True,
    config: ConfigOption = None,
    profile: ProfileOption = None,
    region: RegionOption = None,
) -> None:
    """Run the fleet's scripts once: on the deployed fleet (--now) or in this process (--local).

    \b
    Examples:
      lambdafan run --now                # the deployed fleet, watched to the end
      lambdafan run --now --account 111111111111 --script s3_buckets --no-wait
      lambdafan run --local -o records.jsonl     # your laptop, before deploying
      lambdafan run --now --local        # handlers here, the fleet's table

    With --local, records go to the fleet's table when it exists (required with --now), else
    they are kept in memory; Ctrl-C stops the run, keeping what it found (twice: at once).
    --account and --script are checked before a run starts: against the config, and for an
    organization's accounts with one Organizations DescribeAccount call each.
    Exit code 0 when every (account, script, region) succeeded, 1 when any failed, 2 for bad
    input, 130 when stopped with Ctrl-C.
    """
    opts = options(ctx, config, profile, region)
    fleet = opts.load()
    settings = fleet.to_settings()
    # A script may be named as `results` names it: its name, or its file as in the config.
    spellings = script_names(fleet.scripts, fleet.script_paths())
    accounts, scripts = account or [], [spellings.get(s, s) for s in script or []]
    check_run_request(
        settings, now=now, local=local, accounts=accounts, scripts=scripts, output=output
    )
    aws = opts.aws(fleet, threads=threads)
    if accounts and settings.organization:
        _check_organization_accounts(aws, settings, accounts, deployed=now and not local)
    store, in_table = open_store(aws, settings)
    if now and not in_table:
        raise LambdafanError(
            f"table {settings.table_name} not found: deploy the fleet first ({opts.hint('deploy')})"
        )
    if now and not local:
        summary = run_deployed(
            aws, settings, store, accounts, scripts, wait, timeout, hint=opts.hint
        )
        if summary is None:
            return
        hint = results_hint(summary.run_id, opts.hint)
        _show_records(store, summary, output, limit, _script_order(settings), hint)
        print_summary(summary)
        raise typer.Exit(0 if summary.ok else 1)
    if not in_table:
        note(f"table {settings.table_name} not found: results are kept in memory only")
    sandbox = use_sandbox(sandbox)
    if not sandbox:
        warning(
            "scripts run in this process: plain boto3 calls in them (boto3.client, a "
            "module-level client) use your credentials, in every account's pairs"
        )
    # Sandboxed, the scripts are imported only in their sandboxes, never in this process.
    specs = fleet_scripts(settings, load=not sandbox)
    for line in habit_lines([s.path for s in specs if not scripts or s.name in scripts]):
        warning(line)
    # This machine may well have a module the Worker lacks: say so before it works here only.
    for problem in fleet_missing_imports(fleet):
        here = importlib.util.find_spec(problem.module) is not None
        warning(f"{problem}{' (it works here, not on Lambda)' if here else ''}")
    limit_s = settings.worker_timeout_s if pair_timeout is None else pair_timeout
    executor = LocalExecutor(
        settings,
        aws,
        store,
        specs,
        threads=threads,
        pair_timeout_s=limit_s,
        sandbox=sandbox,
        sandbox_memory_mb=memory_limit_mb(fleet.functions.worker.memory),
    )
    _run_local(executor, accounts, scripts, output, limit, _local_hint(opts, in_table, output))


def _check_organization_accounts(
    aws: Aws, settings: FleetSettings, accounts: list[str], *, deployed: bool
) -> None:
    """Refuse accounts the organization does not hold for this fleet, before a run is written.
    For the deployed fleet, a caller not allowed to read Organizations (the Director's role
    is) is warned and the Director left to check."""
    organizations = aws.client("organizations", settings.home_region)
    try:
        check_organization_accounts(settings, accounts, organizations)
    except ClientError as exc:
        if not deployed or error_code(exc) not in ACCESS_DENIED:
            raise
        warning(f"--account not checked against the organization: {describe_error(exc)}")


def _run_local(
    executor: LocalExecutor,
    accounts: list[str],
    scripts: list[str],
    output: Path | None,
    limit: int,
    hint_for: Callable[[str], str],
) -> None:
    """Run here, show what the run found and exit: 0, 1 (failures) or 130 (Ctrl-C).
    `hint_for(run_id)` says where to see the columns a table leaves out."""
    result, sigint = _run_here(executor, accounts, scripts)
    try:
        if result.unknown_accounts:
            unknown = ", ".join(result.unknown_accounts)
            raise UsageError(f"account {unknown} is not in this fleet")
        order = _script_order(executor.settings)
        hint = hint_for(result.summary.run_id)
        _show_records(executor.store, result.summary, output, limit, order, hint)
        print_summary(result.summary)
        code = EXIT_INTERRUPTED if result.interrupted else 0 if result.summary.ok else 1
        if result.left_running:
            # Threads still run scripts blocked in a call, which nothing can stop; a normal
            # exit would wait for them (ThreadPoolExecutor joins its threads at exit), maybe
            # for ever.
            leave_now(code)
        raise typer.Exit(code)
    finally:
        restore_sigint(sigint)


def run_deployed(
    aws: Aws,
    settings: FleetSettings,
    store: ItemStore,
    accounts: list[str],
    scripts: list[str],
    wait: bool | None,
    timeout: int,
    *,
    hint: remote_run.Hint = remote_run.plain_hint,
) -> RunSummary | None:
    """Start the deployed Director; watch the run when asked (None when not waiting). The run
    has started once the Director has created its item: without it, an error and exit 1, even
    with --no-wait. `hint` spells the commands printed (GlobalOptions.hint)."""
    lambda_client = aws.client("lambda", settings.home_region)
    invoked = dt.datetime.now(dt.timezone.utc)
    run_id = remote_run.start_run(
        lambda_client, settings, accounts=accounts, scripts=scripts, hint=hint
    )
    note(f"invoked the Director for run {run_id}: waiting for it to start")
    limit_s = remote_run.PICKUP_LIMIT_S
    if remote_run.wait_for_pickup(store, run_id, limit_s=limit_s) is None:
        logs_client = aws.client("logs", settings.home_region)
        raise remote_run.not_started(
            lambda_client, logs_client, settings, run_id, waited_s=limit_s, since=invoked, hint=hint
        )
    console.print(f"started run {run_id}")
    if not (sys.stdout.isatty() if wait is None else wait):
        note(f"follow it with: {hint(f'results --follow --run {run_id}')}")
        return None
    with RunProgress() as progress:
        progress.started(run_id, 0)
        remote_run.wait_for_run(
            store, run_id, timeout_s=timeout, on_update=progress.show, hint=hint
        )
    return summarize(store, run_id)


def _run_here(
    executor: LocalExecutor, accounts: list[str], scripts: list[str]
) -> tuple[LocalRun, SigintHandler | None]:
    """The fleet's handlers, in this process, with a live progress bar. Ctrl-C cancels the
    run, which ends as interrupted with what it found. From then on (until the caller puts
    back the SIGINT handler returned) Ctrl-C leaves at once."""
    # The run goes on in a thread: this one only waits, so Ctrl-C always lands here.
    done: cf.Future[LocalRun] = cf.Future()

    def target() -> None:
        try:
            done.set_result(executor.run(accounts=accounts, scripts=scripts))
        except BaseException as exc:
            done.set_exception(exc)

    sigint: SigintHandler | None = None
    with RunProgress() as progress:
        executor.observer = progress
        executor.script_output = progress.script_output
        try:
            threading.Thread(target=target, name="local-run", daemon=True).start()
            result = wait_for(done)
            sigint = on_sigint(leave_on_interrupt)
        except KeyboardInterrupt:
            sigint = on_sigint(leave_on_interrupt)
            stopped("stopping: Ctrl-C again to quit at once")
            progress.interrupted()
            executor.cancel()
            try:
                result = wait_for(done)
            except BaseException:
                restore_sigint(sigint)
                raise
    if result.interrupted:
        stopped(f"run {result.run_id} interrupted: what it found until then")
    return result, sigint


def _show_records(
    store: ItemStore,
    summary: RunSummary,
    output: Path | None,
    limit: int,
    order: Sequence[str],
    hint: str,
) -> None:
    """The run's records as tables (in the script `order` given; `hint` under one that leaves
    columns out), and as JSON Lines in `output` when given."""
    rows: Iterable[Item] = (
        table.record_view(item) for item in table.run_records(store, summary.run_id)
    )
    if output is not None:
        # One read of the records: the file gets them all, the tables the first `limit` of
        # each script (kept on the way).
        shown: list[Item] = []
        counts: Counter[str] = Counter()

        def keep(all_rows: Iterable[Item]) -> Iterator[Item]:
            for row in all_rows:
                if counts[str(row["script"])] < limit:
                    counts[str(row["script"])] += 1
                    shown.append(row)
                yield row

        note(f"{write_jsonl(output, keep(rows))} records written to {output}")
        rows = shown
    # With the totals known, the tables read no further than the rows they show.
    print_records(rows, limit, summary.records_by_script, order=order, hint=hint)


def _local_hint(opts: GlobalOptions, in_table: bool, output: Path | None) -> Callable[[str], str]:
    """Where a local run's left-out columns can be seen: `results`, when the run is in the
    table; else the --output file, the only place its records outlive the command."""
    if in_table:
        return lambda run_id: results_hint(run_id, opts.hint)
    if output is not None:
        return lambda run_id: f"every field is in {output}"
    return lambda run_id: "see them with --output FILE (JSON Lines: every field)"


def _script_order(settings: FleetSettings) -> list[str]:
    """The config's order of scripts, which the record tables follow."""
    return [spec.name for spec in settings.scripts]
