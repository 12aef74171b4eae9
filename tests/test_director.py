"""The Director: resolves a run's accounts and scripts, records the run, starts one Worker per
account, and marks accounts whose Worker cannot start as failed."""

from __future__ import annotations

import datetime as dt
from typing import Any

from botocore.exceptions import ClientError

from lambda_src import runs, table
from lambda_src.director import DirectorDeps, run_director
from lambda_src.notifier import NotifierDeps, run_notifier
from lambdafan.memory_store import MemoryStore
from tests.conftest import create_table, make_settings

A, B = "111111111111", "022222222222"


def test_director_marks_accounts_whose_worker_cannot_start(aws: Any) -> None:
    settings = make_settings(accounts=(A, B))
    store = create_table(aws, settings)
    started: list[dict[str, Any]] = []
    notified: list[dict[str, Any]] = []

    def invoke(kind: str, payload: dict[str, Any]) -> None:
        if kind == "notifier":
            notified.append(payload)
        elif payload["account"]["id"] == B:
            raise ClientError(
                {"Error": {"Code": "TooManyRequestsException", "Message": "slow down"}}, "Invoke"
            )
        else:
            started.append(payload)

    response = run_director(
        {}, settings, DirectorDeps(store=store, organizations=None, invoke=invoke)
    )

    assert [p["account"] for p in started] == [{"id": A, "name": "acct-111"}]
    assert started[0]["regions"] == ["us-east-1", "eu-west-1"]
    errors = list(table.run_errors(store, response["run_id"]))
    assert [(e["account_id"], e["error_type"]) for e in errors] == [(B, "ClientError")]
    run = table.get_run(store, response["run_id"])
    assert run is not None and run["accounts_expected"] == 2 and run["status"] == "running"
    # The run lists its accounts, so readers find records of accounts not finished yet.
    assert sorted(run["accounts"]) == [B, A]
    assert not notified  # A's Worker has yet to finish
    assert (response["resumed"], response["started"]) == (False, 2)
    assert errors[0]["attempt"] == runs.DIRECTOR_ATTEMPT

    # The same event again (Lambda retried the Director): the run resumes, starting a Worker
    # only for the account not done yet; B's failure stays as it was.
    started.clear()
    again = run_director(
        {"run_id": response["run_id"]},
        settings,
        DirectorDeps(store=store, organizations=None, invoke=invoke),
    )
    assert (again["run_id"], again["resumed"], again["started"]) == (response["run_id"], True, 1)
    assert [p["account"]["id"] for p in started] == [A]
    assert len(list(table.run_errors(store, response["run_id"]))) == 1
    assert len(list(table.account_items(store, response["run_id"]))) == 1
    assert not notified


def test_director_restricts_ad_hoc_runs_and_reports_unknown_names(aws: Any) -> None:
    settings = make_settings(accounts=(A, B), scripts=("whoami", "buckets"))
    store = MemoryStore()
    started: list[dict[str, Any]] = []
    response = run_director(
        {"run_id": "adhoc", "accounts": [B, "999999999999"], "scripts": ["buckets", "nope"]},
        settings,
        DirectorDeps(store=store, organizations=None, invoke=lambda k, p: started.append(p)),
    )
    assert response["unknown_accounts"] == ["999999999999"]
    assert response["unknown_scripts"] == ["nope"]
    assert [(p["account"]["id"], p["scripts"]) for p in started] == [(B, ["buckets"])]


def test_worker_event_from_director_shape(aws: Any) -> None:
    """What the Director sends is exactly what the Worker reads."""
    sent: list[dict[str, Any]] = []
    settings = make_settings(accounts=(A, B), scripts=("whoami",))
    store = create_table(aws, settings)
    run_director({}, settings, DirectorDeps(store, None, lambda k, p: sent.append(p)))
    assert sorted(sent[0]) == ["account", "regions", "run_id", "scripts"]


