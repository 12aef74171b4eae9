"""Laptop habits a script's source shows that lambdafan's fleet does not share: AWS calls at
import, boto3's defaults, region loops, a command line, a `collect` that only prints.

Pure: the source is parsed, never imported. Only code lambdafan runs is judged: the module's
top level (not its `if __name__ == "__main__":` block), `collect`, and what they refer to; a
laptop entry point such as `main()` called only from the `__main__` block is the script's own.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from lambdafan.script_tools.laptop_syntax import (
    GLOBAL_SERVICES,
    NEUTRAL_SERVICES,
    REGION_LISTS,
    client_call,
    is_boto3,
    is_session_call,
    one_line,
    service_of,
)

# Kinds of finding, in the order one line's findings are shown.
ONLY_PRINTS = "only-prints"
AWS_AT_IMPORT = "aws-at-import"
REGION_LOOP = "region-loop"
NO_REGION = "no-region"
BOTO3_DEFAULT = "boto3-default"
COMMAND_LINE = "command-line"
_ORDER = (ONLY_PRINTS, AWS_AT_IMPORT, REGION_LOOP, NO_REGION, BOTO3_DEFAULT, COMMAND_LINE)

COLLECT = "collect(session, region, account)"
PER_REGION = "lambdafan already calls collect once per region (duplicates)"
# Methods of a client that make no request.
_LOCAL_METHODS = frozenset({"get_paginator", "get_waiter", "can_paginate", "close"})
_PARSE_ARGS = frozenset({"parse_args", "parse_known_args", "parse_intermixed_args"})
# `for region in ...`, `for region_name in ...`: a loop over regions, whatever it iterates.
_REGION_NAME = re.compile(r"(aws_)?region(_name|_code)?", re.IGNORECASE)
_REGION_CODE = re.compile(r"[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-\d")
_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)


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


def walk(nodes: Iterable[ast.AST]) -> Iterator[ast.AST]:
    """Every node of `nodes` that runs with them: not the bodies of functions, classes, lambdas."""
    stack = list(nodes)[::-1]
    while stack:
        node = stack.pop()
        yield node
        if isinstance(node, _SCOPES):
            continue
        stack.extend(reversed(list(ast.iter_child_nodes(node))))


def _is_main_guard(node: ast.stmt) -> bool:
    """`if __name__ == "__main__":` (either way round)."""
    if not (isinstance(node, ast.If) and isinstance(node.test, ast.Compare)):
        return False
    test = node.test
    if len(test.ops) != 1 or not isinstance(test.ops[0], ast.Eq):
        return False
    sides = [test.left, test.comparators[0]]
    return any(isinstance(s, ast.Name) and s.id == "__name__" for s in sides) and any(
        isinstance(s, ast.Constant) and s.value == "__main__" for s in sides
    )


def _scope_of(tree: ast.Module) -> str:
    scope = "region"
    for node in tree.body:
        if (
            isinstance(node, ast.Assign)
            and any(isinstance(t, ast.Name) and t.id == "SCOPE" for t in node.targets)
            and isinstance(node.value, ast.Constant)
        ):
            scope = str(node.value.value)
    return scope


def _has_region(call: ast.Call) -> bool:
    """A client call given its region (or a config, or keywords we cannot see)."""
    if len(call.args) >= 2:
        return True
    return any(k.arg in (None, "region_name", "config") for k in call.keywords)


def _quoted(service: str | None) -> str:
    return f'"{service}"' if service else "service"


class _Scan:
    """One script's syntax tree, and the parts of it lambdafan runs."""

    def __init__(self, tree: ast.Module, source: str, path: str) -> None:
        self.source = source
        self.path = path
        self.regional = _scope_of(tree) != "account"
        # What runs at import: top-level statements, less definitions and the __main__ block.
        self.import_code: list[ast.stmt] = []
        self.defs: dict[str, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef] = {}
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                self.defs[node.name] = node
            elif _is_main_guard(node):
                assert isinstance(node, ast.If)
                self.import_code.extend(node.orelse)
            else:
                self.import_code.append(node)
        collect = self.defs.get("collect")
        self.collect = collect if isinstance(collect, ast.FunctionDef) else None
        self.imports = {
            alias.name.split(".")[0]
            for node in ast.walk(tree)
            if isinstance(node, (ast.Import, ast.ImportFrom))
            for alias in node.names
        } | {
            node.module.split(".")[0]
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and node.module
        }
        self.argv_imported = any(
            isinstance(node, ast.ImportFrom)
            and node.module == "sys"
            and any(a.name == "argv" and a.asname is None for a in node.names)
            for node in ast.walk(tree)
        )
        self.factories: set[str] = set()
        self.factories = self._client_factories()
        self.sessions, self.clients = self._module_clients()
        self.helpers = self._reachable()
        self.touching = self._touching_aws()

    # -- what the script holds and runs

    def _client_factories(self) -> set[str]:
        """Functions that return a boto3 client or resource they make (`def client(service):
        return boto3.client(service, ...)`)."""
        found: set[str] = set()
        for name, fn in self.defs.items():
            if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            sessions: set[str] = set()
            clients: set[str] = set()
            self._bind(ast.walk(fn), sessions, clients)
            for node in ast.walk(fn):
                value = node.value if isinstance(node, ast.Return) else None
                if (isinstance(value, ast.Name) and value.id in clients) or (
                    isinstance(value, ast.Call)
                    and self._makes_client(value, frozenset(sessions), clients)
                ):
                    found.add(name)
        return found

    def _module_clients(self) -> tuple[frozenset[str], set[str]]:
        """Names bound at import to a boto3 session, and to a client, resource, paginator or
        waiter."""
        sessions: set[str] = set()
        clients: set[str] = set()
        self._bind(walk(self.import_code), sessions, clients)
        return frozenset(sessions), clients

    def _bind(self, nodes: Iterable[ast.AST], sessions: set[str], clients: set[str]) -> None:
        """Add to `sessions` and `clients` the names `nodes` bind to them."""
        assigns = [n for n in nodes if isinstance(n, (ast.Assign, ast.AnnAssign))]
        for _ in range(3):  # a session, its client, the client's paginator
            for node in assigns:
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                names = {t.id for t in targets if isinstance(t, ast.Name)}
                value = node.value
                if value is None:
                    continue
                if is_session_call(value):
                    sessions |= names
                elif isinstance(value, ast.Call) and self._makes_client(
                    value, frozenset(sessions), clients
                ):
                    clients |= names

    def _makes_client(self, call: ast.Call, sessions: frozenset[str], clients: set[str]) -> bool:
        """`boto3.client(..)`, `sess.resource(..)`, `ec2.get_paginator(..)`, `s3.Bucket(..)`:
        not what a client's call returns, which is data."""
        if client_call(call, sessions) is not None:
            return True
        func = call.func
        if isinstance(func, ast.Name):
            return func.id in self.factories
        return (
            isinstance(func, ast.Attribute)
            and (func.attr in ("get_paginator", "get_waiter") or func.attr[:1].isupper())
            and self._on_client(func.value, sessions, clients)
        )

    def _on_client(
        self,
        func: ast.expr,
        sessions: frozenset[str] | None = None,
        clients: set[str] | None = None,
    ) -> bool:
        """`func` is a boto3 client or resource, or reached from one (`ec2.describe_x`,
        `boto3.client("sts").get_caller_identity`, `s3.Bucket(b).objects.all`)."""
        known = self.clients if clients is None else clients
        made_by = self.sessions if sessions is None else sessions
        node: ast.expr = func
        while True:
            if isinstance(node, ast.Call):
                if client_call(node, made_by) is not None:
                    return True
                node = node.func
            elif isinstance(node, (ast.Attribute, ast.Subscript)):
                node = node.value
            else:
                return isinstance(node, ast.Name) and node.id in known

    def _reachable(self) -> dict[str, ast.AST]:
        """The script's functions and classes that run in lambdafan: those the import code or
        `collect` name, and those they name in turn (not `collect` itself)."""
        seen: dict[str, ast.AST] = {}
        todo: list[ast.AST] = [*self.import_code, *([self.collect] if self.collect else [])]
        while todo:
            for node in ast.walk(todo.pop()):
                if not isinstance(node, ast.Name) or node.id in seen or node.id == "collect":
                    continue
                if node.id in self.defs:
                    seen[node.id] = self.defs[node.id]
                    todo.append(self.defs[node.id])
        return seen

    def _touching_aws(self) -> dict[str, int]:
        """Functions that call AWS, directly or through another: the line of the call."""
        touching: dict[str, int] = {}
        # Each function, with the sessions and clients it can use: the module's and its own.
        functions: dict[str, tuple[ast.AST, frozenset[str], set[str]]] = {}
        for name, fn in self.defs.items():
            if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
                own_sessions, own_clients = set(self.sessions), set(self.clients)
                self._bind(ast.walk(fn), own_sessions, own_clients)
                functions[name] = (fn, frozenset(own_sessions), own_clients)
        changed = True
        while changed:
            changed = False
            for name, (body, sessions, clients) in functions.items():
                if name in touching:
                    continue
                for node in ast.walk(body):
                    if isinstance(node, ast.Call) and self._calls_aws(
                        node, touching, sessions, clients
                    ):
                        touching[name] = node.lineno
                        changed = True
                        break
        return touching

    def _calls_aws(
        self, call: ast.Call, touching: dict[str, int], sessions: frozenset[str], clients: set[str]
    ) -> bool:
        func = call.func
        if isinstance(func, ast.Name):
            return func.id in touching
        if not isinstance(func, ast.Attribute):
            return False
        return func.attr in REGION_LISTS or self._requests(func, sessions, clients)

    def _requests(
        self,
        func: ast.Attribute,
        sessions: frozenset[str] | None = None,
        clients: set[str] | None = None,
    ) -> bool:
        """`func` is a method of a client or resource that sends a request: not one that makes
        a paginator or waiter, a sub-resource (`s3.Bucket`), or reaches `.meta` (not its client)."""
        if func.attr in _LOCAL_METHODS or func.attr[:1].isupper():
            return False
        outer: str | None = func.attr
        node: ast.expr = func.value
        while isinstance(node, (ast.Attribute, ast.Call, ast.Subscript)):
            if isinstance(node, ast.Attribute):
                if node.attr == "meta" and outer != "client":
                    return False
                outer = node.attr
                node = node.value
            else:
                outer = None
                node = node.func if isinstance(node, ast.Call) else node.value
        return self._on_client(func.value, sessions, clients)

    def run_nodes(self, *, with_collect: bool = True) -> Iterator[ast.AST]:
        """Every node lambdafan runs: import code, the helpers, and `collect` if asked."""
        yield from walk(self.import_code)
        for helper in self.helpers.values():
            yield from ast.walk(helper)
        if with_collect and self.collect is not None:
            yield from ast.walk(self.collect)

    def shown(self, node: ast.expr, limit: int = 60) -> str:
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
                    f"{func.id}() runs at import and calls AWS (line {self.touching[func.id]}), "
                    f"in every account's process: move that into {COLLECT}",
                )
            elif isinstance(func, ast.Attribute) and func.attr in REGION_LISTS and self.regional:
                yield self.habit(
                    node,
                    AWS_AT_IMPORT,
                    f"{self.shown(func)}() runs at import, and {PER_REGION}: drop it and use "
                    "collect's region",
                )
            elif isinstance(func, ast.Attribute) and (
                func.attr in REGION_LISTS or self._requests(func)
            ):
                yield self.habit(
                    node,
                    AWS_AT_IMPORT,
                    f"{self.shown(func)}() runs at import, in every account's process: move it "
                    f"into {COLLECT}",
                )

    def region_loops(self) -> Iterator[Habit]:
        """A regional script that lists or loops over regions itself."""
        loops: list[tuple[ast.AST, ast.expr]] = []
        calls: list[ast.Call] = []
        for node in self.run_nodes():
            if isinstance(node, (ast.For, ast.AsyncFor)) and self._over_regions(
                node.target, node.iter
            ):
                loops.append((node, node.iter))
            elif isinstance(node, (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)):
                loops += [
                    (node, g.iter) for g in node.generators if self._over_regions(g.target, g.iter)
                ]
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
                f"loops over regions, but {PER_REGION}: drop the loop and use region "
                '(or set SCOPE = "account")',
            )
        for call in calls:
            if id(call) not in looped:
                yield self.habit(
                    call,
                    REGION_LOOP,
                    f"{self.shown(call.func)}() in a regional script: {PER_REGION}: drop it and "
                    'use region (or set SCOPE = "account")',
                )

    def _over_regions(self, target: ast.expr, iterated: ast.expr) -> bool:
        if isinstance(target, ast.Name) and _REGION_NAME.fullmatch(target.id):
            return True
        if any(
            isinstance(n, ast.Call)
            and isinstance(n.func, ast.Attribute)
            and n.func.attr in REGION_LISTS
            for n in ast.walk(iterated)
        ):
            return True
        named = iterated.func if isinstance(iterated, ast.Call) else iterated
        name = (
            named.id
            if isinstance(named, ast.Name)
            else named.attr
            if isinstance(named, ast.Attribute)
            else ""
        )
        if "regions" in name.lower():
            return True
        codes = iterated.elts if isinstance(iterated, (ast.List, ast.Tuple, ast.Set)) else []
        return len(codes) >= 2 and all(
            isinstance(c, ast.Constant)
            and isinstance(c.value, str)
            and _REGION_CODE.fullmatch(c.value)
            for c in codes
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
            if not (ours or (inside and is_boto3(owner))):
                continue
            service = service_of(call)
            if not service or service in GLOBAL_SERVICES | NEUTRAL_SERVICES or _has_region(call):
                continue
            yield self.habit(
                call,
                NO_REGION,
                f"{self.shown(call)} has no region_name, so each region scans the home region "
                "(duplicates): add region_name=region",
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
                        f"{made} with profile_name={profile.value!r}: lambdafan has no profiles "
                        "(ProfileNotFound): use collect's session"
                    )
                else:
                    text = (
                        f"{made} outside collect: works (bound to the scanned account), but "
                        "collect's session is the contract"
                    )
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
                and not _has_region(call)
            )
            if regional:
                text = (
                    f"{self.shown(call)} has no region_name, so each region scans the home "
                    f"region (duplicates): make it in collect: {better}"
                )
            else:
                text = (
                    f"{self.shown(call)} outside collect: works (bound to the scanned account), "
                    f"but the contract is {better} in collect"
                )
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
                    "sys.argv: scripts get no command line (sys.argv is [the script's path]): "
                    "use constants",
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
        """A `collect` that prints its findings and gives none: 0 records, every run."""
        if self.collect is None:
            return
        body = list(walk(self.collect.body))
        if any(isinstance(n, (ast.Yield, ast.YieldFrom)) for n in body):
            return
        if any(
            isinstance(n, ast.Return)
            and n.value is not None
            and not (isinstance(n.value, ast.Constant) and n.value.value is None)
            for n in body
        ):
            return
        prints = [n for n in body if isinstance(n, ast.Call) and _prints(n.func)]
        if prints:
            yield self.habit(
                prints[0],
                ONLY_PRINTS,
                "collect prints but never yields or returns a value, so it reports 0 records: "
                "yield dicts instead of printing them",
                problem=True,
            )


def _prints(func: ast.expr) -> bool:
    """`print`, `pprint`, `pprint.pprint`, `sys.stdout.write`."""
    if isinstance(func, ast.Name):
        return func.id in ("print", "pprint")
    if isinstance(func, ast.Attribute):
        owner = func.value
        if func.attr == "pprint" and isinstance(owner, ast.Name) and owner.id == "pprint":
            return True
        return (
            func.attr == "write"
            and isinstance(owner, ast.Attribute)
            and owner.attr == "stdout"
            and isinstance(owner.value, ast.Name)
            and owner.value.id == "sys"
        )
    return False
