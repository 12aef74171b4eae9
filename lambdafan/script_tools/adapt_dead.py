"""What a port leaves dead: a helper nothing calls any more (it listed the regions of an
unwrapped loop), and `global` statements of collect that no function still reads."""

from __future__ import annotations

import ast

from lambdafan.script_tools.adapt_port import Port


def remove_dead_helpers(port: Port) -> None:
    """A module-level function the laptop script used, that no line of the port still names."""
    edits = port.edits
    for _ in range(3):  # a helper only a dead helper called dies with it
        named = names_read(port, kept=False)
        still = names_read(port, kept=True)
        dead = [
            node
            for node in port.tree.body
            if isinstance(node, ast.FunctionDef)
            and node.name not in ("main", "collect")
            and node.lineno not in edits.deleted
            and node.name in named
            and node.name not in still
        ]
        if not dead:
            return
        for node in dead:
            first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            edits.deleted.update(range(edits.comments_above(first), (node.end_lineno or 0) + 1))
            edits.change(node.lineno, f"removed {node.name}(): nothing calls it now")


def names_read(port: Port, *, kept: bool) -> set[str]:
    """The names read anywhere but in their own definition (`kept`: in lines that stay)."""
    found: set[str] = set()
    for top in port.tree.body:
        own = top.name if isinstance(top, ast.FunctionDef) else None
        for node in ast.walk(top):
            if (
                isinstance(node, ast.Name)
                and isinstance(node.ctx, ast.Load)
                and node.id != own
                and not (kept and node.lineno in port.edits.deleted)
            ):
                found.add(node.id)
    return found


def remove_dead_globals(port: Port) -> None:
    """`global ec2` in collect, when no module-level function that stays reads ec2."""
    edits = port.edits
    for node in port.walk_collect():
        if not isinstance(node, ast.Global) or node.lineno in edits.deleted:
            continue
        if any(port.global_readers(name) for name in node.names):
            continue
        edits.delete(node)
        names = ", ".join(node.names)
        edits.change(node.lineno, f"removed `global {names}`: no function reads it now")
        read = names_read(port, kept=True)
        for top in port.tree.body:  # its `ec2 = None` placeholder
            if (
                isinstance(top, ast.Assign)
                and isinstance(top.value, ast.Constant)
                and top.value.value is None
                and len(top.targets) == 1
                and isinstance(top.targets[0], ast.Name)
                and top.targets[0].id in node.names
                and top.targets[0].id not in read
            ):
                edits.delete(top)
                edits.change(top.lineno, f"removed `{top.targets[0].id} = None`: collect's now")
