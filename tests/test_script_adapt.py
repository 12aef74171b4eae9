"""`script adapt`: laptop scripts (tests/laptop_scripts) ported to the script contract."""

from __future__ import annotations

import ast
import functools
import json
import shutil
from pathlib import Path
from typing import Any

import boto3
import pytest

from lambda_src.scripts import Account, check_script
from lambdafan.aws import Aws
from lambdafan.errors import UsageError
from lambdafan.script_tools import trial
from lambdafan.script_tools.adapt import CHECK, adapt_file, adapt_source, default_output
from lambdafan.script_tools.laptop_habits import ONLY_PRINTS, laptop_habits
from lambdafan.script_tools.trial import Credentials
from tests.conftest import REGION, assumed, cli

LAPTOP = Path(__file__).parent / "laptop_scripts"
MEMBER = "111111111111"
ROLE = "OrganizationAccountAccessRole"
# In-process moto is out of a sandbox's reach: the port runs on this process's threads.
run_once = functools.partial(trial.run_once, sandbox=False, credentials=Credentials(role=ROLE))

# What each port changed: (line of the laptop script, what), checks marked "check".
CHANGES = {
    "unattached_volumes": [
        (4, "removed `import json`: the port no longer uses it"),
        (6, "removed `import boto3`: the port no longer uses it"),
        (9, "removed the module-level ec2: nothing uses it now"),
        (10, "removed the region list: lambdafan has the regions"),
        (13, "main() becomes collect(session, region, account)"),
        (15, "unwrapped `for region_name in REGIONS`: lambdafan loops over regions"),
        (16, 'boto3.client("ec2", region_name=region_name) → '
             'session.client("ec2", region_name=region)'),
        (21, "print(...) of a dict → yield"),
        (32, "check: prints a total: drop it (`lambdafan query` adds up records)"),
        (35, 'removed the `if __name__ == "__main__":` block'),
    ],
    "unused_security_groups": [
        (3, "removed `import boto3`: the port no longer uses it"),
        (5, 'moved ec2 into collect: ec2 = session.client("ec2", region_name=region)'),
        (6, 'moved elb into collect: elb = session.client("elb", region_name=region)'),
        (7, 'moved elbv2 into collect: elbv2 = session.client("elbv2", region_name=region)'),
        (8, 'moved rds into collect: rds = session.client("rds", region_name=region)'),
        (10, "the top-level code becomes collect(session, region, account)"),
        (30, "print(...) of a row → yield {...}"),
    ],
    "public_buckets": [
        (1, 'SCOPE = "account": it uses only global services (s3)'),
        (3, "removed `import sys`: the port no longer uses it"),
        (5, "removed `import boto3`: the port no longer uses it"),
        (13, "removed `session = boto3.Session(...)`: collect has it"),
        (14, 'moved s3 into collect: s3 = session.client("s3")'),
        (16, 'the `if __name__ == "__main__":` block becomes collect(...)'),
        (17, "check: a heading or a message: lambdafan's tables name their columns; drop it"),
        (22, "check: swallows the error: let it raise, lambdafan records it"),
        (28, "print(...) of a dict → yield"),
    ],
    "iam_password_users": [
        (1, 'SCOPE = "account": it uses only global services (iam)'),
        (7, "removed `import boto3`: the port no longer uses it"),
        (9, 'moved iam into collect: iam = session.client("iam") '
            "(global: credential_report() reads it)"),
        (20, "main() becomes collect(session, region, account)"),
        (27, "print(...) of a row → yield {...}"),
        (30, 'removed the `if __name__ == "__main__":` block'),
    ],
    "unencrypted_volumes": [
        (4, "removed `import argparse`: the port no longer uses it"),
        (5, "removed `import csv`: the port no longer uses it"),
        (6, "removed `import sys`: the port no longer uses it"),
        (8, "removed `import boto3`: the port no longer uses it"),
        (11, "main() becomes collect(session, region, account)"),
        (11, "main's arguments as the __main__ block gave them: min_size = 10"),
        (12, 'boto3.client("ec2") → session.client("ec2", region_name=region)'),
        (13, "removed the csv writer: lambdafan stores the records"),
        (14, "removed the header row: its names are the records' keys"),
        (19, 'writer.writerow([...]) → yield {"volume_id": ..., "size_gb": ..., "state": ...}'),
        (20, "removed `return 0`: an exit code"),
        (23, 'removed the `if __name__ == "__main__":` block'),
    ],
    "stopped_instances": [
        (14, "print(...) of a row → yield {...}"),
        (17, "main() becomes collect(session, region, account)"),
        (18, "removed ec2: nothing uses it now"),
        (19, 'unwrapped `for r in ec2.describe_regions()["Regions"]`: lambdafan loops over '
             "regions"),
        (20, "check_region() yields its printed records: yield from check_region(...)"),
        (23, 'removed the `if __name__ == "__main__":` block'),
    ],
    "orphaned_snapshots": [
        (15, "print(...) of a row → yield {...}"),
        (17, "check: prints a total: drop it (`lambdafan query` adds up records)"),
        (20, "main() becomes collect(session, region, account)"),
        (24, "parser.parse_args() → parse_args([]): lambdafan passes no arguments (the defaults)"),
        (25, "args.region (the laptop's one region) → region"),
        (25, "find_orphaned_snapshots() yields its printed records: yield from "
             "find_orphaned_snapshots(...)"),
        (28, 'removed the `if __name__ == "__main__":` block'),
    ],
    "idle_target_groups": [
        (4, "removed `import json`: the port no longer uses it"),
        (5, "removed `import sys`: the port no longer uses it"),
        (7, "removed `import boto3`: the port no longer uses it"),
        (9, "moved s into collect: s = session (global: idle_target_groups() reads it)"),
        (21, 'the `if __name__ == "__main__":` block becomes collect(...)'),
        (23, 'unwrapped `for region in s.get_available_regions("elbv2")`: lambdafan loops over '
             "regions"),
        (25, "json.dump(...) of a list → yield from"),
        (26, "removed `sys.exit(1 if results else 0)`: an exit code"),
    ],
    "open_security_groups": [
        (4, "removed `import csv`: the port no longer uses it"),
        (5, "removed `import sys`: the port no longer uses it"),
        (7, "removed `import boto3`: the port no longer uses it"),
        (10, "removed `ec2 = None`: collect's now"),
        (13, "removed get_regions(): nothing calls it now"),
        (23, "main() becomes collect(session, region, account)"),
        (24, "removed `global ec2`: no function reads it now"),
        (25, "removed ec2: nothing uses it now"),
        (26, "unwrapped `with open(...) as f`: lambdafan stores the records"),
        (27, "removed the csv writer: lambdafan stores the records"),
        (28, "removed writer.writeheader(): the records' keys name the columns"),
        (29, "unwrapped `for region in get_regions()`: lambdafan loops over regions"),
        (30, 'boto3.client("ec2", region_name=region) → session.client("ec2", region_name=region)'),
        (33, "writer.writerow(...) of a dict → yield (only the FIELDS fields: "
             "extrasaction='ignore')"),
        (34, "removed a print of the file: the port writes none"),
        (37, 'removed the `if __name__ == "__main__":` block'),
    ],
}  # fmt: skip
# A helper's client stays boto3's (bound to the scanned account), given the region it is passed.
HELPER_CLIENTS = {"stopped_instances": 1, "orphaned_snapshots": 1}
SCOPES = {
    "unencrypted_volumes": "region",
    "unattached_volumes": "region",
    "unused_security_groups": "region",
    "public_buckets": "account",
    "iam_password_users": "account",
    "stopped_instances": "region",
    "orphaned_snapshots": "region",
    "idle_target_groups": "region",
    "open_security_groups": "region",
}


def port(tmp_path: Path, name: str) -> Path:
    source = shutil.copy(LAPTOP / f"{name}.py", tmp_path / f"{name}.py")
    out, _ = adapt_file(Path(source))
    return out


