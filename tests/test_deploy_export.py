"""Deploy with `results.export: s3`, read back from moto: the bucket (encryption, public access
block, lifecycle, tags), the Glue database and one projected table per script, the Worker's
bucket and its PutObject-only grant; a second deploy changes nothing; destroy."""

from __future__ import annotations

import dataclasses
import gzip
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from lambda_src import names, s3_export, table
from lambda_src.dynamo_store import DynamoStore
from lambda_src.run_summary import summarize
from lambdafan import demo, remote_run
from lambdafan.aws import Aws
from lambdafan.config import Config, load_config
from lambdafan.deploy.clients import DeployClients
from lambdafan.deploy.destroy import destroy_fleet
from lambdafan.deploy.export_apply import apply_bucket
from lambdafan.deploy.export_fields import infer_columns, script_fields
from lambdafan.deploy.export_model import (
    EXPIRE_ATHENA_RULE,
    EXPIRE_RECORDS_RULE,
    BucketSpec,
    ExpiryRule,
    table_columns,
)
from lambdafan.deploy.export_state import read_bucket
from lambdafan.deploy.fleet import deploy_fleet, plan_deploy
from lambdafan.deploy.plan import Change
from lambdafan.local import LocalExecutor
from lambdafan.local_cloud import LocalCloud
from lambdafan.memory_store import MemoryStore
from tests.conftest import REGION, deployable_config, load_scripts

ACCOUNT = "123456789012"  # in-process moto's
FLEET = "exp"
BUCKET = names.export_bucket_name(FLEET, ACCOUNT, REGION)
DATABASE = "lambdafan_exp"
ORIGIN_COLUMNS = [
    {"Name": n, "Type": "string"}
    for n in ("run_id", "account_id", "account_name", "region", "script")
]


def export_config(folder: Path, **results: Any) -> Config:
    path = deployable_config(folder, FLEET, results={"export": "s3", "ttl_days": 9, **results})
    return load_config(path)


@pytest.fixture
def clients(aws: Any) -> DeployClients:
    return DeployClients.from_aws(Aws(aws), REGION)


