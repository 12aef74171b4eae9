"""What a fleet does when Lambda, DynamoDB or a channel misbehaves: every case of the README's
"Failure semantics", driven through the real handlers with exact figures.

The `Fleet` below plays Lambda: it keeps every async invoke in a queue, so a test decides what
runs, in which order, how often (a retry, a duplicate delivery) and what crashes.
"""

from __future__ import annotations

import concurrent.futures as cf
import datetime as dt
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from lambda_src import names, runs, status, table
from lambda_src.delivery import Channels
from lambda_src.director import DirectorDeps, run_director
from lambda_src.dynamo_store import DynamoStore, WriteError
from lambda_src.notifier import NotifierDeps, run_notifier
from lambda_src.run_summary import summarize
from lambda_src.scripts import Script
from lambda_src.settings import FleetSettings, NotifySettings
from lambda_src.table import Item, ItemStore
from lambda_src.worker import WorkerDeps, WorkerResult, run_worker
from lambdafan.memory_store import MemoryStore
from tests.conftest import REGION, all_items, create_table, load_scripts, make_settings

ACCOUNTS = ("111111111111", "222222222222", "333333333333", "444444444444")
PER_ACCOUNT = 60  # inventory: 30 instances in each of 2 regions
SCHEDULED = {
    "source": "aws.events",
    "detail-type": "Scheduled Event",
    "id": "5f0a1c2e-0000-4000-8000-123456789abc",
    "time": "2026-11-27T06:00:00Z",
}


class Killed(BaseException):
    """Lambda stopping a function mid-way: nothing in the handler catches it."""


@dataclass
class Fleet:
    """The three handlers wired as Lambda wires them, with the invokes queued, not run."""

    settings: FleetSettings
    store: ItemStore
    base_session: Any
    scripts: list[Script]
    queued: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    notifications: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    invokes_before_crash: int | None = None  # the Director is killed after this many invokes
    channels: Channels | None = None

    def invoke(self, kind: str, payload: dict[str, Any]) -> None:
        with self.lock:
            if self.invokes_before_crash is not None and kind == "worker":
                if self.invokes_before_crash == 0:
                    raise Killed()
                self.invokes_before_crash -= 1
            self.queued.append((kind, payload))

    def director(self, event: dict[str, Any]) -> dict[str, Any]:
        deps = DirectorDeps(store=self.store, organizations=None, invoke=self.invoke)
        return run_director(event, self.settings, deps)

    def worker(self, payload: dict[str, Any], **overrides: Any) -> WorkerResult:
        deps = WorkerDeps(
            store=self.store,
            base_session=overrides.pop("base_session", self.base_session),
            invoke=self.invoke,
            scripts=self.scripts,
            **overrides,
        )
        return run_worker(payload, self.settings, deps)

    def take(self, kind: str) -> list[dict[str, Any]]:
        """Dequeue the invokes of one kind (what Lambda would deliver next)."""
        with self.lock:
            taken = [p for k, p in self.queued if k == kind]
            self.queued = [(k, p) for k, p in self.queued if k != kind]
        return taken

    def deliver_all(self) -> None:
        """Run everything queued, Workers first, until nothing is left."""
        while self.queued:
            for payload in self.take("worker"):
                self.worker(payload)
            for payload in self.take("notifier"):
                self.notifier(payload)

    def notifier(self, payload: dict[str, Any]) -> dict[str, Any]:
        deps = NotifierDeps(store=self.store, channels=self.channels)
        response = run_notifier(payload, self.settings, deps)
        if "summary" in response or "text" in response:
            self.notifications.append(response)
        return response


@pytest.fixture(params=["dynamodb", "memory"])
def fleet(request: pytest.FixtureRequest, aws: Any) -> Iterator[Fleet]:
    """On DynamoDB (moto) and in memory; tests marked `IN_MEMORY` only in memory, where the
    store's part is no different (the two stores' primitives are tested in test_table.py)."""
    settings = make_settings(accounts=ACCOUNTS, scripts=("inventory",))
    store: ItemStore = create_table(aws, settings) if request.param == "dynamodb" else MemoryStore()
    scripts = load_scripts(settings)
    script_globals = scripts[0].collect.__globals__
    yield Fleet(settings, store, aws, scripts)
    script_globals["STATE"].clear()
    script_globals["FAIL_IN"].clear()


