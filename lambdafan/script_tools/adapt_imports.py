"""The imports a port no longer uses (`argparse`, `sys` once the argv handling goes, `json` once
`print(json.dumps(...))` is a yield, `boto3` once every client is the session's) go."""

from __future__ import annotations

import ast

from lambdafan.script_tools.adapt_port import Port
from lambdafan.script_tools.laptop_syntax import one_line


def names_read(tree: ast.AST) -> set[str]:
    """Every name the code reads (an attribute's base included)."""
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}


def bound_name(alias: ast.alias) -> str:
    """The name an import binds: `import os.path` binds `os`, `import x as y` binds `y`."""
    return alias.asname or alias.name.split(".")[0]


def import_text(node: ast.Import | ast.ImportFrom, aliases: list[ast.alias]) -> str:
    names = ", ".join(a.name + (f" as {a.asname}" if a.asname else "") for a in aliases)
    if isinstance(node, ast.Import):
        return f"import {names}"
    return f"from {'.' * node.level}{node.module or ''} import {names}"


def remove_unused_imports(port: Port, text: str) -> None:
    """Drop the names the laptop script read and the port (`text`) no longer does; an import
    the laptop script never used stays, as does any import of a port that does not compile."""
    try:
        now = names_read(ast.parse(text))
    except SyntaxError:
        return
    before = names_read(port.tree)
    edits = port.edits
    # Imports at the top of the module or of collect: one deleted from a nested block could
    # leave the block empty.
    statements = [*port.tree.body]
    for node in port.collect_nodes:
        statements.extend(node.body if isinstance(node, ast.FunctionDef) else [node])
    for node in statements:
        if not isinstance(node, ast.Import | ast.ImportFrom) or node.lineno in edits.deleted:
            continue
        if isinstance(node, ast.ImportFrom) and node.module == "__future__":
            continue
        if any(alias.name == "*" for alias in node.names):
            continue
        gone = [a for a in node.names if bound_name(a) in before - now]
        if not gone:
            continue
        was = one_line(port.segment(node))
        if len(gone) == len(node.names):
            edits.delete(node)
            after = (node.end_lineno or node.lineno) + 1
            if blank(port, node.lineno - 1) and blank(port, after):  # one blank line stays
                edits.deleted.add(after)
            edits.change(node.lineno, f"removed `{was}`: the port no longer uses it")
            continue
        kept = [a for a in node.names if a not in gone]
        edits.span(node, import_text(node, kept))
        names = ", ".join(bound_name(a) for a in gone)
        edits.change(node.lineno, f"removed `{names}` from `{was}`: the port no longer uses it")


def blank(port: Port, line: int) -> bool:
    """Line `line` of the laptop script is blank (line 0, before the first, counts as one)."""
    lines = port.edits.source_lines
    return line == 0 or (line <= len(lines) and not lines[line - 1].strip())
