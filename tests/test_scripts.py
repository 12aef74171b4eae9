"""The script contract: `check_script` (source only) and `load_script` (import) report broken
scripts with their file and line."""

from __future__ import annotations

import builtins
import re
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from lambda_src.scripts import (
    BUILTIN_DIR,
    Account,
    ScriptError,
    builtin_scripts,
    check_script,
    load_script,
    records_of,
    script_error_message,
    script_error_type,
    script_location,
)

VALID = """\
def collect(session, region, account):
    yield {"region": region, "account": account.id}
"""


def write(tmp_path: Path, source: str, name: str = "script.py") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(source), encoding="utf-8")
    return path


def error_of(path: Path, *, load: bool = False) -> str:
    with pytest.raises(ScriptError) as info:
        (load_script if load else check_script)(path)
    return str(info.value)


# --- valid scripts ----------------------------------------------------------------------------


def test_valid_script_defaults_to_region_scope(tmp_path: Path) -> None:
    path = write(tmp_path, VALID, "whoami_here.py")

    assert check_script(path) == "region"
    script = load_script(path)

    assert script.name == "whoami_here"
    assert script.path == path
    assert script.scope == "region"
    records = script.collect(None, "eu-west-1", Account("123456789012", "me"))
    assert list(records or []) == [{"region": "eu-west-1", "account": "123456789012"}]


def test_account_scope_and_explicit_name(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
        '''Lists IAM things.'''
        import json

        SCOPE = "account"


        def collect(session, region, account):
            return {"scope": SCOPE}
        """,
    )
    assert check_script(path) == "account"
    script = load_script(path, name="iam")
    assert (script.name, script.scope) == ("iam", "account")
    assert script.collect(None, "global", Account("1", "one")) == {"scope": "account"}


def test_explicit_region_scope(tmp_path: Path) -> None:
    path = write(tmp_path, 'SCOPE = "region"\n' + VALID)
    assert check_script(path) == "region"


@pytest.mark.parametrize(
    "signature",
    [
        "session, region, account",
        "session, region, account, extra=1",
        "session, region, account=None",
        "*args",
        "session, *rest",
        "session, region, account, *args, flag=False, **kwargs",
        "session, region, account, /",
        "s, r, a",
    ],
)
def test_accepted_signatures(tmp_path: Path, signature: str) -> None:
    path = write(tmp_path, f"def collect({signature}):\n    return []\n")
    assert check_script(path) == "region"
    assert load_script(path).collect(None, "us-east-1", Account("1", "one")) == []


def test_decorated_collect_and_last_definition_wins(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
        import functools

        def collect(session):
            return []

        @functools.lru_cache(maxsize=None)
        def collect(session, region, account):
            return ()
        """,
    )
    assert check_script(path) == "region"


# --- broken scripts: file and line ------------------------------------------------------------


def test_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
        import boto3

        def collect(session, region, account)
            return []
        """,
    )
    message = error_of(path)
    assert message.startswith(f"{path}:3: syntax error: ")
    assert re.match(rf"{re.escape(str(path))}:3: syntax error: \S", message)


def test_syntax_error_later_in_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, VALID + "\n\nx = (1,\ny = 2\nz = [\n")
    message = error_of(path)
    assert message.startswith(f"{path}:")
    line = int(message[len(str(path)) + 1 :].split(":", 1)[0])
    assert line >= 5  # never the top of the file for an error at the bottom
    assert "syntax error" in message


def test_no_collect(tmp_path: Path) -> None:
    path = write(tmp_path, "def gather(session, region, account):\n    return []\n")
    message = error_of(path)
    assert message.startswith(f"{path}:1: ")
    assert "collect" in message


def test_collect_that_is_not_top_level_does_not_count(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
        class Thing:
            def collect(self, session, region, account):
                return []

        if True:
            def collect(session, region, account):
                return []

        collect = lambda session, region, account: []
        """,
    )
    assert error_of(path).startswith(f"{path}:1: no top-level function `collect")


