"""`lambdafan.query`: the record files, the DuckDB views over them, and the reads from the table
(on lambdafan's in-memory store, written with lambda_src's item builders)."""

from __future__ import annotations

import datetime as dt
import gzip
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from lambda_src import names
from lambda_src.s3_export import ORIGIN
from lambda_src.table import Item
from lambdafan.errors import LambdafanError, UsageError
from lambdafan.memory_store import MemoryStore
from lambdafan.query import engine, from_table
from lambdafan.query.record_files import merge, write_records
from tests.test_run_diff import FIRST, R1, R2, R3, SECOND, USE1, A, B, inst, write_run

pytest.importorskip("duckdb")


def row(script: str, run_id: str = R1, **fields: Any) -> dict[str, Any]:
    origin = {"run_id": run_id, "account_id": A, "account_name": "prod", "region": USE1}
    return {**origin, "script": script, **fields}


def lines(path: Path) -> list[dict[str, Any]]:
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        return [json.loads(line) for line in handle]


def test_records_go_to_one_gzipped_json_lines_file_per_script(tmp_path: Path) -> None:
    rows = [row("a", n=1), row("b", n=2), row("a", n=3)]

    files = write_records(tmp_path / "r1", rows)

    assert list(files) == ["a", "b"] and all(len(paths) == 1 for paths in files.values())
    assert lines(files["a"][0]) == [rows[0], rows[2]]
    assert lines(files["b"][0]) == [rows[1]]
    more = write_records(tmp_path / "r2", [row("b", R2, n=4)])
    assert merge(files, more) == {"a": files["a"], "b": files["b"] + more["b"]}


def test_a_script_s_records_are_split_in_parts_of_bounded_size(tmp_path: Path) -> None:
    rows = [row("a", n=n) for n in range(5)] + [row("b", n=9)]

    files = write_records(tmp_path, rows, part_records=2)

    assert [len(lines(path)) for path in files["a"]] == [2, 2, 1]
    assert [r["n"] for path in files["a"] for r in lines(path)] == list(range(5))
    assert len({*files["a"], *files["b"]}) == 4
    con, _ = engine.connect(tmp_path, files)
    assert list(engine.run_sql(con, "select count(*) as n from a").rows) == [{"n": 5}]


def test_views_per_script_typed_and_nested(tmp_path: Path) -> None:
    files = merge(
        write_records(
            tmp_path / "1",
            [
                row(
                    "ec2",
                    id="i-1",
                    launched="2026-01-01T00:00:00+00:00",
                    tags={"team": "web"},
                    ports=[22],
                ),
                row(
                    "ec2",
                    id="i-2",
                    launched="2026-01-02T00:00:00+00:00",
                    tags={"env": "dev"},
                    ports=[],
                ),
                row("odd-name", value=1.5),
            ],
        ),
        write_records(tmp_path / "2", [row("ec2", R2, id="i-3", extra=True)]),
    )
    con, _ = engine.connect(tmp_path, files)

    views = engine.views(con)

    assert list(views) == ["ec2", "odd-name", "records"]
    types = {c.name: c.type for c in views["ec2"]}
    assert [c.name for c in views["ec2"]][:5] == list(ORIGIN)
    assert types["account_id"] == "VARCHAR"  # 12 digits, a leading 0: text, never a number
    assert types["launched"] == "TIMESTAMP WITH TIME ZONE"
    assert types["tags"] == "STRUCT(team VARCHAR, env VARCHAR)"
    assert types["ports"] == "BIGINT[]" and types["extra"] == "BOOLEAN"  # union by name
    result = engine.run_sql(con, "select id, launched, tags.team, ports from ec2 order by id")
    assert list(result.rows) == [
        {"id": "i-1", "launched": "2026-01-01T00:00:00+00:00", "team": "web", "ports": [22]},
        {"id": "i-2", "launched": "2026-01-02T00:00:00+00:00", "team": None, "ports": []},
        {"id": "i-3", "launched": None, "team": None, "ports": None},
    ]
    assert list(engine.run_sql(con, 'select value from "odd-name"').rows) == [{"value": 1.5}]


