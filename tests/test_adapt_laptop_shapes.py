"""`script adapt` on laptop shapes a second new-user check found ported wrong: each port's
collect is run against moto, as lambdafan calls it."""

from __future__ import annotations

from typing import Any

from lambdafan.script_tools.adapt import adapt_source
from lambdafan.script_tools.laptop_habits import laptop_habits
from tests.test_builtin_scripts import AMI
from tests.test_script_adapt import collected, said_by, volumes


def databases(session: Any, region: str, *names: str) -> None:
    rds = session.client("rds", region_name=region)
    for name in names:
        rds.create_db_instance(
            DBInstanceIdentifier=name, DBInstanceClass="db.t3.micro", Engine="postgres"
        )


def test_a_helper_reading_the_module_session_is_given_collects(aws: Any) -> None:
    adapted = adapt_source(
        """\
import boto3

session = boto3.Session(profile_name=None)


def check_region(region):
    rds = session.client("rds", region_name=region)
    for db in rds.describe_db_instances()["DBInstances"]:
        if not db.get("DeletionProtection"):
            print({"db": db["DBInstanceIdentifier"], "region": region})


def main():
    ec2 = session.client("ec2", region_name="us-east-1")
    for r in ec2.describe_regions()["Regions"]:
        check_region(r["RegionName"])


if __name__ == "__main__":
    main()
"""
    )
    databases(aws, "eu-west-1", "orders")
    databases(aws, "us-east-1", "users")

    assert collected(adapted, aws, "eu-west-1") == [{"db": "orders", "region": "eu-west-1"}]
    assert "def check_region(session, region):\n" in adapted.text
    assert '    yield from check_region(session, r["RegionName"])\n' in adapted.text
    assert (6, "check_region() is given collect's session: def check_region(session, ...)") in (
        said_by(adapted)
    )
    assert adapted.checks == []


def test_a_region_helper_reading_the_module_session_goes_with_its_loop() -> None:
    adapted = adapt_source(
        """\
import boto3

session = boto3.Session()

def get_regions():
    return [r["RegionName"] for r in session.client("ec2").describe_regions()["Regions"]]

def scan(region):
    for v in session.client("ec2", region_name=region).describe_volumes()["Volumes"]:
        print({"id": v["VolumeId"]})

def main():
    for region in get_regions():
        scan(region)

main()
"""
    )
    assert "get_regions" not in adapted.text
    assert "    yield from scan(session, region)\n" in adapted.text
    said = said_by(adapted)
    assert (5, "removed get_regions(): nothing calls it now") in said
    assert [line for line, what in said if "collect's session" in what] == [8]
    assert adapted.checks == []


def test_a_helper_reading_the_module_session_from_elsewhere_is_marked() -> None:
    adapted = adapt_source(
        """\
import boto3

session = boto3.Session()


def tags(arn):
    return session.client("rds").list_tags_for_resource(ResourceName=arn)["TagList"]


def check_region(region):
    rds = session.client("rds", region_name=region)
    for db in rds.describe_db_instances()["DBInstances"]:
        yield {"db": db["DBInstanceIdentifier"], "tags": tags(db["DBInstanceArn"])}


def main():
    for region in ["us-east-1", "eu-west-1"]:
        yield from check_region(region)
"""
    )
    checks = [(c.line, c.what) for c in adapted.checks]
    assert (6, "tags() reads the module's session, which the port removes: give it collect's "
               "(def tags(session, ...), called with session)") in checks  # fmt: skip
    assert "def check_region(session, region):\n" in adapted.text


COUNTING_HELPER = """\
import boto3


def check_region(region):
    rds = boto3.client("rds", region_name=region)
    n = 0
    for db in rds.describe_db_instances()["DBInstances"]:
        if not db.get("DeletionProtection"):
            n += 1
            print({"db": db["DBInstanceIdentifier"], "region": region})
    return n


def main():
    total = 0
    for region in ["us-east-1", "eu-west-1"]:
        total += check_region(region)
    print("total", total)


if __name__ == "__main__":
    main()
"""


