"""The `only-prints` habit: a `collect` that prints or logs its findings (itself, or in the
functions it calls) and gives none, so 0 records every run. Pure: reads the syntax tree."""

from __future__ import annotations

import ast

from lambdafan.script_tools.laptop_syntax import logger_names, logs, to_stdout
from lambdafan.script_tools.script_code import ScriptCode, walk


def only_prints(code: ScriptCode, tree: ast.Module) -> tuple[ast.AST, str] | None:
    """Where collect (or a function it calls) shows what it found without giving it, and the
    finding's text; None when it gives values or shows nothing."""
    if code.collect is None:
        return None
    body = list(walk(code.collect.body))
    if gives_values(body):
        return None
    loggers = logger_names(tree)
    shown = [n for n in body if isinstance(n, ast.Call) and shows(n, loggers)]
    if shown:
        verb = "prints" if to_stdout(shown[0]) else "logs"
        return shown[0], f"collect {verb} but never yields (0 records): yield dicts instead"
    for call in (n for n in body if isinstance(n, ast.Call)):
        name = call.func.id if isinstance(call.func, ast.Name) else ""
        inner = printed_in(code, name, loggers, set())
        if inner is not None:
            verb = "prints" if to_stdout(inner) else "logs"
            return call, (
                f"collect never yields and {name}() {verb} (line {inner.lineno}): 0 records: "
                f"make {name}() yield, then `yield from` it"
            )
    return None


def shows(call: ast.Call, loggers: frozenset[str]) -> bool:
    """A print to stdout, or a log call (logging counts as printing)."""
    return to_stdout(call) or logs(call, loggers)


def printed_in(
    code: ScriptCode, name: str, loggers: frozenset[str], seen: set[str]
) -> ast.Call | None:
    """The first print (or log call) in function `name` or one it calls."""
    fn = code.defs.get(name)
    if name in seen or not isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef):
        return None
    seen.add(name)
    calls = [n for n in walk(fn.body) if isinstance(n, ast.Call)]
    shown = [c for c in calls if shows(c, loggers)]
    if shown:
        return shown[0]
    for call in calls:
        if isinstance(call.func, ast.Name):
            inner = printed_in(code, call.func.id, loggers, seen)
            if inner is not None:
                return inner
    return None


def gives_values(body: list[ast.AST]) -> bool:
    """Code that yields, or returns a value (not None)."""
    return any(isinstance(n, ast.Yield | ast.YieldFrom) for n in body) or any(
        isinstance(n, ast.Return)
        and n.value is not None
        and not (isinstance(n.value, ast.Constant) and n.value.value is None)
        for n in body
    )