IN_MEMORY = pytest.mark.parametrize("fleet", ["memory"], indirect=True)


def counted_records(store: ItemStore, run_id: str) -> list[Item]:
    return list(table.run_records(store, run_id))


def stored_records(fleet: Fleet, run_id: str) -> list[Item]:
    """Every record item physically in the store for the run (counted or not)."""
    found = []
    for account in ACCOUNTS:
        pk = names.records_pk(run_id, account)
        found += list(fleet.store.query(pk, names.RECORD_SK_PREFIX, consistent=True))
    return found


def run_item(fleet: Fleet, run_id: str) -> Item:
    run = table.get_run(fleet.store, run_id)
    assert run is not None
    return run


def completed_run(fleet: Fleet) -> str:
    """A scheduled run that went well: every account, every record, one notification."""
    run_id = fleet.director(SCHEDULED)["run_id"]
    fleet.deliver_all()
    assert run_item(fleet, run_id)["status"] == status.COMPLETE
    assert len(fleet.notifications) == 1
    return str(run_id)


# --- the Director under retries ------------------------------------------------------------


def test_a_director_killed_mid_way_and_retried_resumes_the_same_run(fleet: Fleet) -> None:
    fleet.invokes_before_crash = 2
    with pytest.raises(Killed):
        fleet.director(SCHEDULED)
    first_workers = fleet.take("worker")
    assert len(first_workers) == 2
    for payload in first_workers:  # the two invoked Workers run while Lambda waits to retry
        fleet.worker(payload)

    fleet.invokes_before_crash = None
    response = fleet.director(SCHEDULED)  # Lambda retries the same EventBridge event

    run_id = response["run_id"]
    assert run_id == runs.scheduled_run_id(SCHEDULED) == first_workers[0]["run_id"]
    assert response["resumed"] and response["started"] == 2  # only the accounts not done
    fleet.deliver_all()
    run = run_item(fleet, run_id)
    assert (run["status"], run["accounts_done"], run["records"]) == ("complete", 4, 240)
    records = counted_records(fleet.store, run_id)
    assert len(records) == len(stored_records(fleet, run_id)) == 240
    assert len({(r["pk"], r["sk"]) for r in records}) == 240
    assert len(fleet.notifications) == 1
    assert [r["run_id"] for r in fleet.store.query_runs()] == [run_id]  # one run, not two


def test_a_retry_before_the_first_workers_ran_duplicates_nothing(fleet: Fleet) -> None:
    fleet.invokes_before_crash = 2
    with pytest.raises(Killed):
        fleet.director(SCHEDULED)
    fleet.invokes_before_crash = None
    response = fleet.director(SCHEDULED)
    assert response["started"] == 4  # nothing was done yet: every account again

    workers = fleet.take("worker")
    assert len(workers) == 6  # 2 from the killed Director, 4 from its retry: 2 duplicates
    results = [fleet.worker(payload) for payload in workers]
    fleet.deliver_all()

    run_id = response["run_id"]
    assert sum(r.duplicate for r in results) == 2
    assert run_item(fleet, run_id)["records"] == 240
    assert len(counted_records(fleet.store, run_id)) == 240
    # The duplicates' own records were deleted: the table holds each record once.
    assert len(stored_records(fleet, run_id)) == 240
    assert len(fleet.notifications) == 1


@IN_MEMORY
def test_a_run_now_director_retried_after_its_run_completed_does_nothing(fleet: Fleet) -> None:
    event = {"run_id": "20261127T101010Z-abcdef", "trigger": "manual"}
    fleet.director(event)
    fleet.deliver_all()
    before = run_item(fleet, event["run_id"])

    response = fleet.director(event)

    assert response["resumed"] and response["started"] == 0
    assert fleet.queued == []
    assert run_item(fleet, event["run_id"]) == before
    assert len(fleet.notifications) == 1


