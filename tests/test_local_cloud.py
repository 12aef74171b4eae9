"""The local Lambda runtime: the functions' own zips, run in a clean interpreter behind moto."""

from __future__ import annotations

import base64
import io
import json
import textwrap
import threading
import time
import zipfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
import pytest

from lambdafan.lambda_runtime import RUNTIME_MODULES
from lambdafan.local_cloud import LocalCloud
from lambdafan.local_cloud.async_invokes import EventPolicy, destination_record, run_event
from lambdafan.local_cloud.code_store import code_sha256, uploaded_zip
from lambdafan.local_cloud.invoker import Outcome
from lambdafan.local_cloud.moto_main import serialise_dynamodb
from lambdafan.local_cloud.proxy import Caller, route
from tests.conftest import REGION

ROLE = "fn-role"

APP = """
import json, os, sys, time

def echo(event, context):
    return {
        "event": event,
        "env": {k: os.environ.get(k) for k in (
            "AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "AWS_REGION",
            "AWS_DEFAULT_REGION", "LAMBDA_TASK_ROOT", "AWS_EXECUTION_ENV", "AWS_ENDPOINT_URL",
            "GREETING", "AWS_ACCESS_KEY_ID", "HOME_OF_TEST",
        )},
        "context": {
            "request_id": context.aws_request_id,
            "arn": context.invoked_function_arn,
            "name": context.function_name,
            "memory": context.memory_limit_in_mb,
            "remaining": context.get_remaining_time_in_millis(),
        },
        "path0": sys.path[0],
    }

def fail(event, context):
    print("about to fail")
    raise ValueError("boom: " + json.dumps(event))

def sleepy(event, context):
    time.sleep(10)

def hog(event, context):
    block = bytearray(event.get("mb", 60) * 1024 * 1024)
    time.sleep(event.get("hold_s", 0))
    return len(block)

def whoami(event, context):
    import boto3
    return boto3.client("sts").get_caller_identity()["Arn"]

def record(event, context):
    print("RECORD " + json.dumps(event))
    return "ok"

def call(event, context):
    import boto3
    answer = boto3.client("lambda").invoke(FunctionName=event["target"], Payload=b'{"n": 1}')
    return json.loads(answer["Payload"].read())
"""


def make_zip(files: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, textwrap.dedent(text))
    return buffer.getvalue()


@pytest.fixture
def cloud(server: str) -> Iterator[LocalCloud]:
    with LocalCloud(server) as running:
        yield running


@pytest.fixture
def lam(cloud: LocalCloud) -> Any:
    iam = boto3.client("iam", endpoint_url=cloud.endpoint)
    iam.create_role(RoleName=ROLE, AssumeRolePolicyDocument="{}")
    return boto3.client("lambda", endpoint_url=cloud.endpoint, region_name=REGION)


def create(lam: Any, name: str, handler: str, *, code: bytes | None = None, **extra: Any) -> str:
    answer = lam.create_function(
        FunctionName=name,
        Runtime="python3.12",
        Role=f"arn:aws:iam::123456789012:role/{ROLE}",
        Handler=handler,
        Code={"ZipFile": code or make_zip({"app.py": APP})},
        **extra,
    )
    return str(answer["FunctionArn"])


def invoke(lam: Any, name: str, event: Any = None, **extra: Any) -> tuple[Any, dict[str, Any]]:
    answer = lam.invoke(FunctionName=name, Payload=json.dumps(event or {}).encode(), **extra)
    return json.loads(answer["Payload"].read()), answer