def test_deploy_creates_the_bucket_and_a_projected_glue_table_per_script(
    aws: Any, tmp_path: Path, clients: DeployClients
) -> None:
    plan = deploy_fleet(export_config(tmp_path), clients)
    created = [(c.kind, c.name) for c in plan.changes if c.action == "create"]
    assert ("bucket", BUCKET) in created
    assert ("glue database", DATABASE) in created
    assert ("glue table", f"{DATABASE}.ec2_instances") in created
    assert ("glue table", f"{DATABASE}.whoami") in created

    s3 = aws.client("s3")
    encryption = s3.get_bucket_encryption(Bucket=BUCKET)["ServerSideEncryptionConfiguration"]
    default = encryption["Rules"][0]["ApplyServerSideEncryptionByDefault"]
    assert default["SSEAlgorithm"] == "AES256"
    block = s3.get_public_access_block(Bucket=BUCKET)["PublicAccessBlockConfiguration"]
    assert block == {
        "BlockPublicAcls": True,
        "IgnorePublicAcls": True,
        "BlockPublicPolicy": True,
        "RestrictPublicBuckets": True,
    }
    rules = s3.get_bucket_lifecycle_configuration(Bucket=BUCKET)["Rules"]
    assert sorted((r["ID"], r["Filter"]["Prefix"], r["Expiration"]["Days"]) for r in rules) == [
        (EXPIRE_ATHENA_RULE, "athena-results/", 9),
        (EXPIRE_RECORDS_RULE, "records/", 9),
    ]
    assert s3.get_bucket_tagging(Bucket=BUCKET)["TagSet"] == [
        {"Key": "lambdafan:fleet", "Value": FLEET}
    ]

    glue = aws.client("glue")
    assert glue.get_database(Name=DATABASE)["Database"]["Name"] == DATABASE
    tables = {t["Name"]: t for t in glue.get_tables(DatabaseName=DATABASE)["TableList"]}
    assert sorted(tables) == ["ec2_instances", "whoami"]
    whoami = tables["whoami"]
    storage = whoami["StorageDescriptor"]
    assert storage["SerdeInfo"]["SerializationLibrary"] == "org.openx.data.jsonserde.JsonSerDe"
    assert storage["Location"] == f"s3://{BUCKET}/records/fleet={FLEET}/"
    assert storage["Columns"] == ORIGIN_COLUMNS  # no run yet: no fields known
    assert whoami["PartitionKeys"] == [{"Name": "run", "Type": "string"}]
    parameters = whoami["Parameters"]
    assert parameters["projection.enabled"] == "true"
    assert parameters["projection.run.type"] == "injected"
    template = parameters["storage.location.template"]
    assert template == f"s3://{BUCKET}/records/fleet={FLEET}/run=${{run}}/script=whoami/"
    # The template is where the Worker writes: each object's key under that run's folder.
    key = names.export_key(FLEET, "r1", "whoami", "111111111111", REGION)
    assert f"s3://{BUCKET}/{key}".startswith(template.replace("${run}", "r1"))

    worker = aws.client("lambda").get_function_configuration(FunctionName=f"{FLEET}-worker")
    assert worker["Environment"]["Variables"][s3_export.BUCKET_ENV] == BUCKET
    director = aws.client("lambda").get_function_configuration(FunctionName=f"{FLEET}-director")
    assert s3_export.BUCKET_ENV not in director["Environment"]["Variables"]
    policy = aws.client("iam").get_role_policy(
        RoleName=f"{FLEET}-worker", PolicyName=f"{FLEET}-worker"
    )
    s3_statements = [
        s for s in policy["PolicyDocument"]["Statement"] if any("s3:" in a for a in s["Action"])
    ]
    assert s3_statements == [
        {
            "Sid": "PutExportedRecords",
            "Effect": "Allow",
            "Action": ["s3:PutObject"],
            "Resource": [f"arn:aws:s3:::{BUCKET}/records/fleet={FLEET}/*"],
        }
    ]


def test_a_second_deploy_changes_nothing(tmp_path: Path, clients: DeployClients) -> None:
    config = export_config(tmp_path)
    deploy_fleet(config, clients)
    again = deploy_fleet(config, clients)
    assert [(c.kind, c.name, c.fields) for c in again.pending] == []


def test_drift_is_put_back_and_other_peoples_settings_stay(
    aws: Any, tmp_path: Path, clients: DeployClients
) -> None:
    config = export_config(tmp_path)
    deploy_fleet(config, clients)
    s3, glue = aws.client("s3"), aws.client("glue")
    s3.delete_public_access_block(Bucket=BUCKET)
    theirs = {
        "ID": "theirs",
        "Status": "Enabled",
        "Filter": {"Prefix": "tmp/"},
        "Expiration": {"Days": 1},
    }
    s3.put_bucket_lifecycle_configuration(Bucket=BUCKET, LifecycleConfiguration={"Rules": [theirs]})
    s3.put_bucket_tagging(Bucket=BUCKET, Tagging={"TagSet": [{"Key": "owner", "Value": "ops"}]})
    table = glue.get_table(DatabaseName=DATABASE, Name="whoami")["Table"]
    table_input = {
        "Name": "whoami",
        "Parameters": {**table["Parameters"], "projection.enabled": "false"},
        "PartitionKeys": table["PartitionKeys"],
        "StorageDescriptor": table["StorageDescriptor"],
    }
    glue.update_table(DatabaseName=DATABASE, TableInput=table_input)

    plan = deploy_fleet(config, clients)
    drift = {(c.kind, c.name): sorted(f.field for f in c.fields) for c in plan.pending}
    assert drift == {
        ("bucket", BUCKET): ["expiry", "public_access_blocked", "tags"],
        ("glue table", f"{DATABASE}.whoami"): ["parameters"],
    }
    assert plan_deploy(config, clients, learn_fields=True).pending == []
    rules = s3.get_bucket_lifecycle_configuration(Bucket=BUCKET)["Rules"]
    assert sorted(r["ID"] for r in rules) == sorted(
        ["theirs", EXPIRE_RECORDS_RULE, EXPIRE_ATHENA_RULE]
    )
    tags = {t["Key"]: t["Value"] for t in s3.get_bucket_tagging(Bucket=BUCKET)["TagSet"]}
    assert tags == {"owner": "ops", "lambdafan:fleet": FLEET}
    parameters = glue.get_table(DatabaseName=DATABASE, Name="whoami")["Table"]["Parameters"]
    assert parameters["projection.enabled"] == "true"


