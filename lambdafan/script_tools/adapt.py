"""`script adapt`: the mechanical port of a laptop boto3 script to the script contract.

The port is text edits guided by the `ast` of the script, so comments and layout survive:
- `main()`, the `if __name__ == "__main__":` block or the module's top-level code becomes
  `collect(session, region, account)`; a loop over regions (or profiles) inside it is unwrapped,
  since lambdafan runs the script once per account and region;
- `boto3.client(...)`, `boto3.resource(...)` and `boto3.Session()` become the session lambdafan
  hands in (module-level clients move into `collect`);
- `print(...)` of a dict, of `json.dumps(...)` or of a row of values becomes `yield`;
- `SCOPE` is "account" when every service used is a global one (IAM, S3, Organizations...);
- what it could not decide is marked with a `# lambdafan: check` comment.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from pathlib import Path

from lambdafan.errors import UsageError
from lambdafan.script_tools.laptop_syntax import (
    GLOBAL_SERVICES,
    NEUTRAL_SERVICES,
    REGION_LISTS,
    calls_attr,
    client_call,
    field_name,
    is_session_call,
    one_line,
    services_used,
    string_lines,
)

CHECK = "# lambdafan: check"
SIGNATURE = "def collect(session, region, account):"


@dataclass(frozen=True)
class Change:
    """One edit the port made (or a place it marked): the line of the original script."""

    line: int
    what: str
    check: bool = False  # marked `# lambdafan: check`: a person has to decide


@dataclass
class Adapted:
    """The ported script's text, its scope and what changed."""

    text: str
    scope: str
    changes: list[Change] = field(default_factory=list)

    @property
    def checks(self) -> list[Change]:
        return [change for change in self.changes if change.check]


def default_output(path: Path) -> Path:
    """Where `script adapt FILE` writes without -o: FILE's stem + `_lambdafan.py`, beside it."""
    return path.with_name(f"{path.stem}_lambdafan.py")


def adapt_file(path: Path, out: Path | None = None, *, force: bool = False) -> tuple[Path, Adapted]:
    """Port `path`, write it to `out` (default: `default_output`); refuses to overwrite unless
    `force`, and never writes over the script it reads."""
    try:
        source = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from None
    adapted = adapt_source(source, str(path))
    target = out if out is not None else default_output(path)
    if target.resolve() == path.resolve():
        raise UsageError(f"{target} is the script being adapted: pick another -o OUT")
    try:
        with target.open("w" if force else "x", encoding="utf-8") as handle:
            handle.write(adapted.text)
    except FileExistsError:
        raise UsageError(f"{target} already exists (use --force to overwrite it)") from None
    except OSError as exc:
        raise UsageError(f"cannot write {target}: {exc.strerror or exc}") from None
    return target, adapted


def adapt_source(source: str, filename: str = "<script>") -> Adapted:
    """The port of a laptop script's source; a UsageError when it cannot be parsed or already
    follows the contract."""
    try:
        tree = ast.parse(source, filename)
    except SyntaxError as exc:
        raise UsageError(f"{filename}:{exc.lineno}: cannot parse it: {exc.msg}") from None
    if any(isinstance(n, ast.FunctionDef) and n.name == "collect" for n in tree.body):
        raise UsageError(f"{filename} already defines collect(): nothing to adapt")
    return _Port(source, tree).run()


# --- helpers on the tree -----------------------------------------------------------------------