def test_request_response_runs_the_zip_with_lambdas_environment_and_context(
    cloud: LocalCloud, lam: Any
) -> None:
    arn = create(
        lam, "echo", "app.echo", MemorySize=256, Environment={"Variables": {"GREETING": "hi"}}
    )
    result, answer = invoke(lam, "echo", {"a": 1})

    assert answer["StatusCode"] == 200 and "FunctionError" not in answer
    assert result["event"] == {"a": 1}
    env, context = result["env"], result["context"]
    assert env["AWS_LAMBDA_FUNCTION_NAME"] == "echo" and env["GREETING"] == "hi"
    assert env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "256" and context["memory"] == "256"
    assert env["AWS_REGION"] == env["AWS_DEFAULT_REGION"] == REGION
    assert env["AWS_EXECUTION_ENV"].startswith("AWS_Lambda_python")
    assert env["AWS_ENDPOINT_URL"] == cloud.endpoint
    assert env["AWS_ACCESS_KEY_ID"] not in (None, "testing")  # the role's, not the caller's
    assert result["path0"] == env["LAMBDA_TASK_ROOT"]
    assert context["name"] == "echo" and context["arn"] == arn
    assert 0 < context["remaining"] <= 3000  # moto's default Timeout
    [record] = cloud.invocations
    assert record.function == "echo" and record.ok and record.request_id == context["request_id"]
    assert record.startup_ms is not None and 0 < record.startup_ms <= record.duration_ms
    assert record.peak_memory_kb > 1000


def test_an_exception_is_lambdas_error_payload_with_the_log_tail(
    cloud: LocalCloud, lam: Any
) -> None:
    create(lam, "fail", "app.fail")
    error, answer = invoke(lam, "fail", {"x": 2}, LogType="Tail")

    assert answer["FunctionError"] == "Unhandled"
    assert error["errorType"] == "ValueError" and error["errorMessage"] == 'boom: {"x": 2}'
    assert any("app.py" in line for line in error["stackTrace"])
    assert "about to fail" in base64.b64decode(answer["LogResult"]).decode()
    assert cloud.invocations[0].error_type == "ValueError"


def test_a_function_past_its_timeout_is_killed(cloud: LocalCloud, lam: Any) -> None:
    create(lam, "sleepy", "app.sleepy", Timeout=1)
    error, answer = invoke(lam, "sleepy")

    assert answer["FunctionError"] == "Unhandled"
    assert error["errorType"] == "Sandbox.Timedout"
    assert "Task timed out after 1.00 seconds" in error["errorMessage"]
    assert cloud.invocations[0].duration_ms < 3000


def test_only_boto3_is_importable_beside_the_functions_own_code(lam: Any) -> None:
    code = make_zip({"needs_yaml.py": "import yaml\ndef handler(event, context):\n    return 1\n"})
    create(lam, "yaml", "needs_yaml.handler", code=code)
    error, answer = invoke(lam, "yaml")

    assert answer["FunctionError"] == "Unhandled"
    assert error["errorType"] == "Runtime.ImportModuleError"
    assert "No module named 'yaml'" in error["errorMessage"]


def test_the_handler_calls_aws_as_its_execution_role(lam: Any) -> None:
    create(lam, "whoami", "app.whoami")
    arn, _ = invoke(lam, "whoami")
    assert arn == f"arn:aws:sts::123456789012:assumed-role/{ROLE}/whoami"


def test_a_call_the_role_does_not_allow_is_found_and_logged(cloud: LocalCloud, lam: Any) -> None:
    iam = boto3.client("iam", endpoint_url=cloud.endpoint)
    only_logs = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "logs:*", "Resource": "*"}
    ]}  # fmt: skip
    iam.put_role_policy(RoleName=ROLE, PolicyName="p", PolicyDocument=json.dumps(only_logs))
    create(lam, "whoami", "app.whoami")
    invoke(lam, "whoami")
    invoke(lam, "whoami")

    found = [(f.function, f.action, f.count) for f in cloud.role_findings()]
    assert found == [("whoami", "sts:GetCallerIdentity", 2)]
    logs = boto3.client("logs", endpoint_url=cloud.endpoint, region_name=REGION)
    events = logs.filter_log_events(logGroupName="/aws/lambda/whoami")["events"]
    said = [e["message"] for e in events if e["message"].startswith("LOCALCLOUD ROLE CHECK:")]
    assert len(said) == 1 and "sts:GetCallerIdentity" in said[0]  # once, not per invocation


def test_a_functions_invoke_of_another_runs_through_the_runtime(
    cloud: LocalCloud, lam: Any
) -> None:
    create(lam, "echo", "app.echo")
    create(lam, "call", "app.call")
    result, _ = invoke(lam, "call", {"target": "echo"})

    assert result["event"] == {"n": 1}
    assert [r.function for r in cloud.invocations] == ["echo", "call"]


