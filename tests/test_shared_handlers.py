"""The shared handler trie behaves as botocore's, its copies never see each other's changes,
and clients made from a session that has it each sign with their own account's keys."""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import gc
import random
import threading
import weakref
from collections import Counter
from typing import Any

import boto3
import pytest
from botocore.hooks import EventAliaser, _PrefixTrie

from lambda_src.shared_handlers import SharedPrefixTrie, share_handlers
from lambdafan.aws import Aws
from lambdafan.local import LocalExecutor
from lambdafan.memory_store import MemoryStore
from tests.conftest import load_scripts, make_settings

KEYS = ["a", "a.b", "a.b.c", "a.*.c", "a.x", "b", "b.c.d", "*", "a.b.*"]
QUERIES = ["a", "a.b", "a.b.c", "a.y.c", "a.x", "b.c.d", "b.c", "c", "a.b.z"]


def _apply(trie: _PrefixTrie, op: tuple[str, str, int, int]) -> None:
    kind, key, value, section = op
    if kind == "add":
        trie.append_item(key, value, section)
        return
    # botocore's answers to a key it doesn't have, or a node without values: no change
    with contextlib.suppress(ValueError, AttributeError):
        trie.remove_item(key, value)


def _seen(trie: _PrefixTrie) -> list[list[int]]:
    return [list(trie.prefix_search(q)) for q in QUERIES]


def test_the_shared_trie_answers_as_botocores_through_random_changes_and_copies() -> None:
    rng = random.Random(12)
    plain, shared = _PrefixTrie(), SharedPrefixTrie()
    pairs = [(plain, shared)]
    for step in range(2_000):
        if step % 50 == 0:  # a copy of each, changed on its own from now on
            p, s = rng.choice(pairs)
            pairs.append((copy.copy(p), copy.copy(s)))
        p, s = rng.choice(pairs)
        op = (
            rng.choice(["add", "add", "remove"]),
            rng.choice(KEYS),
            rng.randrange(20),
            rng.randrange(3),
        )
        _apply(p, op)
        _apply(s, op)
    assert len(pairs) == 41
    for p, s in pairs:
        assert _seen(s) == _seen(p)


def test_a_change_to_a_copy_is_never_seen_by_the_original_or_its_siblings() -> None:
    trie = SharedPrefixTrie()
    trie.append_item("request-created.sts", "session's")
    one, two = copy.copy(trie), copy.copy(trie)
    one.append_item("request-created.sts", "signer one")
    two.append_item("request-created.sts", "signer two")
    two.remove_item("request-created.sts", "session's")
    assert list(trie.prefix_search("request-created.sts")) == ["session's"]
    assert list(one.prefix_search("request-created.sts")) == ["session's", "signer one"]
    assert list(two.prefix_search("request-created.sts")) == ["signer two"]


def test_each_client_holds_only_its_own_signer() -> None:
    session = boto3.Session(region_name="us-east-1")
    assert share_handlers(session)
    assert share_handlers(session)  # once only: a second call keeps the trie
    clients = [
        session.client(
            "sts", aws_access_key_id=f"AKIA{n}", aws_secret_access_key="s", region_name="eu-west-1"
        )
        for n in range(3)
    ]
    for client in clients:
        handlers = list(client.meta.events._emitter._handlers.prefix_search("request-created.sts"))
        signers = [
            h
            for h in handlers
            if getattr(h, "__self__", None).__class__.__name__ == "RequestSigner"
        ]
        assert [s.__self__ for s in signers] == [client._request_signer]
        assert client._request_signer._credentials.access_key == f"AKIA{clients.index(client)}"


def test_many_accounts_on_many_threads_each_answer_as_their_own_account(aws: Any) -> None:
    """The leak test: a local run over 40 accounts x 4 regions on 32 threads; every record's
    get_caller_identity must name the account it was collected for."""
    accounts = tuple(f"{700_000_000_000 + n:012d}" for n in range(40))
    regions = ("us-east-1", "eu-west-1", "ap-south-1", "sa-east-1")
    settings = make_settings(accounts=accounts, regions=regions)
    store = MemoryStore()
    executor = LocalExecutor(
        settings, Aws(aws), store, load_scripts(settings), threads=32, sandbox=False
    )
    result = executor.run()
    records = [i for i in store._items.values() if i["kind"] == "record"]
    assert result.summary.errors == []
    seen: Counter[tuple[str, str]] = Counter()
    for item in records:
        data = item["data"]
        assert data["caller_account"] == data["for"] == item["account_id"], item
        seen[item["account_id"], data["region_seen"]] += 1
    assert set(seen) == {(a, r) for a in accounts for r in regions}
    assert set(seen.values()) == {1}
    assert threading.active_count() < 200


def test_copies_still_refuse_a_handler_without_kwargs_and_still_alias_event_names() -> None:
    session = boto3.Session(region_name="us-east-1")
    assert share_handlers(session)
    events = session.events
    calls: list[str] = []

    def no_kwargs(request: Any) -> None: ...

    def seen(**kwargs: Any) -> None:
        calls.append(kwargs["marker"])

    for emitter in (events, copy.copy(events), copy.copy(copy.copy(events))):
        with pytest.raises(ValueError, match="must accept keyword arguments"):
            emitter.register("before-call.sts", no_kwargs)
        # botocore's alias: the old name of a service reaches handlers of its new name.
        emitter.register("lambdafan-test.sagemaker-runtime", seen)
        emitter.emit("lambdafan-test.runtime.sagemaker", marker=id(emitter))
    assert len(calls) == 3 and len(set(calls)) == 3  # each copy called only its own handler


def test_a_session_whose_emitter_is_not_as_expected_is_left_untouched() -> None:
    session = boto3.Session(region_name="us-east-1")
    emitter = session._session.get_component("event_emitter")
    emitter.future_state = "something a newer botocore keeps"  # state __copy__ would drop
    trie = emitter._emitter._handlers
    assert not share_handlers(session)
    assert type(emitter) is EventAliaser and emitter._emitter._handlers is trie
    client = session.client("sts", aws_access_key_id="AKIA", aws_secret_access_key="s")
    assert client.meta.events._emitter._handlers is not trie  # botocore's own copy, as before


def test_handlers_that_cannot_be_remembered_are_still_checked_and_not_kept() -> None:
    session = boto3.Session(region_name="us-east-1")
    assert share_handlers(session)

    @dataclasses.dataclass
    class Unhashable:  # a dataclass with __eq__ and no __hash__
        calls: int = 0

        def __call__(self, **kwargs: Any) -> None:
            self.calls += 1

    handler = Unhashable()
    session.events.register("lambdafan-test.unhashable", handler)
    session.events.emit("lambdafan-test.unhashable")
    assert handler.calls == 1

    class PerClient:
        def __call__(self, **kwargs: Any) -> None: ...

    per_client = PerClient()
    session.events.register("lambdafan-test.per-client", per_client)
    gone = weakref.ref(per_client)
    session.events.unregister("lambdafan-test.per-client", per_client)
    del per_client
    gc.collect()
    assert gone() is None  # the check's memory does not keep a handler alive


def test_registrations_from_many_threads_on_one_emitter_are_all_kept() -> None:
    trie = SharedPrefixTrie()
    start = threading.Barrier(8)

    def register(n: int) -> None:
        start.wait()
        for i in range(200):
            trie.append_item(f"event.{n % 3}", (n, i))

    threads = [threading.Thread(target=register, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    kept = [v for k in range(3) for v in trie.prefix_search(f"event.{k}")]
    assert sorted(kept) == sorted((n, i) for n in range(8) for i in range(200))