# --- duplicate and retried Workers ---------------------------------------------------------


class ThrottledSts:
    """A base session whose STS throttles every AssumeRole (a duplicate Worker's bad luck)."""

    region_name = REGION

    def client(self, service: str, **_: Any) -> Any:
        sts = boto3.client("sts", region_name=REGION)
        stubber = Stubber(sts)
        for _ in range(3):
            stubber.add_client_error("assume_role", "Throttling", "Rate exceeded", 400)
        stubber.activate()
        return sts


def started_beside_the_first(store: ItemStore, account_id: str) -> None:
    """The next Worker of `account_id` started while the attempt that counts still ran: its look
    at the done item, before it runs anything, finds none; it learns when it finishes."""
    real_get = store.get
    missed: list[str] = []

    def get(pk: str, sk: str) -> Item | None:
        if sk == names.account_sk(account_id) and not missed:
            missed.append(sk)
            return None
        return real_get(pk, sk)

    store.get = get  # type: ignore[method-assign]


def test_a_worker_delivered_after_its_account_finished_runs_nothing(fleet: Fleet) -> None:
    run_id = completed_run(fleet)
    before = summarize(fleet.store, run_id)
    items_before = stored_records(fleet, run_id)
    payload = {"run_id": run_id, "account": {"id": ACCOUNTS[0], "name": "a"},
               "regions": ["us-east-1", "eu-west-1"]}  # fmt: skip

    # Its STS would fail: it never asks (no AssumeRole, no script, no S3 object).
    late = fleet.worker(payload, base_session=ThrottledSts())

    assert late.duplicate and not late.failed and not late.errors and late.records == 0
    assert summarize(fleet.store, run_id) == before
    assert stored_records(fleet, run_id) == items_before
    assert len(fleet.notifications) == 1


def test_a_duplicate_worker_that_fails_changes_nothing(fleet: Fleet) -> None:
    run_id = completed_run(fleet)
    before = summarize(fleet.store, run_id)
    payload = {"run_id": run_id, "account": {"id": ACCOUNTS[0], "name": "a"}, "regions": None}
    started_beside_the_first(fleet.store, ACCOUNTS[0])

    late = fleet.worker({**payload, "regions": ["us-east-1", "eu-west-1"]},
                        base_session=ThrottledSts())  # fmt: skip

    assert late.duplicate and late.failed
    after = summarize(fleet.store, run_id)
    assert after == before
    assert (after.verdict, after.records, after.accounts_failed) == ("OK", 240, 0)
    run = run_item(fleet, run_id)
    assert (run["accounts_failed"], run["records"], run["errors"]) == (0, 240, 0)
    assert list(table.run_errors(fleet.store, run_id)) == []
    assert len(fleet.notifications) == 1


@IN_MEMORY
def test_a_duplicate_worker_whose_outcome_differs_adds_no_error(fleet: Fleet) -> None:
    run_id = completed_run(fleet)
    fleet.scripts[0].collect.__globals__["FAIL_IN"].add("eu-west-1")
    payload = {"run_id": run_id, "account": {"id": ACCOUNTS[1], "name": "b"},
               "regions": ["us-east-1", "eu-west-1"]}  # fmt: skip
    started_beside_the_first(fleet.store, ACCOUNTS[1])

    late = fleet.worker(payload)

    assert late.duplicate and len(late.errors) == 1
    assert list(table.run_errors(fleet.store, run_id)) == []
    errors = fleet.store.query(names.run_pk(run_id), names.ERROR_SK_PREFIX, consistent=True)
    assert list(errors) == []  # the duplicate deleted its own error item too
    assert summarize(fleet.store, run_id).ok


