"""The scope of a port: "account" when every service it uses is a global one (IAM, S3,
Organizations...), else "region"; written as `SCOPE = ...` after the imports."""

from __future__ import annotations

import ast

from lambdafan.script_tools.adapt_port import Port
from lambdafan.script_tools.laptop_syntax import GLOBAL_SERVICES, NEUTRAL_SERVICES, services_used


def decide_scope(port: Port) -> str:
    services = services_used(port.tree) - NEUTRAL_SERVICES
    if services and services <= GLOBAL_SERVICES:
        names = ", ".join(sorted(services))
        port.edits.change(1, f'SCOPE = "account": it uses only global services ({names})')
        return "account"
    if not services:
        port.edits.check(1, 'found no boto3 client: SCOPE = "region" is a guess')
    return "region"


def set_scope(port: Port) -> None:
    """`SCOPE = "..."` after the imports (marked when the script sets SCOPE itself)."""
    edits, tree = port.edits, port.tree
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "SCOPE" for t in node.targets
        ):
            edits.check(node.lineno, f'the script sets SCOPE itself; the port says "{port.scope}"')
            return
    after, started = 0, False  # after the last import that stays, in the first run of them
    for node in tree.body:
        is_doc = isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
        if isinstance(node, ast.Import | ast.ImportFrom) or (is_doc and node is tree.body[0]):
            started = True
            if node.lineno not in edits.deleted:
                after = node.end_lineno or node.lineno
        elif started:
            break
    why = (
        "  # once per account (global services)"
        if port.scope == "account"
        else "  # once per account and region"
    )
    line = f'SCOPE = "{port.scope}"{why}'
    if after >= len(edits.lines):
        edits.insert_at_end()
    spaced = after + 1 > len(edits.source_lines) or not edits.source_lines[after].strip()
    # After the imports: a blank line each side (one may follow already); at the top of the
    # file: two blank lines before the code.
    block = (["", line] if spaced else ["", line, ""]) if after else [line, "", ""]
    # First of what goes before that line: collect's `def` may start there too.
    edits.before[after + 1] = [*block, *edits.before.get(after + 1, [])]
