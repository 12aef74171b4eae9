"""Benchmark: what the script sandbox costs one Worker invocation, in time and memory.

    python bench/sandbox_worker.py                        # 15 warm invocations per mode, 1 round
    python bench/sandbox_worker.py --rounds 3             # modes alternate; medians over rounds
    python bench/sandbox_worker.py --modes sandbox sandbox+lambda sandbox+jobs2 in-process
    python bench/sandbox_worker.py --one-cpu              # the Worker pinned to one core

Starts moto's server (and stops it), seeds one member account (EC2 instances, an open security
group, buckets, IAM users), creates the results table, then runs `run_worker` for that account
in the 17 default commercial regions with every built-in script (3 regional x 17 + 2
account-wide = 53 pairs in 5 jobs), as the Lambda handler does: one base session, a DynamoDB
store, CloudWatch metrics, a deadline. Modes:

  sandbox       a `ProcessSandbox` kept across invocations (a warm Lambda keeps its zygote): the
                first invocation starts the zygote (cold), the next N reuse it (warm)
  sandbox+T...  the same with zygote tweaks T (lambda, trim: bench/zygote_tweaks.py), or at
                most N jobs at once (T = jobsN; the Lambda handler sets no limit)
  in-process    `sandbox=None`: the same jobs on the Worker's own threads

Each round has two passes. Time: one fresh Worker process runs every mode, the modes taking
turns invocation by invocation (so a change in the machine's load hits them alike; the overhead
is the median of the turn-by-turn differences), nothing sampled; then it probes per-job costs
with bench/probe_costs.py (a zygote's start, a job's fork + import round trip, the first
clients and call inside a runner or a Worker thread). Memory: each mode in a fresh Worker
process of its own, while this process samples every ~20 ms the RSS, PSS and USS
(smaps_rollup) of the Worker's process and of each process below it (zygote,
runners), keeping the peaks per invocation (a sample costs ~20-40 ms of CPU: it would skew
the times). Figures in the table: medians over the warm invocations; budgets: medians over
rounds.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
if __package__:  # imported as bench.sandbox_worker (scenario 4 reuses its world)
    from bench.moto_server import moto_server, server_env
    from bench.proc_memory import TreeSampler
    from bench.zygote_tweaks import TWEAKS, boot_for
else:  # run as a script; the zygote's tweaks import `zygote_tweaks` from this folder
    sys.path.insert(0, str(HERE))
    from moto_server import moto_server, server_env
    from proc_memory import TreeSampler
    from zygote_tweaks import TWEAKS, boot_for

ACCOUNT = "210987654321"
ROLE = "OrganizationAccountAccessRole"
FLEET = "bench"
HOME = "us-east-1"
# The commercial regions enabled by default (no opt-in): what a Worker covers in most accounts.
REGIONS = (
    "us-east-1", "us-east-2", "us-west-1", "us-west-2", "ca-central-1", "sa-east-1",
    "eu-west-1", "eu-west-2", "eu-west-3", "eu-central-1", "eu-north-1",
    "ap-south-1", "ap-northeast-1", "ap-northeast-2", "ap-northeast-3",
    "ap-southeast-1", "ap-southeast-2",
)  # fmt: skip
SEEDED_REGIONS = ("us-east-1", "eu-west-1", "ap-southeast-2")
WORKER_MEMORY_MB = 1024  # the Worker function's default size (lambdafan/config/schema.py)
IN_PROCESS = "in-process"
MB = 1024 * 1024
ROLES = {1: "zygote", 2: "runner"}  # depth below the Worker's process


def mode_name(value: str) -> str:
    """argparse type: `in-process`, `sandbox` or `sandbox+tweak+...`."""
    if value == IN_PROCESS:
        return value
    base, *tweaks = value.split("+")
    known = set(TWEAKS)
    if base != "sandbox" or not all(t in known or re.fullmatch(r"jobs[1-9]\d*", t) for t in tweaks):
        raise argparse.ArgumentTypeError(
            f"{value!r}: in-process, sandbox, or sandbox+T with T in {', '.join(TWEAKS)}, "
            "or jobsN (at most N jobs at once)"
        )
    return value


def sandbox_options(mode: str) -> tuple[tuple[str, ...], int | None]:
    """(zygote tweaks, max_jobs) of a sandbox mode."""
    tweaks = tuple(t for t in mode.split("+")[1:] if not t.startswith("jobs"))
    jobs = [int(t[4:]) for t in mode.split("+")[1:] if t.startswith("jobs")]
    return tweaks, (jobs[-1] if jobs else None)


# --- the Worker's process (one per mode and pass) ---------------------------------------------


def settings(regions: tuple[str, ...] = REGIONS) -> Any:
    from lambda_src.scripts import builtin_scripts
    from lambda_src.settings import AccountRef, FleetSettings, ScriptRef

    return FleetSettings(
        fleet=FLEET,
        home_region=HOME,
        scripts=tuple(ScriptRef(name, str(path)) for name, path in builtin_scripts().items()),
        accounts=(AccountRef(ACCOUNT, "bench-member"),),
        regions=regions,
        member_role=ROLE,
    )


def phase(name: str) -> None:
    """Tell the sampling parent which invocation is running."""
    print(f"PHASE {name}", flush=True)


def worker_process(modes: list[str], invocations: int, probes: int) -> dict[str, Any]:
    """Run the Worker `invocations + 1` times per mode in this process (the first one cold),
    the modes taking turns (the order flipped each time) so that a change in the machine's
    load hits them alike."""
    phase("setup")
    import boto3
    import botocore.session

    import lambda_src.sandbox
    from lambda_src.aws_session import RETRY_CONFIG
    from lambda_src.dynamo_store import DynamoStore
    from lambda_src.sandbox import ProcessSandbox, memory_limit_mb
    from lambda_src.scripts import describe_script
    from lambda_src.settings import resolve_script_path
    from lambda_src.worker import WorkerDeps, run_worker

    fleet = settings()
    # As lambda_src.handlers builds them: one base session and its clients for the process.
    core = botocore.session.get_session()
    core.set_config_variable("sts_regional_endpoints", "regional")
    session = boto3.Session(botocore_session=core)
    store = DynamoStore(session.client("dynamodb", config=RETRY_CONFIG), fleet.table_name)
    cloudwatch = session.client("cloudwatch", config=RETRY_CONFIG)
    specs = tuple(describe_script(resolve_script_path(r), r.name) for r in fleet.scripts)
    if any(mode != IN_PROCESS for mode in modes):
        # As lambda_src.handlers does before its sandbox starts (where the code has it).
        getattr(lambda_src.sandbox, "hide_process_memory", lambda: None)()
    deps: dict[str, Any] = {}
    boots: dict[str, str] = {}
    for mode in modes:
        sandbox = None
        if mode != IN_PROCESS:
            tweaks, max_jobs = sandbox_options(mode)
            boots[mode] = boot_for(tweaks)
            sandbox = ProcessSandbox(max_jobs=max_jobs)
        deps[mode] = WorkerDeps(
            store=store,
            base_session=session,
            invoke=lambda kind, payload: None,
            scripts=specs,
            sandbox=sandbox,
            sandbox_memory_mb=memory_limit_mb(WORKER_MEMORY_MB) if sandbox else None,
            remaining_ms=lambda: 900_000,
            cloudwatch=cloudwatch,
        )
    results = {mode: {"mode": mode, "times_s": [], "records": [], "errors": []} for mode in modes}
    for n in range(invocations + 1):
        for mode in modes if n % 2 == 0 else list(reversed(modes)):
            if mode in boots:  # read when this mode's sandbox (re)starts its zygote
                lambda_src.sandbox._BOOT = boots[mode]
            event = {
                "run_id": f"bench-{os.getpid()}-{len(modes) * n + modes.index(mode)}",
                "account": {"id": ACCOUNT, "name": "bench-member"},
                "regions": list(REGIONS),
            }
            phase(f"inv-{n}")
            began = time.perf_counter()
            result = run_worker(event, fleet, deps[mode])
            results[mode]["times_s"].append(time.perf_counter() - began)
            phase("idle")
            results[mode]["records"].append(result.records)
            results[mode]["errors"].append(
                [f"{e['script']}/{e['region']}: {e['error_type']}" for e in result.errors]
            )
    parent_maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    phase("probe")
    for mode in modes:
        if mode in boots:
            lambda_src.sandbox._BOOT = boots[mode]
        results[mode]["probe"] = probe_jobs(session, deps[mode].sandbox, probes)
        if deps[mode].sandbox is not None:
            deps[mode].sandbox.close()
        results[mode]["pairs"] = sum(1 if s.scope == "account" else len(REGIONS) for s in specs)
        results[mode]["parent_maxrss_mb"] = parent_maxrss / MB
    return results


def probe_jobs(session: Any, sandbox: Any, probes: int) -> dict[str, float]:
    """Per-job costs: an import-only job's round trip, and a job of bench/probe_costs.py (its
    start latency, its first clients and call, its round trip), medians in ms."""
    if probes <= 0:
        return {}
    from lambda_src.aws_session import RETRY_CONFIG, AccountSession, assume_member_role
    from lambda_src.sandbox import InProcessSandbox, ProcessSandbox, memory_limit_mb
    from lambda_src.script_runner import Job
    from lambda_src.script_wire import record_of
    from lambda_src.scripts import Account

    sts = session.client("sts", region_name=HOME, config=RETRY_CONFIG)
    credentials = assume_member_role(
        sts, ACCOUNT, ROLE, partition="aws", session_name="bench-probe", external_id=None,
        duration=3600,
    )  # fmt: skip
    if sandbox is None:
        # As the Worker does per invocation: a fresh AccountSession over the warm base session.
        sandbox = InProcessSandbox(lambda job: AccountSession(session, credentials, HOME))
    job = Job(
        script="probe_costs",
        path=str(HERE / "probe_costs.py"),
        regions=(HOME,),
        account=Account(ACCOUNT, "bench-member"),
        home_region=HOME,
        credentials=credentials,
        memory_mb=memory_limit_mb(WORKER_MEMORY_MB),
    )
    import_only = dataclasses.replace(job, import_only=True)

    def round_trip(sandbox: Any) -> float:
        began = time.perf_counter()
        process = sandbox.start(import_only)
        for _message in process.messages():
            pass
        process.close()
        return 1000 * (time.perf_counter() - began)

    samples: list[dict[str, float]] = []
    for n in range(probes):
        zygote_start = float("nan")
        if isinstance(sandbox, ProcessSandbox) and n < 3:
            # A zygote's start: a fresh sandbox's first job, less a warm one's (below).
            fresh = ProcessSandbox()
            zygote_start = round_trip(fresh)
            fresh.close()
        import_trip = round_trip(sandbox)

        began = time.perf_counter()
        process = sandbox.start(job)
        record = None
        for message in process.messages():
            if message["e"] == "rec":
                record = record_of(message)
            elif message["e"] == "err":
                raise RuntimeError(f"probe failed: {message}")
        process.close()
        ended = time.perf_counter()
        assert record is not None
        costs = json.loads(record["ms"])
        costs["import_only_round_trip"] = import_trip
        costs["cold_import_only_round_trip"] = zygote_start
        costs["job_round_trip"] = 1000 * (ended - began)
        costs["start_to_collect"] = 1000 * (float(record["started"]) - began)
        costs["collect_to_job_end"] = 1000 * (ended - float(record["started"]))
        samples.append(costs)
    return {
        k: round(statistics.median(s[k] for s in samples if s[k] == s[k]), 1)  # not NaN
        if any(s[k] == s[k] for s in samples)
        else float("nan")
        for k in samples[0]
    }


# --- the bench (this process) -----------------------------------------------------------------


def seed(endpoint: str, regions: tuple[str, ...] = SEEDED_REGIONS) -> None:
    """The member account's resources (EC2 and S3 in `regions`, IAM users), and the results
    table, on the server."""
    os.environ.update(server_env(endpoint))
    import boto3

    from lambda_src.table import table_definition

    session = boto3.Session(region_name=HOME)
    session.client("dynamodb").create_table(**table_definition(settings().table_name))
    credentials = session.client("sts").assume_role(
        RoleArn=f"arn:aws:iam::{ACCOUNT}:role/{ROLE}", RoleSessionName="bench-seed"
    )["Credentials"]
    member = boto3.Session(
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
    )
    for region in regions:
        ec2 = member.client("ec2", region_name=region)
        ec2.run_instances(ImageId="ami-12345678", MinCount=3, MaxCount=3, InstanceType="t3.micro")
        group = ec2.create_security_group(GroupName="bench-open", Description="open to the world")
        ec2.authorize_security_group_ingress(
            GroupId=group["GroupId"],
            IpPermissions=[
                {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22,
                 "IpRanges": [{"CidrIp": "0.0.0.0/0"}]},
            ],
        )  # fmt: skip
        s3 = member.client("s3", region_name=region)
        where = {} if region == "us-east-1" else {"LocationConstraint": region}
        s3.create_bucket(
            Bucket=f"bench-{ACCOUNT}-{region}",
            **({"CreateBucketConfiguration": where} if where else {}),
        )
    iam = member.client("iam")
    for n in range(3):
        iam.create_user(UserName=f"bench-user-{n}")
        iam.create_access_key(UserName=f"bench-user-{n}")


def run_modes(
    modes: list[str], invocations: int, probes: int, one_cpu: bool, sample: bool
) -> dict[str, dict[str, Any]]:
    """The modes in one fresh process, taking turns; with `sample` (one mode only), that
    process and those below it are sampled from here."""
    assert not sample or len(modes) == 1
    command = [sys.executable, __file__, "--child", *modes, "-n", str(invocations)]
    command += ["--probes", str(probes)] + (["--one-cpu"] if one_cpu else [])
    with tempfile.TemporaryFile("w+") as errors:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=errors, text=True)
        sampler = TreeSampler(process.pid).start() if sample else None
        results = None
        assert process.stdout is not None
        for line in process.stdout:
            if line.startswith("PHASE "):
                if sampler is not None:
                    sampler.phase(line.split()[1])
            elif line.startswith("{"):
                results = json.loads(line)
        process.wait()
        if sampler is not None:
            sampler.stop()
        if process.returncode or results is None:
            errors.seek(0)
            raise RuntimeError(f"{modes} failed ({process.returncode}):\n{errors.read()[-4000:]}")
    if sampler is not None:
        (result,) = results.values()
        result["memory"] = {name: peaks.as_dict() for name, peaks in sampler.phases.items()}
        result["sample_cost_ms"] = round(sampler.cost_ms_per_sample, 2)
        result["unreadable"] = sampler.unreadable
    return results


def p90(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.9 * (len(ordered) - 1)))]


def time_figures(result: dict[str, Any]) -> dict[str, Any]:
    warm = result["times_s"][1:]
    return {
        "cold_s": result["times_s"][0],
        "warm_median_s": statistics.median(warm),
        "warm_p90_s": p90(warm),
        "warm_min_s": min(warm),
        "times_s": result["times_s"],
        "records": sorted(set(result["records"])),
        "error_count": sorted({len(e) for e in result["errors"]}),
        "errors_example": next((e for e in result["errors"] if e), [])[:5],
        "probe_ms": result["probe"],
    }


def memory_figures(result: dict[str, Any]) -> dict[str, Any]:
    """Per-invocation peaks (median over the warm invocations), and the peaks of the run."""
    memory = result["memory"]
    warm = [memory[k] for k in memory if k.startswith("inv-") and k != "inv-0"]
    runs = [memory[k] for k in memory if k.startswith("inv-")]

    def warm_median(key: str) -> float:
        return statistics.median(p[key] for p in warm) if warm else 0.0

    def peak(key: str) -> float:
        return max((p[key] for p in runs), default=0.0)

    largest: dict[str, dict[str, float]] = {}
    alive: dict[str, int] = {}
    for peaks in runs:
        for depth, figures in peaks["largest_by_depth"].items():
            role = ROLES.get(int(depth), f"depth {depth}")
            old = largest.get(role, dict.fromkeys(figures, 0.0))
            largest[role] = {k: max(old[k], figures[k]) for k in old}
        for depth, count in peaks["alive_by_depth"].items():
            role = ROLES.get(int(depth), f"depth {depth}")
            alive[role] = max(alive.get(role, 0), count)
    roles: dict[str, dict[str, float]] = {}
    for depth, role in ROLES.items():
        sums = [p["sum_by_depth"][depth] for p in warm if depth in p["sum_by_depth"]]
        if sums:
            roles[role] = {k: statistics.median(s[k] for s in sums) for k in sums[0]}
    cold = memory.get("inv-0", {})
    return {
        "warm_by_role": roles,
        "parent_maxrss_mb": result["parent_maxrss_mb"],
        "warm_parent_rss_mb": warm_median("root_rss_mb"),
        "warm_children_rss_mb": warm_median("children_rss_mb"),
        "warm_children_pss_mb": warm_median("children_pss_mb"),
        "warm_children_uss_mb": warm_median("children_uss_mb"),
        "warm_parent_rss_plus_children_pss_mb": warm_median("root_rss_plus_children_pss_mb"),
        "warm_parent_rss_plus_children_rss_mb": warm_median("root_rss_plus_children_rss_mb"),
        "warm_tree_pss_mb": warm_median("tree_pss_mb"),
        "cold_parent_rss_plus_children_pss_mb": cold.get("root_rss_plus_children_pss_mb", 0.0),
        "peak_parent_rss_plus_children_pss_mb": peak("root_rss_plus_children_pss_mb"),
        "peak_parent_rss_plus_children_rss_mb": peak("root_rss_plus_children_rss_mb"),
        "peak_tree_pss_mb": peak("tree_pss_mb"),
        "largest_process_mb": largest,
        "most_alive": alive,
        "sample_cost_ms": result["sample_cost_ms"],
        "unreadable": result["unreadable"],
        "samples_per_warm_invocation": warm_median("samples"),
    }


def verdict(value: float, limit: float) -> str:
    return "met" if value <= limit else "MISSED"


def report(rounds: list[dict[str, dict[str, Any]]], modes: list[str], invocations: int) -> None:
    """The tables: per round and mode, then each budget from the medians over rounds."""
    print(
        f"\nWorker: 1 account x {len(REGIONS)} regions x the built-in scripts (53 pairs, 5 jobs); "
        f"{invocations} warm invocations per mode and pass; {len(rounds)} round(s)"
    )
    print("\nTime pass (nothing sampled): run_worker wall time, s")
    head = f"{'round':>5}  {'mode':<28} {'cold':>6} {'warm med':>8} {'p90':>6} {'min':>6}"
    head += f" {'records':>8} {'errors':>6}"
    print(head)
    for n, by_mode in enumerate(rounds, 1):
        for mode in modes:
            t = by_mode[mode]["time"]
            print(
                f"{n:>5}  {mode:<28} {t['cold_s']:>6.3f} {t['warm_median_s']:>8.3f} "
                f"{t['warm_p90_s']:>6.3f} {t['warm_min_s']:>6.3f} "
                f"{'/'.join(map(str, t['records'])):>8} {'/'.join(map(str, t['error_count'])):>6}"
            )
    has_memory = all("memory" in r[m] for r in rounds for m in modes)
    if has_memory:
        memory_table(rounds, modes)
    sandboxes = [m for m in modes if m != IN_PROCESS]
    if IN_PROCESS in modes and sandboxes:
        budgets(rounds, sandboxes, has_memory)
        where_it_goes(rounds, modes, sandboxes, has_memory)


def memory_table(rounds: list[dict[str, dict[str, Any]]], modes: list[str]) -> None:
    print(
        "\nMemory pass (sampled every ~20 ms), MB. parent: the Worker process's ru_maxrss; "
        "warm columns: median over warm\ninvocations of each one's peak; ch: all processes below "
        "the Worker (zygote, runners); peak: highest of any invocation"
    )
    head = (
        f"{'round':>5}  {'mode':<28} {'parent':>6} {'par.RSS':>7} {'ch.RSS':>6} {'ch.PSS':>6} "
        f"{'ch.USS':>6} {'par+chPSS':>9} {'par+chRSS':>9} {'peak par+chPSS':>14} "
        f"{'peak par+chRSS':>14}"
    )
    print(head)
    for n, by_mode in enumerate(rounds, 1):
        for mode in modes:
            m = by_mode[mode]["memory"]
            print(
                f"{n:>5}  {mode:<28} {m['parent_maxrss_mb']:>6.0f} {m['warm_parent_rss_mb']:>7.0f} "
                f"{m['warm_children_rss_mb']:>6.0f} {m['warm_children_pss_mb']:>6.0f} "
                f"{m['warm_children_uss_mb']:>6.0f} "
                f"{m['warm_parent_rss_plus_children_pss_mb']:>9.0f} "
                f"{m['warm_parent_rss_plus_children_rss_mb']:>9.0f} "
                f"{m['peak_parent_rss_plus_children_pss_mb']:>14.0f} "
                f"{m['peak_parent_rss_plus_children_rss_mb']:>14.0f}"
            )


def budgets(
    rounds: list[dict[str, dict[str, Any]]], sandboxes: list[str], has_memory: bool
) -> None:
    med = statistics.median

    def each(mode: str, figure: Any) -> list[float]:
        return [figure(r[mode], r[IN_PROCESS]) for r in rounds]

    rows = [
        ("time overhead: median of (sandbox - in-process), turn by turn", "ms", 250,
         lambda s, i: 1000 * statistics.median(
             a - b
             for a, b in zip(s["time"]["times_s"][1:], i["time"]["times_s"][1:], strict=True))),
        ("  difference of the warm medians", "ms", None,
         lambda s, i: 1000 * (s["time"]["warm_median_s"] - i["time"]["warm_median_s"])),
        ("memory overhead: (par RSS + ch PSS) - in-process par RSS", "MB", 60,
         lambda s, i: s["memory"]["warm_parent_rss_plus_children_pss_mb"]
         - i["memory"]["warm_parent_rss_mb"]),
        ("  the sandbox's processes alone (ch PSS)", "MB", 60,
         lambda s, i: s["memory"]["warm_children_pss_mb"]),
        ("Worker peak: par RSS + ch PSS", "MB", 160,
         lambda s, i: s["memory"]["peak_parent_rss_plus_children_pss_mb"]),
        ("Worker peak: par RSS + ch RSS (shared pages counted again)", "MB", 160,
         lambda s, i: s["memory"]["peak_parent_rss_plus_children_rss_mb"]),
        ("cold invocation: sandbox - in-process (no budget)", "ms", None,
         lambda s, i: 1000 * (s["time"]["cold_s"] - i["time"]["cold_s"])),
    ]  # fmt: skip
    if not has_memory:
        rows = [row for row in rows if row[1] != "MB"]
    print("\nBudgets: median over rounds [each round]; in-process figures for reference")
    for mode in sandboxes:
        print(f"  {mode}")
        for label, unit, limit, figure in rows:
            values = each(mode, figure)
            verdict_text = f"(≤ {limit}) {verdict(med(values), limit)}" if limit else ""
            spread = ", ".join(f"{v:.0f}" for v in values)
            print(f"    {label:<60} {med(values):>7.0f} {unit} {verdict_text:<14} [{spread}]")
    inproc = [r[IN_PROCESS] for r in rounds]
    print(
        f"  in-process: warm median {med(r['time']['warm_median_s'] for r in inproc):.3f} s, "
        f"cold {med(r['time']['cold_s'] for r in inproc):.3f} s"
        + (
            f", warm peak parent RSS {med(r['memory']['warm_parent_rss_mb'] for r in inproc):.0f}"
            f" MB, ru_maxrss {med(r['memory']['parent_maxrss_mb'] for r in inproc):.0f} MB"
            if has_memory
            else ""
        )
    )


def where_it_goes(
    rounds: list[dict[str, dict[str, Any]]],
    modes: list[str],
    sandboxes: list[str],
    has_memory: bool,
) -> None:
    print("\nWhere it goes: per-job probe (bench/probe_costs.py, 1 region), medians, ms")
    keys = [
        ("cold_import_only_round_trip", "import-only job, new sandbox: start the zygote too"),
        ("import_only_round_trip", "import-only job: fork a runner, import, exit"),
        ("job_round_trip", "probe job: start() to the end of its socket"),
        ("start_to_collect", "  start() to collect() running (fork, import)"),
        ("ec2_client_first", "  first ec2 client"),
        ("ec2_client_again", "  another ec2 client (another region)"),
        ("lambda_client_first", "  first lambda client (model not preloaded)"),
        ("lambda_client_again", "  another lambda client"),
        ("s3_client_first", "  first s3 client"),
        ("iam_client_first", "  first iam client"),
        ("ec2_call_first", "  first ec2 call (describe_security_groups)"),
        ("ec2_call_again", "  second ec2 call"),
    ]
    last = rounds[-1]
    print(f"    {'':<58}" + "".join(f" {m[:16]:>16}" for m in modes))
    for key, label in keys:
        cells = "".join(
            f" {last[m]['time']['probe_ms'].get(key, float('nan')):>16.1f}" for m in modes
        )
        print(f"    {label:<58}{cells}")
    if not has_memory:
        return
    print(
        "\nSandbox processes by role (last round, MB): all of a role summed, median over warm "
        "invocations of each one's peak;\nthen the largest single process of the role, and the "
        "most alive at once"
    )
    for mode in sandboxes:
        m = last[mode]["memory"]
        print(f"    {mode}")
        for role, v in m["warm_by_role"].items():
            one = m["largest_process_mb"].get(role, {})
            print(
                f"      {role + 's':<12} PSS {v['pss_mb']:>5.0f} USS {v['uss_mb']:>5.0f} "
                f"RSS {v['rss_mb']:>5.0f} | largest: PSS {one.get('pss_mb', 0):>4.0f} USS "
                f"{one.get('uss_mb', 0):>4.0f} RSS {one.get('rss_mb', 0):>4.0f} | alive "
                f"{m['most_alive'].get(role, 0)}"
            )
    m = last[sandboxes[0]]["memory"]
    print(
        f"\n  sampler: {m['sample_cost_ms']:.1f} ms per sample, "
        f"~{m['samples_per_warm_invocation']:.0f} samples per warm invocation"
        + (
            f"; {m['unreadable']} readings refused (non-dumpable, not root): figures too low"
            if m["unreadable"]
            else ""
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-n", "--invocations", type=int, default=15, help="warm ones per mode")
    parser.add_argument("--rounds", type=int, default=1, help="repeat every mode this often")
    parser.add_argument("--probes", type=int, default=10, help="probe jobs per mode")
    parser.add_argument(
        "--modes", nargs="+", type=mode_name, default=["sandbox", IN_PROCESS],
        help="in-process, sandbox, sandbox+lambda+trim (zygote tweaks), sandbox+jobs2",
    )  # fmt: skip
    parser.add_argument("--one-cpu", action="store_true", help="pin the Worker to one core")
    parser.add_argument("--no-memory", action="store_true", help="skip the memory pass")
    parser.add_argument("--json", type=Path, help="also write every figure here")
    parser.add_argument("--child", nargs="+", type=mode_name, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        if args.one_cpu:
            os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
        results = worker_process(args.child, args.invocations, args.probes)
        print(json.dumps(results), flush=True)
        return
    rounds: list[dict[str, dict[str, Any]]] = []
    with moto_server() as endpoint:
        seed(endpoint)
        # Warm moto itself (its per-account, per-region backends), so no mode pays for it.
        run_modes([IN_PROCESS], 0, 0, args.one_cpu, sample=False)
        for n in range(args.rounds):
            order = args.modes if n % 2 == 0 else list(reversed(args.modes))
            by_mode: dict[str, dict[str, Any]] = {mode: {} for mode in args.modes}
            timed = run_modes(order, args.invocations, args.probes, args.one_cpu, sample=False)
            for mode in order:
                figures = by_mode[mode]["time"] = time_figures(timed[mode])
                print(
                    f"round {n + 1} {mode}: cold {figures['cold_s']:.3f}s, warm median "
                    f"{figures['warm_median_s']:.3f}s, records {figures['records']}, "
                    f"errors {figures['error_count']} {figures['errors_example']}",
                    file=sys.stderr,
                    flush=True,
                )
            for mode in [] if args.no_memory else order:
                sampled = run_modes([mode], args.invocations, 0, args.one_cpu, sample=True)
                by_mode[mode]["memory"] = memory_figures(sampled[mode])
            rounds.append(by_mode)
    report(rounds, args.modes, args.invocations)
    if args.json:
        args.json.write_text(json.dumps(rounds, indent=1))


if __name__ == "__main__":
    main()