@pytest.mark.parametrize(
    ("signature", "takes"),
    [
        ("session", "(session)"),
        ("session, region", "(session, region)"),
        ("session, region, account, extra", "(session, region, account, extra)"),
        ("session, region, account, *, verbose", "(session, region, account)"),
        ("*args, required", "(nothing)"),
        ("**kwargs", "(nothing)"),
        ("", "(nothing)"),
    ],
)
def test_wrong_arity_names_the_def_line(tmp_path: Path, signature: str, takes: str) -> None:
    path = write(
        tmp_path,
        f'''\
"""A script."""
import json


def collect({signature}):
    return []
''',
    )
    message = error_of(path)
    assert message.startswith(f"{path}:5: `collect` must take (session, region, account)")
    assert message.endswith(f"it takes {takes}")


def test_async_collect_is_rejected(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "import asyncio\n\n\nasync def collect(session, region, account):\n    return []\n",
    )
    message = error_of(path)
    assert message.startswith(f"{path}:4: ")
    assert "async" in message


@pytest.mark.parametrize("value", ['"global"', '"Account"', "None", "REGION", '["region"]'])
def test_bad_scope_names_its_line(tmp_path: Path, value: str) -> None:
    path = write(tmp_path, f'import os\n\nREGION = "region"\nSCOPE = {value}\n\n' + VALID)
    message = error_of(path)
    assert message == f'{path}:4: SCOPE must be "region" or "account"'


def test_last_scope_assignment_wins(tmp_path: Path) -> None:
    path = write(tmp_path, 'SCOPE = "region"\nSCOPE = "account"\n' + VALID)
    assert check_script(path) == "account"


def test_annotated_scope_is_honoured(tmp_path: Path) -> None:
    path = write(tmp_path, 'SCOPE: str = "account"\n' + VALID)
    assert check_script(path) == "account"


def test_script_failing_on_import_names_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, '"""Needs a module we do not have."""\n\nimport not_a_module\n' + VALID)
    message = error_of(path, load=True)
    assert message.startswith(f"{path}:3: fails on import: ")
    assert "ModuleNotFoundError" in message
    assert "not_a_module" in message


