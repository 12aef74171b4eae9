"""A port whose collect gives nothing but calls a module function that prints the records
(`def scan(region): ... print(...)`, the common laptop shape): that function's prints become
yields, and collect `yield from`s it (`total += yield from scan(r)` keeps what it returns); what
it cannot rewrite is marked at the call."""

from __future__ import annotations

import ast

from lambdafan.script_tools.adapt_port import Port
from lambdafan.script_tools.adapt_yields import DUMPED, YIELDED, rewrite_prints
from lambdafan.script_tools.laptop_syntax import to_stdout
from lambdafan.script_tools.script_code import walk


def yield_from_helpers(port: Port) -> None:
    if collect_gives(port):
        return
    edits = port.edits
    defs = {
        n.name: n for n in port.tree.body if isinstance(n, ast.FunctionDef) and n.name != "main"
    }
    calls = [
        node
        for node in port.walk_collect()
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in defs
    ]
    # The statements that are a call (`scan(r)`) or give its value (`total += scan(r)`).
    statements = {
        id(helper_call(node)): node
        for node in port.walk_collect()
        if isinstance(node, ast.stmt) and helper_call(node) is not None
    }
    done: set[str] = set()
    for call in calls:
        name = call.func.id  # type: ignore[attr-defined]
        helper = defs[name]
        nodes = list(walk(helper.body))
        if not any(isinstance(n, ast.Call) and to_stdout(n) for n in nodes):
            continue
        hint = f"the records are printed in {name}(): make it yield them and `yield from` it here"
        statement = statements.get(id(call))
        counted = not isinstance(statement, ast.Expr)  # its value is kept (a count, say)
        if (
            statement is None
            or not port.read_only_by(name, calls)
            or (returns_value(nodes) and not counted)
            or any(isinstance(n, ast.Yield | ast.YieldFrom) for n in nodes)
        ):
            edits.check(call.lineno, hint)
            continue
        if name not in done:
            before = len(made_yields(port))
            rewrite_prints(port, nodes)
            if len(made_yields(port)) > before:
                done.add(name)
        if name not in done:
            edits.check(call.lineno, hint)
            continue
        # `total += yield from scan(r)`: the records go out, what it returns still counts.
        edits.span(call, f"yield from {edits.edited(call)}")
        edits.change(call.lineno, f"{name}() yields its printed records: yield from {name}(...)")


def helper_call(node: ast.stmt) -> ast.Call | None:
    """The call of `f(...)`, `x = f(...)` or `x += f(...)` (a name `f`)."""
    value: ast.expr | None = None
    counted = (isinstance(node, ast.AugAssign) and isinstance(node.target, ast.Name)) or (
        isinstance(node, ast.Assign) and [type(t) for t in node.targets] == [ast.Name]
    )
    if isinstance(node, ast.Expr | ast.AugAssign | ast.Assign) and (
        counted or isinstance(node, ast.Expr)
    ):
        value = node.value
    if isinstance(value, ast.Call) and isinstance(value.func, ast.Name):
        return value
    return None


def made_yields(port: Port) -> list[object]:
    return [c for c in port.edits.changes if c.what.startswith((YIELDED, DUMPED)) and not c.check]


def collect_gives(port: Port) -> bool:
    """collect yields (as written or by the port) or returns a value (not an exit code)."""
    for node in port.walk_collect():
        if isinstance(node, ast.Yield | ast.YieldFrom):
            return True
        if isinstance(node, ast.Return) and node.value is not None:
            value = node.value
            if not (isinstance(value, ast.Constant) and isinstance(value.value, int | type(None))):
                return True
    return bool(made_yields(port))


def returns_value(nodes: list[ast.AST]) -> bool:
    return any(isinstance(n, ast.Return) and n.value is not None for n in nodes) or any(
        isinstance(n, ast.Yield | ast.YieldFrom) for n in nodes
    )
