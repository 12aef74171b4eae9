"""The output of a port: `print(...)` of a dict, of `json.dumps(...)` or of a row of values
becomes `yield`; main's exit code goes; what it could not turn into records is marked."""

from __future__ import annotations

import ast

from lambdafan.script_tools.adapt_port import Port
from lambdafan.script_tools.laptop_syntax import field_name

YIELDED = "print(...) of"  # how the changes that made a yield start


def is_print(node: ast.AST) -> bool:
    """A `print(...)` statement."""
    return (
        isinstance(node, ast.Expr)
        and isinstance(node.value, ast.Call)
        and isinstance(node.value.func, ast.Name)
        and node.value.func.id == "print"
    )


def rewrite_prints(port: Port) -> None:
    edits = port.edits
    dicts, lists = assigned_literals(port.tree)
    in_handlers = {
        id(stmt)
        for handler in port.walk_collect()
        if isinstance(handler, ast.ExceptHandler)
        for stmt in handler.body
    }
    for node in port.walk_collect():
        if not is_print(node):
            continue
        assert isinstance(node, ast.Expr) and isinstance(node.value, ast.Call)
        call = node.value
        args = call.args
        if any(k.arg == "file" for k in call.keywords):
            continue  # to stderr or a file: not a record
        value = args[0] if len(args) == 1 else None
        if (
            isinstance(value, ast.Call)
            and isinstance(value.func, ast.Attribute)
            and value.func.attr in ("dumps", "pformat")
            and value.args
        ):
            value = value.args[0]  # print(json.dumps(x)): the record is x
        if isinstance(value, ast.Dict | ast.DictComp) or (
            isinstance(value, ast.Name) and value.id in dicts
        ):
            edits.unwrap(call, value, "yield ")
            realign(port, call, value)
            edits.change(node.lineno, f"{YIELDED} a dict → yield")
        elif isinstance(value, ast.ListComp | ast.List) or (
            isinstance(value, ast.Name) and value.id in lists
        ):
            edits.unwrap(call, value, "yield from ")
            realign(port, call, value)
            edits.change(node.lineno, f"{YIELDED} a list → yield from")
        elif (
            len(args) > 1 or (len(args) == 1 and isinstance(args[0], ast.Attribute | ast.Subscript))
        ) and not any(isinstance(a, ast.Constant | ast.JoinedStr | ast.Starred) for a in args):
            keys = [field_name(arg, i) for i, arg in enumerate(args)]
            if None in keys or len(set(keys)) < len(keys):
                keys = [key or f"value_{i}" for i, key in enumerate(keys, 1)]
                edits.check(node.lineno, "name these fields")
            fields = ", ".join(
                f'"{key}": {port.segment(arg)}' for key, arg in zip(keys, args, strict=True)
            )
            edits.span(call, f"yield {{{fields}}}")
            edits.change(
                node.lineno,
                f"{YIELDED} a {'row' if len(args) > 1 else 'value'} → yield {{...}}",
            )
        elif id(node) not in in_handlers:  # those are marked as swallowed errors
            edits.check(node.lineno, why_text(args))


def why_text(args: list[ast.expr]) -> str:
    """Why a print was left: a heading, text (a total?) or a value of unknown shape."""
    if all(isinstance(a, ast.Constant) for a in args):
        return "a heading or a message: lambdafan's tables name their columns; drop it"
    if any(isinstance(a, ast.JoinedStr) for a in args):
        return (
            "prints text, not a record: yield a dict of its values "
            "(a total? `lambdafan query` adds up records)"
        )
    return "prints text, not a record: yield a dict of its values"


def yields(port: Port) -> bool:
    """The port made a yield."""
    return any(c.what.startswith(YIELDED) for c in port.edits.changes if not c.check)


def rewrite_returns(port: Port) -> None:
    """A collect that now yields drops what it returns (a returned list would be records):
    marked, since either the yields or the returned value may be the records."""
    edits = port.edits
    for node in port.walk_collect():
        if (
            isinstance(node, ast.Return)
            and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, int)
        ):  # main's exit code: collect returns records or nothing
            edits.span(node, "return")
            edits.change(node.lineno, f"return {node.value.value} (an exit code) → return")
    if not yields(port):
        return
    for node in port.walk_collect():
        if (
            isinstance(node, ast.Return)
            and node.value is not None
            and not isinstance(node.value, ast.Constant)
        ):
            edits.check(
                node.lineno,
                "collect yields now, so this value is dropped: yield from it, or keep the "
                "return and drop the yields",
            )


def realign(port: Port, call: ast.Call, value: ast.expr) -> None:
    """The lines of a multi-line record, unwrapped from `print(json.dumps(`: its closing
    bracket lines up with the `yield`, as it did with the `print`."""
    edits = port.edits
    end = value.end_lineno or value.lineno
    if end == value.lineno:
        return
    closing = edits.lines[end - 1]
    indent = len(closing) - len(closing.lstrip())
    if indent + 1 != value.end_col_offset:  # the bracket does not start its line
        return
    edits.shift(value.lineno + 1, end, -(indent - call.col_offset))


def assigned_literals(tree: ast.AST) -> tuple[set[str], set[str]]:
    """The names assigned a dict literal, and those assigned a list literal."""
    dicts: set[str] = set()
    lists: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
            if isinstance(target, ast.Name):
                if isinstance(node.value, ast.Dict | ast.DictComp):
                    dicts.add(target.id)
                elif isinstance(node.value, ast.List | ast.ListComp):
                    lists.add(target.id)
    return dicts, lists


def mark_swallowed_errors(port: Port) -> None:
    for node in port.walk_collect():
        if isinstance(node, ast.ExceptHandler) and all(
            isinstance(s, ast.Pass | ast.Continue) or is_print(s) for s in node.body
        ):
            port.edits.check(node.lineno, "swallows the error: let it raise, lambdafan records it")
