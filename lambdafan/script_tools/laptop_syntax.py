"""What a laptop script's syntax tree says, for `script adapt`: its boto3 sessions and clients,
the services they name, and the values it prints. Pure functions of `ast` nodes and source."""

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


def is_boto3(node: ast.expr) -> bool:
    return isinstance(node, ast.Name) and node.id == "boto3"


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
            return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", value).lower().replace("-", "_")
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