def test_a_run_with_no_accounts_completes_at_once_and_notifies() -> None:
    settings = make_settings(accounts=(A, B))
    store = MemoryStore()
    invoked: list[tuple[str, dict[str, Any]]] = []
    response = run_director(
        {"run_id": "empty", "accounts": ["999999999999"]},
        settings,
        DirectorDeps(store=store, organizations=None, invoke=lambda k, p: invoked.append((k, p))),
    )
    assert response["accounts"] == 0 and response["unknown_accounts"] == ["999999999999"]
    assert invoked == [("notifier", {"run_id": "empty"})]
    run = table.get_run(store, "empty")
    assert run is not None and (run["status"], run["accounts_done"]) == ("complete", 0)
    # Retried before its Notifier reported, it starts the Notifier again (it reports once).
    invoked.clear()
    retry = {"run_id": "empty", "accounts": ["999999999999"]}
    deps = DirectorDeps(store=store, organizations=None, invoke=lambda k, p: invoked.append((k, p)))
    again = run_director(retry, settings, deps)
    assert (again["resumed"], again["started"], invoked) == (
        True,
        0,
        [("notifier", {"run_id": "empty"})],
    )
    # Once reported, a retry finds the run ended and does nothing.
    run_notifier({"run_id": "empty"}, settings, NotifierDeps(store=store))
    invoked.clear()
    again = run_director(retry, settings, deps)
    assert (again["resumed"], again["started"], invoked) == (True, 0, [])


def test_a_scheduled_event_delivered_twice_is_one_run() -> None:
    settings = make_settings(accounts=(A, B))
    store = MemoryStore()
    started: list[dict[str, Any]] = []
    event = {"source": "aws.events", "time": "2026-11-26T06:00:00Z", "id": "ev-1", "detail": {}}
    deps = DirectorDeps(store=store, organizations=None, invoke=lambda k, p: started.append(p))
    first = run_director(event, settings, deps)
    second = run_director(event, settings, deps)
    assert first["run_id"] == second["run_id"] == runs.scheduled_run_id(event)
    assert first["run_id"].startswith("20261126T060000Z-")
    assert (first["resumed"], second["resumed"]) == (False, True)
    assert len(list(store.query_runs())) == 1
    run = table.get_run(store, first["run_id"])
    assert run is not None and run["trigger"] == "schedule"
    # No account was done yet, so the retry started both Workers again (each a new attempt).
    assert sorted(p["account"]["id"] for p in started) == sorted([A, A, B, B])
    other = run_director({**event, "id": "ev-2"}, settings, deps)
    assert other["run_id"] != first["run_id"]


def test_an_overdue_run_whose_accounts_all_reported_completes_and_notifies() -> None:
    """Every account reported, but the last counter update was lost (a crash between the done
    item and the counters): the sweep completes the run as it would have; it is not incomplete."""
    settings = make_settings(accounts=(A, B))
    store = MemoryStore()
    started = dt.datetime(2026, 11, 26, 6, 0, tzinfo=dt.timezone.utc)
    runs.start_run(store, "old", accounts=[A, B], scripts=["whoami"], trigger="manual",
                   now=started, ttl_days=1, worker_timeout_s=900)  # fmt: skip
    finished = runs.finish_account(store, "old", A, "a", records_by_script={"whoami": 2},
                                   errors=0, failed=False, attempt="a1", now=started,
                                   ttl_days=1)  # fmt: skip
    assert finished is runs.Finish.COUNTED
    # B's done item is written, and then its Worker dies before adding its counters.
    assert store.put_new(
        table.account_done_item("old", B, "b", records_by_script={"whoami": 3}, errors=0,
                                failed=False, finished_at=runs.iso(started), expires_at=0,
                                attempt="b1")
    )  # fmt: skip
    invoked: list[tuple[str, dict[str, Any]]] = []
    later = started + dt.timedelta(days=1)
    run_director(
        {"run_id": "new", "accounts": []},
        settings,
        DirectorDeps(store, None, lambda k, p: invoked.append((k, p)), clock=lambda: later),
    )
    run = table.get_run(store, "old")
    assert run is not None
    assert (run["status"], run["accounts_done"], run["records"]) == ("complete", 2, 5)
    assert ("notifier", {"run_id": "old"}) in invoked