def test_the_records_view_has_the_origin_and_each_record_as_json(tmp_path: Path) -> None:
    files = write_records(tmp_path, [row("a", n=1, tags={"x": [1]}), row("b", name="b1")])
    con, _ = engine.connect(tmp_path, files)

    rows = list(engine.run_sql(con, "select * from records order by script").rows)

    assert rows == [
        {**row("a"), "record": {"n": 1, "tags": {"x": [1]}}},
        {**row("b"), "record": {"name": "b1"}},
    ]
    assert [c.type for c in engine.run_sql(con, "select * from records").columns][-1] == "JSON"


def test_empty_views_and_no_records_at_all(tmp_path: Path) -> None:
    known = write_records(tmp_path / "earlier", [row("gone", R1, n=1)])
    con, _ = engine.connect(tmp_path, {}, known)

    assert list(engine.run_sql(con, "select n from gone").rows) == []
    assert list(engine.run_sql(con, "select count(*) as n from records").rows) == [{"n": 0}]
    assert [c.name for c in engine.views(con)["gone"]] == [*ORIGIN, "n"]


def test_fields_duckdb_cannot_type_leave_the_record_as_json(tmp_path: Path) -> None:
    odd = {"tags": {"Env": "prod", "env": "dev"}}  # a struct cannot have both
    files = merge(
        write_records(tmp_path / "1", [row("odd", **odd), row("fine", n=1)]),
        write_records(tmp_path / "2", [row("Fine", n=2)]),
    )

    con, problems = engine.connect(tmp_path, files)

    assert problems["odd"].startswith("each record as JSON in `record`: ")
    assert "Duplicate name" in problems["odd"]
    assert problems["Fine"] == "no view: to DuckDB, which ignores case, it is fine"
    assert list(engine.run_sql(con, "select record from odd").rows) == [{"record": odd}]
    assert list(engine.run_sql(con, "select n from fine").rows) == [{"n": 1}]
    assert len(list(engine.run_sql(con, "select * from records").rows)) == 3


def test_a_script_named_records_keeps_its_view(tmp_path: Path) -> None:
    con, _ = engine.connect(tmp_path, {}, write_records(tmp_path, [row("records", n=1)]))
    assert [c.name for c in engine.views(con)["records"]] == [*ORIGIN, "n"]


def test_duckdb_refusals_are_one_line_usage_errors(tmp_path: Path) -> None:
    con, _ = engine.connect(tmp_path, write_records(tmp_path, [row("a", n="x")]))
    with pytest.raises(UsageError) as refused:
        engine.run_sql(con, "select *\nfrom nowhere")
    assert str(refused.value).startswith("Catalog Error: Table with name nowhere does not exist")
    assert "\n" not in str(refused.value)
    with pytest.raises(UsageError, match=r"^Conversion Error"):
        list(engine.run_sql(con, "select n::int from a").rows)


def test_quote_and_plain_values() -> None:
    assert engine.quote('we"ird') == '"we""ird"'
    at = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
    assert engine.plain({"a": [at, Decimal("2"), Decimal("2.5")], "d": dt.date(2026, 1, 2)}) == {
        "a": ["2026-01-01T00:00:00+00:00", 2, 2.5],
        "d": "2026-01-02",
    }


def test_an_import_error_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(__import__("sys").modules, "duckdb", None)
    with pytest.raises(UsageError, match=r"pip install 'lambdafan\[query\]'"):
        engine.require_duckdb()


# --- reads from the table ------------------------------------------------------------------