def test_a_changed_ttl_and_an_athena_location_of_ones_own(
    aws: Any, tmp_path: Path, clients: DeployClients
) -> None:
    deploy_fleet(export_config(tmp_path), clients)
    changed = export_config(tmp_path, ttl_days=3, athena={"output_location": "s3://mine/x/"})
    plan = deploy_fleet(changed, clients)
    assert [(c.kind, [f.field for f in c.fields]) for c in plan.pending if c.kind == "bucket"] == [
        ("bucket", ["expiry"])
    ]
    rules = aws.client("s3").get_bucket_lifecycle_configuration(Bucket=BUCKET)["Rules"]
    assert [(r["ID"], r["Expiration"]["Days"]) for r in rules] == [(EXPIRE_RECORDS_RULE, 3)]


def test_the_fields_of_the_latest_run_become_columns_and_a_removed_scripts_table_goes(
    aws: Any, tmp_path: Path, clients: DeployClients
) -> None:
    config = export_config(tmp_path)
    deploy_fleet(config, clients)
    settings = config.to_settings()
    store = DynamoStore(aws.client("dynamodb"), settings.table_name)
    whoami = [s for s in config.to_settings().scripts if s.name == "whoami"]
    local = dataclasses.replace(settings, scripts=tuple(whoami))
    run = LocalExecutor(local, Aws(aws), store, load_scripts(local), sandbox=False).run()
    assert run.summary.ok
    # The local run wrote to the deployed bucket (the credentials' account is the fleet's).
    objects = aws.client("s3").list_objects_v2(Bucket=BUCKET)["Contents"]
    assert [o["Key"] for o in objects] == [
        names.export_key(FLEET, run.run_id, "whoami", "111111111111", REGION)
    ]

    plan = deploy_fleet(config, clients)
    assert [(c.kind, c.name, [f.field for f in c.fields]) for c in plan.pending] == [
        ("glue table", f"{DATABASE}.whoami", ["columns"])
    ]
    columns = aws.client("glue").get_table(DatabaseName=DATABASE, Name="whoami")["Table"][
        "StorageDescriptor"
    ]["Columns"]
    assert columns == [
        *ORIGIN_COLUMNS,
        {"Name": "caller_account", "Type": "string"},
        {"Name": "region_seen", "Type": "string"},
        {"Name": "for", "Type": "string"},
    ]
    assert plan_deploy(config, clients, learn_fields=True).pending == []

    # A run whose records show none of those fields keeps the columns; `status`'s plan, which
    # reads no records, sees no drift either.
    (tmp_path / "whoami.py").write_text("def collect(session, region, account):\n    return []\n")
    rerun = LocalExecutor(local, Aws(aws), store, load_scripts(local), sandbox=False).run()
    assert rerun.summary.ok and rerun.summary.records == 0
    for learn_fields in (True, False):
        plan = plan_deploy(config, clients, learn_fields=learn_fields)
        # The edited script is new Worker code; the Glue tables are as they were.
        assert [(c.kind, c.name) for c in plan.pending] == [("function", f"{FLEET}-worker")]

    fewer_scripts = deployable_config(
        tmp_path, FLEET, results={"export": "s3", "ttl_days": 9}, scripts=["whoami.py"]
    )
    fewer = deploy_fleet(load_config(fewer_scripts), clients)
    deleted = [(c.kind, c.name) for c in fewer.pending if c.action == "delete"]
    assert deleted == [("glue table", f"{DATABASE}.ec2_instances")]
    names_left = [
        t["Name"] for t in aws.client("glue").get_tables(DatabaseName=DATABASE)["TableList"]
    ]
    assert names_left == ["whoami"]