def test_import_error_points_at_the_deepest_line_in_the_script(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
        def helper():
            return {}["missing"]

        TABLE = helper()

        def collect(session, region, account):
            return []
        """,
    )
    message = error_of(path, load=True)
    assert message.startswith(f"{path}:2: fails on import: KeyError")


def test_import_error_raised_in_another_module_names_the_script_line(tmp_path: Path) -> None:
    path = write(tmp_path, "import json\n\nCONFIG = json.loads('{')\n" + VALID)
    message = error_of(path, load=True)
    assert message.startswith(f"{path}:3: fails on import: json.decoder.JSONDecodeError")


def test_import_error_line_with_a_relative_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path, "import os\n\nimport not_a_module\n" + VALID, "bad.py")
    monkeypatch.chdir(tmp_path)
    message = error_of(Path("bad.py"), load=True)
    assert message.startswith("bad.py:3: fails on import: ModuleNotFoundError")


def test_a_bundled_script_is_named_by_its_place_in_the_bundle(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Where Lambda (or the local runtime) unpacked the bundle says nothing to the reader.
    monkeypatch.setattr("lambda_src.scripts.BUNDLED_SETTINGS", tmp_path / "fleet.json")
    (tmp_path / "fleet.json").write_text("{}")
    (tmp_path / "user_scripts").mkdir()
    path = write(tmp_path / "user_scripts", "import os\n\nimport not_a_module\n" + VALID, "b.py")
    message = error_of(path, load=True)
    assert message.startswith("user_scripts/b.py:3: fails on import: ModuleNotFoundError")


def test_import_is_checked_first(tmp_path: Path) -> None:
    """A script that cannot be used is never imported (its top level is not run)."""
    marker = tmp_path / "ran"
    path = write(
        tmp_path, f"open({str(marker)!r}, 'w').close()\n\ndef collect(session):\n    pass\n"
    )
    assert error_of(path, load=True).startswith(f"{path}:3: ")
    assert not marker.exists()


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nowhere" / "gone.py"
    message = error_of(path)
    assert message.startswith(f"{path}: cannot read script: ")
    assert "No such file" in message
    assert error_of(path, load=True) == message


def test_directory_instead_of_file(tmp_path: Path) -> None:
    assert error_of(tmp_path).startswith(f"{tmp_path}: cannot read script: ")


def test_undecodable_script_is_a_script_error(tmp_path: Path) -> None:
    path = tmp_path / "latin.py"
    path.write_bytes("# caf\xe9\n".encode("latin-1") + VALID.encode())
    assert error_of(path).startswith(f"{path}")


def test_null_byte_error_has_no_none_line(tmp_path: Path) -> None:
    path = tmp_path / "nul.py"
    path.write_bytes(VALID.encode() + b"\x00\n")
    message = error_of(path)
    assert message.startswith(f"{path}")
    assert ":None:" not in message


# --- built-ins ----------------------------------------------------------------------------------


def test_builtin_scripts() -> None:
    scripts = builtin_scripts()
    assert {"ec2_instances", "s3_buckets", "iam_users_without_mfa"} <= set(scripts)
    assert "__init__" not in scripts
    assert not [name for name in scripts if name.startswith("_")]
    assert list(scripts) == sorted(scripts)
    for name, path in scripts.items():
        assert path == BUILTIN_DIR / f"{name}.py"
        assert path.is_file()
        assert check_script(path) in ("region", "account")
    assert check_script(scripts["ec2_instances"]) == "region"
    assert check_script(scripts["s3_buckets"]) == "account"


def test_a_base_exception_at_import_is_a_script_error(tmp_path: Path) -> None:
    path = tmp_path / "modboom.py"
    path.write_text(
        "class Boom(BaseException):\n    pass\n\n\nraise Boom('at import')\n\n\n"
        "def collect(session, region, account):\n    return []\n"
    )
    with pytest.raises(ScriptError, match=r"modboom.py:5: fails on import: Boom: at import"):
        load_script(path)


# --- what collect gives, and how its errors read ----------------------------------------------


def test_collect_may_return_a_list_and_yield_values_that_are_not_dicts() -> None:
    assert list(records_of([{"a": 1}, {"b": 2}])) == [{"a": 1}, {"b": 2}]
    assert list(records_of(iter(["i-1", 5, None, ("x", 1)]))) == [
        {"value": "i-1"},
        {"value": 5},
        {"value": ("x", 1)},
    ]  # a None (`yield check(x)` of a helper that found nothing) is no record
    assert list(records_of({"one": 1})) == [{"one": 1}]
    assert list(records_of(None)) == []


def test_a_boto3_resource_is_stored_as_its_data(aws: Any) -> None:
    s3 = boto3.resource("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="kept")
    [bucket] = s3.buckets.all()
    ec2 = boto3.resource("ec2", region_name="us-east-1")
    [volume] = ec2.create_volume(AvailabilityZone="us-east-1a", Size=1) and ec2.volumes.all()

    [from_bucket, from_volume, unloaded] = records_of(
        [bucket, volume, ec2.Instance("i-0123456789abcdef0")]
    )

    assert from_bucket["Name"] == "kept" and "CreationDate" in from_bucket
    assert from_volume["VolumeId"] == volume.id and from_volume["Size"] == 1
    assert unloaded == {"id": "i-0123456789abcdef0"}  # never loaded: no call made for it
    # Returned on its own, a resource is one record too.
    assert list(records_of(bucket)) == [from_bucket]


def test_collect_returning_a_string_says_what_was_expected_and_where(tmp_path: Path) -> None:
    path = write(
        tmp_path, "import json\n\n\ndef collect(session, region, account):\n    return 'x'\n"
    )
    script = load_script(path)

    with pytest.raises(TypeError) as info:
        list(records_of(script.collect(None, "r", Account("1", "a")), script.collect))

    assert str(info.value).startswith("collect returned str 'x'; expected records: yield them")
    assert script_location(info.value, path) == f"{path}:4"


def test_an_error_raised_while_handling_another_shows_both(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
        def collect(session, region, account):
            tags = {}
            try:
                return tags["Name"]
            except KeyError:
                return undefined_name
        """,
    )
    script = load_script(path)

    with pytest.raises(NameError) as info:
        script.collect(None, "r", Account("1", "a"))

    assert script_error_type(info.value) == "NameError"
    assert script_error_message(info.value, path) == (
        "name 'undefined_name' is not defined (during handling of KeyError at line 4: 'Name')"
    )
    assert script_location(info.value, path) == f"{path}:6"


