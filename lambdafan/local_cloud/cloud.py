"""`LocalCloud`: moto's server with a Lambda runtime in front of it.

    with LocalCloud("http://127.0.0.1:5000") as cloud:
        boto3.client("lambda", endpoint_url=cloud.endpoint).invoke(FunctionName="f")
        cloud.invocations  # what ran: duration, startup, peak memory, errors

It ties the pieces together: the proxy routes requests, the code store keeps uploaded zips, the
invoker runs one invocation, the async module retries events and picks their destination; this
module asks moto (as the caller) for the function's configuration and the role's credentials.
"""

from __future__ import annotations

import base64
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
from lambdafan.local_cloud.invoker import Credentials, FunctionConfig, Invoker, Outcome
from lambdafan.local_cloud.moto_clients import MotoClients
from lambdafan.local_cloud.proxy import Caller, InvokeRequest, Proxy, Reply

DEFAULT_REGION = "us-east-1"  # for a caller whose request named none


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
        self._moto = MotoClients(self.moto_endpoint)
        self._proxy = Proxy(self.moto_endpoint, invoke=self._on_invoke, capture_code=self._on_code)

    # -- the public surface -------------------------------------------------------------------

    @property
    def endpoint(self) -> str:
        """The URL to give boto3 (`endpoint_url` or AWS_ENDPOINT_URL)."""
        return self._proxy.endpoint

    @property
    def invocations(self) -> list[InvocationRecord]:
        return self._log.records()

    def wait_idle(self, timeout_s: float = 30) -> bool:
        """Wait for every async event (and the events they started) to finish."""
        return self._events.wait_idle(timeout_s)

    def start(self) -> LocalCloud:
        self._proxy.start()
        return self

    def stop(self, events_timeout_s: float = 30) -> None:
        """Let running async events finish (their code calls the proxy), then stop."""
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

    def _on_code(self, body: bytes, create: bool) -> None:
        data = uploaded_zip(body, create=create)
        if data is not None:
            self._code.add(data)

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
        started = self._clock()
        try:
            task_root = self._code.task_root(function.code_sha256)
        except CodeNotFound as exc:
            message = {"errorMessage": str(exc), "errorType": "LocalCloud.CodeNotFound"}
            outcome = Outcome(json.dumps(message).encode(), "LocalCloud.CodeNotFound", "", 0.0,
                              None, None, 0)  # fmt: skip
        else:
            credentials = self._role_credentials(function)
            outcome = self._invoker.run(
                function, task_root, credentials, self.endpoint, event, request_id
            )
        self._log.add(
            InvocationRecord(
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
        )
        return outcome

    def _submit_event(self, function: FunctionConfig, event: bytes, caller: Caller) -> str:
        request_id = str(uuid.uuid4())

        def work() -> None:
            policy = EventPolicy.from_config(self._event_invoke_config(function, caller))
            outcome, attempts = run_event(
                lambda n: self._run(function, event, request_id, "Event", n),
                policy,
                delays_s=self._retry_delays_s,
                sleep=self._sleep,
            )
            destination = destination_for(policy, outcome)
            if destination is None:
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