@pytest.mark.parametrize("name", sorted(CHANGES))
def test_each_laptop_script_adapts_to_the_contract(tmp_path: Path, name: str) -> None:
    source = shutil.copy(LAPTOP / f"{name}.py", tmp_path / f"{name}.py")

    out, adapted = adapt_file(Path(source))

    assert out == tmp_path / f"{name}_lambdafan.py" == default_output(Path(source))
    assert check_script(out) == SCOPES[name] == adapted.scope  # compiles, collect's signature
    assert "def collect(session, region, account):" in out.read_text()
    assert adapted.text.count("boto3.client(") == HELPER_CLIENTS.get(name, 0)
    assert "boto3.Session(" not in adapted.text
    said = [(c.line, ("check: " if c.check else "") + c.what) for c in adapted.changes]
    assert said == CHANGES[name]
    assert adapted.text.count(CHECK) == len(adapted.checks)
    # The laptop script's comments survive the port, but for those of the lines it removed.
    laptop = (LAPTOP / f"{name}.py").read_text()
    comments = [line.strip() for line in laptop.splitlines() if line.strip().startswith("# ")]
    kept = [
        c
        for c in comments
        if c != "# The caller's default region is only used to list the regions."
    ]
    assert all(comment in adapted.text for comment in kept)


def in_member(session: Any) -> Any:
    return assumed(session, MEMBER, ROLE)


def test_the_unattached_volumes_port_finds_the_members_volumes(aws: Any, tmp_path: Path) -> None:
    ec2 = in_member(aws).client("ec2", region_name="eu-west-1")
    spare = ec2.create_volume(AvailabilityZone="eu-west-1a", Size=8)["VolumeId"]
    aws.client("ec2", region_name="eu-west-1").create_volume(AvailabilityZone="eu-west-1a", Size=5)
    out = port(tmp_path, "unattached_volumes")

    run = run_once(out, aws=Aws(aws), account=Account(MEMBER, "prod"), region="eu-west-1")

    assert run.ok, run.failure
    assert [(r["volume_id"], r["size_gb"], r["region"]) for r in run.rows] == [
        (spare, 8, "eu-west-1")
    ]


def test_the_unused_security_groups_port_skips_the_ones_in_use(aws: Any, tmp_path: Path) -> None:
    ec2 = in_member(aws).client("ec2", region_name=REGION)
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
    make = functools.partial(ec2.create_security_group, VpcId=vpc, Description="x")
    used = make(GroupName="used")["GroupId"]
    idle = make(GroupName="idle")["GroupId"]
    ec2.create_network_interface(SubnetId=subnet, Groups=[used])
    out = port(tmp_path, "unused_security_groups")

    run = run_once(out, aws=Aws(aws), account=Account(MEMBER, "prod"), region=REGION)

    assert run.ok, run.failure
    found = {r["group_id"]: r for r in run.rows}
    assert idle in found and used not in found
    assert found[idle]["group_name"] == "idle" and found[idle]["vpc_id"] == vpc


def test_the_public_buckets_port_reports_public_grants(aws: Any, tmp_path: Path) -> None:
    s3 = in_member(aws).client("s3")
    s3.create_bucket(Bucket="open-bucket")
    s3.put_bucket_acl(Bucket="open-bucket", ACL="public-read")
    s3.create_bucket(Bucket="closed-bucket")
    out = port(tmp_path, "public_buckets")

    run = run_once(out, aws=Aws(aws), account=Account(MEMBER, "prod"), region=None)

    assert run.ok, run.failure
    assert [(r["bucket"], r["permission"]) for r in run.rows] == [("open-bucket", "READ")]


def test_the_iam_port_runs_in_script_test(server: str, tmp_path: Path) -> None:
    iam = boto3.client("iam", endpoint_url=server)
    for user in ("alice", "bob"):
        iam.create_user(UserName=user)
    iam.create_login_profile(UserName="alice", Password="correct-horse-battery-9")
    out = port(tmp_path, "iam_password_users")

    done = cli("script", "test", out.name, "--no-assume", "--format", "jsonl", cwd=tmp_path)

    assert done.returncode == 0, done.stderr
    rows = [json.loads(line) for line in done.stdout.splitlines()]
    assert [(r["user"], r["mfa"], r["region"]) for r in rows] == [("alice", "false", "global")]
    assert "1 record from iam_password_users_lambdafan in" in done.stderr


def test_the_unattached_volumes_port_runs_in_script_test(server: str, tmp_path: Path) -> None:
    ec2 = boto3.client("ec2", region_name="eu-west-1", endpoint_url=server)
    spare = ec2.create_volume(AvailabilityZone="eu-west-1a", Size=8)["VolumeId"]
    out = port(tmp_path, "unattached_volumes")

    done = cli(
        "script", "test", out.name, "--no-assume", "--region", "eu-west-1", "--format", "jsonl",
        cwd=tmp_path,
    )  # fmt: skip

    assert done.returncode == 0, done.stderr
    rows = [json.loads(line) for line in done.stdout.splitlines()]
    assert [(r["volume_id"], r["size_gb"], r["region"]) for r in rows] == [(spare, 8, "eu-west-1")]


def test_an_import_in_a_nested_block_stays_even_unused() -> None:
    adapted = adapt_source(
        """\
import boto3


def main():
    import json
    try:
        import yaml
    except ImportError:
        yaml = None
    for bucket in boto3.client("s3").list_buckets()["Buckets"]:
        print(json.dumps({"name": bucket["Name"]}))
"""
    )

    said = said_by(adapted)
    assert (5, "removed `import json`: the port no longer uses it") in said
    assert "    try:\n        import yaml\n    except ImportError:" in adapted.text
    assert adapted.text.startswith('SCOPE = "account"  # once per account (global services)\n\n\n')
    compile(adapted.text, "port.py", "exec")


def test_top_level_code_right_after_the_imports_comes_after_scope() -> None:
    adapted = adapt_source(
        """\
import csv, sys, boto3
w = csv.DictWriter(sys.stdout, ["a"])
for vpc in boto3.client("ec2").describe_vpcs()["Vpcs"]:
    w.writerow(*[vpc])
"""
    )

    assert adapted.text.startswith(
        'import csv, sys\n\nSCOPE = "region"  # once per account and region\n\n\n'
        "def collect(session, region, account):\n"
    )
    assert (4, "check: a csv row of unknown shape: yield a dict of its values") in said_by(adapted)
    compile(adapted.text, "port.py", "exec")


def test_an_empty_list_the_top_level_code_fills_goes_into_collect() -> None:
    adapted = adapt_source(
        """\
import json
import boto3

results = []
client = boto3.client("lambda")
for fn in client.list_functions()["Functions"]:
    results.append({"name": fn["FunctionName"], "runtime": fn.get("Runtime")})
print(json.dumps(results, indent=2, default=str))
"""
    )

    # Left at module level it would pile up every account's and region's functions.
    assert "def collect(session, region, account):\n    results = []\n" in adapted.text
    assert (8, "print(...) of a list → yield from") in said_by(adapted)
    assert adapted.text.endswith("    yield from results\n")


def test_a_list_of_calls_at_the_top_is_code_not_a_constant() -> None:
    adapted = adapt_source('import boto3\n\nSIZES = [int("8")]\nboto3.client("ec2")\n')

    assert '    SIZES = [int("8")]\n' in adapted.text  # it calls something: it is code


def test_a_session_made_in_main_is_collects_own() -> None:
    adapted = adapt_source(
        """\
import boto3


def main(profile="default"):
    session = boto3.Session(profile_name=profile)
    for user in session.client("iam").list_users()["Users"]:
        print(user["UserName"], user["CreateDate"])
"""
    )

    assert (5, "removed `session = boto3.Session(...)`: collect has it") in said_by(adapted)
    assert "session = " not in adapted.text and "profile" not in adapted.text
    assert 'for user in session.client("iam").list_users()["Users"]:' in adapted.text


