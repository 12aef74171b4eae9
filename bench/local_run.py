"""Benchmark: a local run over many accounts x regions against in-process moto.

    python bench/local_run.py --accounts 120 --regions 16 --threads 32 64 128
    python bench/local_run.py --accounts 12 --regions 16 --baseline   # a laptop script's loop

Each setting runs in its own process so peak memory (ru_maxrss) is that run's alone. Prints one
line per setting: wall time of the run (Director to Notifier), records stored, peak RSS.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REGIONS = [
    "us-east-1", "us-east-2", "us-west-1", "us-west-2", "eu-west-1", "eu-west-2", "eu-west-3",
    "eu-central-1", "eu-north-1", "ap-south-1", "ap-northeast-1", "ap-northeast-2",
    "ap-southeast-1", "ap-southeast-2", "ca-central-1", "sa-east-1",
]  # fmt: skip


def one_run(accounts: int, regions: int, threads: int, table: bool) -> dict[str, object]:
    os.environ.update(
        AWS_DEFAULT_REGION="us-east-1", AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench"
    )
    from moto import mock_aws

    from lambda_src.dynamo_store import DynamoStore
    from lambda_src.settings import AccountRef, FleetSettings, ScriptRef
    from lambda_src.table import ItemStore, table_definition
    from lambdafan.aws import Aws
    from lambdafan.local import LocalExecutor, load_fleet_scripts
    from lambdafan.memory_store import MemoryStore

    settings = FleetSettings(
        fleet="bench",
        home_region="us-east-1",
        scripts=(ScriptRef("sleepy_call", str(HERE / "sleepy_call.py")),),
        accounts=tuple(AccountRef(f"{n:012d}", f"account-{n}") for n in range(1, accounts + 1)),
        regions=tuple(REGIONS[:regions]),
        member_role="OrganizationAccountAccessRole",
    )
    with mock_aws():
        aws = Aws.connect(region="us-east-1", threads=threads)
        store: ItemStore = MemoryStore()
        if table:
            client = aws.client("dynamodb")
            client.create_table(**table_definition(settings.table_name))
            store = DynamoStore(client, settings.table_name)
        scripts = load_fleet_scripts(settings)
        executor = LocalExecutor(settings, aws, store, scripts, threads=threads)
        start = time.perf_counter()
        result = executor.run()
        wall = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "accounts": accounts,
        "regions": regions,
        "threads": threads,
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--accounts", type=int, default=120)
    parser.add_argument("--regions", type=int, default=16)
    parser.add_argument("--threads", type=int, nargs="+", default=[32, 64, 128])
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
        figures = one_run(args.accounts, args.regions, args.threads[0], not args.memory_store)
        print(json.dumps(figures))
        return
    for threads in args.threads:
        command = [
            sys.executable, __file__, "--child", "--accounts", str(args.accounts),
            "--regions", str(args.regions), "--threads", str(threads),
        ]  # fmt: skip
        if args.memory_store:
            command.append("--memory-store")
        out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
        print(out.strip().splitlines()[-1], flush=True)


if __name__ == "__main__":
    main()
