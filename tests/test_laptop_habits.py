"""Laptop habits found in a script's source (never imported): each finding, where it is not one,
and the real laptop scripts of tests/laptop_scripts before and after `script adapt`."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from lambda_src.scripts import builtin_scripts
from lambdafan.script_tools.adapt import adapt_source
from lambdafan.script_tools.laptop_habits import (
    AWS_AT_IMPORT,
    BOTO3_DEFAULT,
    COMMAND_LINE,
    NO_REGION,
    ONLY_PRINTS,
    REGION_LOOP,
    file_habits,
    first_at_import,
    laptop_habits,
)
from lambdafan.script_tools.starter import starter_script

LAPTOP = Path(__file__).parent / "laptop_scripts"


def found(source: str) -> list[tuple[int, str]]:
    return [(h.line, h.kind) for h in laptop_habits(textwrap.dedent(source), "scan.py")]


def lines(source: str) -> list[str]:
    return [str(h) for h in laptop_habits(textwrap.dedent(source), "scan.py")]


# -- 1. AWS calls at import


def test_a_module_level_call_on_a_client_names_its_line_and_the_fix() -> None:
    source = """\
        import boto3

        SCOPE = "account"
        iam = boto3.client("iam")
        USERS = iam.list_users()["Users"]
        REGIONS = [r["RegionName"] for r in boto3.client("ec2").describe_regions()["Regions"]]

        def collect(session, region, account):
            yield from USERS
    """
    assert lines(source)[1:3] == [
        "scan.py:5: iam.list_users() runs at import, in every account: move it into collect",
        'scan.py:6: boto3.client("ec2").describe_regions() runs at import, in every account: '
        "move it into collect",
    ]
    assert found(source) == [
        (4, BOTO3_DEFAULT),
        (5, AWS_AT_IMPORT),
        (6, AWS_AT_IMPORT),
        (6, BOTO3_DEFAULT),
    ]


def test_a_region_list_at_import_in_a_regional_script_says_to_use_collects_region() -> None:
    source = """\
        import boto3

        REGIONS = [r["RegionName"] for r in boto3.client("ec2").describe_regions()["Regions"]]

        def collect(session, region, account):
            yield {"region": region}
    """
    assert lines(source)[0] == (
        'scan.py:3: boto3.client("ec2").describe_regions() runs at import: collect gets its '
        "region: drop it"
    )


def test_get_available_regions_at_import_makes_no_request_but_is_still_a_region_list() -> None:
    # botocore's own data: no AWS call, so validate still imports the script.
    source = """\
        import boto3

        REGIONS = boto3.Session().get_available_regions("ec2")

        def collect(session, region, account):
            yield {"region": region}
    """
    habits = laptop_habits(textwrap.dedent(source), "scan.py")
    assert first_at_import(habits) is None
    assert [str(h) for h in habits] == [
        "scan.py:3: boto3.Session().get_available_regions(): collect already runs once per "
        'region (duplicates): use region (or SCOPE = "account")',
        "scan.py:3: boto3.Session() outside collect: works, but use collect's session",
    ]
    account = 'import boto3\nSCOPE = "account"\nR = boto3.Session().get_available_regions("s3")\n'
    assert [h.kind for h in laptop_habits(account, "x")] == [BOTO3_DEFAULT]


def test_paginators_and_resources_call_aws_when_they_are_used_not_when_made() -> None:
    source = """\
        import boto3

        SCOPE = "account"
        s3 = boto3.resource("s3", region_name="us-east-1")
        ec2 = boto3.client("ec2", region_name="us-east-1")
        pages = ec2.get_paginator("describe_volumes")
        logs = s3.Bucket("logs")
        VOLUMES = [v for page in pages.paginate() for v in page["Volumes"]]
        BUCKETS = list(s3.buckets.all())
        print(ec2.meta.region_name, ec2.exceptions.ClientError)

        def collect(session, region, account):
            yield {}
    """
    assert [f for f in found(source) if f[1] == AWS_AT_IMPORT] == [
        (8, AWS_AT_IMPORT),
        (9, AWS_AT_IMPORT),
    ]


def test_what_a_call_returns_is_data_and_meta_is_local() -> None:
    source = """\
        import boto3

        SCOPE = "account"
        ec2 = boto3.client("ec2", region_name="us-east-1")
        ec2.meta.events.register("before-send.ec2", print)
        RESPONSE = ec2.describe_regions()
        NAMES = [r["RegionName"] for r in RESPONSE.get("Regions", [])]
        OWNER = ec2.meta.client.describe_account_attributes()

        def collect(session, region, account):
            yield from NAMES
    """
    assert [f for f in found(source) if f[1] == AWS_AT_IMPORT] == [
        (6, AWS_AT_IMPORT),
        (8, AWS_AT_IMPORT),
    ]


def test_calls_in_functions_classes_lambdas_and_the_main_block_do_not_run_at_import() -> None:
    source = """\
        import boto3

        SCOPE = "account"
        iam = boto3.client("iam")
        users = lambda: iam.list_users()

        class Report:
            USERS = iam.list_users()

        def collect(session, region, account):
            yield from iam.list_users()["Users"]

        if __name__ == "__main__":
            print(iam.list_users())
    """
    assert found(source) == [(4, BOTO3_DEFAULT)]


def test_what_the_main_blocks_else_does_runs_at_import() -> None:
    source = """\
        import boto3

        SCOPE = "account"

        def collect(session, region, account):
            yield {}

        if __name__ == "__main__":
            pass
        else:
            NAME = boto3.client("sts").get_caller_identity()["Arn"]
    """
    assert (11, AWS_AT_IMPORT) in found(source)


def test_an_unguarded_main_that_calls_aws_runs_at_import_and_a_guarded_one_does_not() -> None:
    body = textwrap.dedent(
        """\
        import boto3

        SCOPE = "account"

        def users():
            return boto3.client("iam").list_users()["Users"]

        def main():
            for user in users():
                print(user["UserName"])

        def collect(session, region, account):
            yield {}

        """
    )
    unguarded = lines(body + "main()\n")
    assert len(unguarded) == 2  # and users()' boto3.client, which now runs in lambdafan
    assert unguarded[1] == (
        "scan.py:15: main() runs at import and calls AWS (line 9): call it in collect"
    )
    assert first_at_import(laptop_habits(body + "main()\n", "x")) is not None
    guarded = laptop_habits(body + "if __name__ == '__main__':\n    main()\n", "x")
    assert guarded == [] and first_at_import(guarded) is None


def test_a_function_making_a_client_at_import_calls_no_aws_one_using_it_does() -> None:
    source = """\
        import boto3

        SCOPE = "account"

        def client(service):
            return boto3.client(service, region_name="us-east-1")

        def main():
            iam = client("iam")
            for user in iam.list_users()["Users"]:
                print(user)

        IAM = client("iam")
        main()

        def collect(session, region, account):
            yield {}
    """
    assert [f for f in found(source) if f[1] == AWS_AT_IMPORT] == [(14, AWS_AT_IMPORT)]
    assert "main() runs at import and calls AWS (line 10)" in lines(source)[-1]


def test_collect_called_at_import_is_told_to_go_under_the_main_guard() -> None:
    source = """\
        import boto3

        def collect(session, region, account):
            yield {"region": region}

        print(list(collect(boto3.Session(), "us-east-1", None)))
    """
    assert lines(source)[0] == (
        'scan.py:6: collect() is called at import: put that call under if __name__ == "__main__":'
    )


# -- 2. boto3's defaults outside collect


def test_boto3_clients_and_sessions_outside_collect_are_a_note_inside_they_are_fine() -> None:
    source = """\
        import boto3

        SCOPE = "account"
        iam = boto3.client("iam")

        def users(region):
            return boto3.resource("iam", region_name=region).users.all()

        def collect(session, region, account):
            sts = boto3.client("sts")
            mine = boto3.Session()
            yield from users(region)
    """
    assert lines(source) == [
        'scan.py:4: boto3.client("iam") outside collect: works, but use '
        'session.client("iam", region_name=region)',
        'scan.py:7: boto3.resource("iam", region_name=region) outside collect: works, but use '
        'session.resource("iam", region_name=region)',
    ]


def test_a_regional_client_without_a_region_outside_collect_would_repeat_the_home_region() -> None:
    source = """\
        import boto3

        ec2 = boto3.client("ec2")

        def collect(session, region, account):
            yield from ec2.describe_volumes()["Volumes"]
    """
    assert lines(source) == [
        'scan.py:3: boto3.client("ec2") has no region_name: every region scans the home one: '
        'use session.client("ec2", region_name=region)'
    ]


def test_a_named_profile_fails_in_the_fleet() -> None:
    source = """\
        import boto3

        SCOPE = "account"
        session = boto3.Session(profile_name="prod")

        def collect(_, region, account):
            yield from session.client("iam").list_users()["Users"]
    """
    assert lines(source) == [
        "scan.py:4: boto3.Session(...) with profile_name='prod': no profiles here "
        "(ProfileNotFound): use collect's session"
    ]


def test_a_laptop_entry_point_kept_beside_collect_is_the_scripts_own_business() -> None:
    # Runnable on the laptop as before, and a lambdafan script: main() never runs in lambdafan.
    source = """\
        import argparse
        import sys

        import boto3

        REGIONS = ["us-east-1", "eu-west-1"]

        def collect(session, region, account):
            ec2 = session.client("ec2", region_name=region)
            yield from ec2.describe_volumes()["Volumes"]

        def main():
            parser = argparse.ArgumentParser()
            parser.add_argument("--profile")
            args = parser.parse_args()
            session = boto3.Session(profile_name=args.profile)
            for region in REGIONS:
                for record in collect(session, region, None):
                    print(record)

        def unused():
            return sys.argv

        if __name__ == "__main__":
            main()
            for region in boto3.Session().get_available_regions("ec2"):
                print(list(collect(boto3.Session(), region, None)))
    """
    assert found(source) == []


# -- 3. regions, in a regional script


def test_a_region_loop_in_a_regional_script_would_scan_every_region_once_per_region() -> None:
    source = """\
        import boto3

        REGIONS = ["us-east-1", "eu-west-1", "ap-southeast-2"]

        def regions(session):
            ec2 = session.client("ec2", region_name="us-east-1")
            return [r["RegionName"] for r in ec2.describe_regions()["Regions"]]

        def collect(session, region, account):
            for name in REGIONS:
                yield {"region": name}
            for region_name in regions(session):
                yield {"region": region_name}
            for r in ("us-east-1", "us-west-2"):
                yield {"region": r}
            for r in session.get_available_regions("ec2"):
                yield {"region": r}
            enabled = session.client("ec2", region_name=region).describe_regions()
            yield {"enabled": enabled}
    """
    assert lines(source)[0] == (
        "scan.py:7: loops over regions: collect already runs once per region (duplicates): use "
        'region (or SCOPE = "account")'
    )
    assert found(source) == [(n, REGION_LOOP) for n in (7, 10, 12, 14, 16, 18)]
    assert lines(source)[-1] == (
        'scan.py:18: session.client("ec2", region_name=region).des...(): collect '
        'already runs once per region (duplicates): use region (or SCOPE = "account")'
    )


def test_asking_about_the_pairs_own_region_is_not_a_region_list() -> None:
    source = """\
        def collect(session, region, account):
            ec2 = session.client("ec2", region_name=region)
            [me] = ec2.describe_regions(RegionNames=[region])["Regions"]
            yield {"opt_in": me.get("OptInStatus")}
    """
    assert found(source) == []


def test_an_account_scoped_script_may_loop_over_regions_itself() -> None:
    source = """\
        SCOPE = "account"

        def collect(session, region, account):
            ec2 = session.client("ec2", region_name=region)
            for name in [r["RegionName"] for r in ec2.describe_regions()["Regions"]]:
                regional = session.client("ec2", region_name=name)
                yield from regional.describe_volumes()["Volumes"]
    """
    assert found(source) == []


def test_loops_over_pages_zones_and_items_are_not_region_loops() -> None:
    source = """\
        def collect(session, region, account):
            ec2 = session.client("ec2", region_name=region)
            for zone in ec2.describe_availability_zones()["AvailabilityZones"]:
                yield {"zone": zone["ZoneName"], "region": zone["RegionName"]}
            for page in ec2.get_paginator("describe_volumes").paginate():
                for volume in page["Volumes"]:
                    yield {"id": volume["VolumeId"], "region": region}
            for key, value in {"a": 1}.items():
                yield {key: value}
    """
    assert found(source) == []


def test_a_client_made_in_collect_without_a_region_scans_the_home_region() -> None:
    source = """\
        import boto3

        def collect(session, region, account):
            ec2 = session.client("ec2")
            rds = boto3.client("rds")
            iam = session.client("iam")
            sts = session.client("sts")
            lam = session.client("lambda", region)
            yield {}
    """
    assert lines(source) == [
        'scan.py:4: session.client("ec2") has no region_name: every region scans the home one: '
        "add region_name=region",
        'scan.py:5: boto3.client("rds") has no region_name: every region scans the home one: '
        "add region_name=region",
    ]
    assert found(source) == [(4, NO_REGION), (5, NO_REGION)]
    assert found('SCOPE = "account"\n' + textwrap.dedent(source)) == []


def test_a_config_counts_as_a_region_only_when_it_sets_region_name() -> None:
    source = """\
        from botocore.config import Config

        RETRIES = Config(retries={"max_attempts": 10})
        HERE = Config(region_name="eu-west-1")

        def collect(session, region, account, config=None):
            ec2 = session.client("ec2", config=RETRIES)
            rds = session.client("rds", config=Config(retries={"mode": "standard"}))
            lam = session.client("lambda", config=HERE)
            sns = session.client("sns", config=Config(region_name=region))
            sqs = session.client("sqs", config=config)
            yield {}
    """
    assert found(source) == [(7, NO_REGION), (8, NO_REGION), (11, NO_REGION)]
    assert lines(source)[2] == (
        'scan.py:11: session.client("sqs", config=config) may have no region_name (not in its '
        "config?): every region scans the home one: add region_name=region"
    )


# -- 4. a command line


def test_sys_argv_and_argparse_at_import_or_in_collect_get_no_command_line() -> None:
    source = """\
        import argparse
        import sys
        from sys import argv

        parser = argparse.ArgumentParser()
        parser.add_argument("--days", type=int, default=90)
        ARGS = parser.parse_args()
        DEFAULTS = parser.parse_args([])

        def collect(session, region, account):
            yield {"days": ARGS.days, "who": sys.argv[0], "first": argv[0]}
    """
    assert lines(source) == [
        "scan.py:7: parser.parse_args(): scripts get no command line (it takes its defaults): "
        "use constants",
        "scan.py:11: sys.argv: scripts get no command line (just the script's path): use constants",
    ]
    assert found(source) == [(7, COMMAND_LINE), (11, COMMAND_LINE)]


def test_parse_args_of_something_else_than_argparse_is_not_a_command_line() -> None:
    source = """\
        import mytool

        CONF = mytool.Config().parse_args()

        def collect(session, region, account):
            yield {"conf": CONF}
    """
    assert found(source) == []


# -- 5. a collect that prints


def test_a_collect_that_only_prints_is_a_problem_at_its_first_print() -> None:
    source = """\
        import sys
        from pprint import pprint

        def collect(session, region, account):
            ec2 = session.client("ec2", region_name=region)
            for volume in ec2.describe_volumes()["Volumes"]:
                print(volume["VolumeId"], volume["Size"])
            pprint(volume)
            sys.stdout.write("done")
            return None
    """
    habits = laptop_habits(textwrap.dedent(source), "scan.py")
    assert [str(h) for h in habits] == [
        "scan.py:7: collect prints but never yields (0 records): yield dicts instead"
    ]
    assert habits[0].kind == ONLY_PRINTS and habits[0].problem


@pytest.mark.parametrize(
    "body",
    [
        "print(region)\n    yield {'region': region}",
        "print(region)\n    return [{'region': region}]",
        "print(region)\n    return rows(region)",
        "def inner():\n        print(region)\n    return None",  # prints nothing itself
        "pass",  # prints nothing: found nothing, or writes elsewhere
        "print(region, file=sys.stderr)",  # a progress line, not its records
    ],
)
def test_a_collect_that_gives_records_or_prints_nothing_is_fine(body: str) -> None:
    source = (
        f"def rows(region):\n    return []\n\ndef collect(session, region, account):\n    {body}\n"
    )
    assert found(source) == []


def test_a_collect_whose_helper_prints_the_records_is_the_same_problem() -> None:
    source = """\
        import boto3

        def show(volume):
            print(volume["VolumeId"])

        def scan_region(region):
            ec2 = boto3.client("ec2", region_name=region)
            for volume in ec2.describe_volumes()["Volumes"]:
                show(volume)

        def collect(session, region, account):
            scan_region(region)
    """
    habits = [h for h in laptop_habits(textwrap.dedent(source), "scan.py") if h.problem]
    assert [str(h) for h in habits] == [
        "scan.py:12: collect never yields and scan_region() prints (line 4): 0 records: make "
        "scan_region() yield, then `yield from` it"
    ]
    assert habits[0].kind == ONLY_PRINTS
    yielded = source.replace("    scan_region(region)", "    yield from scan_region(region)")
    assert [h for h in laptop_habits(textwrap.dedent(yielded), "scan.py") if h.problem] == []


def test_only_prints_is_the_only_problem() -> None:
    habits = laptop_habits(
        "import boto3\nec2 = boto3.client('ec2')\n\ndef collect(s, r, a):\n    print(r)\n", "x"
    )
    assert [(h.kind, h.problem) for h in habits] == [
        (BOTO3_DEFAULT, False),
        (ONLY_PRINTS, True),
    ]


# -- real scripts


def test_laptop_scripts_as_written_show_their_habits() -> None:
    def kinds(name: str) -> list[tuple[int, str]]:
        return [(h.line, h.kind) for h in file_habits(LAPTOP / f"{name}.py")]

    assert kinds("iam_password_users") == [(9, BOTO3_DEFAULT)]
    assert kinds("stopped_instances") == []  # main() runs only in the __main__ block
    assert kinds("public_buckets") == [(13, BOTO3_DEFAULT), (13, COMMAND_LINE)]
    assert kinds("unattached_volumes") == [(9, BOTO3_DEFAULT), (10, AWS_AT_IMPORT)]
    assert kinds("unused_security_groups") == [
        *((n, BOTO3_DEFAULT) for n in (5, 6, 7, 8)),
        *((n, AWS_AT_IMPORT) for n in (13, 17, 20, 23, 27)),
    ]
    assert str(file_habits(LAPTOP / "unattached_volumes.py")[1]).startswith(
        f"{LAPTOP / 'unattached_volumes.py'}:10: ec2.describe_regions() runs at import"
    )


@pytest.mark.parametrize("path", sorted(LAPTOP.glob("*.py")), ids=lambda p: p.stem)
def test_laptop_scripts_ported_by_script_adapt_are_clean(path: Path) -> None:
    ported = adapt_source(path.read_text(), str(path)).text
    # A helper's client stays boto3's (it works: bound to the scanned account): a note.
    helper_clients = {
        "stopped_instances": [(10, BOTO3_DEFAULT)],
        "orphaned_snapshots": [(12, BOTO3_DEFAULT)],
    }
    found = [(h.line, h.kind) for h in laptop_habits(ported, path.name)]
    assert found == helper_clients.get(path.stem, [])


def test_builtin_scripts_and_starters_are_clean() -> None:
    scripts = builtin_scripts()
    assert scripts
    for path in scripts.values():
        assert file_habits(path) == [], path
    for scope in ("region", "account"):
        assert laptop_habits(starter_script("mine", scope), "mine.py") == []  # type: ignore[arg-type]


def test_a_script_that_does_not_parse_or_read_has_no_habits(tmp_path: Path) -> None:
    # The contract check reports those, with their line.
    assert laptop_habits("def collect(:\n", "x") == []
    assert file_habits(tmp_path / "missing.py") == []
    assert found("") == []


@pytest.mark.parametrize(
    ("setup", "call", "verb"),
    [
        ("log = logging.getLogger(__name__)\n", "log.info('volume %s', v)", "logs"),
        ("", "logging.warning('volume %s', v)", "logs"),
        ("logger = logging.getLogger('scan')\n", "logger.error(v)", "logs"),
    ],
)
def test_a_collect_that_only_logs_is_a_problem(setup: str, call: str, verb: str) -> None:
    source = (
        f"import logging\n{setup}\n"
        "def collect(session, region, account):\n"
        "    for v in session.client('ec2', region_name=region).describe_volumes()['Volumes']:\n"
        f"        {call}\n"
    )
    habits = laptop_habits(source, "scan.py")
    line = source.splitlines().index(f"        {call}") + 1
    assert [str(h) for h in habits] == [
        f"scan.py:{line}: collect {verb} but never yields (0 records): yield dicts instead"
    ]
    assert habits[0].kind == ONLY_PRINTS and habits[0].problem


def test_a_helper_collect_calls_that_only_logs_is_named() -> None:
    source = """\
import logging
log = logging.getLogger(__name__)

def scan(region):
    log.info("region %s", region)

def collect(session, region, account):
    scan(region)
"""
    assert [str(h) for h in laptop_habits(source, "scan.py")] == [
        "scan.py:8: collect never yields and scan() logs (line 5): 0 records: make scan() yield, "
        "then `yield from` it"
    ]


def test_a_collect_that_logs_and_yields_or_uses_another_log_is_not_a_problem() -> None:
    yielding = """\
import logging
log = logging.getLogger(__name__)

def collect(session, region, account):
    log.info("scanning %s", region)
    yield {"region": region}
"""
    other = """\
import audit

def collect(session, region, account):
    audit.info(region)
"""
    assert laptop_habits(yielding, "a.py") == []
    assert laptop_habits(other, "b.py") == []