def test_a_printing_helper_that_returns_a_count_yields_its_records(aws: Any) -> None:
    adapted = adapt_source(COUNTING_HELPER)
    databases(aws, "eu-west-1", "orders", "stock")
    databases(aws, "us-east-1", "users")

    assert sorted(r["db"] for r in collected(adapted, aws, "eu-west-1")) == ["orders", "stock"]
    assert "    total += yield from check_region(region)\n" in adapted.text
    assert (17, "check_region() yields its printed records: yield from check_region(...)") in (
        said_by(adapted)
    )
    # What is left to decide: the grand total (lambdafan adds up records with `query`).
    assert [c.line for c in adapted.checks] == [18]


def test_a_printing_helper_whose_value_is_used_otherwise_is_marked() -> None:
    used = COUNTING_HELPER.replace("+= check_region(region)", "+= check_region(region) or 0")
    adapted = adapt_source(used)
    assert (17, "the records are printed in check_region(): make it yield them and `yield from` "
                "it here") in [(c.line, c.what) for c in adapted.checks]  # fmt: skip


def test_a_region_constant_turned_region_is_region_everywhere_in_collect(aws: Any) -> None:
    adapted = adapt_source(
        """\
import os
import boto3

REGION = os.environ.get("AWS_REGION", "us-east-1")
ec2 = boto3.client("ec2", region_name=REGION)

def get_instances(client):
    out = []
    for page in client.get_paginator("describe_instances").paginate():
        for r in page["Reservations"]:
            out.extend(r["Instances"])
    return out

def tagged(name):
    return {"name": name, "region": REGION}

def main():
    results = []
    for i in get_instances(ec2):
        results.append({"id": i["InstanceId"], "type": i["InstanceType"], "region": REGION})
    print(json.dumps(results, indent=2, default=str))

import json
if __name__ == "__main__":
    main()
"""
    )
    ec2 = aws.client("ec2", region_name="eu-west-1")
    [instance] = ec2.run_instances(ImageId=AMI, MinCount=1, MaxCount=1)["Instances"]

    assert collected(adapted, aws, "eu-west-1") == [
        {"id": instance["InstanceId"], "type": instance["InstanceType"], "region": "eu-west-1"}
    ]
    assert (20, "REGION (the laptop's region) → region") in said_by(adapted)
    assert [(c.line, c.what) for c in adapted.checks] == [
        (14, "tagged() reads REGION, the laptop's region: give it collect's region")
    ]


def test_a_message_after_a_region_loop_with_continue_goes_and_the_loop_unwraps(aws: Any) -> None:
    adapted = adapt_source(
        """\
import boto3

def main():
    regions = [r["RegionName"] for r in boto3.client("ec2").describe_regions()["Regions"]]
    for region in regions:
        ec2 = boto3.client("ec2", region_name=region)
        found = ec2.describe_volumes()["Volumes"]
        if not found:
            continue
        for v in found:
            print({"id": v["VolumeId"], "region": region})
    print("done")

main()
"""
    )
    [vol] = volumes(aws, "eu-west-1", 3)

    assert collected(adapted, aws, "eu-west-1") == [{"id": vol, "region": "eu-west-1"}]
    assert collected(adapted, aws, "us-west-2") == []
    said = said_by(adapted)
    assert (12, 'removed `print("done")`: a message after the loop over regions') in said
    assert (9, "continue of the loop over regions → return") in said
    # The region list's client went with it: no rewrite of it is reported.
    assert [what for line, what in said if line == 4] == [
        "removed the region list: lambdafan has the regions"
    ]
    assert adapted.checks == []
    assert "done" not in adapted.text
    assert [h for h in laptop_habits(adapted.text, "port.py") if h.problem] == []
