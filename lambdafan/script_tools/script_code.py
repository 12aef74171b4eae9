"""What of a script's code lambdafan runs, and which of its names hold boto3 clients: the
module's top level less its `if __name__ == "__main__":` block, `collect`, and the functions they
refer to. Pure functions of `ast` nodes, for `laptop_habits`."""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator

from lambdafan.script_tools.laptop_syntax import (
    AWS_REGION_LISTS,
    client_call,
    is_main_guard,
    is_session_call,
)

# Methods of a client that make no request.
_LOCAL_METHODS = frozenset({"get_paginator", "get_waiter", "can_paginate", "close"})
_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)


def walk(nodes: Iterable[ast.AST]) -> Iterator[ast.AST]:
    """Every node of `nodes` that runs with them: not the bodies of functions, classes, lambdas."""
    stack = list(nodes)[::-1]
    while stack:
        node = stack.pop()
        yield node
        if isinstance(node, _SCOPES):
            continue
        stack.extend(reversed(list(ast.iter_child_nodes(node))))


def scope_of(tree: ast.Module) -> str:
    """The script's SCOPE as written (the contract check judges its value)."""
    scope = "region"
    for node in tree.body:
        if (
            isinstance(node, ast.Assign)
            and any(isinstance(t, ast.Name) and t.id == "SCOPE" for t in node.targets)
            and isinstance(node.value, ast.Constant)
        ):
            scope = str(node.value.value)
    return scope


class ScriptCode:
    """One script's syntax tree: the parts of it lambdafan runs, and its boto3 clients."""

    def __init__(self, tree: ast.Module) -> None:
        self.regional = scope_of(tree) != "account"
        # What runs at import: top-level statements, less definitions and the __main__ block.
        self.import_code: list[ast.stmt] = []
        self.defs: dict[str, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef] = {}
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                self.defs[node.name] = node
            elif is_main_guard(node):
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
            and self.on_client(func.value, sessions, clients)
        )

    def on_client(
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
        return func.attr in AWS_REGION_LISTS or self.requests(func, sessions, clients)

    def requests(
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
        return self.on_client(func.value, sessions, clients)

    def run_nodes(self, *, with_collect: bool = True) -> Iterator[ast.AST]:
        """Every node lambdafan runs: import code, the helpers, and `collect` if asked."""
        yield from walk(self.import_code)
        for helper in self.helpers.values():
            yield from ast.walk(helper)
        if with_collect and self.collect is not None:
            yield from ast.walk(self.collect)
