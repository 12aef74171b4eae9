"""What a laptop script's syntax tree says, for `script adapt` and `laptop_habits` alike: its
boto3 sessions and clients, the services they name, its `__main__` block, its prints and its
loops over regions. Pure functions of `ast` nodes and source."""

from __future__ import annotations

import ast
import io
import re
import tokenize

# Services whose calls reach one endpoint for the whole account: such a script runs once per
# account (SCOPE = "account"). STS is neutral: it goes with either scope.
GLOBAL_SERVICES = frozenset({"iam", "s3", "organizations", "route53", "cloudfront"})
NEUTRAL_SERVICES = frozenset({"sts"})
REGION_LISTS = ("describe_regions", "get_available_regions")
# Of those, the one that sends a request (get_available_regions reads botocore's own data).
AWS_REGION_LISTS = ("describe_regions",)
# `for region in ...`, `for region_name in ...`: a loop over regions, whatever it iterates.
_REGION_NAME = re.compile(r"(aws_)?region(_name|_code)?", re.IGNORECASE)
_REGION_CODE = re.compile(r"[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-\d")
_LOG_LEVELS = frozenset(
    {"debug", "info", "warning", "warn", "error", "exception", "critical", "log"}
)
# Keys too generic to name a field alone: `inst["State"]["Name"]` is state_name.
_GENERIC_KEYS = frozenset({"Name", "Id", "Value", "Key", "Type"})


def is_boto3(node: ast.expr) -> bool:
    return isinstance(node, ast.Name) and node.id == "boto3"


def is_main_guard(node: ast.stmt) -> bool:
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


def prints(func: ast.expr) -> bool:
    """A called `func` that writes to stdout: `print`, `pprint`, `x.pprint`, `sys.stdout.write`."""
    if isinstance(func, ast.Name):
        return func.id in ("print", "pprint")
    if not isinstance(func, ast.Attribute):
        return False
    owner = func.value
    return func.attr == "pprint" or (
        func.attr == "write"
        and isinstance(owner, ast.Attribute)
        and owner.attr == "stdout"
        and isinstance(owner.value, ast.Name)
        and owner.value.id == "sys"
    )


def logger_names(tree: ast.AST) -> frozenset[str]:
    """The names given a `logging.getLogger(...)` logger anywhere in the script."""
    return frozenset(
        target.id
        for node in ast.walk(tree)
        if isinstance(node, ast.Assign)
        and isinstance(node.value, ast.Call)
        and isinstance(node.value.func, ast.Attribute)
        and node.value.func.attr == "getLogger"
        and name_of(node.value.func.value) == "logging"
        for target in node.targets
        if isinstance(target, ast.Name)
    )


def logs(call: ast.Call, loggers: frozenset[str]) -> bool:
    """`log.info(...)` of a logger in `loggers`, or `logging.warning(...)`: shows the findings
    as a print would (the README counts logging as printing)."""
    func = call.func
    return (
        isinstance(func, ast.Attribute)
        and func.attr in _LOG_LEVELS
        and isinstance(func.value, ast.Name)
        and (func.value.id == "logging" or func.value.id in loggers)
    )


def to_stdout(call: ast.Call) -> bool:
    """A print call that shows on stdout (not one given a `file=` or pprint's `stream=`)."""
    return prints(call.func) and not any(k.arg in ("file", "stream") for k in call.keywords)


def is_print(node: ast.AST) -> bool:
    """A statement that only prints: `print(...)`, `pprint.pprint(...)`..."""
    call = node.value if isinstance(node, ast.Expr) else None
    return isinstance(call, ast.Call) and prints(call.func)


def name_of(node: ast.expr) -> str:
    """`x` of a name `x` or an attribute `a.x` ("" for anything else)."""
    if isinstance(node, ast.Name):
        return node.id
    return node.attr if isinstance(node, ast.Attribute) else ""