def test_peak_memory_is_the_childs(cloud: LocalCloud, lam: Any) -> None:
    create(lam, "hog", "app.hog")
    invoke(lam, "hog")
    assert cloud.invocations[0].peak_memory_kb >= 60 * 1024


def test_a_function_past_its_memory_size_is_killed(cloud: LocalCloud, lam: Any) -> None:
    create(lam, "hog", "app.hog", MemorySize=128)
    answer, meta = invoke(lam, "hog", {"mb": 200, "hold_s": 10})
    assert meta["FunctionError"] == "Unhandled"
    assert answer["errorType"] == "Runtime.OutOfMemory"
    record = cloud.invocations[0]
    assert record.error_type == "Runtime.OutOfMemory" and record.duration_ms < 5000


def test_update_function_code_changes_what_runs(lam: Any) -> None:
    create(lam, "swap", "app.handler", code=make_zip({"app.py": APP + "\nhandler = echo\n"}))
    new = make_zip({"app.py": "def handler(event, context):\n    return 'v2'\n"})
    answer = lam.update_function_code(FunctionName="swap", ZipFile=new)
    assert answer["CodeSha256"] == code_sha256(new)
    assert invoke(lam, "swap")[0] == "v2"


def test_an_event_is_retried_twice_then_sent_to_the_on_failure_function(
    cloud: LocalCloud, lam: Any
) -> None:
    fail_arn = create(lam, "fail", "app.fail")
    record_arn = create(lam, "record", "app.record")
    lam.put_function_event_invoke_config(
        FunctionName="fail", DestinationConfig={"OnFailure": {"Destination": record_arn}}
    )
    answer = lam.invoke(FunctionName="fail", InvocationType="Event", Payload=b'{"k": "v"}')
    assert answer["StatusCode"] == 202
    assert cloud.wait_idle(30)

    runs = cloud.invocations
    assert [(r.function, r.attempt) for r in runs] == [
        ("fail", 1), ("fail", 2), ("fail", 3), ("record", 1)
    ]  # fmt: skip
    logged = runs[-1].log.split("RECORD ", 1)[1]
    delivered = json.loads(logged)
    assert delivered["requestContext"] == {
        "requestId": runs[0].request_id,
        "functionArn": f"{fail_arn}:$LATEST",
        "condition": "RetriesExhausted",
        "approximateInvokeCount": 3,
    }
    assert delivered["requestPayload"] == {"k": "v"}
    assert delivered["responseContext"]["functionError"] == "Unhandled"
    assert delivered["responsePayload"]["errorType"] == "ValueError"


def test_an_sqs_on_failure_destination_gets_the_record(cloud: LocalCloud, lam: Any) -> None:
    sqs = boto3.client("sqs", endpoint_url=cloud.endpoint, region_name=REGION)
    url = sqs.create_queue(QueueName="dlq")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    create(lam, "fail", "app.fail")
    lam.put_function_event_invoke_config(
        FunctionName="fail",
        MaximumRetryAttempts=0,
        DestinationConfig={"OnFailure": {"Destination": queue_arn}},
    )
    lam.invoke(FunctionName="fail", InvocationType="Event", Payload=b"{}")
    assert cloud.wait_idle(30)

    [message] = sqs.receive_message(QueueUrl=url)["Messages"]
    assert json.loads(message["Body"])["requestContext"]["approximateInvokeCount"] == 1
    assert len(cloud.invocations) == 1


def test_unknown_functions_and_other_calls_are_moto_s(lam: Any) -> None:
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.invoke(FunctionName="nope")
    assert lam.list_functions()["Functions"] == []


# -- pure pieces ----------------------------------------------------------------------------