def test_a_retried_worker_stores_exactly_what_its_last_attempt_found(fleet: Fleet) -> None:
    run_id = fleet.director(SCHEDULED)["run_id"]
    workers = fleet.take("worker")
    crashed = workers[0]
    account = crashed["account"]["id"]
    original_put_new = fleet.store.put_new

    def crash_on_done(item: Item) -> bool:
        if item["sk"] == names.account_sk(account):
            raise Killed()  # the Worker dies after storing its records, before its done item
        return original_put_new(item)

    fleet.store.put_new = crash_on_done  # type: ignore[method-assign]
    with pytest.raises(Killed):
        fleet.worker(crashed)
    fleet.store.put_new = original_put_new  # type: ignore[method-assign]
    # Between the attempts an instance stopped: the retry sees it stopped.
    instance = f"i-{account[-4:]}-us-east-1-000"
    fleet.scripts[0].collect.__globals__["STATE"][instance] = "stopped"
    fleet.worker(crashed)  # Lambda's retry: a new attempt
    for payload in workers[1:]:
        fleet.worker(payload)
    fleet.deliver_all()

    mine = [r for r in counted_records(fleet.store, run_id) if r["account_id"] == account]
    assert len(mine) == PER_ACCOUNT == run_item(fleet, run_id)["records"] // 4
    states = {r["data"]["instance_id"]: r["data"]["state"] for r in mine}
    assert len(states) == PER_ACCOUNT  # one record per instance, none stale
    assert states[instance] == "stopped"
    assert sum(s == "stopped" for s in states.values()) == 1


# --- the table refusing writes -------------------------------------------------------------


class RefusingRecords(MemoryStore):
    """A store whose batch writes of records always fail, as a throttled table's can."""

    def put_items(self, items: Any) -> None:
        if any(i.get("kind") == "record" for i in items):
            raise WriteError("25 items still unprocessed after 8 tries")
        super().put_items(items)


def test_records_the_table_refuses_fail_the_account(aws: Any) -> None:
    settings = make_settings(accounts=ACCOUNTS[:1], scripts=("inventory",))
    fleet = Fleet(settings, RefusingRecords(), aws, load_scripts(settings))
    run_id = fleet.director({"trigger": "test"})["run_id"]

    [result] = [fleet.worker(p) for p in fleet.take("worker")]
    fleet.deliver_all()

    assert result.failed and result.records == 0
    summary = summarize(fleet.store, run_id)
    assert (summary.status, summary.records, summary.accounts_failed) == (
        status.COMPLETE_WITH_FAILURES,
        0,
        1,
    )
    assert {(e.region, e.error_type) for e in summary.errors} == {
        ("us-east-1", "WriteError"),
        ("eu-west-1", "WriteError"),
    }
    assert counted_records(fleet.store, run_id) == []
    assert not summary.ok and len(fleet.notifications) == 1