def test_destroy_removes_the_glue_tables_and_only_with_delete_data_the_bucket(
    aws: Any, tmp_path: Path, clients: DeployClients
) -> None:
    deploy_fleet(export_config(tmp_path), clients)
    s3 = aws.client("s3")
    s3.put_object(
        Bucket=BUCKET, Key=names.export_key(FLEET, "r1", "whoami", ACCOUNT, REGION), Body=b"x"
    )

    steps = destroy_fleet(clients, FLEET, delete_data=False)
    assert ("glue table", f"{DATABASE}.whoami", "deleted") in steps
    assert ("glue database", DATABASE, "deleted") in steps
    assert not any(kind == "bucket" for kind, _, _ in steps)
    assert aws.client("glue").get_databases()["DatabaseList"] == []
    assert s3.head_bucket(Bucket=BUCKET)  # the records stay

    steps = destroy_fleet(clients, FLEET, delete_data=True)
    assert ("bucket", BUCKET, "deleted") in steps
    assert ("glue database", DATABASE, "already gone") in steps  # fine
    assert BUCKET not in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    assert destroy_fleet(clients, FLEET, delete_data=True)[-1] == ("bucket", BUCKET, "already gone")


def test_tables_lambdafan_did_not_make_survive_deploy_and_destroy(
    aws: Any, tmp_path: Path, clients: DeployClients
) -> None:
    config = export_config(tmp_path)
    deploy_fleet(config, clients)
    glue = aws.client("glue")
    # What `CREATE VIEW` in the fleet's database (Athena's default for `query`) leaves.
    glue.create_table(
        DatabaseName=DATABASE,
        TableInput={"Name": "big_instances", "TableType": "VIRTUAL_VIEW", "Parameters": {}},
    )
    assert deploy_fleet(config, clients).pending == []

    steps = destroy_fleet(clients, FLEET, delete_data=False)
    assert [s for s in steps if s[0].startswith("glue")] == [
        ("glue table", f"{DATABASE}.ec2_instances", "deleted"),
        ("glue table", f"{DATABASE}.whoami", "deleted"),
        (
            "glue database",
            f"{DATABASE} (it holds 1 table this fleet did not make: big_instances)",
            "kept",
        ),
    ]
    left = [t["Name"] for t in glue.get_tables(DatabaseName=DATABASE)["TableList"]]
    assert left == ["big_instances"]


def test_without_export_deploy_makes_no_bucket_and_grants_no_s3(
    aws: Any, tmp_path: Path, clients: DeployClients
) -> None:
    plan = deploy_fleet(load_config(deployable_config(tmp_path, FLEET)), clients)
    assert not [c for c in plan.changes if c.kind in ("bucket", "glue database", "glue table")]
    assert aws.client("s3").list_buckets()["Buckets"] == []
    worker = plan.model.roles[1]
    assert "s3:PutObject" not in json.dumps(worker.policy)


def test_columns_are_typed_from_the_values_seen() -> None:
    records = [
        {"n": 1, "x": 1, "flag": True, "tags": {"a": 1}, "none": None, "Name": "a", "bad-key": 1},
        {"n": 2, "x": 1.5, "flag": False, "tags": [1], "none": None, "name": "b", "s": "t"},
        {"n": "three"},
    ]
    assert infer_columns(records) == (
        ("n", "string"),
        ("x", "double"),
        ("flag", "boolean"),
        ("tags", "string"),
        ("none", "string"),
        ("Name", "string"),
        ("s", "string"),
    )
    # Origin columns and the partition key are never a field's column twice.
    columns = table_columns((("Region", "string"), ("run", "string"), ("size", "bigint")))
    assert [c for c, _ in columns] == [
        "run_id", "account_id", "account_name", "region", "script", "size",
    ]  # fmt: skip


def test_no_run_or_no_table_is_no_fields_and_no_error(clients: DeployClients) -> None:
    assert script_fields(DynamoStore(clients.dynamodb, "no-such-table"), ["s"]) == {}
    assert script_fields(MemoryStore(), ["s"]) == {}