def test_a_csv_file_the_writer_does_not_only_write_is_marked() -> None:
    adapted = adapt_source(
        """\
import csv

import boto3


def main():
    out = open("zones.csv", "w")
    writer = csv.writer(out)
    writer.writerow(["zone", "records"])
    for zone in boto3.client("route53").list_hosted_zones()["HostedZones"]:
        writer.writerow([zone["Name"], zone["ResourceRecordSetCount"]])
    out.close()
    with open("done.txt", "w") as done, open("log.txt", "w") as log:
        writer = csv.DictWriter(done, fieldnames=["zone"])
        writer.writerows(rows_of(log))
"""
    )

    said = said_by(adapted)
    assert (7, "check: writes a file: lambdafan stores the records; drop it") in said
    assert (11, 'writer.writerow([...]) → yield {"zone": ..., "records": ...}') in said
    assert (13, "check: writes a file: lambdafan stores the records; drop it") in said
    assert (15, "writer.writerows(...) of dicts → yield") in said
    assert "        yield from rows_of(log)\n" in adapted.text
    compile(adapted.text, "port.py", "exec")


# What a person changes by hand in each port, to get the right records and no marks left: the
# lines (stripped) deleted. Only code lines count; a `# lambdafan: check` mark is not code.
HAND_EDITS: dict[str, list[str]] = {
    "unattached_volumes": ['print(f"Total unattached: {total} GiB")'],  # a total: `query` adds
    "unused_security_groups": [],
    # The heading goes; skipping the buckets it cannot read is the script's choice: it stays.
    "public_buckets": ['print("bucket,permission,grantee")'],
    "iam_password_users": [],
    "unencrypted_volumes": [],
    "stopped_instances": [],
    "orphaned_snapshots": ['print(f"{count} orphaned snapshots in {region}")'],  # a total
    "idle_target_groups": [],
    "open_security_groups": [],
}


