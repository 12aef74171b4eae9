"""Laptop habits a script's source shows that lambdafan's fleet does not share: AWS calls at
import, boto3's defaults, region loops, a command line, a `collect` that only prints.

Pure: the source is parsed, never imported. Only code lambdafan runs is judged: the module's
top level (not its `if __name__ == "__main__":` block), `collect`, and what they refer to; a
laptop entry point such as `main()` called only from the `__main__` block is the script's own.
"""

from __future__ import annotations

import ast
import functools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from lambdafan.script_tools.laptop_output import only_prints
from lambdafan.script_tools.laptop_syntax import (
    AWS_REGION_LISTS,
    GLOBAL_SERVICES,
    NEUTRAL_SERVICES,
    REGION_LISTS,
    client_call,
    is_boto3,
    is_session_call,
    name_of,
    one_line,
    over_regions,
    region_keyword,
    service_of,
)
from lambdafan.script_tools.script_code import ScriptCode, walk

# Kinds of finding, in the order one line's findings are shown.
ONLY_PRINTS = "only-prints"
AWS_AT_IMPORT = "aws-at-import"
REGION_LOOP = "region-loop"
NO_REGION = "no-region"
BOTO3_DEFAULT = "boto3-default"
COMMAND_LINE = "command-line"
_ORDER = (ONLY_PRINTS, AWS_AT_IMPORT, REGION_LOOP, NO_REGION, BOTO3_DEFAULT, COMMAND_LINE)

PER_REGION = "collect already runs once per region (duplicates)"
_PARSE_ARGS = frozenset({"parse_args", "parse_known_args", "parse_intermixed_args"})


@dataclass(frozen=True)
class Habit:
    """One finding: `path:line: what is wrong: the fix`; a `problem` means no records ever."""

    path: str
    line: int
    kind: str
    text: str
    problem: bool = False

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.text}"


def file_habits(path: Path) -> list[Habit]:
    """The findings of a script file; none for a file that cannot be read or parsed (the
    contract check reports those)."""
    try:
        source = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return []
    return laptop_habits(source, str(path))