def test_a_raise_from_shows_its_cause_and_a_suppressed_context_is_left_out() -> None:
    try:
        try:
            raise KeyError("a")
        except KeyError as exc:
            raise ValueError("bad") from exc
    except ValueError as exc:
        assert script_error_message(exc) == "bad (caused by KeyError: 'a')"
    try:
        try:
            raise KeyError("a")
        except KeyError:
            raise ValueError("bad") from None
    except ValueError as exc:
        assert script_error_message(exc) == "bad"


def test_error_types_are_qualified_by_their_module_except_builtins_and_the_scripts_own(
    tmp_path: Path,
) -> None:
    path = write(
        tmp_path,
        """\
        import csv, io

        class Mine(Exception):
            pass

        def collect(session, region, account):
            if region == "csv":
                csv.writer(io.StringIO(), quoting=csv.QUOTE_NONE).writerow(["a,b"])
            raise Mine("own")
        """,
    )
    script = load_script(path)

    with pytest.raises(Exception) as csv_error:
        script.collect(None, "csv", Account("1", "a"))
    with pytest.raises(Exception) as own:
        script.collect(None, "r", Account("1", "a"))

    assert script_error_type(csv_error.value) == "_csv.Error"
    assert script_error_type(own.value) == "Mine"
    assert script_error_type(KeyError("k")) == "KeyError"
    client_error = ClientError({"Error": {"Code": "AccessDenied", "Message": "no"}}, "Get")
    assert script_error_type(client_error) == "AccessDenied"


def test_a_script_importing_in_this_process_has_no_command_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # --no-sandbox: before, parse_args() read lambdafan's own options and the import failed
    # with "unrecognized arguments: -c fleet.yaml run --local".
    argv = ["lambdafan", "-c", "fleet.yaml", "run", "--local", "--no-sandbox"]
    monkeypatch.setattr(sys, "argv", argv)
    path = Path(__file__).parent / "sandbox_scripts" / "parses_args.py"

    script = load_script(path)

    assert list(script.collect(None, "us-east-1", None)) == [{"days": 90, "argv": [str(path)]}]
    assert sys.argv == argv  # put back


def test_a_script_hanging_at_import_holds_up_no_other_import(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    argv = ["lambdafan", "run", "--local", "--no-sandbox"]
    monkeypatch.setattr(sys, "argv", argv)
    release = threading.Event()
    hangs = tmp_path / "hangs.py"
    hangs.write_text(
        "import builtins\nbuiltins._lambdafan_test_started.set()\n"
        "builtins._lambdafan_test_release.wait(10)\n"
        "def collect(session, region, account):\n    yield {}\n"
    )
    started_import = threading.Event()
    monkeypatch.setattr(builtins, "_lambdafan_test_release", release, raising=False)
    monkeypatch.setattr(builtins, "_lambdafan_test_started", started_import, raising=False)
    hanging = threading.Thread(target=load_script, args=(hangs,))
    hanging.start()
    assert started_import.wait(10)
    try:
        path = Path(__file__).parent / "sandbox_scripts" / "parses_args.py"
        started = time.monotonic()
        script = load_script(path)  # while the other import waits
        assert time.monotonic() - started < 5
        [record] = script.collect(None, "us-east-1", None)
        assert record["days"] == 90
        assert sys.argv != argv  # still the other import's stand-in
    finally:
        release.set()
        hanging.join(10)
    assert sys.argv == argv  # the last import to finish put lambdafan's back
