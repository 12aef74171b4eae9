"""The boto3 clients of a port: `boto3.client(...)`, `boto3.resource(...)` and `boto3.Session()`
become the session lambdafan hands collect; module-level clients move into collect."""

from __future__ import annotations

import ast

from lambdafan.script_tools.adapt_port import Port
from lambdafan.script_tools.laptop_syntax import (
    client_call,
    is_session_call,
    one_line,
    region_keyword,
    service_of,
)


def client_text(port: Port, call: ast.Call) -> str:
    """`session.client("x", region_name=region, ...)` for a boto3 client call."""
    kind = call.func.attr  # type: ignore[attr-defined]
    args = [port.segment(arg) for arg in call.args]
    keywords = [
        port.segment(k) for k in call.keywords if k.arg not in ("region_name", "profile_name")
    ]
    if port.scope == "region":
        keywords.insert(0, "region_name=region")
    return f"session.{kind}({', '.join([*args, *keywords])})"


def rewrite_clients(port: Port) -> None:
    edits = port.edits
    inside = {id(n) for node in port.collect_nodes for n in ast.walk(node)}
    done: set[int] = set()
    for top in port.tree.body:  # `session = boto3.Session(...)`: collect's parameter
        if port.is_module_client(top) and top.targets[0].id == "session":  # type: ignore[attr-defined]
            done.update(id(n) for n in ast.walk(top))
    for node in ast.walk(port.tree):
        call = client_call(node, port.sessions)
        if call is not None and id(call) not in done:
            done.update(id(n) for n in ast.walk(call))
            if id(call) not in inside and not port.module_level(call):
                # In a helper function: no session there, and boto3's defaults are the
                # scanned account's anyway (lambdafan binds them); only the region matters.
                port.helper_clients.append(call)
                continue
            edits.span(call, client_text(port, call))
            region = region_keyword(call)
            if port.scope == "region" and isinstance(region, ast.Name):
                port.region_names.add(region.id)  # collect's `region` now (adapt_regions)
            if port.segment(call) != client_text(port, call):
                was = one_line(port.segment(call))
                edits.change(call.lineno, f"{was} → {client_text(port, call)}")
        elif is_session_call(node) and id(node) not in done:
            assert isinstance(node, ast.Call)
            done.add(id(node))
            if id(node) not in inside and not port.module_level_session(node):
                continue
            if any(is_session_assign(stmt, node) for stmt in port.walk_collect()):
                stmt = next(s for s in port.walk_collect() if is_session_assign(s, node))
                assert isinstance(stmt, ast.stmt)
                edits.delete(stmt)
                edits.change(node.lineno, "removed `session = boto3.Session(...)`: collect has it")
                continue
            edits.span(node, "session")
            edits.change(node.lineno, f"{one_line(port.segment(node))} → session (lambdafan's)")
    for node in ast.walk(port.tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "setup_default_session"
        ):
            edits.check(node.lineno, "lambdafan hands collect its session: drop this")


def check_helper_regions(port: Port) -> None:
    """A client made in a helper that collect still calls, in a regional script, must be told
    the region."""
    if port.scope != "region":
        return
    for call in port.helper_clients:
        helper = next(
            node
            for node in port.tree.body
            if node.lineno <= call.lineno <= (node.end_lineno or node.lineno)
        )
        if isinstance(helper, ast.FunctionDef) and not port.users(helper.name):
            continue
        region = next((k.value for k in call.keywords if k.arg == "region_name"), None)
        if region is None or isinstance(region, ast.Constant):
            port.edits.check(call.lineno, "a client outside collect: pass it region_name=region")


def move_module_clients(port: Port, body: list[ast.stmt], header: int) -> None:
    """Module-level `x = boto3.client(...)` lines move to the top of collect."""
    edits = port.edits
    if header == 0:  # top-level code: the clients above it move down into it
        target = edits.comments_above(body[0].lineno)
        indent = 4
    else:
        first = body[0]
        if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
            first = body[1] if len(body) > 1 else first  # after collect's docstring
        target, indent = first.lineno, first.col_offset
    for node in port.tree.body:
        if not port.is_module_client(node) or node.lineno >= target:
            continue
        assert isinstance(node, ast.Assign)
        name = node.targets[0].id  # type: ignore[attr-defined]
        edits.delete(node)
        edits.drop_changes(node.lineno, "→")
        if name == "session" and is_session_call(node.value):
            edits.change(node.lineno, "removed `session = boto3.Session(...)`: collect has it")
            continue
        users = port.users(name)
        if not users:
            edits.delete(node, comments=True)
            edits.change(node.lineno, f"removed the module-level {name}: nothing uses it now")
            continue
        value = edits.edited(node.value)
        moved = [f"{name} = {value}"]
        helpers = sorted(users - {"collect"})
        if helpers:  # module-level functions use it: collect sets the global they read
            moved.insert(0, f"global {name}")
        edits.before.setdefault(target, []).extend(" " * indent + line for line in moved)
        used_by = f" (global: {', '.join(h + '()' for h in helpers)} reads it)" if helpers else ""
        edits.change(node.lineno, f"moved {name} into collect: {moved[-1]}{used_by}")


def is_session_assign(stmt: ast.AST, call: ast.Call) -> bool:
    """`session = <call>`: collect's parameter already is that session."""
    return (
        isinstance(stmt, ast.Assign)
        and stmt.value is call
        and len(stmt.targets) == 1
        and isinstance(stmt.targets[0], ast.Name)
        and stmt.targets[0].id == "session"
    )


def drop_unused_clients(port: Port) -> None:
    """A client collect makes and no longer uses (it listed the regions of an unwrapped loop)."""
    edits = port.edits
    nodes = port.walk_collect()
    read = {
        n.id
        for n in nodes
        if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load) and n.lineno not in edits.deleted
    }
    for node in nodes:
        if (
            isinstance(node, ast.Assign)
            and node.lineno not in edits.deleted
            and len(node.targets) == 1
            and isinstance(node.targets[0], ast.Name)
            and node.targets[0].id not in read
            and not port.global_readers(node.targets[0].id)
            and isinstance(node.value, ast.Call)
            and isinstance(node.value.func, ast.Attribute)
            and node.value.func.attr in ("client", "resource")
            and service_of(node.value) is not None
        ):
            edits.delete(node)
            edits.drop_changes(node.lineno, "→")
            edits.change(node.lineno, f"removed {node.targets[0].id}: nothing uses it now")
