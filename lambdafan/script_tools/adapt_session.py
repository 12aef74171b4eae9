"""A module-level `session = boto3.Session(...)` goes from a port (collect is handed its
session): the helpers that read it are handed collect's, `def scan(session, region)` called
as `scan(session, region)`; one called from elsewhere is marked."""

from __future__ import annotations

import ast

from lambdafan.script_tools.adapt_port import Port
from lambdafan.script_tools.laptop_syntax import is_session_call

GIVEN = "is given collect's session"  # how the change of a helper given it reads


def pass_session(port: Port) -> None:
    """Each helper reading the module's `session` gets it as its first parameter, when only
    collect calls it; else it is marked."""
    if not any(is_module_session(node) for node in port.tree.body):
        return
    edits = port.edits
    defs = {n.name: n for n in port.tree.body if isinstance(n, ast.FunctionDef)}
    calls = [
        n
        for n in port.walk_collect()
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id in defs
    ]
    for name in sorted(port.global_readers("session")):
        helper = defs[name]
        mine = [c for c in calls if c.func.id == name]  # type: ignore[attr-defined]
        if not mine or declares_global(helper) or not port.read_only_by(name, mine):
            edits.check(
                helper.lineno,
                f"{name}() reads the module's session, which the port removes: give it "
                f"collect's (def {name}(session, ...), called with session)",
            )
            continue
        args = helper.args
        given = [*args.posonlyargs, *args.args, args.vararg, *args.kwonlyargs, args.kwarg]
        line = edits.lines[helper.lineno - 1]
        paren = line.index("(", helper.col_offset)
        edits.insert(helper.lineno, paren + 1, "session, " if any(given) else "session")
        for call in mine:
            end = call.func.end_lineno or call.lineno
            paren = edits.lines[end - 1].index("(", call.func.end_col_offset or 0)
            edits.insert(end, paren + 1, "session, " if call.args or call.keywords else "session")
        edits.change(helper.lineno, f"{name}() {GIVEN}: def {name}(session, ...)")


def forget_dead(port: Port) -> None:
    """The changes of helpers the port removed afterwards (they listed the regions)."""
    for node in port.tree.body:
        if isinstance(node, ast.FunctionDef) and node.lineno in port.edits.deleted:
            port.edits.drop_changes(node.lineno, GIVEN)


def is_module_session(node: ast.stmt) -> bool:
    return (
        isinstance(node, ast.Assign)
        and len(node.targets) == 1
        and isinstance(node.targets[0], ast.Name)
        and node.targets[0].id == "session"
        and is_session_call(node.value)
    )


def declares_global(helper: ast.FunctionDef) -> bool:
    return any(isinstance(n, ast.Global) and "session" in n.names for n in ast.walk(helper))