def test_routes() -> None:
    assert route("POST", "/2015-03-31/functions/f%3A1/invocations").function == "f:1"
    assert route("POST", "/2015-03-31/functions").kind == "create"
    assert route("PUT", "/2015-03-31/functions/f/code").kind == "update-code"
    assert route("GET", "/2015-03-31/functions/f").kind == "forward"
    caller = Caller.from_headers(
        "AWS4-HMAC-SHA256 Credential=AKID/20260101/eu-west-1/lambda/aws4_request, X=y", "tok"
    )
    assert caller == Caller("AKID", "eu-west-1", "tok")


def test_uploaded_zip_reads_both_request_shapes() -> None:
    data = b"PK zip"
    encoded = base64.b64encode(data).decode()
    assert uploaded_zip(json.dumps({"Code": {"ZipFile": encoded}}).encode(), create=True) == data
    assert uploaded_zip(json.dumps({"ZipFile": encoded}).encode(), create=False) == data
    assert uploaded_zip(json.dumps({"Code": {"S3Bucket": "b"}}).encode(), create=True) is None


def _outcome(ok: bool) -> Outcome:
    payload = b'"fine"' if ok else b'{"errorType": "E"}'
    return Outcome(payload, None if ok else "E", "", 1.0, 1.0, 1.0, 1)


def test_run_event_retries_until_success_or_spent() -> None:
    slept: list[float] = []
    results = iter([False, False, True])
    outcome, attempts = run_event(
        lambda n: _outcome(next(results)), EventPolicy(), delays_s=(1, 2), sleep=slept.append
    )
    assert outcome.ok and attempts == 3 and slept == [1, 2]
    outcome, attempts = run_event(lambda n: _outcome(False), EventPolicy(retry_attempts=0))
    assert not outcome.ok and attempts == 1


def test_destination_record_shape() -> None:
    import datetime

    record = destination_record(
        request_id="r",
        function_arn="arn:aws:lambda:us-east-1:1:function:f",
        event=b'{"a": 1}',
        outcome=_outcome(True),
        attempts=1,
        now=datetime.datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=datetime.timezone.utc),
    )
    assert record["timestamp"] == "2026-01-02T03:04:05.678Z"
    assert record["requestContext"]["condition"] == "Success"
    assert record["responseContext"] == {"statusCode": 200, "executedVersion": "$LATEST"}
    assert record["responsePayload"] == "fine"


PROBE = """
import importlib, sys

def probe(event, context):
    module_name, _, function = event["handler"].rpartition(".")
    module = importlib.import_module(module_name)
    assert callable(getattr(module, function))
    return sorted({name.split(".")[0] for name in sys.modules} - set(sys.stdlib_module_names))
"""


@pytest.mark.parametrize("kind", ["director", "worker", "notifier"])
def test_each_real_bundle_imports_its_handler_with_only_boto3(lam: Any, kind: str) -> None:
    from lambda_src import names
    from lambdafan.deploy.bundle import build_bundle
    from tests.conftest import make_settings

    bundle = build_bundle(make_settings(), include_scripts=kind == "worker")
    with zipfile.ZipFile(io.BytesIO(bundle.data)) as archive:
        files = {name: archive.read(name).decode() for name in archive.namelist()}
    files["probe_handler.py"] = PROBE
    create(lam, kind, "probe_handler.probe", code=make_zip(files))

    loaded, answer = invoke(lam, kind, {"handler": names.HANDLERS[kind]})
    assert "FunctionError" not in answer, loaded
    allowed = RUNTIME_MODULES | {"lambda_src", "probe_handler", "__main__", "__mp_main__"}
    assert set(loaded) <= allowed
    assert "lambda_src" in loaded and "boto3" in loaded


def test_mocked_dynamodb_answers_one_request_at_a_time() -> None:
    # moto's DynamoDB is not thread-safe (an ADD is a read-modify-write): the local cloud's moto
    # server handles its requests one at a time, as DynamoDB applies each atomically.
    running, most = 0, 0
    lock = threading.Lock()

    class Handler:
        def call_action(self) -> str:
            nonlocal running, most
            with lock:
                running += 1
                most = max(most, running)
            time.sleep(0.02)
            with lock:
                running -= 1
            return "ok"

    serialise_dynamodb(Handler)
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: Handler().call_action(), range(16)))
    assert answers == ["ok"] * 16 and most == 1
