"""Scenario 2: scenario 1's fan-out through the CLI, with the DynamoDB table.

lambdafan's side runs `lambdafan run --local --no-sandbox --output records.jsonl` in this
process (the Typer app, as the console script calls it): the config is read from a file, the
records go to the fleet's DynamoDB table (created first, as deploy would) and to the output
file, and the summary is printed. In-process moto cannot be reached from the sandbox's child
processes, so scripts run on the executor's threads, as in scenario 1. The baseline is
scenario 1's lambdafan side (`LocalExecutor`, memory store), in a process of its own. Every
line of the output file is checked against its account. moto's DynamoDB Query reads the
queried partition, as DynamoDB does (`moto_fidelity.query_by_partition`), not the whole table.
"""

from __future__ import annotations

import contextlib
import io
import json
import tempfile
import time
from pathlib import Path

import yaml

from bench.fanout_org import HOME, REGIONS, ROLE, SIZES, complete, organization, tally
from bench.measurement import Measurement
from bench.moto_fidelity import query_by_partition
from bench.scenario_fanout import TASK, threads
from bench.scenario_fanout import lambdafan as baseline

__all__ = ["baseline", "lambdafan", "lambdafan_memory", "passes"]


def _config(folder: Path, ids: list[str], regions: int) -> Path:
    path = folder / "lambdafan.yaml"
    config = {
        "fleet": "bench",
        "home_region": HOME,
        "accounts": {"list": [{"id": i, "name": f"member-{n}"} for n, i in enumerate(ids)]},
        "regions": list(REGIONS[:regions]),
        "member_role": {"name": ROLE},
        "scripts": [str(TASK)],
    }
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def lambdafan(size: str) -> Measurement:
    """The CLI run with the table; the wall is the command's, config read to summary printed."""
    return _cli_run(size, with_table=True)


def lambdafan_memory(size: str) -> Measurement:
    """The same command without a table (run --local keeps the records in memory): what the
    CLI itself adds to the machinery, apart from moto's DynamoDB."""
    return _cli_run(size, with_table=False)


def _cli_run(size: str, *, with_table: bool) -> Measurement:
    accounts, regions = SIZES[size]
    query_by_partition()
    with organization(accounts) as ids, tempfile.TemporaryDirectory() as tmp:
        import boto3

        from lambda_src.table import table_definition
        from lambdafan.cli import app
        from lambdafan.config import load_config

        config = _config(Path(tmp), ids, regions)
        table = load_config(config).to_settings().table_name
        dynamodb = boto3.client("dynamodb", region_name=HOME)
        if with_table:
            dynamodb.create_table(**table_definition(table))
        output = Path(tmp) / "records.jsonl"
        args = ["run", "--local", "--no-sandbox", "--output", str(output), "-c", str(config)]
        args += ["--threads", str(threads())]
        shown = io.StringIO()
        start = time.perf_counter()
        with contextlib.redirect_stdout(shown), contextlib.redirect_stderr(shown):
            try:
                app(args, standalone_mode=False)
                code = 0
            except SystemExit as exc:
                code = int(exc.code or 0)
        wall = time.perf_counter() - start
        lines = [json.loads(line) for line in output.read_text().splitlines() if line.strip()]
        stored = dynamodb.describe_table(TableName=table) if with_table else {"Table": {}}
    answers = [(r["account_id"], r["region"], r["caller"]) for r in lines]
    figures = tally(answers, ids, regions)
    figures.update(exit_code=code, table_items=stored["Table"].get("ItemCount"))
    if code:
        figures["output_tail"] = shown.getvalue()[-500:]
    return Measurement(wall_s=wall, figures=figures)


def passes(lambdafan_s: float, ratio: float, runs: list[Measurement]) -> bool:
    """Within the row's bound, every pair answered once by its own account, exit code 0."""
    return all(complete(m.figures) and m.figures.get("exit_code") == 0 for m in runs)
