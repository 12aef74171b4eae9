"""One port under way: the laptop script's tree, its edit buffer, and the questions about the
tree that the rewrites share (what ends up in collect, who reads a name, module clients)."""

from __future__ import annotations

import ast

from lambdafan.script_tools.adapt_edits import Edits
from lambdafan.script_tools.laptop_syntax import client_call, is_session_call


class Port:
    """The state one port's rewrites read and edit."""

    def __init__(self, source: str, tree: ast.Module) -> None:
        self.source = source
        self.tree = tree
        self.edits = Edits(source)
        self.scope = "region"
        self.collect_nodes: list[ast.stmt] = []  # the statements whose code ends up in collect
        self.helper_clients: list[ast.Call] = []  # made in functions collect may call
        self.main: ast.FunctionDef | None = None  # the main() that became collect
        self.guards: list[ast.stmt] = []  # the `if __name__ == "__main__":` blocks that call it
        self.dropped: set[int] = set()  # ids of nodes a span edit replaced (no longer read)
        self.region_names: set[str] = set()  # module names a client's region_name= had
        # Module-level `name = boto3.Session(...)`: their .client(...) are boto3 clients too.
        self.sessions = frozenset(
            node.targets[0].id
            for node in tree.body
            if isinstance(node, ast.Assign)
            and len(node.targets) == 1
            and isinstance(node.targets[0], ast.Name)
            and is_session_call(node.value)
        )

    def segment(self, node: ast.AST) -> str:
        return self.edits.segment(node)

    def walk_collect(self) -> list[ast.AST]:
        """Every node that ends up in collect's own body (not in functions nested in it)."""
        found: list[ast.AST] = []
        stack: list[ast.AST] = []
        for top in self.collect_nodes:
            stack.extend(top.body if isinstance(top, ast.FunctionDef) else [top])
        while stack:
            node = stack.pop()
            found.append(node)
            for child in ast.iter_child_nodes(node):
                if not isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
                    stack.append(child)
        return found

    def users(self, name: str) -> set[str]:
        """Where `name` is read, in lines that stay: "collect" or a module-level function."""
        found: set[str] = set()
        for node in self.tree.body:
            for n in ast.walk(node):
                if (
                    isinstance(n, ast.Name)
                    and n.id == name
                    and isinstance(n.ctx, ast.Load)
                    and n.lineno not in self.edits.deleted
                ):
                    helper = isinstance(node, ast.FunctionDef) and node.name != "main"
                    found.add(node.name if helper else "collect")  # type: ignore[attr-defined]
        return found

    def is_module_client(self, node: ast.stmt) -> bool:
        """`name = boto3.client(...)` / `name = boto3.Session(...)` (a statement of any level)."""
        return (
            isinstance(node, ast.Assign)
            and len(node.targets) == 1
            and isinstance(node.targets[0], ast.Name)
            and (client_call(node.value, self.sessions) is not None or is_session_call(node.value))
        )

    def module_level(self, call: ast.Call) -> bool:
        """`call` is the client of a module-level `name = boto3.client(...)`."""
        return any(
            self.is_module_client(node) and client_call(node.value, self.sessions) is call  # type: ignore[attr-defined]
            for node in self.tree.body
        )

    def module_level_session(self, call: ast.Call) -> bool:
        return any(isinstance(node, ast.Assign) and node.value is call for node in self.tree.body)

    def global_readers(self, name: str) -> set[str]:
        """The module-level functions (but main) that read the global `name`, in lines that
        stay (not those with a local `name` of their own)."""
        found: set[str] = set()
        for node in self.tree.body:
            if not isinstance(node, ast.FunctionDef) or node.name == "main":
                continue
            nodes = list(ast.walk(node))
            declared = any(isinstance(n, ast.Global) and name in n.names for n in nodes)
            local = any(
                isinstance(n, ast.Name) and n.id == name and isinstance(n.ctx, ast.Store)
                for n in nodes
            ) or any(a.arg == name for a in node.args.args)
            read = any(
                isinstance(n, ast.Name)
                and n.id == name
                and isinstance(n.ctx, ast.Load)
                and n.lineno not in self.edits.deleted
                for n in nodes
            )
            if read and (declared or not local):
                found.add(node.name)
        return found

    def read_only_by(self, name: str, calls: list[ast.Call]) -> bool:
        """Every read of `name` in the lines that stay is the callee of one of `calls`."""
        allowed = {id(call.func) for call in calls}
        return all(
            id(n) in allowed
            for n in ast.walk(self.tree)
            if isinstance(n, ast.Name)
            and n.id == name
            and isinstance(n.ctx, ast.Load)
            and n.lineno not in self.edits.deleted
        )