class NeverProcessed:
    """A DynamoDB client whose BatchWriteItem leaves every item unprocessed."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self.exceptions = real.exceptions

    def batch_write_item(self, RequestItems: dict[str, Any]) -> dict[str, Any]:
        return {"UnprocessedItems": RequestItems}

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


def test_backoff_never_runs_past_the_deadline_reserve(aws: Any) -> None:
    settings = make_settings(accounts=ACCOUNTS[:1], scripts=("inventory",))
    real = create_table(aws, settings)
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        time.sleep(seconds / 20)  # real time passes, 20 times faster than the backoff says

    store = DynamoStore(NeverProcessed(real.client), settings.table_name, sleep=sleep)
    fleet = Fleet(settings, store, aws, load_scripts(settings))
    runs.start_run(store, "r1", accounts=ACCOUNTS[:1], scripts=["inventory"], trigger="test",
                   now=runs.utcnow(), ttl_days=1, worker_timeout_s=60)  # fmt: skip
    payload = {"run_id": "r1", "account": {"id": ACCOUNTS[0], "name": "a"},
               "regions": ["us-east-1", "eu-west-1"]}  # fmt: skip
    started = time.monotonic()

    with pytest.raises(WriteError):  # not even its error items could be written: Lambda retries
        fleet.worker(payload, remaining_ms=lambda: 4_000)

    took = time.monotonic() - started
    # 4 s left: pairs stop at 3 s, the writer gives up at 3.5 s; each batch's own backoff
    # (6.35 s as the store counts it, 0.32 s here) may end after that, never much later.
    assert took < 4.0, took
    assert sum(slept) > 6  # it did retry, with backoff, before giving up
    assert table.get_run(real, "r1") is not None  # the run item was written before the refusals


# --- nothing fails silently -----------------------------------------------------------------


@pytest.fixture
def failing_webhook() -> Iterator[str]:
    class Hook(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(500)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook?token=SECRET-TOKEN"
    server.shutdown()
    server.server_close()


def test_every_channel_failing_is_stored_on_the_run(aws: Any, failing_webhook: str) -> None:
    aws.client("ssm").put_parameter(Name="/hook", Value=failing_webhook, Type="SecureString")
    notify = NotifySettings(
        slack_webhook_parameter="/hook",
        email_sender="unverified@example.com",
        email_recipients=("ops@example.com",),
        sns_topic_arn=f"arn:aws:sns:{REGION}:123456789012:missing",
    )
    settings = make_settings(accounts=ACCOUNTS[:1], scripts=("inventory",), notify=notify)
    fleet = Fleet(settings, create_table(aws, settings), aws, load_scripts(settings))
    fleet.channels = Channels(ssm=aws.client("ssm"), ses=aws.client("ses"), sns=aws.client("sns"))

    run_id = fleet.director({"trigger": "test"})["run_id"]
    fleet.deliver_all()

    deliveries = run_item(fleet, run_id)["deliveries"]
    assert set(deliveries) == {"slack", "email", "sns"}
    assert all(outcome.startswith("failed: ") for outcome in deliveries.values())
    assert "HTTP 500" in deliveries["slack"]
    assert "SECRET-TOKEN" not in json.dumps(deliveries)
    assert summarize(fleet.store, run_id).deliveries == deliveries


def test_a_malformed_webhook_is_never_quoted(aws: Any) -> None:
    aws.client("ssm").put_parameter(Name="/hook", Value="hooks.slack.com/SECRET", Type="String")
    notify = NotifySettings(slack_webhook_parameter="/hook")
    settings = make_settings(accounts=ACCOUNTS[:1], scripts=("inventory",), notify=notify)
    fleet = Fleet(settings, create_table(aws, settings), aws, load_scripts(settings))
    fleet.channels = Channels(ssm=aws.client("ssm"))

    run_id = fleet.director({"trigger": "test"})["run_id"]
    fleet.deliver_all()

    outcome = run_item(fleet, run_id)["deliveries"]["slack"]
    assert outcome.startswith("failed: ") and "/hook" in outcome
    assert "SECRET" not in outcome


def test_a_director_that_cannot_reach_its_table_still_tells_the_channels(aws: Any) -> None:
    topic = aws.client("sns").create_topic(Name="ops")["TopicArn"]
    queue = aws.client("sqs").create_queue(QueueName="ops")["QueueUrl"]
    queue_arn = aws.client("sqs").get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    aws.client("sns").subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    settings = make_settings(scripts=("inventory",), notify=NotifySettings(sns_topic_arn=topic))
    store = DynamoStore(aws.client("dynamodb"), settings.table_name)  # never created
    fleet = Fleet(settings, store, aws, load_scripts(settings))
    fleet.channels = Channels(sns=aws.client("sns"))
    with pytest.raises(ClientError):
        fleet.director(SCHEDULED)  # every attempt fails: Lambda sends the on-failure record

    fleet.notifier(
        {
            "requestContext": {"condition": "RetriesExhausted", "approximateInvokeCount": 3},
            "requestPayload": SCHEDULED,
            "responsePayload": {"errorType": "ResourceNotFoundException", "errorMessage": "gone"},
        }
    )

    [message] = aws.client("sqs").receive_message(QueueUrl=queue)["Messages"]
    body = json.loads(message["Body"])["Message"]
    assert "failed to start" in body and "ResourceNotFoundException: gone" in body


@IN_MEMORY
def test_a_director_that_failed_leaves_its_run_failed_to_start(fleet: Fleet) -> None:
    fleet.notifier(
        {
            "requestContext": {"condition": "RetriesExhausted", "approximateInvokeCount": 3},
            "requestPayload": SCHEDULED,
            "responsePayload": {"errorType": "AccessDeniedException", "errorMessage": "no orgs"},
        }
    )

    run_id = runs.scheduled_run_id(SCHEDULED)
    assert run_id is not None
    summary = summarize(fleet.store, run_id)
    assert summary.status == status.FAILED_TO_START
    assert summary.error == "AccessDeniedException: no orgs"
    assert summary.verdict == "FAILED TO START" and len(fleet.notifications) == 1


@IN_MEMORY
def test_a_run_is_reported_once_even_if_the_notifier_runs_twice(fleet: Fleet) -> None:
    run_id = completed_run(fleet)
    again = fleet.notifier({"run_id": run_id})
    assert again == {"run_id": run_id, "duplicate": True}
    assert len(fleet.notifications) == 1


# --- no zombie runs, no overlap -------------------------------------------------------------


@IN_MEMORY
def test_a_run_past_its_deadline_is_closed_as_incomplete_naming_the_silent(fleet: Fleet) -> None:
    started = dt.datetime(2026, 11, 27, 6, 0, tzinfo=dt.timezone.utc)
    fleet_clock = [started]
    deps = DirectorDeps(fleet.store, None, fleet.invoke, clock=lambda: fleet_clock[0])
    run_id = run_director({"trigger": "test"}, fleet.settings, deps)["run_id"]
    for payload in fleet.take("worker")[:3]:  # the fourth Worker never reports
        fleet.worker(payload)
    assert run_item(fleet, run_id)["status"] == status.RUNNING

    deadline = runs.run_deadline(started, fleet.settings.worker_timeout_s)
    fleet_clock[0] = deadline + dt.timedelta(seconds=1)
    run_director({"trigger": "test"}, fleet.settings, deps)  # the next run closes it
    for payload in fleet.take("notifier"):
        fleet.notifier(payload)

    closed = summarize(fleet.store, run_id)
    assert closed.status == status.INCOMPLETE
    assert closed.silent_accounts == [ACCOUNTS[3]]
    assert (closed.accounts_done, closed.accounts_failed, closed.records) == (4, 1, 180)
    assert [(e.account_id, e.error_type) for e in closed.errors] == [(ACCOUNTS[3], "NeverReported")]
    assert "never reported: 444444444444" in fleet.notifications[0]["text"]
    # A Worker that reports after all changes nothing.
    late = fleet.take("worker")
    assert all(p["run_id"] != run_id for p in late)


@IN_MEMORY
def test_a_scheduled_run_overlapping_a_running_one_is_skipped_and_said(fleet: Fleet) -> None:
    first = fleet.director({"trigger": "test"})["run_id"]
    fleet.take("worker")  # still running

    response = fleet.director(SCHEDULED)

    assert response["started"] == 0 and first in response["skipped"]
    [notice] = fleet.take("notifier")
    assert "skipped" in notice["notice"] and "schedule_overlap" in notice["notice"]
    assert [r["run_id"] for r in fleet.store.query_runs()] == [first]


# --- events that no key may be built from ---------------------------------------------------


@pytest.mark.parametrize(
    "event",
    [
        {"run_id": "r1#ACCT#x", "account": {"id": ACCOUNTS[0], "name": "a"}, "regions": None},
        {"run_id": "r1", "account": {"id": "12345", "name": "a"}, "regions": None},
        {"run_id": "r1", "account": {"id": ACCOUNTS[0], "name": "a"}, "regions": ["eu#west"]},
        {"run_id": "r1"},
    ],
)
@IN_MEMORY
def test_a_malformed_worker_event_is_rejected_and_writes_nothing(
    fleet: Fleet, event: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    result = fleet.worker(event)
    assert result.rejected
    assert "rejected a Worker event" in caplog.text
    assert list(fleet.store.query_runs()) == []


@pytest.mark.parametrize(
    "event",
    [
        {"run_id": "x#RUN"},
        {"requestContext": {}, "requestPayload": {"run_id": "r1", "account": {"id": "1#2"}}},
    ],
)
@IN_MEMORY
def test_a_malformed_notifier_event_is_rejected(fleet: Fleet, event: dict[str, Any]) -> None:
    assert "rejected" in fleet.notifier(event)
    assert list(fleet.store.query_runs()) == []


def test_a_scheduled_event_always_maps_to_the_same_run_id() -> None:
    assert runs.scheduled_run_id(SCHEDULED) == runs.scheduled_run_id(dict(SCHEDULED))
    other = runs.scheduled_run_id({**SCHEDULED, "id": "another"})
    assert other != runs.scheduled_run_id(SCHEDULED)
    assert str(other).startswith("20261127T060000Z-")
    assert runs.scheduled_run_id({"trigger": "manual"}) is None


def test_physical_items_of_a_clean_run(fleet: Fleet, aws: Any) -> None:
    """Nothing but counted items in the table: one run item, 4 done items, 240 records."""
    run_id = completed_run(fleet)
    if isinstance(fleet.store, DynamoStore):
        items = all_items(aws, fleet.settings.table_name)
        kinds = [i["kind"]["S"] for i in items]
        assert (kinds.count("run"), kinds.count("account"), kinds.count("record")) == (1, 4, 240)
    assert len(stored_records(fleet, run_id)) == 240


# --- scale ------------------------------------------------------------------------------------


def test_ten_thousand_accounts_fit_the_run_item_and_count_exactly() -> None:
    accounts = tuple(f"{n:012d}" for n in range(1, 10_001))
    settings = make_settings(accounts=accounts, scripts=("inventory",))
    store = MemoryStore()
    invoked: list[dict[str, Any]] = []
    lock = threading.Lock()

    def invoke(kind: str, payload: dict[str, Any]) -> None:
        with lock:
            invoked.append({"kind": kind, **payload})

    run_id = run_director({"trigger": "test"}, settings, DirectorDeps(store, None, invoke))[
        "run_id"
    ]
    workers = [p for p in invoked if p["kind"] == "worker"]
    assert len(workers) == 10_000

    def fake_worker(payload: dict[str, Any]) -> runs.Finish:
        account = payload["account"]
        return runs.finish_account(store, run_id, account["id"], account["name"],
                                   records_by_script={"inventory": 3}, errors=0, failed=False,
                                   attempt="a1", now=runs.utcnow(), ttl_days=1)  # fmt: skip

    with cf.ThreadPoolExecutor(16) as pool:
        finishes = list(pool.map(fake_worker, workers))

    assert finishes.count(runs.Finish.COMPLETED) == 1
    assert finishes.count(runs.Finish.COUNTED) == 9_999
    run = table.get_run(store, run_id)
    assert run is not None
    assert (run["status"], run["accounts_done"], run["records"]) == ("complete", 10_000, 30_000)
    # DynamoDB's item limit is 400 KB; the run item lists every account id.
    assert len(json.dumps(run, default=str).encode("utf-8")) < 250_000


def test_a_notifier_that_fails_before_sending_is_retried_and_notifies(fleet: Fleet) -> None:
    run_id = fleet.director({"trigger": "test"})["run_id"]
    for payload in fleet.take("worker"):
        fleet.worker(payload)
    [report] = fleet.take("notifier")
    real_query = fleet.store.query
    calls = {"n": 0}

    def throttled_once(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 1:
            raise ClientError({"Error": {"Code": "ThrottlingException"}}, "Query")
        return real_query(*args, **kwargs)

    fleet.store.query = throttled_once  # type: ignore[method-assign]
    with pytest.raises(ClientError):
        fleet.notifier(report)  # fails while summarizing: nothing sent
    fleet.store.query = real_query  # type: ignore[method-assign]

    fleet.notifier(report)  # Lambda's retry
    assert len(fleet.notifications) == 1
    assert fleet.notifier(report) == {"run_id": run_id, "duplicate": True}


@IN_MEMORY
def test_an_account_failed_twice_leaves_one_error(fleet: Fleet) -> None:
    run_id = fleet.director({"trigger": "test"})["run_id"]
    first = fleet.take("worker")[0]
    gave_up = {
        "requestContext": {"condition": "RetriesExhausted", "approximateInvokeCount": 3},
        "requestPayload": first,
        "responsePayload": {"errorType": "Killed", "errorMessage": "out of memory"},
    }
    fleet.notifier(gave_up)
    fleet.notifier(gave_up)  # delivered twice

    errors = fleet.store.query(names.run_pk(run_id), names.ERROR_SK_PREFIX, consistent=True)
    assert [(e["account_id"], e["error_type"]) for e in errors] == [
        (first["account"]["id"], "Killed")
    ]


def test_a_batch_half_written_counts_only_what_was_refused(aws: Any) -> None:
    settings = make_settings(accounts=ACCOUNTS[:1], scripts=("inventory",))
    real = create_table(aws, settings)

    class OneLeftOver:
        """BatchWriteItem that writes all but the last item, every time."""

        exceptions = real.client.exceptions

        def batch_write_item(self, RequestItems: dict[str, Any]) -> dict[str, Any]:
            [(table_name, requests)] = RequestItems.items()
            if requests[:-1]:
                real.client.batch_write_item(RequestItems={table_name: requests[:-1]})
            return {"UnprocessedItems": {table_name: requests[-1:]}}

    store = DynamoStore(OneLeftOver(), settings.table_name, sleep=lambda _: None)
    writer_items = [
        table.record_item(
            "r1",
            ACCOUNTS[0],
            "a",
            "inventory",
            "us-east-1",
            {"n": n},
            collected_at="",
            expires_at=0,
            seen={},
            attempt="a1",
        )
        for n in range(25)
    ]
    from lambda_src.record_writer import RecordWriter

    with RecordWriter(store) as writer:
        for item in writer_items:
            writer.put(item)

    assert writer.failed == {("inventory", "us-east-1"): 1}
    stored = list(table.account_records(real, "r1", ACCOUNTS[0], consistent=True))
    assert len(stored) == 24


def test_a_retry_after_the_last_done_item_completes_and_notifies(fleet: Fleet) -> None:
    run_id = fleet.director({"trigger": "test"})["run_id"]
    workers = fleet.take("worker")
    for payload in workers[:-1]:
        fleet.worker(payload)
    real_add = fleet.store.add_counters

    def throttled(*args: Any, **kwargs: Any) -> Any:
        raise ClientError({"Error": {"Code": "ThrottlingException"}}, "UpdateItem")

    fleet.store.add_counters = throttled  # type: ignore[method-assign]
    with pytest.raises(ClientError):
        fleet.worker(workers[-1])  # its done item is written, then it fails
    fleet.store.add_counters = real_add  # type: ignore[method-assign]
    assert run_item(fleet, run_id)["status"] == status.RUNNING

    retry = fleet.worker(workers[-1])  # Lambda's retry

    assert retry.duplicate and retry.completed_run
    fleet.deliver_all()
    assert run_item(fleet, run_id)["status"] == status.COMPLETE
    assert len(fleet.notifications) == 1
    assert summarize(fleet.store, run_id).records == 240


@IN_MEMORY
def test_a_notifier_failing_while_reporting_fails_the_invocation(fleet: Fleet) -> None:
    run_id = fleet.director({"trigger": "test"})["run_id"]
    for payload in fleet.take("worker"):
        fleet.worker(payload)
    [report] = fleet.take("notifier")

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise KeyError("records_by_script")

    fleet.store.query = broken  # type: ignore[method-assign]
    # Not "rejected": Lambda must retry it, then send it to the dead-letter queue.
    with pytest.raises(KeyError):
        fleet.notifier(report)
    assert "notified_at" not in {k for k, v in run_item(fleet, run_id).items() if v}
