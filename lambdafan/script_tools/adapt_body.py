"""What becomes `collect` in a port: `main()`, the `if __name__ == "__main__":` block or the
module's top-level code; and the arguments it no longer gets."""

from __future__ import annotations

import ast

from lambdafan.errors import UsageError
from lambdafan.script_tools.adapt_port import Port
from lambdafan.script_tools.adapt_yields import bindings
from lambdafan.script_tools.laptop_syntax import REGION_LISTS, calls_attr, is_main_guard
from lambdafan.script_tools.script_code import walk

SIGNATURE = "def collect(session, region, account):"


def find_body(port: Port) -> tuple[list[ast.stmt], int]:
    """Make collect; returns its statements and the line of its `def` (0: one is inserted before
    the first statement). Sets `port.collect_nodes`, the statements whose code ends up in it."""
    edits, tree = port.edits, port.tree
    main = next(
        (n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "main"),
        None,
    )
    guards = [n for n in tree.body if is_main_guard(n)]
    if main is not None:
        header = edits.lines[main.lineno - 1]
        if main.decorator_list or not header.rstrip().endswith(":"):
            edits.check(main.lineno, "make this def collect(session, region, account):")
        else:
            indent = header[: len(header) - len(header.lstrip())]
            edits.replaced[main.lineno] = indent + SIGNATURE
            edits.change(main.lineno, "main() becomes collect(session, region, account)")
        port.main, port.guards = main, guards  # their arguments: adapt_args, once all is edited
        for guard in guards:
            edits.delete(guard)
            edits.change(guard.lineno, 'removed the `if __name__ == "__main__":` block')
        for node in tree.body:
            if is_main_call(node):
                edits.delete(node)
                edits.change(node.lineno, "removed the call of main()")
        port.collect_nodes = [main]
        return main.body, main.lineno
    if guards:
        guard = guards[0]
        assert isinstance(guard, ast.If)
        edits.replaced[guard.lineno] = SIGNATURE
        edits.change(guard.lineno, 'the `if __name__ == "__main__":` block becomes collect(...)')
        port.collect_nodes = guard.body
        move_rebound(port, guard.body, [n for n in tree.body if n.lineno < guard.lineno])
        return guard.body, guard.lineno
    # Top-level code: from the first statement that does something to the last one.
    action = [i for i, node in enumerate(tree.body) if is_action(port, node)]
    if not action:
        raise UsageError("found no main(), no __main__ block and no top-level code to wrap")
    nodes = tree.body[action[0] : action[-1] + 1]
    move_rebound(port, nodes, tree.body[: action[0]])
    first = edits.comments_above(nodes[0].lineno)  # comments right above go in with it
    last = nodes[-1].end_lineno or nodes[-1].lineno
    edits.before.setdefault(first, []).extend(["", "", SIGNATURE])  # two blank lines before
    edits.shift(first, last, 4)
    edits.change(first, "the top-level code becomes collect(session, region, account)")
    port.collect_nodes = nodes
    return nodes, 0


def move_rebound(port: Port, body: list[ast.stmt], above: list[ast.stmt]) -> None:
    """A module variable the code moving into collect assigns (`total = 0` ... `total += n`)
    would be collect's local, unset there: its first value moves into collect too."""
    rebound: set[str] = set()
    declared: set[str] = set()
    for top in body:
        for node in walk([top]):
            rebound.update(name for name, _ in bindings(node))
            if isinstance(node, ast.Global):
                declared.update(node.names)
    rebound -= declared | {"session", "region", "account"}
    edits = port.edits
    for node in above:
        if not isinstance(node, ast.Assign | ast.AnnAssign | ast.AugAssign) or (
            port.is_module_client(node)
        ):
            continue
        names = [name for name, _ in bindings(node) if name in rebound]
        if not names:
            continue
        helpers = sorted(port.users(names[0]) - {"collect"})
        if helpers or node.lineno != node.end_lineno:
            readers = f" ({', '.join(h + '()' for h in helpers)} reads it)" if helpers else ""
            edits.check(
                node.lineno,
                f"{names[0]} is set here and again in collect{readers}: move this line into "
                f"collect (or add `global {names[0]}` there)",
            )
            continue
        edits.delete(node)
        edits.aligned.setdefault(body[0].lineno, []).append(port.segment(node))
        edits.change(node.lineno, f"moved `{port.segment(node)}` into collect, which sets it again")


def is_main_call(node: ast.stmt) -> bool:
    return (
        isinstance(node, ast.Expr)
        and isinstance(node.value, ast.Call)
        and any(isinstance(n, ast.Name) and n.id == "main" for n in ast.walk(node.value))
    )


def is_action(port: Port, node: ast.stmt) -> bool:
    """Top-level code that does work (not an import, def, constant or module client)."""
    if isinstance(node, ast.Import | ast.ImportFrom | ast.FunctionDef | ast.ClassDef):
        return False
    if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
        return False  # the docstring
    if isinstance(node, ast.Assign | ast.AnnAssign):
        value = node.value
        if value is None or port.is_module_client(node):
            return False
        empty = (isinstance(value, ast.List) and not value.elts) or (
            isinstance(value, ast.Dict) and not value.keys
        )
        if empty:
            return True  # `rows = []`: what the code collects into, once per account and region
        return any(isinstance(n, ast.Call) for n in ast.walk(value)) and not calls_attr(
            value, REGION_LISTS
        )
    return True
