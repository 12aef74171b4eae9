"""Scenario 1's baselines: the fan-out task through awsrun and through botocove, each driven the
way its documentation shows for programmatic use, with its own defaults (workers, threads).

Both run in `fanout_org.organization` (in-process moto): the caller's keys belong to the
organization's management account, and each tool assumes `ROLE` into the members itself.
"""

from __future__ import annotations

import inspect
import time
from importlib.metadata import version
from typing import Any

from bench.fanout_org import REGIONS, ROLE, SIZES, TASK_SLEEP_S, organization, tally
from bench.measurement import Measurement


def baseline_awsrun(size: str) -> Measurement:
    """awsrun's `regional_execute_function` (10 workers by default), accounts from an
    `IdentityAccountLoader`, credentials from `CredsViaCrossAccount` over `CredsViaProfile`."""
    import boto3
    from awsrun.acctload import IdentityAccountLoader  # type: ignore[import-untyped]
    from awsrun.runner import regional_execute_function  # type: ignore[import-untyped]
    from awsrun.session.aws import CredsViaCrossAccount, CredsViaProfile  # type: ignore[import-untyped]

    accounts, region_count = SIZES[size]
    regions = list(REGIONS[:region_count])
    workers = inspect.signature(regional_execute_function).parameters["max_workers"].default

    def task(session: Any, account: str, region: str) -> str:
        caller = session.client("sts", region_name=region).get_caller_identity()
        time.sleep(TASK_SLEEP_S)
        return str(caller["Account"])

    with organization(accounts) as ids:
        # The hop-off account of awsrun's cross-account provider: the management account,
        # whose keys the caller holds (untimed, like the organization).
        base = boto3.client("sts", region_name=regions[0]).get_caller_identity()["Account"]
        began = time.perf_counter()
        # What awsrun's CLI builds for `ProfileCrossAccount` with no profile per account:
        # `CredsViaProfile` falls back to the default credential chain for the base account.
        loader = IdentityAccountLoader()
        provider = CredsViaCrossAccount(base_auth=CredsViaProfile(), base_acct=base, role=ROLE)
        results, errors = regional_execute_function(
            provider, loader.accounts(ids), regions, task, key=loader.acct_id
        )
        wall = time.perf_counter() - began
    triples = [(account, region, caller) for (account, region), caller in results.items()]
    figures = tally(triples, ids, region_count)
    figures.update(
        tool="awsrun",
        version=version("awsrun"),
        workers=workers,
        errors=len(errors),
        error_sample=[repr(e) for e in list(errors.values())[:3]],
    )
    return Measurement(wall_s=wall, figures=figures)


def baseline_botocove(size: str) -> Measurement:
    """botocove's `@cove` over the whole organization (it lists the accounts and skips the
    management account itself), its default 20 threads, assuming `ROLE` per pair."""
    from botocove import CoveSession, cove

    accounts, region_count = SIZES[size]
    regions = list(REGIONS[:region_count])
    threads = inspect.signature(cove).parameters["thread_workers"].default

    with organization(accounts) as ids:

        @cove(rolename=ROLE, regions=regions)
        def task(session: CoveSession) -> str:
            region = session.session_information["Region"]
            caller = session.client("sts", region_name=region).get_caller_identity()
            time.sleep(TASK_SLEEP_S)
            return str(caller["Account"])

        began = time.perf_counter()
        output = task()
        wall = time.perf_counter() - began
    triples = [(r["Id"], r["Region"], r["Result"]) for r in output["Results"]]
    failures = output["Exceptions"] + output["FailedAssumeRole"]
    figures = tally(triples, ids, region_count)
    figures.update(
        tool="botocove",
        version=version("botocove"),
        threads=threads,
        errors=len(failures),
        error_sample=[repr(f.get("ExceptionDetails")) for f in failures[:3]],
        # botocove picks the accounts: any it ran that are not the members asked for.
        foreign_accounts=len({r["Id"] for r in output["Results"]} - set(ids)),
    )
    return Measurement(wall_s=wall, figures=figures)