def laptop_habits(source: str, path: str) -> list[Habit]:
    """The findings of a script's source, by line."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return []
    found: dict[tuple[int, str], Habit] = {}
    for habit in _Scan(tree, source, path).habits():
        found.setdefault((habit.line, habit.kind), habit)
    # A region list called at import is one finding, not also a region loop.
    at_import = {line for line, kind in found if kind == AWS_AT_IMPORT}
    kept = [h for h in found.values() if not (h.kind == REGION_LOOP and h.line in at_import)]
    return sorted(kept, key=lambda h: (h.line, _ORDER.index(h.kind)))


def first_at_import(habits: Iterable[Habit]) -> Habit | None:
    """The first AWS call the script makes at import, if it makes one."""
    return next((h for h in habits if h.kind == AWS_AT_IMPORT), None)


def _config_region(call: ast.expr) -> bool | None:
    """A botocore `Config(...)` call sets region_name (None: not a Config call)."""
    if not isinstance(call, ast.Call):
        return None
    if name_of(call.func) != "Config":
        return None
    return any(k.arg in ("region_name", None) for k in call.keywords)


def _quoted(service: str | None) -> str:
    return f'"{service}"' if service else "service"


class _Scan(ScriptCode):
    """A script's code, and the findings of its laptop habits."""

    def __init__(self, tree: ast.Module, source: str, path: str) -> None:
        super().__init__(tree)
        self.tree = tree
        self.source = source
        self.path = path
        # Names bound to a botocore Config(...): does it set region_name?
        self.configs: dict[str, bool] = {}
        for node in ast.walk(tree):
            if isinstance(node, ast.Assign) and _config_region(node.value) is not None:
                for target in node.targets:
                    if isinstance(target, ast.Name):
                        self.configs[target.id] = bool(_config_region(node.value))

    @functools.cached_property
    def region_listers(self) -> set[int]:
        """The client calls only used to list the regions (any region answers that)."""
        uses: dict[str, set[str]] = {}
        for node in ast.walk(self.tree):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
                uses.setdefault(node.value.id, set()).add(node.attr)
        found: set[int] = set()
        for node in ast.walk(self.tree):
            if (isinstance(node, ast.Attribute) and node.attr in REGION_LISTS) or (
                isinstance(node, ast.Assign)
                and len(node.targets) == 1
                and isinstance(node.targets[0], ast.Name)
                and uses.get(node.targets[0].id, {""}) <= set(REGION_LISTS)
            ):
                found.add(id(node.value))
        return found

    def region_given(self, call: ast.Call) -> bool | None:
        """A client call is given its region (region_name, a Config with one, keywords we
        cannot see); None: a config we cannot read may set it."""
        if len(call.args) >= 2 or any(k.arg in (None, "region_name") for k in call.keywords):
            return True
        config = next((k.value for k in call.keywords if k.arg == "config"), None)
        if config is None:
            return False
        if isinstance(config, ast.Name) and config.id in self.configs:
            return self.configs[config.id]
        return _config_region(config)

    def no_region_text(self, call: ast.Call) -> str:
        """`x has no region_name` (or, with a config we cannot read: may have none)."""
        if self.region_given(call) is None:
            return f"{self.shown(call)} may have no region_name (not in its config?)"
        return f"{self.shown(call)} has no region_name"

    def shown(self, node: ast.expr, limit: int = 48) -> str:
        text = one_line(ast.get_source_segment(self.source, node) or ast.unparse(node))
        return text if len(text) <= limit else text[: limit - 3] + "..."

    def habit(self, node: ast.AST, kind: str, text: str, problem: bool = False) -> Habit:
        return Habit(self.path, getattr(node, "lineno", 1), kind, text, problem)

    # -- the findings

    def habits(self) -> Iterator[Habit]:
        yield from self.only_prints()
        yield from self.at_import()
        if self.regional:
            yield from self.region_loops()
            yield from self.no_region()
        yield from self.boto3_defaults()
        yield from self.command_line()

    def at_import(self) -> Iterator[Habit]:
        """AWS calls made while the script is imported, once per account."""
        for node in walk(self.import_code):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            if isinstance(func, ast.Name) and func.id == "collect":
                yield self.habit(
                    node,
                    AWS_AT_IMPORT,
                    'collect() is called at import: put that call under if __name__ == "__main__":',
                )
            elif isinstance(func, ast.Name) and func.id in self.touching:
                yield self.habit(
                    node,
                    AWS_AT_IMPORT,
                    f"{func.id}() runs at import and calls AWS (line {self.touching[func.id]}): "
                    "call it in collect",
                )
            elif (
                isinstance(func, ast.Attribute) and func.attr in AWS_REGION_LISTS and self.regional
            ):
                yield self.habit(
                    node,
                    AWS_AT_IMPORT,
                    f"{self.shown(func)}() runs at import: collect gets its region: drop it",
                )
            elif isinstance(func, ast.Attribute) and (
                func.attr in AWS_REGION_LISTS or self.requests(func)
            ):
                yield self.habit(
                    node,
                    AWS_AT_IMPORT,
                    f"{self.shown(func)}() runs at import, in every account: move it into collect",
                )

    def region_loops(self) -> Iterator[Habit]:
        """A regional script that lists or loops over regions itself."""
        loops: list[tuple[ast.AST, ast.expr]] = []
        calls: list[ast.Call] = []
        for node in self.run_nodes():
            if isinstance(node, (ast.For, ast.AsyncFor)) and over_regions(node.target, node.iter):
                loops.append((node, node.iter))
            elif isinstance(node, (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)):
                loops += [(node, g.iter) for g in node.generators if over_regions(g.target, g.iter)]
            elif (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in REGION_LISTS
                # describe_regions(RegionNames=[region]) asks about one region (opted in?)
                and not any(k.arg == "RegionNames" for k in node.keywords)
            ):
                calls.append(node)
        looped = {id(n) for _, iterated in loops for n in ast.walk(iterated)}
        for loop, _ in loops:
            yield self.habit(
                loop,
                REGION_LOOP,
                f'loops over regions: {PER_REGION}: use region (or SCOPE = "account")',
            )
        for call in calls:
            if id(call) not in looped:
                yield self.habit(
                    call,
                    REGION_LOOP,
                    f'{self.shown(call.func)}(): {PER_REGION}: use region (or SCOPE = "account")',
                )

    def no_region(self) -> Iterator[Habit]:
        """Clients `collect` makes without a region, in a regional script: the home region's."""
        if self.collect is None:
            return
        params = [a.arg for a in self.collect.args.args[:1]]
        owners = {"session", *params}
        in_collect = {id(n) for n in ast.walk(self.collect)}
        for node in self.run_nodes():
            call = node if isinstance(node, ast.Call) else None
            if call is None or not isinstance(call.func, ast.Attribute):
                continue
            if call.func.attr not in ("client", "resource"):
                continue
            owner = call.func.value
            inside = id(node) in in_collect
            ours = isinstance(owner, ast.Name) and owner.id in owners
            service = service_of(call)
            if not service or service in GLOBAL_SERVICES | NEUTRAL_SERVICES:
                continue
            fixed = region_keyword(call)
            if (
                isinstance(fixed, ast.Constant)
                and isinstance(fixed.value, str)
                and id(call) not in self.region_listers
            ):
                yield self.habit(
                    call,
                    NO_REGION,
                    f"{self.shown(call)} scans {fixed.value} in every region: "
                    "use region_name=region",
                )
                continue
            if not (ours or (inside and is_boto3(owner))):
                continue
            if self.region_given(call) is True:
                continue
            yield self.habit(
                call,
                NO_REGION,
                f"{self.no_region_text(call)}: every region scans the home one: "
                "add region_name=region",
            )

    def boto3_defaults(self) -> Iterator[Habit]:
        """boto3 sessions and clients made outside `collect`."""
        for node in self.run_nodes(with_collect=False):
            if is_session_call(node):
                assert isinstance(node, ast.Call)
                profile = next((k.value for k in node.keywords if k.arg == "profile_name"), None)
                made = f"{self.shown(node.func)}({'...' if node.args or node.keywords else ''})"
                if isinstance(profile, ast.Constant) and isinstance(profile.value, str):
                    text = (
                        f"{made} with profile_name={profile.value!r}: no profiles here "
                        "(ProfileNotFound): use collect's session"
                    )
                else:
                    text = f"{made} outside collect: works, but use collect's session"
                yield self.habit(node, BOTO3_DEFAULT, text)
            call = client_call(node)
            if call is None or not is_boto3(call.func.value):  # type: ignore[attr-defined]
                continue
            service = service_of(call)
            assert isinstance(call.func, ast.Attribute)
            better = f"session.{call.func.attr}({_quoted(service)}, region_name=region)"
            regional = (
                self.regional
                and service not in GLOBAL_SERVICES | NEUTRAL_SERVICES
                and self.region_given(call) is not True
            )
            if regional:
                text = f"{self.no_region_text(call)}: every region scans the home one: use {better}"
            else:
                text = f"{self.shown(call)} outside collect: works, but use {better}"
            yield self.habit(call, BOTO3_DEFAULT, text)

    def command_line(self) -> Iterator[Habit]:
        """`sys.argv` and argument parsers: a script gets no command line."""
        parsers = bool(self.imports & {"argparse", "optparse"})
        for node in self.run_nodes():
            argv = (
                isinstance(node, ast.Attribute)
                and node.attr == "argv"
                and isinstance(node.value, ast.Name)
                and node.value.id == "sys"
            ) or (
                self.argv_imported
                and isinstance(node, ast.Name)
                and node.id == "argv"
                and isinstance(node.ctx, ast.Load)
            )
            if argv:
                yield self.habit(
                    node,
                    COMMAND_LINE,
                    "sys.argv: scripts get no command line (just the script's path): use constants",
                )
            elif (
                parsers
                and isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in _PARSE_ARGS
                and not node.args
                and not any(k.arg in ("args", None) for k in node.keywords)
            ):
                yield self.habit(
                    node,
                    COMMAND_LINE,
                    f"{self.shown(node)}: scripts get no command line (it takes its defaults): "
                    "use constants",
                )

    def only_prints(self) -> Iterator[Habit]:
        """A `collect` that prints or logs its findings and gives none: 0 records, every run."""
        found = only_prints(self, self.tree)
        if found is not None:
            yield self.habit(found[0], ONLY_PRINTS, found[1], problem=True)
