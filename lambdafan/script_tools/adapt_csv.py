"""csv output in a port: `writer.writerow(row)` of a `csv.writer` becomes a record keyed by its
header row's names, a `csv.DictWriter`'s row is yielded as it is; the writer, its header and
the `with open(...)` of its file go once nothing else uses them."""

from __future__ import annotations

import ast
from dataclasses import dataclass, field

from lambdafan.script_tools.adapt_port import Port
from lambdafan.script_tools.adapt_yields import row_record
from lambdafan.script_tools.laptop_syntax import is_print

WRITES = ("writerow", "writerows", "writeheader")


@dataclass
class Writer:
    """One `name = csv.writer(file)` / `csv.DictWriter(file, ...)` and what its rows became."""

    name: str
    made: ast.Assign
    dicts: bool  # a DictWriter: its rows are dicts already
    header: str | None = None  # the header row's text (a name or a literal)
    keys: list[str] | None = None  # the header's names, when they are string constants
    handled: set[int] = field(default_factory=set)  # ids of the Name nodes of rewritten calls
    left: bool = False  # a write it could not turn into a record
    only: str | None = None  # extrasaction="ignore": the fieldnames' text (the row's fields kept)


def writer_of(node: ast.AST) -> Writer | None:
    """`name = csv.writer(...)` / `name = csv.DictWriter(...)`."""
    if not (
        isinstance(node, ast.Assign)
        and len(node.targets) == 1
        and isinstance(node.targets[0], ast.Name)
        and isinstance(node.value, ast.Call)
    ):
        return None
    func = node.value.func
    kind = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
    if kind not in ("writer", "DictWriter") or not node.value.args:
        return None
    if isinstance(func, ast.Attribute) and not (
        isinstance(func.value, ast.Name) and func.value.id == "csv"
    ):
        return None
    writer = Writer(node.targets[0].id, node, dicts=kind == "DictWriter")
    keywords = {k.arg: k.value for k in node.value.keywords if k.arg}
    ignore = keywords.get("extrasaction")
    fields = keywords.get("fieldnames", node.value.args[1] if len(node.value.args) > 1 else None)
    if isinstance(ignore, ast.Constant) and ignore.value == "ignore" and fields is not None:
        writer.only = ast.unparse(fields)  # the DictWriter writes only these of each row
    return writer


def string_row(node: ast.expr, constants: dict[str, ast.expr]) -> list[str] | None:
    """The names of a row of string constants (a literal, or a name assigned one)."""
    if isinstance(node, ast.Name) and node.id in constants:
        node = constants[node.id]
    if isinstance(node, ast.List | ast.Tuple) and node.elts:
        names = [e.value for e in node.elts if isinstance(e, ast.Constant)]
        if all(isinstance(name, str) for name in names) and len(names) == len(node.elts):
            return [str(name) for name in names]
    return None


def rewrite_csv(port: Port) -> None:
    statements = list({id(n): n for n in [*port.tree.body, *port.walk_collect()]}.values())
    constants = {
        node.targets[0].id: node.value
        for node in statements
        if isinstance(node, ast.Assign)
        and len(node.targets) == 1
        and isinstance(node.targets[0], ast.Name)
    }
    made = sorted(
        (w for w in map(writer_of, statements) if w is not None),
        key=lambda w: w.made.lineno,
    )
    writers = {w.name for w in made}
    in_order = sorted(
        (n for n in port.walk_collect() if isinstance(n, ast.Expr)),
        key=lambda n: (n.lineno, n.col_offset),
    )  # the header row comes before the rows
    for node in in_order:
        if not (
            isinstance(node, ast.Expr)
            and isinstance(node.value, ast.Call)
            and isinstance(node.value.func, ast.Attribute)
            and isinstance(node.value.func.value, ast.Name)
            and node.value.func.value.id in writers
            and node.value.func.attr in WRITES
        ):
            continue
        name = node.value.func.value.id
        before = [w for w in made if w.name == name and w.made.lineno < node.lineno]
        if not before:
            continue
        writer = before[-1]  # the writer made last before the call
        rewrite_write(port, writer, node, node.value, constants)
    for name in writers:
        drop_writers(port, [w for w in made if w.name == name])


def rewrite_write(
    port: Port, writer: Writer, stmt: ast.Expr, call: ast.Call, constants: dict[str, ast.expr]
) -> None:
    """One `writer.writerow(...)`, `.writerows(...)` or `.writeheader()`."""
    edits, method = port.edits, call.func.attr  # type: ignore[attr-defined]
    head = f"{writer.name}.{method}"
    arg = (
        call.args[0] if len(call.args) == 1 and not isinstance(call.args[0], ast.Starred) else None
    )
    if method == "writeheader" or (
        not writer.dicts and method == "writerow" and writer.header is None and arg is not None
        and string_row(arg, constants) is not None
    ):  # fmt: skip
        if arg is not None:
            writer.header, writer.keys = port.segment(arg), string_row(arg, constants)
        edits.delete(stmt)
        what = "the header row: its names are the records' keys"
        if method == "writeheader":
            what = f"{head}(): the records' keys name the columns"
        edits.change(stmt.lineno, f"removed {what}")
    elif arg is None:
        writer.left = True
        edits.check(stmt.lineno, "a csv row of unknown shape: yield a dict of its values")
        return
    elif writer.dicts:
        many = method == "writerows"
        text = port.edits.edited(arg)
        if writer.only is not None and many:
            text = f"({{k: row.get(k) for k in {writer.only}}} for row in {text})"
        elif writer.only is not None:
            text = f"{{k: {text}.get(k) for k in {writer.only}}}"
        edits.span(stmt, f"yield {'from ' if many else ''}{text}")
        only = f" (only the {writer.only} fields: extrasaction='ignore')" if writer.only else ""
        edits.change(stmt.lineno, f"{head}(...) of {'dicts' if many else 'a dict'} → yield{only}")
    elif writer.header is not None:
        text = port.edits.edited(arg)
        if method == "writerows":
            record = f"yield from (dict(zip({writer.header}, row)) for row in {text})"
            what = f"{head}({text}) → {record}"
        elif isinstance(arg, ast.List | ast.Tuple) and len(arg.elts) == len(writer.keys or []):
            keys = writer.keys or []
            fields = ", ".join(
                f'"{k}": {port.edits.edited(v)}' for k, v in zip(keys, arg.elts, strict=True)
            )
            record = f"yield {{{fields}}}"
            shape = ", ".join(f'"{key}": ...' for key in keys)
            what = f"{head}([...]) → yield {{{shape}}}"
        else:
            record = f"yield dict(zip({writer.header}, {text}))"
            what = f"{head}({text}) → {record}"
        edits.span(stmt, record)
        edits.change(stmt.lineno, what)
    elif method == "writerow" and isinstance(arg, ast.List | ast.Tuple):
        edits.span(stmt, row_record(port, stmt.lineno, arg.elts))
        edits.change(stmt.lineno, f"{head}([...]) → yield {{...}}")
    else:
        writer.left = True
        edits.check(stmt.lineno, "a csv row with no header: yield a dict of its values")
        return
    receiver = call.func.value  # type: ignore[attr-defined]
    writer.handled.add(id(receiver))


