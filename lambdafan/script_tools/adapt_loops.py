"""Loops over regions or profiles in a port: unwrapped, since lambdafan runs collect once per
account and region; the region lists they looped over go."""

from __future__ import annotations

import ast

from lambdafan.script_tools.adapt_port import Port
from lambdafan.script_tools.laptop_syntax import (
    REGION_LISTS,
    calls_attr,
    is_print,
    name_of,
    one_line,
    over_regions,
)


def loop_kind(node: ast.For) -> str:
    """ "region", "profile" or "" for a loop (the region rule is laptop_habits' too)."""
    if over_regions(node.target, node.iter):
        return "region"
    name = node.target.id if isinstance(node.target, ast.Name) else ""
    return "profile" if "profile" in name else ""


def own_jumps(loop: ast.For) -> list[ast.Continue | ast.Break]:
    """The `continue` and `break` statements of `loop` itself (not of loops or functions in it)."""
    found: list[ast.Continue | ast.Break] = []
    stack: list[ast.AST] = list(loop.body)
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Continue | ast.Break):
            found.append(node)
        elif isinstance(node, ast.For | ast.AsyncFor | ast.While):
            stack.extend(node.orelse)  # a jump in an inner loop's else is the outer loop's
        elif not isinstance(
            node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Lambda
        ):
            stack.extend(ast.iter_child_nodes(node))
    return found


def ends_collect(port: Port, loop: ast.For) -> bool:
    """Nothing runs in collect after `loop` (but lines the port removed)."""
    statements: list[ast.stmt] = []
    for top in port.collect_nodes:
        statements.extend(top.body if isinstance(top, ast.FunctionDef) else [top])
    kept = [s for s in statements if s.lineno not in port.edits.deleted]
    return bool(kept) and kept[-1] is loop


def drop_messages_after(port: Port, loop: ast.For) -> None:
    """The statements after `loop` in collect, when all are messages (`print("done")`): they
    go, so that the loop ends collect and its `continue` can be a return."""
    statements: list[ast.stmt] = []
    for top in port.collect_nodes:
        statements.extend(top.body if isinstance(top, ast.FunctionDef) else [top])
    kept = [s for s in statements if s.lineno not in port.edits.deleted]
    if loop not in kept:
        return
    after = kept[kept.index(loop) + 1 :]
    if not all(is_message(s) for s in after):
        return
    for message in after:
        port.edits.delete(message)
        port.edits.change(
            message.lineno,
            f"removed `{one_line(port.segment(message))}`: a message after the loop over regions",
        )


def is_message(node: ast.stmt) -> bool:
    """`print("done")`: a print of constants only, to stdout."""
    return (
        is_print(node)
        and isinstance(node, ast.Expr)
        and isinstance(node.value, ast.Call)
        and not node.value.keywords
        and all(isinstance(a, ast.Constant) for a in node.value.args)
    )


def unwrap_loops(port: Port) -> None:
    edits = port.edits
    gone: list[tuple[int, str]] = []  # (first line of a profile loop's body, its variable)
    iters: set[str] = set()  # the names of the region lists looped over
    for node in port.walk_collect():
        if isinstance(node, ast.ListComp | ast.GeneratorExp | ast.SetComp | ast.DictComp) and any(
            over_regions(g.target, g.iter) for g in node.generators
        ):
            edits.check(
                node.lineno, "goes over regions: lambdafan calls collect per region: use region"
            )
        elif (
            isinstance(node, ast.Call)
            and name_of(node.func) == "map"
            and any(calls_attr(arg, REGION_LISTS) for arg in node.args)
        ):  # pool.map(scan, regions)
            edits.check(
                node.lineno, "maps over regions: lambdafan calls collect per region: use region"
            )
        if not isinstance(node, ast.For) or is_map(node.iter):  # marked as a map above
            continue
        kind = loop_kind(node)
        if kind == "region" and port.scope == "account":
            edits.check(
                node.lineno,
                "account-scoped: collect runs once, given the home region: drop this loop "
                "unless you need every region",
            )
            continue
        if not kind or not isinstance(node.target, ast.Name):
            if kind:
                edits.check(node.lineno, f"a loop over {kind}s: unwrap it by hand")
            continue
        if node.orelse:
            edits.check(node.lineno, f"a loop over {kind}s with an else: unwrap it by hand")
            continue
        jumps = own_jumps(node)
        if jumps and not ends_collect(port, node):
            drop_messages_after(port, node)  # `print("done")` would show once per region
        if jumps and not ends_collect(port, node):
            edits.check(
                node.lineno,
                f"continue/break of this loop over {kind}s, and code after it: unwrap it by "
                "hand (a return ends this region)",
            )
            continue
        for jump in jumps:  # collect runs once per region: ending this one is a return
            edits.span(jump, "return")
            word = "continue" if isinstance(jump, ast.Continue) else "break"
            edits.change(jump.lineno, f"{word} of the loop over {kind}s → return")
        name = node.target.id
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
                # describe_regions()["Regions"] gives dicts: the loop read r["RegionName"]
                item = '{"RegionName": region}' if gives_region_dicts(node.iter) else "region"
                edits.aligned.setdefault(node.body[0].lineno, []).append(f"{name} = {item}")
        else:
            edits.change(node.lineno, f"unwrapped `{header}`: lambdafan loops over accounts")
            edits.aligned.setdefault(node.body[0].lineno, []).append(f"{name} = account.name")
            gone.append((node.body[0].lineno, name))
    for line, name in gone:  # on the first line that stays (an inner loop's `for` goes)
        while line in edits.deleted:
            line += 1
        edits.check(line, f"{name} is the account's name now: records carry it anyway")
    remove_region_lists(port, iters)


def is_map(node: ast.AST) -> bool:
    """`map(f, regions)` / `pool.map(f, regions)` of a region list."""
    return (
        isinstance(node, ast.Call)
        and name_of(node.func) in ("map", "imap", "imap_unordered")
        and any(calls_attr(arg, REGION_LISTS) or over_regions(arg, arg) for arg in node.args[1:])
    )


def gives_region_dicts(iterated: ast.expr) -> bool:
    """`ec2.describe_regions()["Regions"]`: the loop gets the API's dicts, not names."""
    comprehension = ast.ListComp | ast.GeneratorExp | ast.SetComp | ast.DictComp
    return not isinstance(iterated, comprehension) and calls_attr(iterated, ("describe_regions",))


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