class _Port:
    """One port: span edits (calls, prints) that keep every line where it is, then line edits
    (wrap, unwrap, move, insert), both placed by the positions of the original tree."""

    def __init__(self, source: str, tree: ast.Module) -> None:
        self.source = source
        self.tree = tree
        self.lines = source.splitlines()
        self.source_lines = list(self.lines)
        self.changes: list[Change] = []
        self.spans: list[tuple[int, int, int, int, str]] = []  # (line, col, end_line, end_col)
        self.deleted: set[int] = set()
        self.indent: dict[int, int] = {}  # line -> spaces added (negative: removed)
        self.replaced: dict[int, str] = {}
        self.before: dict[int, list[str]] = {}  # line -> lines inserted before it (unindented)
        self.checks_at: dict[int, list[str]] = {}
        self.aligned: dict[int, list[str]] = {}  # line -> lines inserted before it, as indented
        self.helper_clients: list[ast.Call] = []  # made in functions collect may call
        self.string_lines = string_lines(source)
        # Module-level `name = boto3.Session(...)`: their .client(...) are boto3 clients too.
        self.sessions = frozenset(
            node.targets[0].id
            for node in tree.body
            if isinstance(node, ast.Assign)
            and len(node.targets) == 1
            and isinstance(node.targets[0], ast.Name)
            and is_session_call(node.value)
        )

    # -- bookkeeping --

    def change(self, line: int, what: str) -> None:
        self.changes.append(Change(line, what))

    def check(self, line: int, why: str) -> None:
        if Change(line, why, check=True) in self.changes:
            return
        self.changes.append(Change(line, why, check=True))
        self.checks_at.setdefault(line, []).append(f"{CHECK}: {why}")

    def segment(self, node: ast.AST) -> str:
        return ast.get_source_segment(self.source, node) or ""

    def span(self, node: ast.expr | ast.stmt, text: str) -> None:
        """Replace `node`'s text by `text`, keeping the lines after it in place."""
        self.spans.append(
            (
                node.lineno,
                node.col_offset,
                node.end_lineno or node.lineno,
                node.end_col_offset or 0,
                text,
            )
        )

    def unwrap(self, outer: ast.expr, inner: ast.expr, head: str) -> None:
        """Replace `outer`'s text around `inner` (e.g. `print(json.dumps(` and `))`): `head`
        before it, nothing after it."""
        self.spans.append((outer.lineno, outer.col_offset, inner.lineno, inner.col_offset, head))
        self.spans.append(
            (
                inner.end_lineno or inner.lineno,
                inner.end_col_offset or 0,
                outer.end_lineno or outer.lineno,
                outer.end_col_offset or 0,
                "",
            )
        )

    # -- the port --

    def run(self) -> Adapted:
        body, header, collect_nodes = self.find_body()
        self.scope = self.decide_scope()
        self.rewrite_clients(collect_nodes)
        self.rewrite_prints(collect_nodes)
        self.rewrite_returns(collect_nodes)
        self.unwrap_loops(collect_nodes)
        self.mark_swallowed_errors(collect_nodes)
        self.mark_arguments()
        self.check_helper_regions()
        self.move_module_clients(body, header)
        self.set_scope()
        text = self.assemble()
        self.changes = [c for c in self.changes if not (c.check and c.line in self.deleted)]
        self.changes.sort(key=lambda change: (change.line, change.check))
        try:
            ast.parse(text)
        except SyntaxError as exc:  # the port must compile: say where it went wrong
            self.changes.append(
                Change(exc.lineno or 0, f"the port does not compile: {exc.msg}", check=True)
            )
        return Adapted(text, self.scope, self.changes)

    def find_body(self) -> tuple[list[ast.stmt], int, list[ast.stmt]]:
        """Decide what becomes `collect`; returns its statements, the line of its `def` (0: one
        is inserted before the first statement) and the statements whose code ends up in it."""
        main = next(
            (n for n in self.tree.body if isinstance(n, ast.FunctionDef) and n.name == "main"),
            None,
        )
        guards = [n for n in self.tree.body if self.is_main_guard(n)]
        if main is not None:
            header = self.lines[main.lineno - 1]
            if main.decorator_list or not header.rstrip().endswith(":"):
                self.check(main.lineno, "make this def collect(session, region, account):")
            else:
                indent = header[: len(header) - len(header.lstrip())]
                self.replaced[main.lineno] = indent + SIGNATURE
                self.change(main.lineno, "main() becomes collect(session, region, account)")
            if main.args.args or main.args.vararg or main.args.kwarg:
                self.check(main.lineno, "main took arguments: give them values in collect")
            for guard in guards:
                self.delete(guard)
                self.change(guard.lineno, 'removed the `if __name__ == "__main__":` block')
            for node in self.tree.body:
                if self.is_main_call(node):
                    self.delete(node)
                    self.change(node.lineno, "removed the call of main()")
            return main.body, main.lineno, [main]
        if guards:
            guard = guards[0]
            assert isinstance(guard, ast.If)
            self.replaced[guard.lineno] = SIGNATURE
            self.change(guard.lineno, 'the `if __name__ == "__main__":` block becomes collect(...)')
            return guard.body, guard.lineno, guard.body
        # Top-level code: from the first statement that does something to the last one.
        action = [i for i, node in enumerate(self.tree.body) if self.is_action(node)]
        if not action:
            raise UsageError("found no main(), no __main__ block and no top-level code to wrap")
        nodes = self.tree.body[action[0] : action[-1] + 1]
        first, last = nodes[0].lineno, nodes[-1].end_lineno or nodes[-1].lineno
        # Comments right above the first statement go in with it.
        while first > 1 and self.lines[first - 2].lstrip().startswith("#"):
            first -= 1
        self.before.setdefault(first, []).append(SIGNATURE)
        for line in range(first, last + 1):
            if line not in self.string_lines and self.lines[line - 1].strip():
                self.indent[line] = self.indent.get(line, 0) + 4
        self.change(first, "the top-level code becomes collect(session, region, account)")
        return nodes, 0, nodes

    @staticmethod
    def is_main_guard(node: ast.stmt) -> bool:
        if not isinstance(node, ast.If) or not isinstance(node.test, ast.Compare):
            return False
        sides = [node.test.left, *node.test.comparators]
        return any(isinstance(s, ast.Name) and s.id == "__name__" for s in sides) and any(
            isinstance(s, ast.Constant) and s.value == "__main__" for s in sides
        )

    @staticmethod
    def is_main_call(node: ast.stmt) -> bool:
        return (
            isinstance(node, ast.Expr)
            and isinstance(node.value, ast.Call)
            and any(isinstance(n, ast.Name) and n.id == "main" for n in ast.walk(node.value))
        )

    def is_action(self, node: ast.stmt) -> bool:
        """Top-level code that does work (not an import, def, constant or module client)."""
        if isinstance(node, ast.Import | ast.ImportFrom | ast.FunctionDef | ast.ClassDef):
            return False
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            return False  # the docstring
        if isinstance(node, ast.Assign | ast.AnnAssign):
            value = node.value
            if value is None or self.is_module_client(node):
                return False
            return any(isinstance(n, ast.Call) for n in ast.walk(value)) and not calls_attr(
                value, REGION_LISTS
            )
        return True

    def is_module_client(self, node: ast.stmt) -> bool:
        return (
            isinstance(node, ast.Assign)
            and len(node.targets) == 1
            and isinstance(node.targets[0], ast.Name)
            and (client_call(node.value, self.sessions) is not None or is_session_call(node.value))
        )

    def delete(self, node: ast.stmt, *, comments: bool = False) -> None:
        """Delete `node`'s lines (`comments`: and the comment lines right above it)."""
        first = node.lineno
        while comments and first > 1 and self.lines[first - 2].lstrip().startswith("#"):
            first -= 1
        self.deleted.update(range(first, (node.end_lineno or node.lineno) + 1))

    def decide_scope(self) -> str:
        services = services_used(self.tree) - NEUTRAL_SERVICES
        if services and services <= GLOBAL_SERVICES:
            names = ", ".join(sorted(services))
            self.change(1, f'SCOPE = "account": it uses only global services ({names})')
            return "account"
        if not services:
            self.check(1, 'found no boto3 client: SCOPE = "region" is a guess')
        return "region"

    def client_text(self, call: ast.Call) -> str:
        """`session.client("x", region_name=region, ...)` for a boto3 client call."""
        kind = call.func.attr  # type: ignore[attr-defined]
        args = [self.segment(arg) for arg in call.args]
        keywords = [
            self.segment(k) for k in call.keywords if k.arg not in ("region_name", "profile_name")
        ]
        if self.scope == "region":
            keywords.insert(0, "region_name=region")
        return f"session.{kind}({', '.join([*args, *keywords])})"

    def rewrite_clients(self, collect_nodes: list[ast.stmt]) -> None:
        inside = {id(n) for node in collect_nodes for n in ast.walk(node)}
        done: set[int] = set()
        for top in self.tree.body:  # `session = boto3.Session(...)`: collect's parameter
            if self.is_module_client(top) and top.targets[0].id == "session":  # type: ignore[attr-defined]
                done.update(id(n) for n in ast.walk(top))
        for node in ast.walk(self.tree):
            call = client_call(node, self.sessions)
            if call is not None and id(call) not in done:
                done.update(id(n) for n in ast.walk(call))
                if id(call) not in inside and not self.module_level(call):
                    # In a helper function: no session there, and boto3's defaults are the
                    # scanned account's anyway (lambdafan binds them); only the region matters.
                    self.helper_clients.append(call)
                    continue
                self.span(call, self.client_text(call))
                if self.segment(call) != self.client_text(call):
                    was = one_line(self.segment(call))
                    self.change(call.lineno, f"{was} → {self.client_text(call)}")
            elif is_session_call(node) and id(node) not in done:
                assert isinstance(node, ast.Call)
                done.add(id(node))
                if id(node) not in inside and not self.module_level_session(node):
                    continue
                self.span(node, "session")
                self.change(node.lineno, f"{one_line(self.segment(node))} → session (lambdafan's)")
        for node in ast.walk(self.tree):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "setup_default_session"
            ):
                self.check(node.lineno, "lambdafan hands collect its session: drop this")

    def check_helper_regions(self) -> None:
        """A client made in a helper that collect still calls, in a regional script, must be
        told the region."""
        if self.scope != "region":
            return
        for call in self.helper_clients:
            helper = next(
                node
                for node in self.tree.body
                if node.lineno <= call.lineno <= (node.end_lineno or node.lineno)
            )
            if isinstance(helper, ast.FunctionDef) and not self.users(helper.name):
                continue
            region = next((k.value for k in call.keywords if k.arg == "region_name"), None)
            if region is None or isinstance(region, ast.Constant):
                self.check(call.lineno, "a client outside collect: pass it region_name=region")

    def module_level_session(self, call: ast.Call) -> bool:
        return any(isinstance(node, ast.Assign) and node.value is call for node in self.tree.body)

    def module_level(self, call: ast.Call) -> bool:
        return any(
            self.is_module_client(node) and client_call(node.value, self.sessions) is call  # type: ignore[attr-defined]
            for node in self.tree.body
        )

    def rewrite_prints(self, collect_nodes: list[ast.stmt]) -> None:
        dicts, lists = self.assigned_literals()
        in_handlers = {
            id(stmt)
            for handler in self.walk_collect(collect_nodes)
            if isinstance(handler, ast.ExceptHandler)
            for stmt in handler.body
        }
        for node in self.walk_collect(collect_nodes):
            if not (
                isinstance(node, ast.Expr)
                and isinstance(node.value, ast.Call)
                and isinstance(node.value.func, ast.Name)
                and node.value.func.id == "print"
            ):
                continue
            call = node.value
            args = call.args
            if any(k.arg == "file" for k in call.keywords):
                continue  # to stderr or a file: not a record
            value = args[0] if len(args) == 1 else None
            if (
                isinstance(value, ast.Call)
                and isinstance(value.func, ast.Attribute)
                and value.func.attr in ("dumps", "pformat")
                and value.args
            ):
                value = value.args[0]  # print(json.dumps(x)): the record is x
            if isinstance(value, ast.Dict | ast.DictComp) or (
                isinstance(value, ast.Name) and value.id in dicts
            ):
                self.unwrap(call, value, "yield ")
                self.realign(call, value)
                self.change(node.lineno, "print(...) of a dict → yield")
            elif isinstance(value, ast.ListComp | ast.List) or (
                isinstance(value, ast.Name) and value.id in lists
            ):
                self.unwrap(call, value, "yield from ")
                self.realign(call, value)
                self.change(node.lineno, "print(...) of a list → yield from")
            elif (
                len(args) > 1
                or (len(args) == 1 and isinstance(args[0], ast.Attribute | ast.Subscript))
            ) and not any(isinstance(a, ast.Constant | ast.JoinedStr | ast.Starred) for a in args):
                keys = [field_name(arg, i) for i, arg in enumerate(args)]
                if None in keys or len(set(keys)) < len(keys):
                    keys = [key or f"value_{i}" for i, key in enumerate(keys, 1)]
                    self.check(node.lineno, "name these fields")
                fields = ", ".join(
                    f'"{key}": {self.segment(arg)}' for key, arg in zip(keys, args, strict=True)
                )
                self.span(call, f"yield {{{fields}}}")
                self.change(
                    node.lineno,
                    f"print(...) of a {'row' if len(args) > 1 else 'value'} → yield {{...}}",
                )
            else:
                if id(node) not in in_handlers:  # those are marked as swallowed errors
                    self.check(node.lineno, self.why_text(args))

    @staticmethod
    def why_text(args: list[ast.expr]) -> str:
        """Why a print was left: a heading, text (a total?) or a value of unknown shape."""
        if all(isinstance(a, ast.Constant) for a in args):
            return "a heading or a message: lambdafan's tables name their columns; drop it"
        if any(isinstance(a, ast.JoinedStr) for a in args):
            return (
                "prints text, not a record: yield a dict of its values "
                "(a total? `lambdafan query` adds up records)"
            )
        return "prints text, not a record: yield a dict of its values"

    def rewrite_returns(self, collect_nodes: list[ast.stmt]) -> None:
        """A collect that now yields drops what it returns (a returned list would be records):
        marked, since either the yields or the returned value may be the records."""
        for node in self.walk_collect(collect_nodes):
            if (
                isinstance(node, ast.Return)
                and isinstance(node.value, ast.Constant)
                and isinstance(node.value.value, int)
            ):  # main's exit code: collect returns records or nothing
                self.span(node, "return")
                self.change(node.lineno, f"return {node.value.value} (an exit code) → return")
        yields = any(
            change.what.startswith("print(...) of") for change in self.changes if not change.check
        )
        if not yields:
            return
        for node in self.walk_collect(collect_nodes):
            if (
                isinstance(node, ast.Return)
                and node.value is not None
                and not isinstance(node.value, ast.Constant)
            ):
                self.check(
                    node.lineno,
                    "collect yields now, so this value is dropped: yield from it, or keep the "
                    "return and drop the yields",
                )

    def realign(self, call: ast.Call, value: ast.expr) -> None:
        """The lines of a multi-line record, unwrapped from `print(json.dumps(`: its closing
        bracket lines up with the `yield`, as it did with the `print`."""
        end = value.end_lineno or value.lineno
        if end == value.lineno:
            return
        closing = self.lines[end - 1]
        indent = len(closing) - len(closing.lstrip())
        if indent + 1 != value.end_col_offset:  # the bracket does not start its line
            return
        for line in range(value.lineno + 1, end + 1):
            if line not in self.string_lines and self.lines[line - 1].strip():
                self.indent[line] = self.indent.get(line, 0) - (indent - call.col_offset)

    def assigned_literals(self) -> tuple[set[str], set[str]]:
        dicts: set[str] = set()
        lists: set[str] = set()
        for node in ast.walk(self.tree):
            if isinstance(node, ast.Assign) and len(node.targets) == 1:
                target = node.targets[0]
                if isinstance(target, ast.Name):
                    if isinstance(node.value, ast.Dict | ast.DictComp):
                        dicts.add(target.id)
                    elif isinstance(node.value, ast.List | ast.ListComp):
                        lists.add(target.id)
        return dicts, lists

    def walk_collect(self, collect_nodes: list[ast.stmt]) -> list[ast.AST]:
        """Every node that ends up in collect's own body (not in functions nested in it)."""
        found: list[ast.AST] = []
        stack: list[ast.AST] = []
        for top in collect_nodes:
            stack.extend(top.body if isinstance(top, ast.FunctionDef) else [top])
        while stack:
            node = stack.pop()
            found.append(node)
            for child in ast.iter_child_nodes(node):
                if not isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
                    stack.append(child)
        return found

    def unwrap_loops(self, collect_nodes: list[ast.stmt]) -> None:
        """Loops over regions or profiles: lambdafan runs collect once per account and region."""
        gone: list[tuple[int, str]] = []  # (first line of a profile loop's body, its variable)
        iters: set[str] = set()  # the names of the region lists looped over
        for node in self.walk_collect(collect_nodes):
            if not isinstance(node, ast.For) or not isinstance(node.target, ast.Name):
                continue
            name = node.target.id
            kind = "region" if "region" in name.lower() else "profile" if "profile" in name else ""
            if not kind or (kind == "region" and self.scope == "account"):
                if kind == "region":
                    self.check(node.lineno, "account-scoped: collect gets no real region")
                continue
            if node.orelse:
                self.check(node.lineno, f"a loop over {kind}s with an else: unwrap it by hand")
                continue
            body_end = node.body[-1].end_lineno or node.body[-1].lineno
            step = node.body[0].col_offset - node.col_offset
            self.deleted.update(range(node.lineno, node.body[0].lineno))
            for line in range(node.body[0].lineno, body_end + 1):
                if line not in self.string_lines and self.lines[line - 1].strip():
                    self.indent[line] = self.indent.get(line, 0) - step
            header = f"for {name} in {self.segment(node.iter)}"
            if kind == "region":
                if isinstance(node.iter, ast.Name):
                    iters.add(node.iter.id)
                self.change(node.lineno, f"unwrapped `{header}`: lambdafan loops over regions")
                if name != "region":
                    self.aligned.setdefault(node.body[0].lineno, []).append(f"{name} = region")
            else:
                self.change(node.lineno, f"unwrapped `{header}`: lambdafan loops over accounts")
                self.aligned.setdefault(node.body[0].lineno, []).append(f"{name} = account.name")
                gone.append((node.body[0].lineno, name))
        for line, name in gone:  # on the first line that stays (an inner loop's `for` goes)
            while line in self.deleted:
                line += 1
            self.check(line, f"{name} is the account's name now: records carry it anyway")
        for stmt in [*self.tree.body, *self.walk_collect(collect_nodes)]:
            if (
                isinstance(stmt, ast.Assign)
                and len(stmt.targets) == 1
                and isinstance(stmt.targets[0], ast.Name)
                and stmt.targets[0].id in iters
                and stmt.lineno not in self.deleted
                and not self.users(stmt.targets[0].id)
            ):
                self.delete(stmt, comments=True)
                self.change(stmt.lineno, "removed the region list: lambdafan has the regions")
        for top in self.tree.body:
            if (
                isinstance(top, ast.Assign | ast.AnnAssign)
                and top.lineno not in self.deleted
                and top.value is not None
                and calls_attr(top.value, REGION_LISTS)
            ):
                self.delete(top, comments=True)
                self.change(top.lineno, "removed the region list: lambdafan has the regions")

    def mark_swallowed_errors(self, collect_nodes: list[ast.stmt]) -> None:
        for node in self.walk_collect(collect_nodes):
            if isinstance(node, ast.ExceptHandler) and all(
                isinstance(s, ast.Pass | ast.Continue)
                or (
                    isinstance(s, ast.Expr)
                    and isinstance(s.value, ast.Call)
                    and isinstance(s.value.func, ast.Name)
                    and s.value.func.id == "print"
                )
                for s in node.body
            ):
                self.check(node.lineno, "swallows the error: let it raise, lambdafan records it")

    def mark_arguments(self) -> None:
        for node in ast.walk(self.tree):
            if isinstance(node, ast.Attribute) and node.attr in ("argv", "parse_args"):
                self.check(node.lineno, "lambdafan passes no arguments: parse_args() gets defaults")

    def move_module_clients(self, body: list[ast.stmt], header: int) -> None:
        """Module-level `x = boto3.client(...)` lines move to the top of collect."""
        if header == 0:  # top-level code: the clients above it move down into it
            target = body[0].lineno
            while target > 1 and self.lines[target - 2].lstrip().startswith("#"):
                target -= 1
            indent = 4
        else:
            first = body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                first = body[1] if len(body) > 1 else first  # after collect's docstring
            target, indent = first.lineno, first.col_offset
        for node in self.tree.body:
            if not self.is_module_client(node) or node.lineno >= target:
                continue
            assert isinstance(node, ast.Assign)
            name = node.targets[0].id  # type: ignore[attr-defined]
            self.delete(node)
            self.changes = [
                c for c in self.changes if not (c.line == node.lineno and "→" in c.what)
            ]
            if name == "session" and is_session_call(node.value):
                self.change(node.lineno, "removed `session = boto3.Session(...)`: collect has it")
                continue
            users = self.users(name)
            if not users:
                self.delete(node, comments=True)
                self.change(node.lineno, f"removed the module-level {name}: nothing uses it now")
                continue
            value = self.edited(node.value)
            moved = [f"{name} = {value}"]
            helpers = sorted(users - {"collect"})
            if helpers:  # module-level functions use it: collect sets the global they read
                moved.insert(0, f"global {name}")
            self.before.setdefault(target, []).extend(" " * indent + line for line in moved)
            used_by = (
                f" (global: {', '.join(h + '()' for h in helpers)} reads it)" if helpers else ""
            )
            self.change(node.lineno, f"moved {name} into collect: {moved[-1]}{used_by}")

    def users(self, name: str) -> set[str]:
        """Where `name` is read, in lines that stay: "collect" or a module-level function."""
        found: set[str] = set()
        for node in self.tree.body:
            for n in ast.walk(node):
                if (
                    isinstance(n, ast.Name)
                    and n.id == name
                    and isinstance(n.ctx, ast.Load)
                    and n.lineno not in self.deleted
                ):
                    helper = isinstance(node, ast.FunctionDef) and node.name != "main"
                    found.add(node.name if helper else "collect")  # type: ignore[attr-defined]
        return found

    def edited(self, node: ast.expr) -> str:
        """A node's text after the span edits that fall inside it."""
        text = self.segment(node)
        for line, col, end_line, end_col, new in self.spans:
            if (line, col, end_line, end_col) == (
                node.lineno,
                node.col_offset,
                node.end_lineno,
                node.end_col_offset,
            ):
                return new
        return text

    def set_scope(self) -> None:
        for node in self.tree.body:
            if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == "SCOPE" for t in node.targets
            ):
                self.check(
                    node.lineno, f'the script sets SCOPE itself; the port says "{self.scope}"'
                )
                return
        after = 0
        for node in self.tree.body:
            is_doc = isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
            if isinstance(node, ast.Import | ast.ImportFrom) or (
                is_doc and node is self.tree.body[0]
            ):
                after = node.end_lineno or node.lineno
            elif after:
                break
        why = (
            "  # once per account (global services)"
            if self.scope == "account"
            else "  # once per account and region"
        )
        line = f'SCOPE = "{self.scope}"{why}'
        if after >= len(self.lines):
            self.lines.append("")
            self.string_lines.discard(len(self.lines))
        self.before.setdefault(after + 1, []).extend(["", line, ""])

    def assemble(self) -> str:
        edited = self.apply_spans()
        out: list[str] = []
        pending: list[str] = []  # aligned lines of deleted lines: before the next line of code
        for number, text in enumerate(edited, 1):
            for extra in self.before.get(number, []):
                out.append(extra)
            emptied = (
                not text.strip()
                and number <= len(self.source_lines)
                and self.source_lines[number - 1].strip()
            )  # by a span edit (the rest of a multi-line print)
            if number in self.deleted or emptied:
                pending.extend(self.aligned.get(number, []))
                continue
            if number in self.replaced:
                text = self.replaced[number]
            shift = self.indent.get(number, 0)
            if shift > 0:
                text = " " * shift + text
            elif shift < 0:
                strip = min(-shift, len(text) - len(text.lstrip(" ")))
                text = text[strip:]
            if not text.strip():
                if out[-2:] != ["", ""]:  # at most two blank lines in a row
                    out.append("")
                continue
            pad = text[: len(text) - len(text.lstrip())]
            out.extend(pad + line for line in [*pending, *self.aligned.get(number, [])])
            pending = []
            out.extend(pad + why for why in self.checks_at.get(number, []))
            out.append(text)
        return "\n".join(out).rstrip("\n") + "\n"

    def apply_spans(self) -> list[str]:
        """The lines after the span edits: each replaced span keeps its line count (the new text
        on its first line, the lines after it empty), so every line keeps its number."""
        lines = list(self.lines)
        for line, col, end_line, end_col, new in sorted(self.spans, reverse=True):
            head = lines[line - 1][:col]
            tail = lines[end_line - 1][end_col:]
            lines[line - 1] = head + new + (tail if end_line == line else "")
            for middle in range(line, end_line - 1):
                lines[middle] = ""
            if end_line != line:
                lines[end_line - 1] = lines[end_line - 1][:0] + tail.strip()
                if lines[end_line - 1]:  # code after the call on its last line: keep it joined
                    lines[line - 1] += tail
                    lines[end_line - 1] = ""
        return lines