class CountingStore(MemoryStore):
    """A MemoryStore that counts the partitions its Queries read."""

    def __init__(self) -> None:
        super().__init__()
        self.queried: list[str] = []

    def query(self, pk: str, sk_prefix: str = "", **kwargs: Any) -> Any:
        self.queried.append(pk)
        return super().query(pk, sk_prefix, **kwargs)


@pytest.fixture
def store() -> CountingStore:
    store = CountingStore()
    write_run(store, R1, FIRST)
    write_run(store, R2, SECOND)
    write_run(store, R3, {B: {("inventory", USE1): [inst("i-b")]}})
    return store


def ids(runs: list[Item]) -> list[str]:
    return [str(run["run_id"]) for run in runs]


def test_pick_runs_newest_first_up_to_the_one_named(store: CountingStore) -> None:
    assert ids(from_table.pick_runs(store, None, 1, "t")) == [R3]
    assert ids(from_table.pick_runs(store, None, 2, "t")) == [R3, R2]
    assert ids(from_table.pick_runs(store, R2, 5, "t")) == [R2, R1]
    assert ids(from_table.earlier_runs(store, R2)) == [R1]
    with pytest.raises(UsageError, match="not found"):
        from_table.pick_runs(store, "20990101T000000Z-zzzzzz", 1, "t")


def test_load_runs_writes_each_counted_record_with_its_run(
    store: CountingStore, tmp_path: Path
) -> None:
    runs = from_table.pick_runs(store, R2, 2, "t")

    files = from_table.load_runs(store, runs, tmp_path)

    assert sorted(files) == ["buckets", "inventory"] and len(files["inventory"]) == 2
    found = [r for paths in files.values() for path in paths for r in lines(path)]
    assert len(found) == sum(
        len(v) for run in (FIRST, SECOND) for p in run.values() for v in p.values()
    )
    assert not [r for r in found if "stray" in r]  # an attempt that does not count
    assert {r["run_id"] for r in found} == {R1, R2}
    first = next(r for r in found if r.get("instance_id") == "i-b")
    assert list(first)[:5] == list(ORIGIN)


def test_known_fields_come_from_the_newest_earlier_run_that_had_records(
    store: CountingStore, tmp_path: Path
) -> None:
    earlier = from_table.earlier_runs(store, R3)
    store.queried.clear()

    found = from_table.known_fields(store, ["buckets", "never"], earlier, tmp_path)

    assert list(found) == ["buckets"]
    assert {r["name"] for r in lines(found["buckets"][0])} == {"b1", "b3"}  # R2's
    assert {r["run_id"] for r in lines(found["buckets"][0])} == {R2}
    # R2's done items, then only account A's records (B had no buckets): no Query per account.
    assert store.queried == [names.run_pk(R2), names.records_pk(R2, A)]


def test_a_file_duckdb_cannot_read_is_exit_1_the_sql_s_faults_exit_2(tmp_path: Path) -> None:
    """A corrupt object (not gzip, cut short, not JSON) is the data's fault, not the SQL's."""
    files = write_records(tmp_path / "r", [row("a", n=1), row("a", n=2)])
    con, _ = engine.connect(tmp_path, files)
    (path,) = files["a"]
    whole = path.read_bytes()
    for broken in (b"not gzip", whole[:15], gzip.compress(b'{"n": 1\n')):
        path.write_bytes(broken)  # after the views were made: it fails as the SQL runs
        for sql in ("select count(*) from a", "select * from records"):
            with pytest.raises(LambdafanError) as failed:
                list(engine.run_sql(con, sql).rows)
            assert not isinstance(failed.value, UsageError), (broken, sql)
            assert failed.value.exit_code == 1 and str(path) in str(failed.value)
        with pytest.raises(LambdafanError) as at_connect:
            engine.connect(tmp_path, files)
        assert not isinstance(at_connect.value, UsageError)
    for sql in ("select strptime('x', '%Y')", "select json_extract('{', '$')", "selec 1"):
        with pytest.raises(UsageError):
            list(engine.run_sql(con, sql).rows)
