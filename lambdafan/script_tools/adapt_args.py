"""What a port does with a laptop script's arguments: collect gets none, so main's parameters
become constants (their defaults, or what the `__main__` block passed, such as an argparse
option's default), and what it cannot decide is marked with where it is read."""

from __future__ import annotations

import ast

from lambdafan.script_tools.adapt_port import Port
from lambdafan.script_tools.laptop_syntax import is_region_name


def give_arguments(port: Port) -> None:
    """Set the parameters main still reads (in the lines that stay) at the top of collect, or
    mark them."""
    main, edits = port.main, port.edits
    if main is None:
        return
    defaults = parameters(port, main)
    passed = guard_values(port, main, port.guards)
    if port.scope == "region":  # main(region): the laptop's one region; collect gets each one
        for name in [n for n in defaults if is_region_name(n)]:
            del defaults[name]
            passed.pop(name, None)
            if name != "region":
                first = main.body[0]
                if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                    first = main.body[1] if len(main.body) > 1 else first
                edits.before.setdefault(first.lineno, []).append(
                    f"{' ' * first.col_offset}{name} = region"
                )
            edits.change(main.lineno, f"main's {name} argument is collect's region")
    read: dict[str, list[int]] = {}
    for node in (n for stmt in main.body for n in ast.walk(stmt)):
        if (
            isinstance(node, ast.Name)
            and node.id in defaults
            and isinstance(node.ctx, ast.Load)
            and node.lineno not in edits.deleted
            and id(node) not in port.dropped  # parse_args(argv) is parse_args([]) now
        ):
            lines = read.setdefault(node.id, [])
            if node.lineno not in lines:
                lines.append(node.lineno)
    given = {
        name: passed[name]
        for name in defaults
        if name in read and name in passed and not (passed[name] == "[]" and indexed(main, name))
    }  # an argv indexed in main needs the values it was run with
    constants = {
        name: text
        for name, text in defaults.items()
        if name in read and text is not None and name not in given
    }
    if constants or given:
        first = main.body[0]
        if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
            first = main.body[1] if len(main.body) > 1 else first  # after the docstring
        edits.before.setdefault(first.lineno, []).extend(
            f"{' ' * first.col_offset}{name} = {text}"
            for name, text in [*constants.items(), *given.items()]
        )
    if constants:
        names = ", ".join(constants)
        edits.change(
            main.lineno, f"main's arguments with defaults are constants in collect: {names}"
        )
    if given:
        values = ", ".join(f"{name} = {text}" for name, text in given.items())
        edits.change(main.lineno, f"main's arguments as the __main__ block gave them: {values}")
    needed = [name for name in defaults if name in read and name not in {**constants, **given}]
    if needed:
        where = [f"{name} ({lines_text(read[name])})" for name in needed]
        edits.check(
            main.lineno,
            f"collect gets no arguments: put constants in place of {and_text(where)}, "
            f"e.g. {needed[0]} = ... at the top of collect",
        )


def indexed(main: ast.FunctionDef, name: str) -> bool:
    """main reads `name[...]`."""
    return any(
        isinstance(n, ast.Subscript) and isinstance(n.value, ast.Name) and n.value.id == name
        for stmt in main.body
        for n in ast.walk(stmt)
    )


def parameters(port: Port, main: ast.FunctionDef) -> dict[str, str | None]:
    """main's parameters, each with its default's text (None: it has none)."""
    spec = main.args
    positional = [a.arg for a in [*spec.posonlyargs, *spec.args]]
    found: dict[str, str | None] = dict.fromkeys(positional)
    for name, default in zip(positional[::-1], spec.defaults[::-1], strict=False):
        found[name] = port.segment(default)
    for arg, value in zip(spec.kwonlyargs, spec.kw_defaults, strict=True):
        found[arg.arg] = None if value is None else port.segment(value)
    found.update((a.arg, None) for a in (spec.vararg, spec.kwarg) if a is not None)
    return found


def guard_values(port: Port, main: ast.FunctionDef, guards: list[ast.stmt]) -> dict[str, str]:
    """The constants the `__main__` block's one call of main passes, by parameter."""
    calls = [
        n
        for guard in guards
        for n in ast.walk(guard)
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == "main"
    ]
    if len(calls) != 1:
        return {}
    call = calls[0]
    names = [a.arg for a in [*main.args.posonlyargs, *main.args.args]]
    pairs: list[tuple[str, ast.expr]] = []
    for name, value in zip(names, call.args, strict=False):
        if isinstance(value, ast.Starred):
            break
        pairs.append((name, value))
    pairs.extend((k.arg, k.value) for k in call.keywords if k.arg is not None)
    found = {}
    for name, value in pairs:
        text = value_text(port, value)
        if text is not None:
            found[name] = text
    return found