def test_fields_are_sampled_from_the_accounts_that_have_the_scripts_records() -> None:
    store = MemoryStore()
    store.put_items(
        [
            table.run_item(
                "r1",
                started_at="t",
                accounts_expected=12,
                scripts=["a", "b"],
                trigger="manual",
                expires_at=1,
                deadline_at="t",
            ),
        ]
    )
    for n in range(1, 13):
        account = f"{n:012d}"
        # Script b found something only in the last of twelve accounts.
        found = {"a": {"size": n}} if n < 12 else {"zone": "z", "big": True}
        script = "a" if n < 12 else "b"
        record = table.record_item(
            "r1",
            account,
            f"acct{n}",
            script,
            REGION,
            found,
            collected_at="t",
            expires_at=1,
            seen={},
            attempt="x",
        )
        done = table.account_done_item(
            "r1",
            account,
            f"acct{n}",
            records_by_script={script: 1},
            errors=0,
            failed=False,
            finished_at="t",
            expires_at=1,
            attempt="x",
        )
        store.put_items([record, done])
    assert script_fields(store, ["a", "b", "c"]) == {
        "a": (("a", "string"),),
        "b": (("zone", "string"), ("big", "boolean")),
    }


def test_the_deployed_workers_own_zip_exports_as_its_role_allows(
    server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Through the local Lambda runtime: the Worker's zip, with the bucket deploy put in its
    environment, PUTs each pair's object, and its role allows every call it made."""
    with LocalCloud(server, retry_delays_s=(0.1, 0.1), log_stream=lambda: None) as cloud:
        monkeypatch.setenv("AWS_ENDPOINT_URL", cloud.endpoint)
        aws = Aws.connect(region=demo.DEMO_REGION)
        org = demo.seed_organization(aws, 2)
        path = demo.write_demo_config(tmp_path, demo.create_inbox(aws))
        document = yaml.safe_load(path.read_text())
        document["scripts"] = ["s3_buckets"]
        document["results"] = {**(document.get("results") or {}), "export": "s3"}
        path.write_text(yaml.safe_dump(document))
        config = load_config(path)
        deploy_fleet(config, DeployClients.from_aws(aws, config.home_region))
        settings = config.to_settings()
        store = DynamoStore(aws.client("dynamodb"), settings.table_name)

        run_id = remote_run.start_run(aws.client("lambda"), settings, accounts=None, scripts=None)
        remote_run.wait_for_run(store, run_id, timeout_s=90, on_update=lambda run: None)
        assert cloud.wait_idle(30)
        summary = summarize(store, run_id)
        assert summary.ok, summary.errors

        account = aws.client("sts").get_caller_identity()["Account"]
        bucket = names.export_bucket_name(config.fleet, account, config.home_region)
        s3 = aws.client("s3")
        keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", []))
        expected = sorted(
            names.export_key(config.fleet, run_id, "s3_buckets", member, "global")
            for member, _ in org.accounts
        )
        assert keys == expected
        exported = 0
        for key in keys:
            body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
            exported += len(gzip.decompress(body).splitlines())
        assert exported == summary.records == len(list(table.run_records(store, run_id)))
        assert exported > 0
        assert cloud.role_findings() == []


def test_a_bucket_outside_us_east_1_is_created_in_its_region(aws: Any) -> None:
    s3 = aws.client("s3", region_name="eu-west-1")
    spec = BucketSpec("b-eu", "eu-west-1", (ExpiryRule("lambdafan-x", "records/", 2),), {"k": "v"})
    assert read_bucket(s3, "b-eu") is None
    apply_bucket(s3, Change("create", "bucket", "b-eu", spec=spec))
    assert s3.get_bucket_location(Bucket="b-eu")["LocationConstraint"] == "eu-west-1"
    state = read_bucket(s3, "b-eu")
    assert state is not None
    assert (state.encryption, state.public_access_blocked, state.tags) == (
        "AES256",
        True,
        {"k": "v"},
    )
    assert state.expiry == spec.expiry
