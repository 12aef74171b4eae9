"""The script contract: a user's .py file defining `collect(session, region, account)`.

Scripts are checked from their source before they are imported (syntax, `collect` present and
callable with three arguments, `SCOPE` and `KEY` valid), so a broken script is reported with
its file and line instead of failing halfway through a run. `KEY = ("instance_id",)` names the
fields that identify a record, so a retried or re-run script's record is recognised as the same.
"""

from __future__ import annotations

import ast
import contextlib
import importlib.util
import sys
import threading
import traceback
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from boto3.resources.base import ServiceResource

from lambda_src.settings import BUNDLED_SETTINGS

Scope = Literal["region", "account"]
SCOPES: tuple[Scope, ...] = ("region", "account")
BUILTIN_DIR = Path(__file__).resolve().parent / "builtin_scripts"
# Region reported for records and errors of account-scoped scripts.
GLOBAL_REGION = "global"


@dataclass(frozen=True)
class Account:
    """The account a script runs in, as passed to `collect`."""

    id: str
    name: str
    tags: Mapping[str, str] = field(default_factory=dict)


Collect = Callable[[Any, str, Account], "Iterable[Mapping[str, Any]] | Mapping[str, Any] | None"]


class ScriptError(Exception):
    """A script that cannot be used; the message names the file and line (`location`)."""

    def __init__(self, message: str, location: str | None = None) -> None:
        super().__init__(message)
        self.location = location


@dataclass(frozen=True)
class ScriptSpec:
    """A validated script, as far as its source tells without running it."""

    name: str
    path: Path
    scope: Scope
    key: tuple[str, ...] = ()


@dataclass(frozen=True)
class Script(ScriptSpec):
    """An imported script: its spec and its `collect`."""

    collect: Collect = field(kw_only=True)


def builtin_scripts() -> dict[str, Path]:
    """The example scripts shipped with lambdafan, by name."""
    return {p.stem: p for p in sorted(BUILTIN_DIR.glob("*.py")) if not p.name.startswith("_")}


def check_script(path: Path) -> Scope:
    """Validate a script's source without running it; returns its scope."""
    return _check(path)[0]