def value_text(port: Port, node: ast.expr) -> str | None:
    """A passed value as a constant's text: a literal, an argparse option's default, the whole
    argparse namespace, or `sys.argv[1:]` (lambdafan runs a script with no arguments)."""
    try:
        ast.literal_eval(node)
        return port.segment(node)
    except (ValueError, TypeError, SyntaxError, RecursionError):
        pass
    namespaces = parsed_namespaces(port.tree)
    options = option_defaults(port)
    if isinstance(node, ast.Attribute) and is_name_in(node.value, namespaces):
        return options.get(node.attr)
    parsed = is_name_in(node, namespaces) or is_parse_call(node)
    whole = parsed and options and None not in options.values()
    if whole and imports_argparse(port.tree):
        fields = ", ".join(f"{dest}={text}" for dest, text in options.items())
        return f"argparse.Namespace({fields})"
    if (
        isinstance(node, ast.Subscript)
        and isinstance(node.value, ast.Attribute)
        and node.value.attr == "argv"
        and isinstance(node.slice, ast.Slice)
        and isinstance(node.slice.lower, ast.Constant)
        and node.slice.lower.value == 1
        and node.slice.upper is None
    ):
        return "[]"
    return None


def is_name_in(node: ast.expr, names: set[str]) -> bool:
    return isinstance(node, ast.Name) and node.id in names


def is_parse_call(node: ast.AST) -> bool:
    """`parser.parse_args(...)`."""
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in ("parse_args", "parse_known_args")
    )


def parsed_namespaces(tree: ast.Module) -> set[str]:
    """The names assigned `parser.parse_args(...)`."""
    return {
        target.id
        for node in ast.walk(tree)
        if isinstance(node, ast.Assign) and is_parse_call(node.value)
        for target in node.targets
        if isinstance(target, ast.Name)
    }


def imports_argparse(tree: ast.Module) -> bool:
    return any(
        isinstance(node, ast.Import)
        and any(a.name == "argparse" and not a.asname for a in node.names)
        for node in tree.body
    )


def option_defaults(port: Port) -> dict[str, str | None]:
    """Each `add_argument` option's destination and the text of what `parse_args([])` gives it
    (None: it is required)."""
    found: dict[str, str | None] = {}
    for node in ast.walk(port.tree):
        if not (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "add_argument"
        ):
            continue
        flags = [a.value for a in node.args if isinstance(a, ast.Constant)]
        keywords = {k.arg: k.value for k in node.keywords if k.arg}
        dest = keywords.get("dest")
        strings = [f for f in flags if isinstance(f, str)]
        flag = next((f for f in strings if f.startswith("--")), strings[0] if strings else "")
        name = dest.value if isinstance(dest, ast.Constant) else flag.lstrip("-")
        if not isinstance(name, str) or not name:
            continue
        found[name.replace("-", "_")] = option_default(port, keywords, flag)
    return found


def option_default(port: Port, keywords: dict[str, ast.expr], flag: str) -> str | None:
    action = keywords.get("action")
    kind = action.value if isinstance(action, ast.Constant) else None
    default = keywords.get("default")
    if default is not None:
        text = port.segment(default)
        convert = keywords.get("type")
        if (
            convert is not None
            and isinstance(default, ast.Constant)
            and isinstance(default.value, str)
        ):
            return f"{port.segment(convert)}({text})"  # argparse converts a str default
        return text
    if kind == "store_true":
        return "False"
    if kind == "store_false":
        return "True"
    required = keywords.get("required")
    if not flag.startswith("-") or (isinstance(required, ast.Constant) and required.value):
        return None
    return "None"


def mark_arguments(port: Port) -> None:
    """collect's `parse_args()` / `parse_args(argv)` become `parse_args([])`: lambdafan passes no
    arguments, and sys.argv is lambdafan's own outside the sandbox. Other reads are marked."""
    params = set(parameters(port, port.main)) if port.main is not None else set()
    inside = {id(n) for n in port.walk_collect()}
    for node in ast.walk(port.tree):
        if (
            id(node) in inside
            and is_parse_call(node)
            and not node.keywords  # type: ignore[attr-defined]
            and command_line(node.args, params)  # type: ignore[attr-defined]
        ):
            assert isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
            port.dropped.update(id(n) for part in [node.func, *node.args] for n in ast.walk(part))
            was = port.segment(node.func) + f"({', '.join(map(port.segment, node.args))})"
            port.edits.span(node, f"{port.segment(node.func)}([])")
            port.edits.change(
                node.lineno,
                f"{was} → {node.func.attr}([]): lambdafan passes no arguments (the defaults)",
            )
            continue
        if (
            isinstance(node, ast.Attribute)
            and node.attr in ("argv", "parse_args")
            and id(node) not in port.dropped
        ):
            why = (
                "sys.argv is not this script's command line: use constants"
                if node.attr == "argv"
                else "make it parse_args([]) (its defaults): sys.argv is not this script's"
            )
            port.edits.check(node.lineno, f"lambdafan passes no arguments: {why}")


def command_line(args: list[ast.expr], params: set[str]) -> bool:
    """What a laptop parse_args() reads: nothing (sys.argv), main's argv, or `sys.argv[1:]`."""
    if not args:
        return True
    if len(args) != 1:
        return False
    arg = args[0]
    if isinstance(arg, ast.Name):
        return arg.id in params
    return (
        isinstance(arg, ast.Subscript)
        and isinstance(arg.value, ast.Attribute)
        and arg.value.attr == "argv"
        and isinstance(arg.slice, ast.Slice)
    )


def lines_text(lines: list[int]) -> str:
    return f"line {lines[0]}" if len(lines) == 1 else f"lines {', '.join(map(str, lines))}"


def and_text(items: list[str]) -> str:
    """`a`, `a and b`, `a, b and c`."""
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"
