"""Shell completion of the values that name fleet things: scripts, accounts and run ids.

Attached to every command's `--script/-s`, `--account/-a`, `--run` and `--against` by option
name (`attach`), so command modules declare nothing. Completion runs on every Tab: it reads
the config and at most two small Queries of the results table, with one attempt and short
timeouts, and any failure (no config, no credentials, no table) means no suggestions, silently.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from typer import _click as click
from typer._click.shell_completion import CompletionItem

# How many recent runs to offer (and to search for the latest run's accounts).
RECENT_RUNS = 20

Completer = Callable[[click.Context, str], list[CompletionItem]]


def fleet_scripts(ctx: click.Context) -> list[str]:
    """The config's script names, in config order."""
    fleet = _fleet(ctx)
    return [script.name for script in fleet.to_settings().scripts]


def fleet_accounts(ctx: click.Context) -> list[tuple[str, str]]:
    """(account id, name) from the config's list, then the latest run's other accounts."""
    fleet = _fleet(ctx)
    found = {a.id: a.name or "" for a in fleet.to_settings().accounts}
    try:
        from lambda_src import table

        store = _store(ctx, fleet)
        latest = table.latest_run(store)
        if latest is not None:
            for item in table.account_items(store, str(latest["run_id"])):
                found.setdefault(str(item["account_id"]), "")
    except Exception:  # the table is a bonus: the config's accounts still complete
        pass
    return list(found.items())


def recent_runs(ctx: click.Context) -> list[tuple[str, str]]:
    """(run id, status and start) of the newest runs, newest first."""
    store = _store(ctx, _fleet(ctx))
    return [
        (str(run["run_id"]), f"{run.get('status', '')} {run.get('started_at', '')}".strip())
        for run in itertools.islice(store.query_runs(), RECENT_RUNS)
    ]


def _items(values: Iterable[str | tuple[str, str]], incomplete: str) -> list[CompletionItem]:
    items = []
    for value in values:
        value, help_text = value if isinstance(value, tuple) else (value, "")
        if value.startswith(incomplete):
            items.append(CompletionItem(value, help=help_text or None))
    return items


def _quiet(source: Callable[[click.Context], Iterable[str | tuple[str, str]]]) -> Completer:
    """A completer that offers nothing, rather than a traceback in the user's shell, on any
    error."""

    def complete(ctx: click.Context, incomplete: str) -> list[CompletionItem]:
        try:
            return _items(source(ctx), incomplete)
        except Exception:
            return []

    return complete


COMPLETERS: dict[str, Completer] = {
    "--script": _quiet(fleet_scripts),
    "--account": _quiet(fleet_accounts),
    "--run": _quiet(recent_runs),
    "--against": _quiet(recent_runs),
}


def attach(param: click.Parameter) -> None:
    """Give `param` its completer when one of its option names has one."""
    for name in param.opts:
        completer = COMPLETERS.get(name)
        if completer is not None:
            param._custom_shell_complete = _adapt(completer)  # typer reads this attribute
            return


def _adapt(completer: Completer) -> Callable[..., list[CompletionItem]]:
    def shell_complete(ctx: click.Context, param: Any, incomplete: str) -> list[CompletionItem]:
        return completer(ctx, incomplete)

    return shell_complete


def _given(ctx: click.Context, name: str) -> Any:
    """A global option's value as typed so far, after or before the command."""
    current: click.Context | None = ctx
    while current is not None:
        value = current.params.get(name)
        if value:
            return value
        current = current.parent
    return None


def _fleet(ctx: click.Context) -> Any:
    from lambdafan.cli.options import DEFAULT_CONFIG
    from lambdafan.config import load_config

    config = _given(ctx, "config") or os.environ.get("LAMBDAFAN_CONFIG") or DEFAULT_CONFIG
    return load_config(Path(config))


def _store(ctx: click.Context, fleet: Any) -> Any:
    from lambda_src.dynamo_store import DynamoStore
    from lambdafan.aws import Aws

    aws = Aws.connect(
        _given(ctx, "profile"), _given(ctx, "region"), home_region=fleet.home_region, quick=True
    )
    settings = fleet.to_settings()
    return DynamoStore(aws.client("dynamodb", settings.home_region), settings.table_name)
