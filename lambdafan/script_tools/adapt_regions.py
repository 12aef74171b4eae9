"""The region of a regional port: a client collect makes for the laptop's one region (a constant
`region_name="us-east-1"`, an argparse `--region` option's value) would scan that region in every
region lambdafan calls collect for, so it gets collect's `region`; one it cannot tell is marked."""

from __future__ import annotations

import ast

from lambdafan.script_tools.adapt_args import option_defaults, parsed_namespaces
from lambdafan.script_tools.adapt_edits import Edits
from lambdafan.script_tools.adapt_port import Port
from lambdafan.script_tools.adapt_yields import bindings
from lambdafan.script_tools.laptop_syntax import (
    GLOBAL_SERVICES,
    NEUTRAL_SERVICES,
    is_region_code,
    is_region_name,
    over_regions,
    region_keyword,
    service_of,
)


def fix_regions(port: Port) -> None:
    """collect's reads of a `--region` option become `region`, as do its clients' constant
    regions; another region_name that is not a region variable is marked."""
    if port.scope != "region":
        return
    edits = port.edits
    nodes = port.walk_collect()
    options = {name for name in option_defaults(port) if is_region_name(name)}
    namespaces = parsed_namespaces(port.tree)
    constants = region_constants(port.tree)
    for node in nodes:
        if is_option_read(node, namespaces, options) and not in_span(edits, node):
            assert isinstance(node, ast.Attribute)
            edits.span(node, "region")
            edits.change(node.lineno, f"{port.segment(node)} (the laptop's one region) → region")
    looped = loop_names(nodes)
    for node in nodes:
        if not (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in ("client", "resource")
        ):
            continue
        value = region_keyword(node)
        service = service_of(node)
        if value is None or service in GLOBAL_SERVICES | NEUTRAL_SERVICES or in_span(edits, value):
            continue
        if is_option_read(value, namespaces, options):
            continue  # made `region` above
        if (isinstance(value, ast.Constant) and isinstance(value.value, str)) or (
            isinstance(value, ast.Name) and value.id in constants
        ):
            edits.span(value, "region")
            if isinstance(value, ast.Name):
                port.region_names.add(value.id)
            edits.change(
                value.lineno,
                f"region_name={port.segment(value)} → region_name=region: else every region "
                "scans that one",
            )
        elif not (root_name(value) in looped or root_name(value) == "region"):
            edits.check(
                value.lineno,
                f"region_name={port.segment(value)}: collect scans `region` (use region_name="
                "region), else every region scans the same one",
            )
    follow_region_names(port)


def follow_region_names(port: Port) -> None:
    """A module name a client's region became `region` for (`REGION = os.environ.get(...)`) is
    the laptop's region wherever else collect reads it (`{"region": REGION}`): `region` too; a
    helper reading it is marked."""
    edits = port.edits
    nodes = port.walk_collect()
    local = {name for node in nodes for name, _ in bindings(node)}
    module = {name for node in port.tree.body for name, _ in bindings(node)}
    for name in sorted((port.region_names & module) - local - {"region"}):
        for node in nodes:
            if (
                isinstance(node, ast.Name)
                and node.id == name
                and isinstance(node.ctx, ast.Load)
                and node.lineno not in edits.deleted
                and not in_span(edits, node)
            ):
                edits.span(node, "region")
                edits.change(node.lineno, f"{name} (the laptop's region) → region")
        for helper in port.tree.body:
            if isinstance(helper, ast.FunctionDef) and helper.name in port.global_readers(name):
                edits.check(
                    helper.lineno,
                    f"{helper.name}() reads {name}, the laptop's region: give it collect's region",
                )


def is_option_read(node: ast.AST, namespaces: set[str], options: set[str]) -> bool:
    """`args.region`: a read of a parsed `--region` option."""
    return (
        isinstance(node, ast.Attribute)
        and isinstance(node.ctx, ast.Load)
        and isinstance(node.value, ast.Name)
        and node.value.id in namespaces
        and node.attr in options
    )


def region_constants(tree: ast.Module) -> set[str]:
    """Names only ever assigned a region code (`REGION = "us-east-1"`)."""
    kinds: dict[str, bool] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign | ast.AnnAssign | ast.AugAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            value = node.value
            code = (
                not isinstance(node, ast.AugAssign)
                and isinstance(value, ast.Constant)
                and isinstance(value.value, str)
                and is_region_code(value.value)
            )
            for target in targets:
                if isinstance(target, ast.Name):
                    kinds[target.id] = kinds.get(target.id, True) and code
    return {name for name, code in kinds.items() if code}


def loop_names(nodes: list[ast.AST]) -> set[str]:
    """The region variables of collect: region-like names and the targets of region loops."""
    found = {n.id for n in nodes if isinstance(n, ast.Name) and is_region_name(n.id)}
    for node in nodes:
        if isinstance(node, ast.For | ast.comprehension) and over_regions(node.target, node.iter):
            found.update(n.id for n in ast.walk(node.target) if isinstance(n, ast.Name))
        elif (  # r = {"RegionName": region}: an unwrapped loop's variable
            isinstance(node, ast.Assign)
            and len(node.targets) == 1
            and isinstance(node.targets[0], ast.Name)
            and any(isinstance(n, ast.Name) and n.id == "region" for n in ast.walk(node.value))
        ):
            found.add(node.targets[0].id)
    return found


def root_name(node: ast.expr) -> str:
    """`r` of `r`, `r["RegionName"]`, `r.name` ("" for anything else)."""
    while isinstance(node, ast.Subscript | ast.Attribute):
        node = node.value
    return node.id if isinstance(node, ast.Name) else ""


def in_span(edits: Edits, node: ast.AST) -> bool:
    """`node` is inside a span an earlier rewrite replaced."""
    start = (getattr(node, "lineno", 0), getattr(node, "col_offset", 0))
    end = (getattr(node, "end_lineno", 0) or 0, getattr(node, "end_col_offset", 0) or 0)
    return any(
        (line, col) <= start and end <= (end_line, end_col)
        for line, col, end_line, end_col, _ in edits.spans
    )
