"""Benchmark: a local run (`run --local`'s executor) over many accounts x regions.

    python bench/local_run.py --accounts 120 --regions 16 --threads 32 64 128
    python bench/local_run.py --modes inprocess server sandbox --threads 32 64
    python bench/local_run.py --modes sandbox --threads 32 --max-jobs 2 4 8 16
    python bench/local_run.py --accounts 12 --regions 16 --baseline   # a laptop script's loop

Modes (each setting runs in a process of its own, so its peak memory is its own):

  inprocess  in-process moto (`mock_aws`), scripts on the executor's threads (`sandbox=False`):
             the figure from before the sandbox
  server     moto's server, scripts on the executor's threads (`--no-sandbox`)
  sandbox    moto's server, scripts in the sandbox (`run --local`'s default): a process per
             (account, script), `sandboxes_for(threads)` at once, or each of `--max-jobs`

The server modes share one moto server started (and stopped) here, reset between settings;
`--repeat N` runs the whole list N times, so that the machine's load hits every setting alike.
Prints one line per setting: wall time of the run (Director to Notifier), records stored,
errors, the run's peak RSS (ru_maxrss); for the sandbox, a second, sampled run of the same
setting measures its processes too (every ~20 ms: RSS and PSS of the zygote, supervisors and
runners, from /proc), since the sampling's own CPU would skew the timed run.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from moto_server import moto_server, reset, server_env  # noqa: E402
from proc_memory import TreeSampler  # noqa: E402

REGIONS = [
    "us-east-1", "us-east-2", "us-west-1", "us-west-2", "eu-west-1", "eu-west-2", "eu-west-3",
    "eu-central-1", "eu-north-1", "ap-south-1", "ap-northeast-1", "ap-northeast-2",
    "ap-southeast-1", "ap-southeast-2", "ca-central-1", "sa-east-1",
]  # fmt: skip
MODES = ("inprocess", "server", "sandbox")
WORKER_MEMORY_MB = 1024  # the Worker's default size: run --local limits each sandbox by it


def one_run(
    accounts: int, regions: int, threads: int, table: bool, mode: str, max_jobs: int | None
) -> dict[str, object]:
    os.environ.update(
        AWS_DEFAULT_REGION="us-east-1", AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench"
    )
    if mode == "inprocess":
        os.environ.pop("AWS_ENDPOINT_URL", None)  # mock_aws answers AWS's own endpoints
    from moto import mock_aws

    import lambdafan.local
    from lambda_src.dynamo_store import DynamoStore
    from lambda_src.sandbox import memory_limit_mb
    from lambda_src.settings import AccountRef, FleetSettings, ScriptRef
    from lambda_src.table import ItemStore, table_definition
    from lambdafan.aws import Aws
    from lambdafan.local import LocalExecutor, fleet_scripts
    from lambdafan.memory_store import MemoryStore

    sandbox = mode == "sandbox"
    if max_jobs is not None:
        lambdafan.local.sandboxes_for = lambda threads: max_jobs
    jobs = lambdafan.local.sandboxes_for(threads) if sandbox else None
    settings = FleetSettings(
        fleet="bench",
        home_region="us-east-1",
        scripts=(ScriptRef("sleepy_call", str(HERE / "sleepy_call.py")),),
        accounts=tuple(AccountRef(f"{n:012d}", f"account-{n}") for n in range(1, accounts + 1)),
        regions=tuple(REGIONS[:regions]),
        member_role="OrganizationAccountAccessRole",
    )
    with mock_aws() if mode == "inprocess" else contextlib.nullcontext():
        aws = Aws.connect(region="us-east-1", threads=threads)
        store: ItemStore = MemoryStore()
        if table:
            client = aws.client("dynamodb")
            client.create_table(**table_definition(settings.table_name))
            store = DynamoStore(client, settings.table_name)
        # As run --local: sandboxed, the scripts are imported only in their sandboxes.
        scripts = fleet_scripts(settings, load=not sandbox)
        executor = LocalExecutor(
            settings,
            aws,
            store,
            scripts,
            threads=threads,
            sandbox=sandbox,
            sandbox_memory_mb=memory_limit_mb(WORKER_MEMORY_MB) if sandbox else None,
        )
        print("PHASE run", flush=True)
        start = time.perf_counter()
        result = executor.run()
        wall = time.perf_counter() - start
        print("PHASE done", flush=True)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "mode": mode,
        "accounts": accounts,
        "regions": regions,
        "threads": threads,
        "max_jobs": jobs,
        "store": "dynamodb" if table else "memory",
        "pairs": accounts * regions,
        "records": result.summary.records,
        "errors": len(result.summary.errors),
        "wall_s": round(wall, 2),
        "pair_sleep_floor_s": round(accounts * regions * 0.2 / threads, 2),
        "peak_rss_mb": round(peak_mb),
    }


def laptop_loop(accounts: int, regions: int) -> dict[str, object]:
    """The baseline: what a laptop script does, one account and region after another, with a
    boto3 Session per account, same script, same in-process moto."""
    os.environ.update(
        AWS_DEFAULT_REGION="us-east-1", AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench"
    )
    import boto3
    from moto import mock_aws

    from lambda_src.scripts import Account, load_script

    script = load_script(HERE / "sleepy_call.py")
    records = 0
    with mock_aws():
        sts = boto3.client("sts", region_name="us-east-1")
        start = time.perf_counter()
        for n in range(1, accounts + 1):
            creds = sts.assume_role(
                RoleArn=f"arn:aws:iam::{n:012d}:role/OrganizationAccountAccessRole",
                RoleSessionName="laptop",
            )["Credentials"]
            session = boto3.Session(
                aws_access_key_id=creds["AccessKeyId"],
                aws_secret_access_key=creds["SecretAccessKey"],
                aws_session_token=creds["SessionToken"],
            )
            for region in REGIONS[:regions]:
                records += len(list(script.collect(session, region, Account(f"{n:012d}", "a"))))
        wall = time.perf_counter() - start
    return {
        "baseline": "sequential laptop loop",
        "accounts": accounts,
        "regions": regions,
        "records": records,
        "wall_s": round(wall, 2),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }


def run_setting(
    args: argparse.Namespace, mode: str, threads: int, max_jobs: int | None, sample: bool
) -> dict[str, object]:
    """One setting in a child process; with `sample`, its processes' memory is sampled."""
    command = [
        sys.executable, __file__, "--child", "--modes", mode, "--accounts", str(args.accounts),
        "--regions", str(args.regions), "--threads", str(threads),
    ]  # fmt: skip
    if args.memory_store:
        command.append("--memory-store")
    if max_jobs is not None:
        command += ["--max-jobs", str(max_jobs)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    sampler = TreeSampler(process.pid) if sample else None
    figures: dict[str, object] | None = None
    assert process.stdout is not None
    for line in process.stdout:
        if line.startswith("PHASE run") and sampler is not None:
            sampler.start()
        elif line.startswith("PHASE done") and sampler is not None:
            sampler.stop()
        elif line.startswith("{"):
            figures = json.loads(line)
    if process.wait() or figures is None:
        raise RuntimeError(f"{mode} threads={threads} failed ({process.returncode})")
    if sampler is not None:
        peaks = sampler.overall.as_dict()
        figures = {
            "mode": mode,
            "threads": threads,
            "max_jobs": figures["max_jobs"],
            "sampled_run_wall_s": figures["wall_s"],
            "parent_rss_mb": peaks["root_rss_mb"],
            "children_rss_mb": peaks["children_rss_mb"],
            "children_pss_mb": peaks["children_pss_mb"],
            "children_uss_mb": peaks["children_uss_mb"],
            "parent_rss_plus_children_pss_mb": peaks["root_rss_plus_children_pss_mb"],
            "most_alive": peaks["alive_by_depth"],
            "sample_cost_ms": round(sampler.cost_ms_per_sample, 1),
            "unreadable": sampler.unreadable,
        }
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--accounts", type=int, default=120)
    parser.add_argument("--regions", type=int, default=16)
    parser.add_argument("--threads", type=int, nargs="+", default=[32, 64, 128])
    parser.add_argument("--modes", nargs="+", choices=MODES, default=["inprocess"])
    parser.add_argument(
        "--max-jobs", type=int, nargs="+", help="sandbox: these many jobs at once (each setting), "
        "instead of lambdafan.local.sandboxes_for(threads)",
    )  # fmt: skip
    parser.add_argument("--no-memory", action="store_true", help="skip the sampled sandbox runs")
    parser.add_argument("--repeat", type=int, default=1, help="run every setting this often")
    parser.add_argument("--memory-store", action="store_true", help="skip the DynamoDB table")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument(
        "--baseline", action="store_true", help="time the sequential laptop loop instead"
    )
    args = parser.parse_args()
    if args.baseline:
        print(json.dumps(laptop_loop(args.accounts, args.regions)))
        return
    if args.child:
        max_jobs = args.max_jobs[0] if args.max_jobs else None
        figures = one_run(
            args.accounts, args.regions, args.threads[0], not args.memory_store, args.modes[0],
            max_jobs,
        )  # fmt: skip
        print(json.dumps(figures), flush=True)
        return
    settings = [
        (mode, threads, max_jobs)
        for mode in args.modes
        for threads in args.threads
        for max_jobs in (args.max_jobs if mode == "sandbox" and args.max_jobs else [None])
    ]
    server = moto_server() if {"server", "sandbox"} & set(args.modes) else None
    timed: dict[tuple[str, int, int | None], list[dict[str, object]]] = {}
    sampled: dict[tuple[str, int, int | None], list[dict[str, object]]] = {}
    with server or contextlib.nullcontext() as endpoint:
        if endpoint:
            os.environ.update(server_env(endpoint))
        for _ in range(args.repeat):
            for mode, threads, max_jobs in settings:
                runs = [False] if mode != "sandbox" or args.no_memory else [False, True]
                for sample in runs:
                    if endpoint and mode != "inprocess":
                        reset(endpoint)
                    figures = run_setting(args, mode, threads, max_jobs, sample)
                    print(json.dumps(figures), flush=True)
                    (sampled if sample else timed).setdefault((mode, threads, max_jobs), []).append(
                        figures
                    )
    summary(args, settings, timed, sampled)


def summary(
    args: argparse.Namespace,
    settings: list[tuple[str, int, int | None]],
    timed: dict[tuple[str, int, int | None], list[dict[str, object]]],
    sampled: dict[tuple[str, int, int | None], list[dict[str, object]]],
) -> None:
    """One line per setting: medians over the repeats (each repeat in brackets)."""
    med = statistics.median
    print(
        f"\n{args.accounts} accounts x {args.regions} regions, bench/sleepy_call.py "
        f"(one call + 0.2 s), {args.repeat} repeat(s); MB: peak RSS of the run's process "
        "(ru_maxrss); sandbox: its processes' summed\nPSS at their peak (sampled run), and the "
        "parent's RSS + that PSS at the same instant"
    )
    print(
        f"{'mode':<10} {'threads':>7} {'jobs':>4} {'wall s':>7} {'each':<22} {'records':>8} "
        f"{'errors':>6} {'RSS':>5} {'ch.PSS':>6} {'par+chPSS':>9}"
    )
    for key in settings:
        mode, threads, _ = key
        runs = timed.get(key, [])
        if not runs:
            continue
        walls = [float(str(r["wall_s"])) for r in runs]
        memory = sampled.get(key, [])
        children = (
            f"{med(float(str(m['children_pss_mb'])) for m in memory):>6.0f}" if memory else ""
        )
        total = (
            f"{med(float(str(m['parent_rss_plus_children_pss_mb'])) for m in memory):>9.0f}"
            if memory
            else ""
        )
        print(
            f"{mode:<10} {threads:>7} {runs[0]['max_jobs'] or '':>4} {med(walls):>7.2f} "
            f"{', '.join(f'{w:.2f}' for w in walls):<22} "
            f"{'/'.join(sorted({str(r['records']) for r in runs})):>8} "
            f"{'/'.join(sorted({str(r['errors']) for r in runs})):>6} "
            f"{med(float(str(r['peak_rss_mb'])) for r in runs):>5.0f} {children:>6} {total:>9}"
        )


if __name__ == "__main__":
    main()