def over_regions(target: ast.expr, iterated: ast.expr) -> bool:
    """`for target in iterated` goes over regions: a region-like variable, a region list call
    (`describe_regions()`), a `*regions*` name, or a literal list of region codes."""
    if isinstance(target, ast.Name) and _REGION_NAME.fullmatch(target.id):
        return True
    if calls_attr(iterated, REGION_LISTS):
        return True
    named = iterated.func if isinstance(iterated, ast.Call) else iterated
    if "regions" in name_of(named).lower():
        return True
    codes = iterated.elts if isinstance(iterated, ast.List | ast.Tuple | ast.Set) else []
    return len(codes) >= 2 and all(
        isinstance(c, ast.Constant) and isinstance(c.value, str) and _REGION_CODE.fullmatch(c.value)
        for c in codes
    )


def is_region_name(name: str) -> bool:
    """`region`, `region_name`, `aws_region`...: a name that holds one region."""
    return bool(_REGION_NAME.fullmatch(name))


def is_region_code(text: str) -> bool:
    """`us-east-1`, `eu-west-2`, `us-gov-west-1`: a region's code."""
    return bool(_REGION_CODE.fullmatch(text))


def region_keyword(call: ast.Call) -> ast.expr | None:
    """What a client call's `region_name=` is given (None: no such keyword)."""
    return next((k.value for k in call.keywords if k.arg == "region_name"), None)


def is_session_call(node: ast.AST) -> bool:
    """`boto3.Session(...)` or `boto3.session.Session(...)`."""
    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
        return False
    func = node.func
    if func.attr != "Session":
        return False
    return is_boto3(func.value) or (
        isinstance(func.value, ast.Attribute)
        and func.value.attr == "session"
        and is_boto3(func.value.value)
    )


def client_call(node: ast.AST, sessions: frozenset[str] = frozenset()) -> ast.Call | None:
    """`boto3.client(..)` / `boto3.resource(..)` / `boto3.Session(..).client(..)`, or `.client`
    of a module-level session named in `sessions`: the call."""
    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
        return None
    if node.func.attr not in ("client", "resource"):
        return None
    owner = node.func.value
    if isinstance(owner, ast.Name) and owner.id in sessions:
        return node
    return node if is_boto3(owner) or is_session_call(owner) else None


def service_of(call: ast.Call) -> str | None:
    """The service a `.client("x")` / `.resource(service_name="x")` call names."""
    if call.args and isinstance(call.args[0], ast.Constant) and isinstance(call.args[0].value, str):
        return call.args[0].value
    for keyword in call.keywords:
        if keyword.arg == "service_name" and isinstance(keyword.value, ast.Constant):
            return str(keyword.value.value)
    return None


def services_used(tree: ast.AST) -> set[str]:
    """Every service a `.client("x")` / `.resource("x")` call names."""
    found = set()
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in ("client", "resource")
        ):
            service = service_of(node)
            if service:
                found.add(service)
    return found


def calls_attr(node: ast.AST, names: tuple[str, ...]) -> bool:
    return any(
        isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr in names
        for n in ast.walk(node)
    )


def field_name(node: ast.expr, index: int) -> str | None:
    """A record field name for a printed value: `vol_id`, `vol["VolumeId"]` → volume_id..."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant):
        value = node.slice.value
        if isinstance(value, str) and value:
            name = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", value).lower().replace("-", "_")
            outer = node.value  # `inst["State"]["Name"]`: the state's name, not the instance's
            if value in _GENERIC_KEYS and isinstance(outer, ast.Subscript):
                owner = field_name(outer, index)
                return f"{owner}_{name}" if owner else name
            return name
    if isinstance(node, ast.Call) and node.args:
        return field_name(node.args[0], index)
    return None


def one_line(code: str) -> str:
    """Code on one line, for a message: `boto3.client(\n    "ec2",\n)` → `boto3.client("ec2")`."""
    text = re.sub(r"\s*\n\s*", " ", code)
    return re.sub(r",?\s*([)\]}])", r"\1", re.sub(r"([(\[{])\s+", r"\1", text))


def string_lines(source: str) -> set[int]:
    """Lines inside a multi-line string (after its first line): their indentation is content."""
    inside: set[int] = set()
    try:
        for token in tokenize.generate_tokens(io.StringIO(source).readline):
            if token.type == tokenize.STRING and token.end[0] > token.start[0]:
                inside.update(range(token.start[0] + 1, token.end[0] + 1))
    except (tokenize.TokenError, SyntaxError):
        pass
    return inside