def drop_writers(port: Port, writers: list[Writer]) -> None:
    """The writers of one name go when every use of them became a record; their files, too."""
    handled = {node for writer in writers for node in writer.handled}
    others = [
        n
        for n in ast.walk(port.tree)
        if isinstance(n, ast.Name)
        and n.id == writers[0].name
        and isinstance(n.ctx, ast.Load)
        and id(n) not in handled
    ]
    if others or any(writer.left or not writer.handled for writer in writers):
        return
    edits = port.edits
    for writer in writers:
        edits.delete(writer.made)
        edits.change(writer.made.lineno, "removed the csv writer: lambdafan stores the records")
        target = writer.made.value.args[0]  # type: ignore[attr-defined]
        if isinstance(target, ast.Name):
            drop_file(port, target.id, writer.made)


def drop_file(port: Port, name: str, made: ast.Assign) -> None:
    """`with open(...) as name:` around the writer is unwrapped when the writer was the file's
    only use; a file opened otherwise is marked (on Lambda only /tmp is writable)."""
    edits = port.edits
    reads = [
        n
        for n in ast.walk(port.tree)
        if isinstance(n, ast.Name) and n.id == name and isinstance(n.ctx, ast.Load)
    ]
    for node in [*port.tree.body, *port.walk_collect()]:
        opened = (
            isinstance(node, ast.With)
            and any(is_open(item.context_expr) and is_name(item.optional_vars, name)
                    for item in node.items)
        ) or (
            isinstance(node, ast.Assign)
            and is_open(node.value)
            and any(is_name(target, name) for target in node.targets)
        )  # fmt: skip
        if not opened:
            continue
        assert isinstance(node, ast.stmt)
        if isinstance(node, ast.With) and len(node.items) == 1 and len(reads) == 1:
            step = node.body[0].col_offset - node.col_offset
            body_end = node.body[-1].end_lineno or node.body[-1].lineno
            edits.deleted.update(range(node.lineno, node.body[0].lineno))
            edits.shift(node.body[0].lineno, body_end, -step)
            what = f"unwrapped `with open(...) as {name}`: lambdafan stores the records"
            edits.change(node.lineno, what)
            opener = next(i.context_expr for i in node.items)
            assert isinstance(opener, ast.Call)
            if opener.args:
                drop_file_prints(port, opener.args[0])
        else:
            edits.check(node.lineno, "writes a file: lambdafan stores the records; drop it")
        return


def is_name(node: ast.AST | None, name: str) -> bool:
    return isinstance(node, ast.Name) and node.id == name


def is_open(node: ast.AST) -> bool:
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "open"


def drop_file_prints(port: Port, path: ast.expr) -> None:
    """A print that names the file the port no longer writes (`print("wrote x.csv")`) goes
    (it is marked when it is the only statement of its block)."""
    texts = (
        {path.value} if isinstance(path, ast.Constant) and isinstance(path.value, str) else set()
    )
    names = {path.id} if isinstance(path, ast.Name) else set()
    for node in ast.walk(port.tree):
        if (
            isinstance(node, ast.Assign)
            and any(is_name(t, n) for t in node.targets for n in names)
            and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, str)
        ):
            texts.add(node.value.value)
    blocks = {
        id(stmt): body
        for parent in port.walk_collect()
        for body in (getattr(parent, "body", None), getattr(parent, "orelse", None))
        if isinstance(body, list)
        for stmt in body
    }
    for top in port.collect_nodes:
        body = top.body if isinstance(top, ast.FunctionDef) else port.collect_nodes
        blocks.update({id(stmt): body for stmt in body})
    for node in port.walk_collect():
        if not (isinstance(node, ast.Expr) and is_print(node)) or node.lineno in port.edits.deleted:
            continue
        said = [
            n
            for n in ast.walk(node.value)
            if (isinstance(n, ast.Constant) and any(t in str(n.value) for t in texts))
            or (isinstance(n, ast.Name) and n.id in names)
        ]
        if not said:
            continue
        if len(blocks.get(id(node), [])) > 1:
            port.edits.delete(node)
            port.edits.drop_changes(node.lineno, "")
            port.edits.change(node.lineno, "removed a print of the file: the port writes none")
        else:
            port.edits.check(node.lineno, "names the file the port no longer writes: drop it")
