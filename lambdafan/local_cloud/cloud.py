"""`LocalCloud`: moto's server with a Lambda runtime in front of it.

    with LocalCloud("http://127.0.0.1:5000") as cloud:
        ...  # AWS_ENDPOINT_URL=cloud.endpoint: a Lambda Invoke there runs the function's zip
        cloud.invocations  # what ran: duration, startup, peak memory, errors

It ties the pieces together: the proxy routes requests, the code store keeps uploaded zips, the
invoker runs one invocation, the async module retries events and picks their destination, the
scheduler fires EventBridge schedule rules; this module asks moto (as the caller) for the
function's configuration and the role's credentials, and writes each invocation's log to
CloudWatch Logs as Lambda does (START, the output, END, REPORT).
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import json
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, TextIO

from botocore.exceptions import ClientError

from lambdafan.local_cloud.async_invokes import (
    LOCAL_RETRY_DELAYS_S,
    BackgroundEvents,
    EventPolicy,
    destination_for,
    destination_record,
    run_event,
)
from lambdafan.local_cloud.code_store import CodeNotFound, CodeStore, uploaded_zip
from lambdafan.local_cloud.invocation_log import InvocationLog, InvocationRecord
from lambdafan.local_cloud.invoker import (
    Credentials,
    FunctionConfig,
    Invoker,
    Outcome,
    log_stream_name,
)
from lambdafan.local_cloud.moto_clients import MotoClients
from lambdafan.local_cloud.proxy import Caller, InvokeRequest, Proxy, Reply
from lambdafan.local_cloud.role_audit import Finding
from lambdafan.local_cloud.role_check import RoleCheck
from lambdafan.local_cloud.schedules import ScheduledTarget, Scheduler

DEFAULT_REGION = "us-east-1"  # for a caller whose request named none


class CloudStopping(RuntimeError):
    """An invocation asked for while the cloud shuts down (its invocations killed)."""


class LocalCloud:
    """A proxy on a free 127.0.0.1 port in front of `moto_endpoint` that runs Lambda `Invoke`."""

    def __init__(
        self,
        moto_endpoint: str,
        *,
        work_dir: Path | None = None,
        retry_delays_s: Sequence[float] = LOCAL_RETRY_DELAYS_S,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
        log_stream: Callable[[], TextIO | None] | None = None,
    ) -> None:
        self.moto_endpoint = moto_endpoint.rstrip("/")
        self._own_dir = work_dir is None
        self._work_dir = (
            Path(tempfile.mkdtemp(prefix="lambdafan-cloud-")) if work_dir is None else work_dir
        )
        self._code = CodeStore(self._work_dir / "code")
        self._invoker = Invoker(self._work_dir, clock=clock)
        self._log = InvocationLog(log_stream) if log_stream else InvocationLog()
        self._events = BackgroundEvents()
        self._retry_delays_s = tuple(retry_delays_s)
        self._sleep = sleep
        self._clock = clock
        self._stopping = False  # set once: no invocation starts after it
        self._moto = MotoClients(self.moto_endpoint)
        self._roles = RoleCheck(lambda: self._client("iam", Caller(None, DEFAULT_REGION, None)))
        self._proxy = Proxy(
            self.moto_endpoint,
            invoke=self._on_invoke,
            capture_code=self._on_code,
            observe=lambda caller, action: self._roles.audit.observe(caller.access_key_id, action),
        )
        # Rules are read as the runtime, so in moto's default account, where the CLI deploys.
        self._schedules = Scheduler(
            lambda region: self._client("events", Caller(None, region, None)),
            [],
            fire=self._on_schedule,
            clock=lambda: datetime.datetime.fromtimestamp(self._clock(), datetime.timezone.utc),
            on_note=self._log.note,
        )

    # -- the public surface -------------------------------------------------------------------

    @property
    def endpoint(self) -> str:
        """The URL to give boto3 (`endpoint_url` or AWS_ENDPOINT_URL)."""
        return self._proxy.endpoint

    @property
    def invocations(self) -> list[InvocationRecord]:
        return self._log.records()

    def role_findings(self) -> list[Finding]:
        """Actions a function called that its role's policies do not allow (Resource and
        Condition not evaluated: a missing action shows, a too-narrow resource does not)."""
        return self._roles.findings()

    def fire_rule(self, name: str, region: str) -> int:
        """Fire an EventBridge rule's targets now, as its schedule would; how many it invoked."""
        return len(self._schedules.fire_rule(name, region))

    def wait_idle(self, timeout_s: float = 30) -> bool:
        """Wait for every async event (and the events they started) to finish."""
        return self._events.wait_idle(timeout_s)

    def start(self) -> LocalCloud:
        self._proxy.start()
        self._schedules.start()
        return self

    def stop(self, events_timeout_s: float = 30, *, kill_running: bool = False) -> None:
        """Let running async events finish (their code calls the proxy), then stop; or, with
        `kill_running`, kill the invocations under way first (Ctrl-C, SIGTERM)."""
        self._schedules.stop()
        if kill_running:
            self._stopping = True
            self._invoker.kill_running()
        self._events.wait_idle(events_timeout_s)
        self._proxy.stop()
        if self._own_dir:
            shutil.rmtree(self._work_dir, ignore_errors=True)

    def __enter__(self) -> LocalCloud:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- the proxy's callbacks ----------------------------------------------------------------

    def _on_code(self, body: bytes, create: bool, caller: Caller) -> None:
        data = uploaded_zip(body, create=create)
        if data is not None:
            self._code.add(data)
        # A schedule targeting a function is put where the function is: watch that region.
        self._schedules.watch(caller.region or DEFAULT_REGION)

    def _on_schedule(self, target: ScheduledTarget) -> None:
        region = target.target_arn.split(":")[3]
        caller = Caller(None, region, None)
        configuration = self._client("lambda", caller).get_function_configuration(
            FunctionName=target.target_arn
        )
        self._submit_event(FunctionConfig.from_configuration(configuration), target.payload, caller)

    def _on_invoke(self, request: InvokeRequest) -> Reply | None:
        client = self._client("lambda", request.caller)
        try:
            configuration = client.get_function_configuration(
                FunctionName=request.function,
                **({"Qualifier": request.qualifier} if request.qualifier else {}),
            )
        except ClientError:
            return None  # moto answers with its own error
        function = FunctionConfig.from_configuration(configuration)
        if request.invocation_type == "DryRun":
            return Reply(204)
        if request.invocation_type == "Event":
            request_id = self._submit_event(function, request.payload, request.caller)
            return Reply(202, headers={"X-Amzn-RequestId": request_id})
        request_id = str(uuid.uuid4())
        outcome = self._run(function, request.payload, request_id, "RequestResponse", 1)
        headers = {
            "Content-Type": "application/json",
            "X-Amzn-RequestId": request_id,
            "X-Amz-Executed-Version": function.version,
        }
        if not outcome.ok:
            headers["X-Amz-Function-Error"] = "Unhandled"
        if request.log_type == "Tail":
            tail = outcome.log.encode("utf-8")[-4096:]
            headers["X-Amz-Log-Result"] = base64.b64encode(tail).decode("ascii")
        return Reply(200, outcome.payload, headers)

    # -- running code -------------------------------------------------------------------------

    def _run(
        self, function: FunctionConfig, event: bytes, request_id: str, kind: str, attempt: int
    ) -> Outcome:
        if self._stopping:
            raise CloudStopping(f"not running {function.name}: the local cloud is stopping")
        started = self._clock()
        credentials = self._role_credentials(function)
        try:
            task_root = self._code.task_root(function.code_sha256)
        except CodeNotFound as exc:
            message = {"errorMessage": str(exc), "errorType": "LocalCloud.CodeNotFound"}
            outcome = Outcome(json.dumps(message).encode(), "LocalCloud.CodeNotFound", "", 0.0,
                              None, None, 0)  # fmt: skip
        else:
            self._roles.register(
                credentials.access_key_id, function.name, function.role_arn, request_id
            )
            outcome = self._invoker.run(
                function, task_root, credentials, self.endpoint, event, request_id
            )
        record = InvocationRecord(
            function=function.name,
            request_id=request_id,
            invocation_type=kind,
            attempt=attempt,
            started=started,
            duration_ms=outcome.duration_ms,
            startup_ms=outcome.startup_ms,
            init_ms=outcome.init_ms,
            peak_memory_kb=outcome.peak_memory_kb,
            memory_limit_mb=function.memory_mb,
            error_type=outcome.error_type,
            log=outcome.log,
        )
        self._log.add(record)
        self._write_logs(function, record, credentials)
        return outcome

    def _write_logs(
        self, function: FunctionConfig, record: InvocationRecord, credentials: Credentials
    ) -> None:
        """The invocation's output in CloudWatch Logs, framed as Lambda frames it, so
        `lambdafan logs` and a REPORT line's figures read the same as on AWS. Written once it
        has ended: START at its start, the rest at its end (the output carries no times)."""
        caller = Caller(credentials.access_key_id, function.region, credentials.session_token)
        logs = self._client("logs", caller)
        group = f"/aws/lambda/{function.name}"
        stream = log_stream_name(function, record.request_id)
        started = int(record.started * 1000)
        ended = started + int(record.duration_ms)
        lines = [line for line in record.log.splitlines() if line.strip()]
        lines += [f"LOCALCLOUD ROLE CHECK: {line}" for line in self._role_check_lines(function)]
        lines += [f"END RequestId: {record.request_id}", record.report_line()]
        start = f"START RequestId: {record.request_id} Version: {function.version}"
        events = [{"timestamp": started, "message": start}]
        events += [{"timestamp": ended, "message": line} for line in lines]
        try:
            with contextlib.suppress(logs.exceptions.ResourceAlreadyExistsException):
                logs.create_log_group(logGroupName=group)  # as Lambda does, when the role may
            logs.create_log_stream(logGroupName=group, logStreamName=stream)
            logs.put_log_events(logGroupName=group, logStreamName=stream, logEvents=events)
        except ClientError as exc:
            self._log.note(f"could not write {function.name}'s log to {group}: {exc}")

    def _submit_event(self, function: FunctionConfig, event: bytes, caller: Caller) -> str:
        request_id = str(uuid.uuid4())

        def work() -> None:
            try:
                run_and_deliver()
            except Exception as exc:  # a thread of its own: nobody else would hear of it
                self._log.note(f"async invoke of {function.name} ({request_id}): {exc!r}")

        def run_and_deliver() -> None:
            if self._stopping:
                return
            policy = EventPolicy.from_config(self._event_invoke_config(function, caller))
            outcome, attempts = run_event(
                lambda n: self._run(function, event, request_id, "Event", n),
                policy,
                delays_s=self._retry_delays_s,
                sleep=self._sleep,
            )
            destination = destination_for(policy, outcome)
            if destination is None or self._stopping:
                return
            record = destination_record(
                request_id=request_id,
                function_arn=function.arn,
                event=event,
                outcome=outcome,
                attempts=attempts,
                now=datetime.datetime.fromtimestamp(self._clock(), datetime.timezone.utc),
            )
            self._deliver(destination, record, function)

        self._events.submit(work, name=f"event-{function.name}-{request_id}")
        return request_id

    def _deliver(self, destination: str, record: dict[str, Any], source: FunctionConfig) -> None:
        """Send a destination record as Lambda would, with the source function's role."""
        service = destination.split(":")[2]
        body = json.dumps(record)
        caller = self._role_caller(source)
        region = destination.split(":")[3]
        if service == "lambda":
            target = self._client("lambda", caller, region).get_function_configuration(
                FunctionName=destination
            )
            self._submit_event(FunctionConfig.from_configuration(target), body.encode(), caller)
        elif service == "sqs":
            sqs = self._client("sqs", caller, region)
            account, name = destination.split(":")[4:6]
            url = sqs.get_queue_url(QueueName=name, QueueOwnerAWSAccountId=account)["QueueUrl"]
            sqs.send_message(QueueUrl=url, MessageBody=body)
        elif service == "sns":
            self._client("sns", caller, region).publish(TopicArn=destination, Message=body)
        elif service == "events":
            success = record["requestContext"]["condition"] == "Success"
            entry = {
                "EventBusName": destination,
                "Source": "lambda",
                "DetailType": "Lambda Function Invocation Result - "
                + ("Success" if success else "Failure"),
                "Detail": body,
            }
            self._client("events", caller, region).put_events(Entries=[entry])

    def _role_check_lines(self, function: FunctionConfig) -> list[str]:
        try:
            return self._roles.new_findings(function.name)
        except ClientError as exc:
            return [f"could not read {function.name}'s role policies: {exc}"]

    # -- moto, as the caller or the function's role -------------------------------------------

    def _event_invoke_config(
        self, function: FunctionConfig, caller: Caller
    ) -> dict[str, Any] | None:
        try:
            config: dict[str, Any] = self._client(
                "lambda", caller, function.region
            ).get_function_event_invoke_config(FunctionName=function.arn)
        except ClientError:
            return None
        return config

    def _role_credentials(self, function: FunctionConfig) -> Credentials:
        sts = self._client("sts", Caller(None, function.region, None))
        answer = sts.assume_role(RoleArn=function.role_arn, RoleSessionName=function.name)
        creds = answer["Credentials"]
        return Credentials(creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"])

    def _role_caller(self, function: FunctionConfig) -> Caller:
        creds = self._role_credentials(function)
        return Caller(creds.access_key_id, function.region, creds.session_token)

    def _client(self, service: str, caller: Caller, region: str | None = None) -> Any:
        """A client to moto itself (not the proxy) that moto takes for `caller`."""
        region = region or caller.region or DEFAULT_REGION
        return self._moto.get(service, region, caller.access_key_id, caller.session_token)
