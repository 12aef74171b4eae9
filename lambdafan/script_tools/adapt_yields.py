"""The output of a port: `print(...)` of a dict, of `json.dumps(...)` or of a row of values
becomes `yield`; main's exit code goes; what it could not turn into records is marked."""

from __future__ import annotations

import ast

from lambdafan.script_tools.adapt_port import Port
from lambdafan.script_tools.laptop_syntax import field_name, is_print, name_of, one_line

YIELDED = "print(...) of"  # how the changes that made a yield start
DUMPED = "json.dump(...) of"


def printed(call: ast.Call) -> list[ast.expr]:
    """The values a print shows (pprint's second argument is its stream)."""
    pretty = not (isinstance(call.func, ast.Name) and call.func.id == "print")
    return call.args[:1] if pretty else call.args


def rewrite_prints(port: Port, nodes: list[ast.AST] | None = None) -> None:
    """The prints of collect (or of `nodes`, a helper's) that show records become yields."""
    edits = port.edits
    nodes = port.walk_collect() if nodes is None else nodes
    dicts, lists = clearly_kinds(port, nodes)
    in_handlers = {
        id(stmt)
        for handler in nodes
        if isinstance(handler, ast.ExceptHandler)
        for stmt in handler.body
    }
    for node in nodes:
        if is_stdout_dump(node):  # json.dump(x, sys.stdout): as print(json.dumps(x))
            assert isinstance(node, ast.Expr) and isinstance(node.value, ast.Call)
            dumped = node.value.args[0]
            if isinstance(dumped, ast.ListComp | ast.List) or (
                isinstance(dumped, ast.Name) and dumped.id in lists
            ):
                edits.unwrap(node.value, dumped, "yield from ")
                edits.change(node.lineno, f"{DUMPED} a list → yield from")
            elif isinstance(dumped, ast.Dict | ast.DictComp) or (
                isinstance(dumped, ast.Name) and dumped.id in dicts
            ):
                edits.unwrap(node.value, dumped, "yield ")
                edits.change(node.lineno, f"{DUMPED} a dict → yield")
            else:
                edits.check(node.lineno, "prints JSON: yield from it if it is a list of records")
            continue
        if not is_print(node):
            continue
        assert isinstance(node, ast.Expr) and isinstance(node.value, ast.Call)
        call = node.value
        args = printed(call)
        if any(k.arg in ("file", "stream") for k in call.keywords):
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
            edits.span(call, row_record(port, node.lineno, args))
            edits.change(
                node.lineno,
                f"{YIELDED} a {'row' if len(args) > 1 else 'value'} → yield {{...}}",
            )
        elif id(node) not in in_handlers:  # those are marked as swallowed errors
            edits.check(node.lineno, why_text(args, total=sums(node, nodes)))


def is_stdout_dump(node: ast.AST) -> bool:
    """`json.dump(x, sys.stdout, ...)`."""
    call = node.value if isinstance(node, ast.Expr) else None
    return (
        isinstance(call, ast.Call)
        and isinstance(call.func, ast.Attribute)
        and call.func.attr == "dump"
        and len(call.args) >= 2
        and isinstance(call.args[1], ast.Attribute)
        and call.args[1].attr == "stdout"
    )


def row_record(port: Port, line: int, values: list[ast.expr]) -> str:
    """`yield {"name": value, ...}` for a row of values, named after them (marked when it
    cannot name them all apart)."""
    found = [field_name(value, i) for i, value in enumerate(values)]
    keys = distinct([key or f"value_{i}" for i, key in enumerate(found, 1)], values)
    if None in found or len(set(found)) < len(found):
        port.edits.check(line, "name these fields")
    fields = ", ".join(
        f'"{key}": {port.edits.edited(value)}' for key, value in zip(keys, values, strict=True)
    )
    return f"yield {{{fields}}}"


def distinct(keys: list[str], values: list[ast.expr]) -> list[str]:
    """Keys that are not repeated (a repeated key would keep only its last value): a repeat
    is named after the function it calls (`bucket_region(name)`), else numbered (`name_2`)."""
    out: list[str] = []
    for key, value in zip(keys, values, strict=True):
        if key in out or (key in keys[len(out) + 1 :] and is_call(value)):
            func = value.func if isinstance(value, ast.Call) else None
            called = name_of(func) if func is not None else ""
            if called and called not in out and called not in keys:
                key = called
            number = 2
            while key in out:
                key, number = f"{keys[len(out)]}_{number}", number + 1
        out.append(key)
    return out


def is_call(value: ast.expr) -> bool:
    return isinstance(value, ast.Call) and bool(name_of(value.func))


def sums(print_stmt: ast.AST, nodes: list[ast.AST]) -> bool:
    """The print comes after a loop and shows what the loop added up (`total += ...`)."""
    loops = [n for n in nodes if isinstance(n, ast.For | ast.AsyncFor | ast.While)]
    inside = {id(n) for loop in loops for n in ast.walk(loop)}
    if id(print_stmt) in inside:
        return False  # once per row: a row, not a total
    added = {
        n.target.id
        for loop in loops
        for n in ast.walk(loop)
        if isinstance(n, ast.AugAssign) and isinstance(n.target, ast.Name)
    }
    shown = {n.id for n in ast.walk(print_stmt) if isinstance(n, ast.Name)}
    return bool(added & shown)


