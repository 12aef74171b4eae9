"""Loops over regions or profiles in a port: unwrapped, since lambdafan runs collect once per
account and region; the region lists they looped over go."""

from __future__ import annotations

import ast

from lambdafan.script_tools.adapt_port import Port
from lambdafan.script_tools.laptop_syntax import REGION_LISTS, calls_attr


def loop_kind(name: str) -> str:
    """ "region", "profile" or "" for a loop variable's name."""
    return "region" if "region" in name.lower() else "profile" if "profile" in name else ""


def unwrap_loops(port: Port) -> None:
    edits = port.edits
    gone: list[tuple[int, str]] = []  # (first line of a profile loop's body, its variable)
    iters: set[str] = set()  # the names of the region lists looped over
    for node in port.walk_collect():
        if not isinstance(node, ast.For) or not isinstance(node.target, ast.Name):
            continue
        name = node.target.id
        kind = loop_kind(name)
        if not kind or (kind == "region" and port.scope == "account"):
            if kind == "region":
                edits.check(node.lineno, "account-scoped: collect gets no real region")
            continue
        if node.orelse:
            edits.check(node.lineno, f"a loop over {kind}s with an else: unwrap it by hand")
            continue
        body_end = node.body[-1].end_lineno or node.body[-1].lineno
        step = node.body[0].col_offset - node.col_offset
        edits.deleted.update(range(node.lineno, node.body[0].lineno))
        edits.shift(node.body[0].lineno, body_end, -step)
        header = f"for {name} in {port.segment(node.iter)}"
        if kind == "region":
            if isinstance(node.iter, ast.Name):
                iters.add(node.iter.id)
            edits.change(node.lineno, f"unwrapped `{header}`: lambdafan loops over regions")
            if name != "region":
                edits.aligned.setdefault(node.body[0].lineno, []).append(f"{name} = region")
        else:
            edits.change(node.lineno, f"unwrapped `{header}`: lambdafan loops over accounts")
            edits.aligned.setdefault(node.body[0].lineno, []).append(f"{name} = account.name")
            gone.append((node.body[0].lineno, name))
    for line, name in gone:  # on the first line that stays (an inner loop's `for` goes)
        while line in edits.deleted:
            line += 1
        edits.check(line, f"{name} is the account's name now: records carry it anyway")
    remove_region_lists(port, iters)


def remove_region_lists(port: Port, iters: set[str]) -> None:
    """The lists of regions the unwrapped loops went over, and module-level lists made by
    `describe_regions()`: lambdafan has the regions."""
    edits = port.edits
    for stmt in [*port.tree.body, *port.walk_collect()]:
        if (
            isinstance(stmt, ast.Assign)
            and len(stmt.targets) == 1
            and isinstance(stmt.targets[0], ast.Name)
            and stmt.targets[0].id in iters
            and stmt.lineno not in edits.deleted
            and not port.users(stmt.targets[0].id)
        ):
            edits.delete(stmt, comments=True)
            edits.change(stmt.lineno, "removed the region list: lambdafan has the regions")
    for top in port.tree.body:
        if (
            isinstance(top, ast.Assign | ast.AnnAssign)
            and top.lineno not in edits.deleted
            and top.value is not None
            and calls_attr(top.value, REGION_LISTS)
        ):
            edits.delete(top, comments=True)
            edits.change(top.lineno, "removed the region list: lambdafan has the regions")