def _check(path: Path) -> tuple[Scope, tuple[str, ...]]:
    """Validate a script's source without running it; its scope and record key."""
    try:
        source = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ScriptError(f"{path}: cannot read script: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise ScriptError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    try:
        tree = ast.parse(source, filename=str(path))
    except SyntaxError as exc:
        where = f"{path}:{exc.lineno}" if exc.lineno else str(path)
        raise ScriptError(f"{where}: syntax error: {exc.msg}") from None
    except ValueError as exc:  # null bytes, on Python versions that don't call it a SyntaxError
        raise ScriptError(f"{path}: syntax error: {exc}") from None
    collect = _find_collect(tree)
    if collect is None:
        raise ScriptError(
            f"{path}:1: no top-level function `collect(session, region, account)` defined "
            f"(a laptop script? `lambdafan script adapt {path.name}` ports it)"
        )
    _check_signature(path, collect)
    return _scope_of(path, tree), _key_of(path, tree)


def _find_collect(tree: ast.Module) -> ast.FunctionDef | ast.AsyncFunctionDef | None:
    found = None
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == "collect":
            found = node
    return found


def _check_signature(path: Path, fn: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
    if isinstance(fn, ast.AsyncFunctionDef):
        raise ScriptError(f"{path}:{fn.lineno}: `collect` must be a plain function, not async")
    args = fn.args
    positional = [*args.posonlyargs, *args.args]
    required_kwonly = [
        a.arg for a, d in zip(args.kwonlyargs, args.kw_defaults, strict=True) if d is None
    ]
    required = len(positional) - len(args.defaults)
    takes_three = (len(positional) >= 3 or args.vararg is not None) and required <= 3
    if not takes_three or required_kwonly:
        names = ", ".join(a.arg for a in positional) or "nothing"
        raise ScriptError(
            f"{path}:{fn.lineno}: `collect` must take (session, region, account); "
            f"it takes ({names})"
        )


def _assignments(tree: ast.Module, name: str) -> list[tuple[int, ast.expr]]:
    """(line, value) of every top-level assignment to `name`."""
    found = []
    for node in tree.body:
        if isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            targets, value = [node.target], node.value
        else:
            continue
        if any(isinstance(t, ast.Name) and t.id == name for t in targets):
            found.append((node.lineno, value))
    return found


def _scope_of(path: Path, tree: ast.Module) -> Scope:
    scope: Scope = "region"
    for line, value in _assignments(tree, "SCOPE"):
        if not (isinstance(value, ast.Constant) and value.value in SCOPES):
            raise ScriptError(f'{path}:{line}: SCOPE must be "region" or "account"')
        scope = value.value
    return scope


def _key_of(path: Path, tree: ast.Module) -> tuple[str, ...]:
    key: tuple[str, ...] = ()
    for line, value in _assignments(tree, "KEY"):
        fields = value.elts if isinstance(value, (ast.Tuple, ast.List)) else None
        if not fields or not all(
            isinstance(f, ast.Constant) and isinstance(f.value, str) and f.value for f in fields
        ):
            raise ScriptError(
                f'{path}:{line}: KEY must be a tuple of field names, like ("instance_id",)'
            )
        key = tuple(str(f.value) for f in fields if isinstance(f, ast.Constant))
    return key


def describe_script(path: Path, name: str | None = None) -> ScriptSpec:
    """Check a script's source and describe it, never running any of it."""
    scope, key = _check(path)
    return ScriptSpec(name=name or path.stem, path=path, scope=scope, key=key)


def load_script(path: Path, name: str | None = None) -> Script:
    """Check and import a script; errors while importing are reported with file and line."""
    scope, key = _check(path)
    script_name = name or path.stem
    spec = importlib.util.spec_from_file_location(f"{SCRIPT_MODULE_PREFIX}{script_name}", path)
    if spec is None or spec.loader is None:
        raise ScriptError(f"{path}: cannot be imported as a Python module")
    module = importlib.util.module_from_spec(spec)
    try:
        with _no_command_line(path):
            spec.loader.exec_module(module)
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # whatever a script raises at import, it is the script's fault
        where = _where(exc, path)
        raise ScriptError(f"{where}: fails on import: {_describe(exc, path)}", where) from None
    return Script(name=script_name, path=path, scope=scope, collect=module.collect, key=key)


# sys.argv is the process's: scripts importing at once on its threads share one stand-in, and
# the first to start keeps lambdafan's own for the last to finish to put back. (A lock held
# for a whole import would make one script that hangs there hold up every other.)
_ARGV_LOCK = threading.Lock()
_importing = 0
_saved_argv: list[str] = []


@contextlib.contextmanager
def _no_command_line(path: Path) -> Generator[None, None, None]:
    """While a script is imported, `sys.argv` is only a script's path (a laptop script's
    parse_args() then takes its defaults, instead of reading lambdafan's own options)."""
    global _importing, _saved_argv
    with _ARGV_LOCK:
        if _importing == 0:
            _saved_argv = sys.argv
        _importing += 1
        sys.argv = [str(path)]
    try:
        yield
    finally:
        with _ARGV_LOCK:
            _importing -= 1
            if _importing == 0:
                sys.argv = _saved_argv


def _where(exc: BaseException, path: Path) -> str:
    """`file:line` of the deepest frame of `exc` inside the script, or just the file."""
    line = _line_in(exc, path) or getattr(exc, "lambdafan_line", None)
    shown = _shown_path(path)
    return f"{shown}:{line}" if line else str(shown)


def _line_in(exc: BaseException, path: Path) -> int | None:
    """The line of the deepest frame of `exc`'s traceback inside the script at `path`."""
    line = None
    target = path.resolve()
    for frame in traceback.extract_tb(exc.__traceback__):
        if Path(frame.filename).resolve() == target:
            line = frame.lineno
    return line


def _shown_path(path: Path) -> Path:
    """A script's path as the reader knows it: inside a bundle, relative to it (where Lambda
    unpacked it says nothing: `user_scripts/boom.py`, not `/var/task/user_scripts/boom.py`)."""
    root = BUNDLED_SETTINGS.parent
    in_bundle = BUNDLED_SETTINGS.is_file()  # not when run from source
    if in_bundle and path.is_absolute() and path.is_relative_to(root):
        return path.relative_to(root)
    return path


def _describe(exc: BaseException, path: Path) -> str:
    return f"{script_error_type(exc)}: {script_error_message(exc, path)}"


# A script's module is named so: a class it defines is shown by its own name.
SCRIPT_MODULE_PREFIX = "lambdafan_script_"
# How many exceptions of a chain (`raise ... from`, or raised while handling one) are shown.
MAX_CHAIN = 3


def script_error_type(exc: BaseException) -> str:
    """The error type a script's exception is reported as: an AWS error code (AccessDenied…),
    else its class, by name for builtins and the script's own, qualified by its module for the
    rest (`_csv.Error`, `botocore.exceptions.NoCredentialsError`)."""
    code = _aws_code(exc)
    if code:
        return code
    cls = type(exc)
    module = cls.__module__
    if module in ("builtins", "__main__") or module.startswith(SCRIPT_MODULE_PREFIX):
        return cls.__qualname__
    return f"{module}.{cls.__qualname__}"


def script_error_message(exc: BaseException, path: Path | None = None) -> str:
    """A script's exception's message (never empty), with the exceptions it was chained to:
    `... (during handling of KeyError at line 4: 'Tags')`, `(caused by ...)`; lines are the
    script's (`path`) when it is given."""
    text = _message_of(exc)
    seen = {id(exc)}
    current = exc
    for _ in range(MAX_CHAIN):
        if current.__cause__ is not None:
            linked, how = current.__cause__, "caused by"
        elif current.__context__ is not None and not current.__suppress_context__:
            linked, how = current.__context__, "during handling of"
        else:
            break
        if id(linked) in seen:
            break
        seen.add(id(linked))
        line = _line_in(linked, path) if path is not None else None
        # The line before the message: the linked exception's own text may name lines too.
        at = f" at line {line}" if line else ""
        text += f" ({how} {script_error_type(linked)}{at}: {_message_of(linked)})"
        current = linked
    return text


def _message_of(exc: BaseException) -> str:
    """An exception's message; never empty (`MemoryError()` has none)."""
    if str(exc):
        return str(exc)
    return "out of memory" if isinstance(exc, MemoryError) else "(no message)"


def _aws_code(exc: BaseException) -> str | None:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        code = response.get("Error", {}).get("Code")
        if code:
            return str(code)
    return None


def script_location(exc: BaseException, path: Path) -> str:
    """Where a running script failed, as `file:line`, for error items."""
    return _where(exc, path)


def records_of(result: Any, collect: Any = None) -> Iterator[Mapping[str, Any]]:
    """What `collect` returned, as records: one record, an iterable of them (a generator, a
    list…), or None. A record is a dict; a boto3 resource (`ec2.Instance`…) stands for its
    `.meta.data`, None for no record, any other value `v` for `{"value": v}`. The one place
    both the sandbox and the Worker's own threads shape what a script gives (`collect`, for
    the line in errors)."""
    if result is None:
        return
    if isinstance(result, Mapping) or _resource_data(result) is not None:
        yield as_record(result)
        return
    if not isinstance(result, Iterable) or isinstance(result, (str, bytes, bytearray)):
        shown = repr(result)
        shown = shown if len(shown) <= 40 else shown[:37] + "..."
        error = TypeError(
            f"collect returned {type(result).__name__} {shown}; expected records: yield them "
            "(dicts, or values stored as {'value': ...}), or return a dict or a list"
        )
        line = getattr(getattr(collect, "__code__", None), "co_firstlineno", None)
        if line:
            error.lambdafan_line = line  # type: ignore[attr-defined]
        raise error
    for item in result:
        if item is not None:  # `yield check(x)` of a helper that found nothing: no record
            yield as_record(item)


def as_record(value: Any) -> Mapping[str, Any]:
    """One yielded value as a record: a dict as it is, a boto3 resource as its data (or its
    identifiers, when its data was never loaded), anything else as `{"value": value}`."""
    if isinstance(value, Mapping):
        return value
    data = _resource_data(value)
    if data is not None:
        return data
    return {"value": value}


def _resource_data(value: Any) -> Mapping[str, Any] | None:
    """A boto3 resource's attributes (`.meta.data`), or None for anything else."""
    if not isinstance(value, ServiceResource):
        return None
    data = value.meta.data
    if isinstance(data, Mapping):
        return data
    # Not loaded (made from an id): its identifiers, never a call to AWS to load it.
    return {name: getattr(value, name, None) for name in value.meta.identifiers}


def error_type_of(exc: BaseException) -> str:
    """AWS error code for client errors (AccessDenied, Throttling…), else the exception class."""
    return _aws_code(exc) or type(exc).__name__