def seed_the_laptop_scripts_resources(server: str) -> dict[str, list[tuple[Any, ...]]]:
    """What each laptop script looks for, in the moto server; the records each should give."""
    ec2 = boto3.client("ec2", region_name=REGION, endpoint_url=server)
    small = ec2.create_volume(AvailabilityZone=f"{REGION}a", Size=8)["VolumeId"]
    big = ec2.create_volume(AvailabilityZone=f"{REGION}a", Size=20)["VolumeId"]
    locked = ec2.create_volume(AvailabilityZone=f"{REGION}a", Size=30, Encrypted=True)["VolumeId"]
    instance = ec2.run_instances(
        ImageId="ami-12c6146b", MinCount=1, MaxCount=1, Placement={"AvailabilityZone": f"{REGION}a"}
    )["Instances"][0]["InstanceId"]  # any AMI id: moto loads none in tests
    attached = ec2.create_volume(AvailabilityZone=f"{REGION}a", Size=40)["VolumeId"]
    ec2.attach_volume(VolumeId=attached, InstanceId=instance, Device="/dev/sdf")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
    make = functools.partial(ec2.create_security_group, VpcId=vpc, Description="x")
    used = make(GroupName="used")["GroupId"]
    idle = make(GroupName="idle")["GroupId"]
    ec2.create_network_interface(SubnetId=subnet, Groups=[used])
    s3 = boto3.client("s3", region_name=REGION, endpoint_url=server)
    s3.create_bucket(Bucket="open-bucket")
    s3.put_bucket_acl(Bucket="open-bucket", ACL="public-read")
    s3.create_bucket(Bucket="closed-bucket")
    iam = boto3.client("iam", endpoint_url=server)
    for user in ("alice", "bob"):
        iam.create_user(UserName=user)
    iam.create_login_profile(UserName="alice", Password="correct-horse-battery-9")
    stopped = ec2.run_instances(
        ImageId="ami-12c6146b", MinCount=1, MaxCount=1, InstanceType="t3.micro"
    )["Instances"][0]["InstanceId"]
    ec2.stop_instances(InstanceIds=[stopped])
    gone = ec2.create_volume(AvailabilityZone=f"{REGION}a", Size=6)["VolumeId"]
    orphan = ec2.create_snapshot(VolumeId=gone)["SnapshotId"]
    ec2.delete_volume(VolumeId=gone)
    ec2.create_snapshot(VolumeId=small)  # its volume is still there
    elbv2 = boto3.client("elbv2", region_name=REGION, endpoint_url=server)
    idle_tg = elbv2.create_target_group(Name="idle-tg", Protocol="HTTP", Port=80, VpcId=vpc)
    ec2.authorize_security_group_ingress(
        GroupId=idle, IpPermissions=[{"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22,
                                      "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}],
    )  # fmt: skip
    return {
        "unattached_volumes": sorted([(small, 8), (big, 20), (locked, 30)]),
        "unused_security_groups": [(idle, "idle", vpc)],
        "public_buckets": [("open-bucket", "READ")],
        "iam_password_users": [("alice", "false")],
        # Of at least --min-size's default, 10 GiB (the instance's root volume has 8).
        "unencrypted_volumes": sorted([(big, 20), (attached, 40)]),
        "stopped_instances": [(stopped, "t3.micro", "stopped")],
        "orphaned_snapshots": [(orphan, gone, 6)],
        "idle_target_groups": [("idle-tg", idle_tg["TargetGroups"][0]["TargetGroupArn"])],
        "open_security_groups": [(idle, "idle", vpc)],
    }


FIELDS = {
    "unattached_volumes": ("volume_id", "size_gb"),
    "unused_security_groups": ("group_id", "group_name", "vpc_id"),
    "public_buckets": ("bucket", "permission"),
    "iam_password_users": ("user", "mfa"),
    "unencrypted_volumes": ("volume_id", "size_gb"),
    "stopped_instances": ("instance_id", "instance_type", "state_name"),
    "orphaned_snapshots": ("snapshot_id", "volume_id", "volume_size"),
    "idle_target_groups": ("name", "arn"),
    "open_security_groups": ("GroupId", "GroupName", "VpcId"),
}


@pytest.mark.parametrize("name", sorted(HAND_EDITS))
def test_each_port_gives_its_records_in_script_test_with_at_most_a_line_changed(
    server: str, tmp_path: Path, name: str
) -> None:
    expected = seed_the_laptop_scripts_resources(server)[name]
    shutil.copy(LAPTOP / f"{name}.py", tmp_path / f"{name}.py")
    assert cli("script", "adapt", f"{name}.py", "-o", "port.py", cwd=tmp_path).returncode == 0
    lines = (tmp_path / "port.py").read_text().splitlines()
    by_hand = [line for line in lines if line.strip() in HAND_EDITS[name]]
    assert len(by_hand) == len(HAND_EDITS[name]) <= 1
    final = [line for line in lines if line not in by_hand and CHECK not in line]
    (tmp_path / "port.py").write_text("\n".join(final) + "\n")

    done = cli(
        "script", "test", "port.py", "--no-assume", "--region", REGION, "--format", "jsonl",
        cwd=tmp_path,
    )  # fmt: skip

    assert done.returncode == 0, done.stderr
    rows = [json.loads(line) for line in done.stdout.splitlines()]
    assert sorted(tuple(row[f] for f in FIELDS[name]) for row in rows) == expected
    assert f"{len(rows)} record{'s' if len(rows) > 1 else ''} from port in" in done.stderr
    # No print left but the message of a skipped bucket (a sandbox's prints reach fd 2 directly,
    # out of CliRunner's reach, so the port's text says it).
    tree = ast.parse("\n".join(final))
    handled = {
        id(n) for h in ast.walk(tree) if isinstance(h, ast.ExceptHandler) for n in ast.walk(h)
    }
    prints = [
        n
        for n in ast.walk(tree)
        if isinstance(n, ast.Call) and getattr(n.func, "id", "") == "print" and id(n) not in handled
    ]
    assert prints == []


# --- the command ----------------------------------------------------------------------------


def test_adapt_prints_what_changed_and_refuses_to_overwrite(tmp_path: Path) -> None:
    shutil.copy(LAPTOP / "public_buckets.py", tmp_path / "public_buckets.py")

    done = cli("script", "adapt", "public_buckets.py", cwd=tmp_path)

    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == ("wrote public_buckets_lambdafan.py (account-scoped) from public_buckets.py")
    assert '  14         moved s3 into collect: s3 = session.client("s3")' in lines
    assert "  22  check  swallows the error: let it raise, lambdafan records it" in lines
    assert (
        "2 places to decide by hand: search public_buckets_lambdafan.py for "
        "'# lambdafan: check'" in lines
    )
    assert lines[-1] == "  lambdafan script test public_buckets_lambdafan.py --no-assume"

    again = cli("script", "adapt", "public_buckets.py", cwd=tmp_path)
    assert again.returncode == 2
    assert "already exists (use --force to overwrite it)" in again.stderr
    forced = cli("script", "adapt", "public_buckets.py", "-o", "x.py", cwd=tmp_path)
    assert forced.returncode == 0 and (tmp_path / "x.py").exists()
    assert cli("script", "adapt", "x.py", "--force", "-o", "x.py", cwd=tmp_path).returncode == 2
    # -o into a folder that does not exist yet, as the README does it.
    into = cli("script", "adapt", "public_buckets.py", "-o", "scripts/b.py", cwd=tmp_path)
    assert into.returncode == 0, into.stderr
    assert (tmp_path / "scripts" / "b.py").exists()


def test_adapt_refuses_a_script_that_already_has_collect() -> None:
    with pytest.raises(UsageError, match="already defines collect"):
        adapt_source("def collect(session, region, account):\n    yield {}\n")


def test_a_profile_loop_and_argparse_are_marked() -> None:
    adapted = adapt_source(
        """\
import argparse
import boto3

parser = argparse.ArgumentParser()
args = parser.parse_args()
for profile in ["prod", "dev"]:
    for region in ["us-east-1", "eu-west-1"]:
        lam = boto3.Session(profile_name=profile).client("lambda", region_name=region)
        for fn in lam.list_functions()["Functions"]:
            print(profile, fn["FunctionName"], fn["Runtime"])
"""
    )

    assert adapted.scope == "region"
    assert "def collect(session, region, account):" in adapted.text
    assert 'lam = session.client("lambda", region_name=region)' in adapted.text
    assert (
        '        yield {"profile": profile, "function_name": fn["FunctionName"], '
        '"runtime": fn["Runtime"]}' in adapted.text
    )
    checks = [c.what for c in adapted.checks]
    assert "profile is the account's name now: records carry it anyway" in checks
    assert "    profile = account.name\n" in adapted.text
    # In collect: sys.argv is lambdafan's own outside the sandbox, so it reads no command line.
    assert "    args = parser.parse_args([])\n" in adapted.text
    assert (
        5,
        "parser.parse_args() → parse_args([]): lambdafan passes no arguments (the defaults)",
    ) in said_by(adapted)
    assert not any("parse_args" in check for check in checks)


HELPERS = """\
import boto3


def get_regions():
    ec2 = boto3.client("ec2", region_name="us-east-1")
    return [r["RegionName"] for r in ec2.describe_regions()["Regions"]]


def list_functions(region):
    client = boto3.client("lambda")
    return client.list_functions()["Functions"]


def main():
    regions = get_regions()
    rows = []
    for region in regions:
        for fn in list_functions(region):
            print(region, fn["FunctionName"])
            rows.append(fn)
    return rows


if __name__ == "__main__":
    main()
"""


def test_helpers_keep_their_clients_and_the_region_list_goes() -> None:
    adapted = adapt_source(HELPERS)

    said = [(c.line, ("check: " if c.check else "") + c.what) for c in adapted.changes]
    assert said == [
        # boto3's defaults are the scanned account's: only the region is the helper's to get
        (4, "removed get_regions(): nothing calls it now"),
        (10, "check: a client outside collect: pass it region_name=region"),
        (14, "main() becomes collect(session, region, account)"),
        (15, "removed the region list: lambdafan has the regions"),
        (17, "unwrapped `for region in regions`: lambdafan loops over regions"),
        (19, "print(...) of a row → yield {...}"),
        (21, "check: collect yields now, so this value is dropped: yield from it, or keep "
             "the return and drop the yields"),
        (24, 'removed the `if __name__ == "__main__":` block'),
    ]  # fmt: skip
    assert "ec2" not in adapted.text  # get_regions() went with the loop it fed
    assert "regions = get_regions()" not in adapted.text
    assert '        yield {"region": region, "function_name": fn["FunctionName"]}' in adapted.text
    compile(adapted.text, "port.py", "exec")


def test_an_exit_code_a_multi_line_client_and_a_printed_value() -> None:
    adapted = adapt_source(
        """\
import sys

import boto3


def main(argv):
    s3 = boto3.resource(
        "s3",
    )
    for bucket in s3.buckets.all():
        print(bucket.name)
    print("done")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
"""
    )

    said = [(c.line, ("check: " if c.check else "") + c.what) for c in adapted.changes]
    assert said == [
        (1, 'SCOPE = "account": it uses only global services (s3)'),
        (1, "removed `import sys`: the port no longer uses it"),  # with the __main__ block
        (3, "removed `import boto3`: the port no longer uses it"),
        (6, "main() becomes collect(session, region, account)"),  # argv is unused: it goes
        (7, 'boto3.resource("s3") → session.resource("s3")'),
        (11, "print(...) of a value → yield {...}"),
        (12, "check: a heading or a message: lambdafan's tables name their columns; drop it"),
        (13, "removed `return 0`: an exit code"),
        (16, 'removed the `if __name__ == "__main__":` block'),  # and its sys.argv with it
    ]
    assert '        yield {"name": bucket.name}\n' in adapted.text
    compile(adapted.text, "port.py", "exec")


# --- the rough edges a new-user check found ------------------------------------------------


def said_by(adapted: Any) -> list[tuple[int, str]]:
    return [(c.line, ("check: " if c.check else "") + c.what) for c in adapted.changes]


ARGV_SCRIPT = """\
import argparse
import os
import sys
from pprint import pprint

import boto3


def main(days, argv):
    ec2 = boto3.client("ec2")
    for snap in ec2.describe_snapshots(OwnerIds=["self"])["Snapshots"]:
        if snap["StartTime"].day > days and argv[0] in snap["Description"]:
            pprint({"snapshot_id": snap["SnapshotId"]})
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--days", type=int, default=90)
    args = parser.parse_args()
    sys.exit(main(args.days, sys.argv[1:]))
"""


def test_imports_the_port_no_longer_uses_are_removed() -> None:
    adapted = adapt_source(ARGV_SCRIPT)

    said = said_by(adapted)
    assert (1, "removed `import argparse`: the port no longer uses it") in said
    assert (3, "removed `import sys`: the port no longer uses it") in said
    assert (4, "removed `from pprint import pprint`: the port no longer uses it") in said
    assert (6, "removed `import boto3`: the port no longer uses it") in said
    assert adapted.text.startswith('import os\n\nSCOPE = "region"')  # unused before: kept
    assert 'yield {"snapshot_id": snap["SnapshotId"]}' in adapted.text
    compile(adapted.text, "port.py", "exec")


def test_an_import_still_used_stays_and_a_partly_used_one_is_trimmed() -> None:
    adapted = adapt_source(
        """\
import json, sys

import boto3

ec2 = boto3.client("ec2")


def tags(resource_id):
    found = boto3.client("ec2").describe_tags(Filters=[{"Name": "key", "Values": [resource_id]}])
    return found["Tags"]


def main():
    for vpc in ec2.describe_vpcs()["Vpcs"]:
        print(json.dumps({"vpc_id": vpc["VpcId"], "default": vpc["IsDefault"]}))
        sys.stdout.flush()
"""
    )

    assert (1, "removed `json` from `import json, sys`: the port no longer uses it") in (
        said_by(adapted)
    )
    assert adapted.text.startswith("import sys\n\nimport boto3\n")  # tags() still uses boto3
    compile(adapted.text, "port.py", "exec")


def test_a_printed_variable_assigned_a_dict_in_collect_is_yielded() -> None:
    adapted = adapt_source(
        """\
import boto3


def main():
    ec2 = boto3.client("ec2")
    for vpc in ec2.describe_vpcs()["Vpcs"]:
        record = dict(vpc_id=vpc["VpcId"], cidr=vpc["CidrBlock"])
        record["default"] = vpc["IsDefault"]
        print(record)
        name = vpc["VpcId"]
        print(name)
"""
    )

    said = said_by(adapted)
    assert (9, "print(...) of a dict → yield") in said
    assert "        yield record\n" in adapted.text
    assert (11, "check: prints a value: yield {\"name\": name} if it is one record's field, "
                "or yield it if it is a dict") in said  # fmt: skip
    assert "        print(name)\n" in adapted.text


def test_pprint_of_a_dict_is_a_yield_and_pprint_goes() -> None:
    adapted = adapt_source(
        """\
import pprint

import boto3

for key in boto3.client("kms").list_keys()["Keys"]:
    pprint.pprint({"key_id": key["KeyId"], "arn": key["KeyArn"]}, width=120)
"""
    )

    assert (1, "removed `import pprint`: the port no longer uses it") in said_by(adapted)
    assert '        yield {"key_id": key["KeyId"], "arn": key["KeyArn"]}\n' in adapted.text


def test_a_name_assigned_a_dict_only_elsewhere_is_not_taken_for_one() -> None:
    adapted = adapt_source(
        """\
import boto3

DEFAULTS = {"region": "us-east-1"}


def helper():
    row = {"a": 1}
    return row


def main():
    for row in boto3.client("ec2").describe_vpcs()["Vpcs"]:
        row = row["VpcId"]
        print(row)
"""
    )

    assert "        print(row)\n" in adapted.text
    assert any(c.line == 14 and c.check for c in adapted.changes)


def test_main_arguments_get_what_the_main_block_gave_or_say_what_to_put_in_their_place() -> None:
    adapted = adapt_source(ARGV_SCRIPT)

    said = said_by(adapted)
    # --days's default; sys.argv[1:] is indexed: it needs the values the script was run with
    assert (9, "main's arguments as the __main__ block gave them: days = 90") in said
    assert (
        9,
        "check: collect gets no arguments: put constants in place of argv (line 12), "
        "e.g. argv = ... at the top of collect",
    ) in said
    assert "def collect(session, region, account):\n    days = 90\n    ec2 = " in adapted.text


def test_main_given_the_argparse_namespace_gets_its_defaults() -> None:
    adapted = adapt_source(
        """\
import argparse

import boto3


def main(args):
    for fn in boto3.client("lambda").list_functions()["Functions"]:
        if fn["MemorySize"] >= args.min_memory and (args.all or fn["Runtime"] < args.runtime):
            print(fn["FunctionName"], fn["Runtime"])


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("-m", "--min-memory", type=int, default="512")
    parser.add_argument("--runtime", default="python3.9")
    parser.add_argument("-a", "--all", action="store_true")
    main(parser.parse_args())
"""
    )

    assert (
        '    args = argparse.Namespace(min_memory=int("512"), runtime="python3.9", all=False)\n'
        in adapted.text
    )
    assert adapted.text.startswith("import argparse\n")  # the port uses it
    assert not adapted.checks
    compile(adapted.text, "port.py", "exec")


def test_main_arguments_with_defaults_become_constants_and_unused_ones_go() -> None:
    adapted = adapt_source(
        """\
import sys

import boto3


def main(argv=None, days=90, *, owner="self"):
    ec2 = boto3.client("ec2")
    for snap in ec2.describe_snapshots(OwnerIds=[owner])["Snapshots"]:
        if snap["StartTime"].day > days:
            print(snap["SnapshotId"], snap["VolumeSize"])


if __name__ == "__main__":
    main(sys.argv[1:])
"""
    )

    said = said_by(adapted)
    assert (6, "main's arguments with defaults are constants in collect: days, owner") in said
    assert not adapted.checks
    assert 'def collect(session, region, account):\n    days = 90\n    owner = "self"\n' in (
        adapted.text
    )
    assert "argv" not in adapted.text


def test_main_given_sys_argv_to_parse_parses_no_arguments() -> None:
    adapted = adapt_source(
        """\
import argparse
import sys

import boto3


def main(argv):
    parser = argparse.ArgumentParser()
    parser.add_argument("--state", default="running")
    args = parser.parse_args(argv)
    ec2 = boto3.client("ec2")
    for page in ec2.get_paginator("describe_instances").paginate():
        for reservation in page["Reservations"]:
            for instance in reservation["Instances"]:
                if instance["State"]["Name"] == args.state:
                    print(instance["InstanceId"], instance["InstanceType"])


if __name__ == "__main__":
    main(sys.argv[1:])
"""
    )

    said = said_by(adapted)
    assert (
        10,
        "parser.parse_args(argv) → parse_args([]): lambdafan passes no arguments (the defaults)",
    ) in said
    assert "def collect(session, region, account):\n    parser = " in adapted.text
    assert "    args = parser.parse_args([])\n" in adapted.text and "argv" not in adapted.text
    assert adapted.checks == []
    assert adapted.text.startswith("import argparse\n\nSCOPE")  # sys went with the block


def test_parse_args_and_sys_argv_outside_collect_are_marked() -> None:
    adapted = adapt_source(
        """\
import argparse
import sys

import boto3

parser = argparse.ArgumentParser()
parser.add_argument("--days", type=int, default=30)
ARGS = parser.parse_args()
VERBOSE = "-v" in sys.argv


def main():
    for snap in boto3.client("ec2").describe_snapshots(OwnerIds=["self"])["Snapshots"]:
        if VERBOSE or snap["VolumeSize"] > ARGS.days:
            print(snap["SnapshotId"], snap["VolumeSize"])
"""
    )

    assert [(c.line, c.what) for c in adapted.checks] == [
        (8, "lambdafan passes no arguments: make it parse_args([]) (its defaults): sys.argv is "
            "not this script's"),
        (9, "lambdafan passes no arguments: sys.argv is not this script's command line: use "
            "constants"),
    ]  # fmt: skip


def test_a_ported_parse_args_ignores_lambdafans_own_command_line(
    aws: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Outside the sandbox (--no-sandbox), sys.argv is lambdafan's once the import is done.
    adapted = adapt_source(
        """\
import argparse

import boto3


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", type=int, default=5)
    args = parser.parse_args(argv)
    ec2 = boto3.client("ec2")
    for volume in ec2.describe_volumes()["Volumes"]:
        if volume["Size"] >= args.size:
            print({"volume_id": volume["VolumeId"], "size": volume["Size"]})


if __name__ == "__main__":
    main()
"""
    )
    ec2 = aws.client("ec2", region_name=REGION)
    big = ec2.create_volume(AvailabilityZone=f"{REGION}a", Size=8)["VolumeId"]
    ec2.create_volume(AvailabilityZone=f"{REGION}a", Size=1)
    monkeypatch.setattr("sys.argv", ["lambdafan", "script", "test", "port.py", "--no-sandbox"])
    space: dict[str, Any] = {}
    exec(compile(adapted.text, "port.py", "exec"), space)

    rows = list(space["collect"](aws, REGION, Account(MEMBER, "prod")))

    assert rows == [{"volume_id": big, "size": 8}]
    assert adapted.checks == []


CSV_WRITER = """\
import csv
import sys

import boto3

HEADER = ["VolumeId", "Size", "Region"]


def main():
    writer = csv.writer(sys.stdout)
    writer.writerow(HEADER)
    for region in ["us-east-1", "eu-west-1"]:
        ec2 = boto3.client("ec2", region_name=region)
        for volume in ec2.describe_volumes()["Volumes"]:
            row = [volume["VolumeId"], volume["Size"], region]
            writer.writerow(row)
"""


def test_csv_writer_rows_become_records_keyed_by_the_header() -> None:
    adapted = adapt_source(CSV_WRITER)

    said = said_by(adapted)
    assert (10, "removed the csv writer: lambdafan stores the records") in said
    assert (11, "removed the header row: its names are the records' keys") in said
    assert (16, "writer.writerow(row) → yield dict(zip(HEADER, row))") in said
    assert "        yield dict(zip(HEADER, row))\n" in adapted.text
    assert "writer" not in adapted.text and "import csv" not in adapted.text
    assert "import sys" not in adapted.text
    compile(adapted.text, "port.py", "exec")


def test_a_csv_row_literal_becomes_a_dict_with_the_header_names() -> None:
    adapted = adapt_source(
        """\
import csv

import boto3


def main():
    iam = boto3.client("iam")
    with open("users.csv", "w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["user", "created"])
        for user in iam.list_users()["Users"]:
            writer.writerow([user["UserName"], user["CreateDate"]])
"""
    )

    said = said_by(adapted)
    assert (8, "unwrapped `with open(...) as out`: lambdafan stores the records") in said
    assert (12, 'writer.writerow([...]) → yield {"user": ..., "created": ...}') in said
    assert (
        '    for user in iam.list_users()["Users"]:\n'
        '        yield {"user": user["UserName"], "created": user["CreateDate"]}\n'
    ) in adapted.text
    assert "open(" not in adapted.text and "csv" not in adapted.text
    assert not adapted.checks
    compile(adapted.text, "port.py", "exec")


def test_a_csv_dict_writer_row_is_yielded() -> None:
    adapted = adapt_source(
        """\
import csv
import sys

import boto3

FIELDS = ["bucket", "created"]

writer = csv.DictWriter(sys.stdout, fieldnames=FIELDS)
writer.writeheader()
for bucket in boto3.client("s3").list_buckets()["Buckets"]:
    writer.writerow({"bucket": bucket["Name"], "created": bucket["CreationDate"]})
"""
    )

    said = said_by(adapted)
    assert (8, "removed the csv writer: lambdafan stores the records") in said
    assert (9, "removed writer.writeheader(): the records' keys name the columns") in said
    assert (11, "writer.writerow(...) of a dict → yield") in said
    assert (
        '        yield {"bucket": bucket["Name"], "created": bucket["CreationDate"]}\n'
        in adapted.text
    )
    assert "csv" not in adapted.text
    compile(adapted.text, "port.py", "exec")


def test_a_csv_row_without_a_header_is_named_like_a_printed_row() -> None:
    adapted = adapt_source(
        """\
import csv
import sys

import boto3

writer = csv.writer(sys.stdout)
for fn in boto3.client("lambda").list_functions()["Functions"]:
    writer.writerow([fn["FunctionName"], fn["Runtime"]])
    writer.writerow(fn)
"""
    )

    said = said_by(adapted)
    assert (8, "writer.writerow([...]) → yield {...}") in said
    assert '    yield {"function_name": fn["FunctionName"], "runtime": fn["Runtime"]}' in (
        adapted.text
    )
    assert (9, "check: a csv row with no header: yield a dict of its values") in said
    assert "    writer = csv.writer(sys.stdout)\n" in adapted.text  # still used


# --- laptop shapes that used to port wrong: each port's collect is run ------------------------


def collected(adapted: Any, session: Any, region: str) -> list[Any]:
    """The records of the port's collect, run with a (moto) session, as lambdafan calls it."""
    space: dict[str, Any] = {}
    exec(compile(adapted.text, "port.py", "exec"), space)
    return list(space["collect"](session, region, Account(MEMBER, "prod")) or [])


def volumes(session: Any, region: str, *sizes: int) -> list[str]:
    ec2 = session.client("ec2", region_name=region)
    return [ec2.create_volume(AvailabilityZone=f"{region}a", Size=s)["VolumeId"] for s in sizes]


def test_a_continue_of_the_last_region_loop_in_collect_becomes_return(aws: Any) -> None:
    adapted = adapt_source(
        """\
import boto3

def main():
    session = boto3.Session()
    for region in session.get_available_regions("ec2"):
        if region.startswith("ap-"):
            continue
        ec2 = session.client("ec2", region_name=region)
        for v in ec2.describe_volumes()["Volumes"]:
            if v["State"] != "available":
                continue
            print({"id": v["VolumeId"], "region": region})

if __name__ == "__main__":
    main()
"""
    )
    [here] = volumes(aws, "eu-west-1", 4)
    volumes(aws, "ap-southeast-1", 4)

    assert collected(adapted, aws, "eu-west-1") == [{"id": here, "region": "eu-west-1"}]
    assert collected(adapted, aws, "ap-southeast-1") == []
    assert (7, "continue of the loop over regions → return") in said_by(adapted)
    assert "            continue\n" in adapted.text  # the inner loop's own stays
    assert adapted.checks == []


def test_a_break_of_a_region_loop_with_code_after_it_is_marked_not_unwrapped() -> None:
    adapted = adapt_source(
        """\
import boto3

def main():
    for region in ["us-east-1", "eu-west-1"]:
        ec2 = boto3.client("ec2", region_name=region)
        if not ec2.describe_volumes()["Volumes"]:
            break
        print({"region": region})
    print({"done": True})
"""
    )

    compile(adapted.text, "port.py", "exec")
    assert [(c.line, c.what) for c in adapted.checks] == [
        (4, "continue/break of this loop over regions, and code after it: unwrap it by hand "
            "(a return ends this region)"),
    ]  # fmt: skip


def test_a_port_that_does_not_compile_says_where() -> None:
    # ast.parse takes it; the compiler does not (a nonlocal with no binding).
    adapted = adapt_source("import boto3\n\ndef main():\n    nonlocal x\n    print({'x': x})\n")

    assert adapted.checks[-1].what.startswith("the port does not compile: no binding for nonlocal")


def test_top_level_counters_the_code_adds_to_move_into_collect(aws: Any) -> None:
    adapted = adapt_source(
        """\
import boto3

REGIONS = ["us-east-1", "eu-west-1"]
total = 0
count = 0
for region in REGIONS:
    ec2 = boto3.client("ec2", region_name=region)
    for v in ec2.describe_volumes()["Volumes"]:
        total += v["Size"]
        count += 1
        print({"id": v["VolumeId"], "size": v["Size"]})
print(f"{count} volumes, {total} GiB")
"""
    )
    [vol] = volumes(aws, "eu-west-1", 6)

    assert collected(adapted, aws, "eu-west-1") == [{"id": vol, "size": 6}]
    assert "def collect(session, region, account):\n    total = 0\n    count = 0\n" in adapted.text
    assert (4, "moved `total = 0` into collect, which sets it again") in said_by(adapted)


def test_a_counter_the_main_block_adds_to_moves_into_collect(aws: Any) -> None:
    adapted = adapt_source(
        """\
import boto3

count = 0

if __name__ == "__main__":
    for region in ["us-east-1", "eu-west-1"]:
        for v in boto3.client("ec2", region_name=region).describe_volumes()["Volumes"]:
            count += 1
            print({"id": v["VolumeId"]})
    print(count)
"""
    )
    [vol] = volumes(aws, "eu-west-1", 2)

    assert collected(adapted, aws, "eu-west-1") == [{"id": vol}]
    assert "def collect(session, region, account):\n    count = 0\n" in adapted.text


def test_a_top_level_flag_moves_into_collect_and_one_a_helper_reads_is_marked(aws: Any) -> None:
    source = """\
import boto3

REGIONS = ["us-east-1", "eu-west-1"]
found = False
for region in REGIONS:
    ec2 = boto3.client("ec2", region_name=region)
    for inst in ec2.describe_instances()["Reservations"]:
        print({"r": region, "id": inst["ReservationId"]})
        found = True
        break
    if found:
        break
else:
    print("nothing found")
"""
    adapted = adapt_source(source)

    assert collected(adapted, aws, "eu-west-1") == []  # not an UnboundLocalError
    assert "    found = False\n    # lambdafan: check: a loop over regions with an else" in (
        adapted.text
    )
    helper = adapt_source(source + "\ndef report():\n    return found\n")
    checks = [(c.line, c.what) for c in helper.checks]
    assert (4, "found is set here and again in collect (report() reads it): move this line into "
               "collect (or add `global found` there)") in checks  # fmt: skip


def test_a_helper_that_prints_per_region_yields_and_the_describe_regions_loop_goes(
    aws: Any,
) -> None:
    adapted = adapt_source(
        """\
import boto3

def check_region(region):
    ec2 = boto3.client("ec2", region_name=region)
    for v in ec2.describe_volumes()["Volumes"]:
        print({"region": region, "id": v["VolumeId"]})

def main():
    ec2 = boto3.client("ec2")
    for r in ec2.describe_regions()["Regions"]:
        check_region(r["RegionName"])

if __name__ == "__main__":
    main()
"""
    )
    [vol] = volumes(aws, "eu-west-1", 3)
    volumes(aws, "us-east-1", 3)

    assert collected(adapted, aws, "eu-west-1") == [{"region": "eu-west-1", "id": vol}]
    said = said_by(adapted)
    assert (10, 'unwrapped `for r in ec2.describe_regions()["Regions"]`: lambdafan loops over '
                "regions") in said  # fmt: skip
    assert (11, "check_region() yields its printed records: yield from check_region(...)") in said
    assert (9, "removed ec2: nothing uses it now") in said  # it listed the regions
    assert '    r = {"RegionName": region}\n    yield from check_region(r["RegionName"])\n' in (
        adapted.text
    )
    assert adapted.checks == []
    assert [h for h in laptop_habits(adapted.text, "port.py") if h.problem] == []


def test_a_helper_printing_text_is_marked_at_its_call() -> None:
    adapted = adapt_source(
        """\
import boto3

def scan_region(region):
    ec2 = boto3.client("ec2", region_name=region)
    for v in ec2.describe_volumes()["Volumes"]:
        print(f"{region}\\t{v['VolumeId']}\\t{v['Size']}")

def main():
    regions = [r["RegionName"] for r in boto3.client("ec2").describe_regions()["Regions"]]
    for region in regions:
        scan_region(region)

if __name__ == "__main__":
    main()
"""
    )

    assert (11, "the records are printed in scan_region(): make it yield them and `yield from` "
                "it here") in [(c.line, c.what) for c in adapted.checks]  # fmt: skip
    # Left as it is, validate says so too: collect gives no records.
    assert [h.kind for h in laptop_habits(adapted.text, "port.py") if h.problem] == [ONLY_PRINTS]


def test_a_helper_that_prints_only_to_stderr_is_left_alone() -> None:
    adapted = adapt_source(
        """\
import sys

import boto3

def warn(region):
    print(f"scanning {region}", file=sys.stderr)

def main():
    for region in ["us-east-1", "eu-west-1"]:
        warn(region)
        ec2 = boto3.client("ec2", region_name=region)
        ec2.delete_volume(VolumeId="vol-1")
"""
    )

    assert "    warn(region)\n" in adapted.text and adapted.checks == []


def test_an_account_scoped_region_loop_is_told_collect_gets_the_home_region() -> None:
    adapted = adapt_source(
        """\
import boto3

def main():
    for region in ["us-east-1", "eu-west-1"]:
        s3 = boto3.client("s3", region_name=region)
        for b in s3.list_buckets()["Buckets"]:
            print({"bucket": b["Name"]})
"""
    )

    assert [c.what for c in adapted.checks] == [
        "account-scoped: collect runs once, given the home region: drop this loop unless you "
        "need every region"
    ]


def test_a_printed_nested_generic_key_is_named_after_its_path() -> None:
    adapted = adapt_source(
        """\
import boto3

ec2 = boto3.client("ec2")
for reservation in ec2.describe_instances()["Reservations"]:
    for i in reservation["Instances"]:
        print(i["InstanceId"], i["State"]["Name"], i["Placement"]["AvailabilityZone"])
"""
    )

    assert (
        'yield {"instance_id": i["InstanceId"], "state_name": i["State"]["Name"], '
        '"availability_zone": i["Placement"]["AvailabilityZone"]}' in adapted.text
    )


# --- a port that keeps the laptop's one region scans it in every region ----------------------


def test_a_constant_region_of_a_client_made_in_main_becomes_collects_region(aws: Any) -> None:
    adapted = adapt_source(
        """\
import boto3

def main():
    session = boto3.Session(profile_name="prod")
    ec2 = session.resource("ec2", region_name="us-east-1")
    for v in ec2.volumes.all():
        print({"id": v.id})

if __name__ == "__main__":
    main()
"""
    )
    [here] = volumes(aws, "eu-west-1", 4)
    volumes(aws, "us-east-1", 4)

    assert collected(adapted, aws, "eu-west-1") == [{"id": here}]
    assert (5, 'region_name="us-east-1" → region_name=region: else every region scans that '
               "one") in said_by(adapted)  # fmt: skip
    assert adapted.checks == []
    assert [h for h in laptop_habits(adapted.text, "port.py") if h.kind == "no-region"] == []


def test_an_argparse_region_passed_to_a_helper_becomes_collects_region(aws: Any) -> None:
    adapted = adapt_source(
        """\
import argparse

import boto3


def find_old_volumes(size, region):
    ec2 = boto3.client("ec2", region_name=region)
    for v in ec2.describe_volumes()["Volumes"]:
        if v["Size"] >= size:
            print({"id": v["VolumeId"], "region": region})


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--size", type=int, default=2)
    p.add_argument("--region", default="eu-west-1")
    a = p.parse_args()
    find_old_volumes(a.size, a.region)


if __name__ == "__main__":
    main()
"""
    )
    volumes(aws, "eu-west-1", 4)
    [there] = volumes(aws, "us-east-1", 4)

    assert collected(adapted, aws, "us-east-1") == [{"id": there, "region": "us-east-1"}]
    assert (18, "a.region (the laptop's one region) → region") in said_by(adapted)
    assert adapted.checks == []


def test_main_given_the_region_gets_collects_and_a_client_of_an_unknown_region_is_marked(
    aws: Any,
) -> None:
    adapted = adapt_source(
        """\
import argparse
import os

import boto3


def main(region, days=30):
    ec2 = boto3.client("ec2", region_name=region)
    for v in ec2.describe_volumes()["Volumes"]:
        print({"id": v["VolumeId"], "days": days})
    s = boto3.Session()
    rds = s.client("rds", region_name=os.environ["HOME_REGION"])
    print(rds)


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--region", default="eu-west-1")
    main(p.parse_args().region)
"""
    )

    assert "region = " not in adapted.text  # collect's own region, not "eu-west-1"
    assert (7, "main's region argument is collect's region") in said_by(adapted)
    assert (
        12,
        'check: region_name=os.environ["HOME_REGION"]: collect scans `region` (use '
        "region_name=region), else every region scans the same one",
    ) in said_by(adapted)


def test_a_client_given_a_region_constant_is_marked_by_laptop_habits() -> None:
    habits = laptop_habits(
        """\
import boto3

REGION = "eu-west-1"

def tags(arn):
    return boto3.client("rds", region_name="us-east-1").list_tags_for_resource(ResourceName=arn)

def collect(session, region, account):
    ec2 = session.resource("ec2", region_name="us-east-1")
    for v in ec2.volumes.all():
        yield {"id": v.id, "tags": tags(v.id)}
""",
        "s.py",
    )

    assert [str(h) for h in habits if h.kind == "no-region"] == [
        's.py:6: boto3.client("rds", region_name="us-east-1") scans us-east-1 in every region: '
        "use region_name=region",
        's.py:9: session.resource("ec2", region_name="us-east-1") scans us-east-1 in every '
        "region: use region_name=region",
    ]


def test_printed_values_of_the_same_name_get_distinct_keys(aws: Any) -> None:
    adapted = adapt_source(
        """\
import boto3

s3 = boto3.client("s3")


def bucket_region(name):
    return s3.get_bucket_location(Bucket=name)["LocationConstraint"] or "us-east-1"


for b in s3.list_buckets()["Buckets"]:
    name = b["Name"]
    print(name, bucket_region(name), b["Name"], sep=",")
"""
    )
    aws.client("s3").create_bucket(Bucket="app-logs")

    assert collected(adapted, aws, "us-east-1") == [
        {"name": "app-logs", "bucket_region": "us-east-1", "name_2": "app-logs"}
    ]
    assert (12, "check: name these fields") in said_by(adapted)


# --- ports that looked done but were not --------------------------------------------------


def test_a_json_dump_of_the_results_is_yield_from_and_the_exit_code_goes(aws: Any) -> None:
    adapted = adapt_source(
        """\
import json
import sys

import boto3


def main():
    ec2 = boto3.client("ec2")
    results = []
    for v in ec2.describe_volumes()["Volumes"]:
        if v["State"] == "available":
            results.append({"id": v["VolumeId"], "size": v["Size"]})
    if not results:
        sys.exit(0)
    json.dump(results, sys.stdout, indent=2, default=str)
    sys.exit(1 if results else 0)


if __name__ == "__main__":
    main()
"""
    )
    [vol] = volumes(aws, "eu-west-1", 5)

    assert collected(adapted, aws, "eu-west-1") == [{"id": vol, "size": 5}]
    said = said_by(adapted)
    assert (15, "json.dump(...) of a list → yield from") in said
    assert (16, "removed `sys.exit(1 if results else 0)`: an exit code") in said
    assert (14, "check: sys.exit() in collect fails the pair: return (no more records) or "
                "raise") in said  # fmt: skip


def test_a_main_block_looping_over_available_regions_calling_main_is_unwrapped(aws: Any) -> None:
    adapted = adapt_source(
        """\
import boto3

s = boto3.session.Session()


def main(region):
    ec2 = boto3.client("ec2", region_name=region)
    for v in ec2.describe_volumes()["Volumes"]:
        print({"id": v["VolumeId"], "region": region})


if __name__ == "__main__":
    for region in s.get_available_regions("ec2"):
        main(region)
"""
    )
    [vol] = volumes(aws, "eu-west-1", 5)
    volumes(aws, "us-east-1", 5)

    assert collected(adapted, aws, "eu-west-1") == [{"id": vol, "region": "eu-west-1"}]
    assert (6, "main's region argument is collect's region") in said_by(adapted)
    assert adapted.checks == []


def test_a_pool_map_over_the_regions_is_marked_not_unwrapped() -> None:
    adapted = adapt_source(
        """\
from concurrent.futures import ThreadPoolExecutor

import boto3


def scan(region):
    elbv2 = boto3.client("elbv2", region_name=region)
    return [lb["LoadBalancerName"] for lb in elbv2.describe_load_balancers()["LoadBalancers"]]


if __name__ == "__main__":
    s = boto3.Session()
    with ThreadPoolExecutor() as pool:
        for names in pool.map(scan, s.get_available_regions("elbv2")):
            for name in names:
                print({"name": name})
"""
    )

    assert "names = region" not in adapted.text  # the loop gets scan's lists, not regions
    assert [(c.line, c.what) for c in adapted.checks] == [
        (14, "maps over regions: lambdafan calls collect per region: use region")
    ]


def test_a_dict_writer_that_ignores_extra_keys_yields_only_its_fields(aws: Any) -> None:
    adapted = adapt_source(
        """\
import csv
import sys

import boto3

FIELDS = ["GroupId", "GroupName"]


def main():
    ec2 = boto3.client("ec2")
    w = csv.DictWriter(sys.stdout, fieldnames=FIELDS, extrasaction="ignore")
    w.writeheader()
    for sg in ec2.describe_security_groups()["SecurityGroups"]:
        w.writerow(sg)
    rows = ec2.describe_security_groups()["SecurityGroups"]
    w.writerows(rows)


if __name__ == "__main__":
    main()
"""
    )
    ec2 = aws.client("ec2", region_name="eu-west-1")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    made = ec2.create_security_group(GroupName="web", Description="x", VpcId=vpc)["GroupId"]

    records = collected(adapted, aws, "eu-west-1")
    assert {"GroupId": made, "GroupName": "web"} in records
    assert all(set(r) == {"GroupId", "GroupName"} for r in records)
    assert len(records) == 2 * len(ec2.describe_security_groups()["SecurityGroups"])
    assert (14, "w.writerow(...) of a dict → yield (only the FIELDS fields: "
                "extrasaction='ignore')") in said_by(adapted)  # fmt: skip


def test_a_print_naming_the_csv_file_the_port_no_longer_writes_goes(aws: Any) -> None:
    adapted = adapt_source(
        """\
import csv
import sys
from datetime import datetime, timezone

import boto3

OUT = "old_keys.csv"


def main():
    iam = boto3.client("iam")
    now = datetime.now(timezone.utc)
    with open(OUT, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["user", "key_id", "age_days"])
        for u in iam.list_users()["Users"]:
            for k in iam.list_access_keys(UserName=u["UserName"])["AccessKeyMetadata"]:
                age = (now - k["CreateDate"]).days
                if age >= 0:
                    w.writerow([u["UserName"], k["AccessKeyId"], age])
    print(f"wrote {OUT}", file=sys.stderr)


if __name__ == "__main__":
    main()
"""
    )
    iam = aws.client("iam")
    iam.create_user(UserName="ci")
    key = iam.create_access_key(UserName="ci")["AccessKey"]["AccessKeyId"]

    assert collected(adapted, aws, "us-east-1") == [{"user": "ci", "key_id": key, "age_days": 0}]
    assert (21, "removed a print of the file: the port writes none") in said_by(adapted)
    assert "print(" not in adapted.text and adapted.checks == []


def test_a_dead_region_helper_its_client_and_global_go(aws: Any) -> None:
    adapted = adapt_source(
        """\
import boto3

ec2 = None


def get_regions():
    return [r["RegionName"] for r in ec2.describe_regions()["Regions"]]


def main():
    global ec2
    session = boto3.Session(profile_name="audit")
    ec2 = session.client("ec2", region_name="us-east-1")
    for region in get_regions():
        regional = session.client("ec2", region_name=region)
        for v in regional.describe_volumes()["Volumes"]:
            print({"id": v["VolumeId"], "region": region})


if __name__ == "__main__":
    main()
"""
    )
    [vol] = volumes(aws, "eu-west-1", 5)

    assert collected(adapted, aws, "eu-west-1") == [{"id": vol, "region": "eu-west-1"}]
    said = said_by(adapted)
    assert (3, "removed `ec2 = None`: collect's now") in said
    assert (6, "removed get_regions(): nothing calls it now") in said
    assert (11, "removed `global ec2`: no function reads it now") in said
    assert (13, "removed ec2: nothing uses it now") in said
    assert "ec2 = " not in adapted.text.replace("regional", "") and adapted.checks == []


def test_only_a_print_after_the_loop_of_what_it_added_up_is_called_a_total() -> None:
    adapted = adapt_source(
        """\
import boto3

ec2 = boto3.client("ec2")
print(f"{'id':<24}{'size':>6}")
total = 0
for v in ec2.describe_volumes()["Volumes"]:
    print(f"{v['VolumeId']:<24}{v['Size']:>6}")
    total += v["Size"]
print(f"{len(ec2.describe_volumes()['Volumes'])} volumes scanned")
print(f"total: {total} GiB")
"""
    )

    checks = [(c.line, c.what) for c in adapted.checks]
    text = "prints text, not a record: yield a dict of its values"
    assert checks == [
        (4, text),
        (7, text),
        (9, text),
        (10, "prints a total: drop it (`lambdafan query` adds up records)"),
    ]


def test_check_comments_and_the_printed_changes_fit_the_width(tmp_path: Path) -> None:
    from lambdafan.render import console as consoles
    from lambdafan.render.scripts import print_adapted
    from lambdafan.script_tools.adapt_edits import strip_checks

    source = """\
import boto3


def main(owner, days, min_size):
    for region in ["us-east-1", "eu-west-1"]:
        for page in boto3.client("ec2", region_name=region).describe_snapshots(OwnerIds=[owner]):
            try:
                print(page, days, min_size)
            except Exception:
                pass
"""
    adapted = adapt_source(source)

    lines = adapted.text.splitlines()
    assert any(len(c.what) > 80 for c in adapted.checks)
    assert max(len(line) for line in lines if line.lstrip().startswith("#")) <= 99
    assert strip_checks(adapted.text).count("#") == 1  # SCOPE's: no stray continuation lines
    console, saved = consoles.console, consoles.console._width
    try:
        console.width = 80
        with console.capture() as shown:
            print_adapted(tmp_path / "s.py", tmp_path / "p.py", adapted, "lambdafan script test")
    finally:
        console._width = saved
    changes = shown.get().splitlines()[1:-3]  # not the paths of `wrote` and of the next step
    assert len(changes) > len(adapted.changes) and max(len(line) for line in changes) <= 80
    assert "\n            collect\n" in shown.get()  # a wrapped line goes on under its text