def why_text(args: list[ast.expr], *, total: bool = False) -> str:
    """Why a print was left: a heading, text (a total?) or a value of unknown shape."""
    if len(args) == 1 and isinstance(args[0], ast.Name):
        name = args[0].id
        return (
            f'prints a value: yield {{"{name}": {name}}} if it is one record\'s field, '
            "or yield it if it is a dict"
        )
    if all(isinstance(a, ast.Constant) for a in args):
        return "a heading or a message: lambdafan's tables name their columns; drop it"
    if total:
        return "prints a total: drop it (`lambdafan query` adds up records)"
    return "prints text, not a record: yield a dict of its values"


def yields(port: Port) -> bool:
    """The port made a yield (of a print or of a csv row)."""
    return any("→ yield" in c.what for c in port.edits.changes if not c.check)


def rewrite_returns(port: Port) -> None:
    """A collect that now yields drops what it returns (a returned list would be records):
    marked, since either the yields or the returned value may be the records."""
    edits = port.edits
    last = [
        top.body[-1]
        for top in port.collect_nodes
        if isinstance(top, ast.FunctionDef) and len(top.body) > 1
    ]
    for node in port.walk_collect():
        if (
            isinstance(node, ast.Return)
            and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, int)
        ):  # main's exit code: collect returns records or nothing
            if node in last:  # a bare `return` there would do nothing
                edits.delete(node)
                edits.change(node.lineno, f"removed `return {node.value.value}`: an exit code")
                continue
            edits.span(node, "return")
            edits.change(node.lineno, f"return {node.value.value} (an exit code) → return")
    functions = [top for top in port.collect_nodes if isinstance(top, ast.FunctionDef)]
    end = functions[0].body[-1] if functions else port.collect_nodes[-1]
    if isinstance(end, ast.If) and all(
        isinstance(s, ast.Expr) and is_exit(s.value) for s in [*end.body, *end.orelse]
    ):  # `if found: sys.exit(1)` at the end: the laptop's exit status
        edits.delete(end)
        edits.change(
            end.lineno, f"removed `{one_line(port.segment(end.test))}: exit`: an exit code"
        )
    for node in port.walk_collect():
        if isinstance(node, ast.Expr) and is_exit(node.value) and node.lineno not in edits.deleted:
            if node is end:
                edits.delete(node)
                edits.change(node.lineno, f"removed `{one_line(port.segment(node))}`: an exit code")
            else:
                edits.check(
                    node.lineno,
                    "sys.exit() in collect fails the pair: return (no more records) or raise",
                )
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


def is_exit(node: ast.expr) -> bool:
    """`sys.exit(...)`, `exit(...)`, `quit()`."""
    if not isinstance(node, ast.Call):
        return False
    func = node.func
    if isinstance(func, ast.Name):
        return func.id in ("exit", "quit")
    return (
        isinstance(func, ast.Attribute)
        and func.attr == "exit"
        and isinstance(func.value, ast.Name)
        and func.value.id == "sys"
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


def kind_of(value: ast.expr | None) -> str:
    """ "dict" for a dict literal, comprehension or `dict(...)`, "list" for a list literal or
    comprehension, else "other"."""
    if isinstance(value, ast.Dict | ast.DictComp) or (
        isinstance(value, ast.Call) and isinstance(value.func, ast.Name) and value.func.id == "dict"
    ):
        return "dict"
    return "list" if isinstance(value, ast.List | ast.ListComp) else "other"


def bindings(node: ast.AST) -> list[tuple[str, str]]:
    """The names a node binds, each with the kind of value it gets."""
    if isinstance(node, ast.Assign):
        kind = kind_of(node.value)
        return [
            (name, kind if isinstance(target, ast.Name) else "other")
            for target in node.targets
            for name in target_names(target)
        ]
    if isinstance(node, ast.AnnAssign | ast.AugAssign | ast.NamedExpr):
        return [(name, kind_of(node.value)) for name in target_names(node.target)]
    if isinstance(node, ast.For | ast.AsyncFor | ast.comprehension | ast.withitem):
        bound = node.optional_vars if isinstance(node, ast.withitem) else node.target
        return [(name, "other") for name in target_names(bound)]
    if isinstance(node, ast.ExceptHandler) and node.name:
        return [(node.name, "other")]
    return []


def target_names(target: ast.expr | None) -> list[str]:
    """The names an assignment target binds (not `x` of `x[k] = ...` or `x.a = ...`)."""
    if isinstance(target, ast.Name):
        return [target.id]
    if isinstance(target, ast.Tuple | ast.List):
        return [name for elt in target.elts for name in target_names(elt)]
    return target_names(target.value) if isinstance(target, ast.Starred) else []


def clearly_kinds(port: Port, nodes: list[ast.AST]) -> tuple[set[str], set[str]]:
    """The names `nodes` only ever assign a dict, and those they only ever assign a list."""
    kinds: dict[str, set[str]] = {}
    for node in nodes:
        for name, kind in bindings(node):
            kinds.setdefault(name, set()).add(kind)
    dicts = {name for name, kind in kinds.items() if kind == {"dict"}}
    lists = {name for name, kind in kinds.items() if kind == {"list"}}
    return dicts, lists


def mark_swallowed_errors(port: Port) -> None:
    for node in port.walk_collect():
        if isinstance(node, ast.ExceptHandler) and all(
            isinstance(s, ast.Pass | ast.Continue) or is_print(s) for s in node.body
        ):
            port.edits.check(node.lineno, "swallows the error: let it raise, lambdafan records it")
