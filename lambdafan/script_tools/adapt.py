"""`script adapt`: the mechanical port of a laptop boto3 script to the script contract.

The port is text edits guided by the `ast` of the script, so comments and layout survive:
- `main()`, the `if __name__ == "__main__":` block or the module's top-level code becomes
  `collect(session, region, account)`; a loop over regions (or profiles) inside it is unwrapped,
  since lambdafan runs the script once per account and region;
- `boto3.client(...)`, `boto3.resource(...)` and `boto3.Session()` become the session lambdafan
  hands in (module-level clients move into `collect`; a helper reading a module-level `session`
  is handed collect's); a client's constant region, an argparse `--region` option's value and
  main's region argument become collect's `region`, as does a module name given as a client's
  region wherever collect reads it;
- `print(...)` of a dict, of `json.dumps(...)` or of a row of values becomes `yield`, as do
  `json.dump(x, sys.stdout)` and a csv writer's row (keyed by its header row); a function
  collect calls that prints them yields them, and collect `yield from`s it (`n += yield from
  f()` where it counts them); an ending `sys.exit(...)` goes; a message printed after a loop
  over regions goes when the loop `continue`s (that becomes a return);
- what the port left dead goes: a helper nothing calls now, a client only it used, `global`s;
- main's arguments become constants (defaults, or what the `__main__` block passed);
- imports the port no longer uses go;
- `SCOPE` is "account" when every service used is a global one (IAM, S3, Organizations...);
- what it could not decide is marked with a `# lambdafan: check` comment.
Each rewrite is a module of its own (adapt_*.py) editing one shared buffer (adapt_edits).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from pathlib import Path

from lambdafan.errors import UsageError
from lambdafan.script_tools.adapt_args import give_arguments, mark_arguments
from lambdafan.script_tools.adapt_body import SIGNATURE, find_body
from lambdafan.script_tools.adapt_clients import (
    check_helper_regions,
    drop_unused_clients,
    move_module_clients,
    rewrite_clients,
)
from lambdafan.script_tools.adapt_csv import rewrite_csv
from lambdafan.script_tools.adapt_dead import remove_dead_globals, remove_dead_helpers
from lambdafan.script_tools.adapt_edits import CHECK, Change
from lambdafan.script_tools.adapt_helpers import yield_from_helpers
from lambdafan.script_tools.adapt_imports import remove_unused_imports
from lambdafan.script_tools.adapt_loops import unwrap_loops
from lambdafan.script_tools.adapt_port import Port
from lambdafan.script_tools.adapt_regions import fix_regions
from lambdafan.script_tools.adapt_scope import decide_scope, set_scope
from lambdafan.script_tools.adapt_session import forget_dead, pass_session
from lambdafan.script_tools.adapt_yields import (
    mark_swallowed_errors,
    rewrite_prints,
    rewrite_returns,
)

__all__ = [
    "CHECK",
    "SIGNATURE",
    "Adapted",
    "Change",
    "adapt_file",
    "adapt_source",
    "default_output",
]


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
        target.parent.mkdir(parents=True, exist_ok=True)  # -o scripts/NAME.py, as the README
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
    return port(source, tree)


def port(source: str, tree: ast.Module) -> Adapted:
    """The rewrites in order (each reads the edits of those before it), then the text."""
    state = Port(source, tree)
    body, header = find_body(state)
    state.scope = decide_scope(state)
    rewrite_clients(state)
    fix_regions(state)
    pass_session(state)
    rewrite_prints(state)
    rewrite_csv(state)
    yield_from_helpers(state)
    rewrite_returns(state)
    unwrap_loops(state)
    remove_dead_helpers(state)
    forget_dead(state)
    drop_unused_clients(state)
    remove_dead_globals(state)
    mark_swallowed_errors(state)
    mark_arguments(state)
    check_helper_regions(state)
    move_module_clients(state, body, header)
    give_arguments(state)
    remove_unused_imports(state, state.edits.assemble())
    set_scope(state)
    text = state.edits.assemble()
    changes = state.edits.reported()
    try:  # compile(), not ast.parse: that misses a `continue` out of a loop, for one
        compile(text, "<port>", "exec", dont_inherit=True)
    except SyntaxError as exc:  # the port must compile: say where it went wrong
        changes.append(Change(exc.lineno or 0, f"the port does not compile: {exc.msg}", check=True))
    return Adapted(text, state.scope, changes)
