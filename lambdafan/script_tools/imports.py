"""The static import check: every module a script imports that the Worker won't have.

A laptop has whatever its user installed; the Worker has the standard library of its Python,
boto3 with its dependencies, and the config's `script_requirements`. A script importing
anything else passes a local run and then fails in every Worker, so `validate` reads each
script's imports (inside functions too: those fail later, at run time) and names the missing.
"""

from __future__ import annotations

import ast
import importlib.metadata
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from lambdafan.config import Config
from lambdafan.config.values import project_name
from lambdafan.deploy.wheels import wheel_modules
from lambdafan.lambda_runtime import (
    RUNTIME_MODULES,
    python_version,
    removed_from_stdlib,
    stdlib_modules,
)

# Modules whose project is named otherwise, for the suggestion and for requirements that are
# neither installed here nor cached yet (their modules are otherwise guessed from the name).
KNOWN_PROJECTS = {
    "yaml": "pyyaml",
    "bs4": "beautifulsoup4",
    "PIL": "pillow",
    "jwt": "pyjwt",
    "dns": "dnspython",
    "dotenv": "python-dotenv",
    "OpenSSL": "pyopenssl",
    "Crypto": "pycryptodome",
    "sklearn": "scikit-learn",
    "cv2": "opencv-python-headless",
    "docx": "python-docx",
    "magic": "python-magic",
    "ldap3": "ldap3",
}
# Bundled with the scripts (the built-in ones import lambda_src's helpers).
_BUNDLED = frozenset({"lambda_src"})
_TRY_PARTS = ("body", "handlers", "orelse", "finalbody")
_GUARDS = frozenset({"ImportError", "ModuleNotFoundError", "Exception", "BaseException"})


@dataclass(frozen=True)
class MissingImport:
    """One import the Worker cannot satisfy, and what to do about it."""

    path: Path
    line: int
    module: str
    advice: str

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}"
        return f"{where}: imports {self.module}, which the Worker won't have — {self.advice}"


def missing_imports(
    scripts: Sequence[Path],
    requirements: Sequence[str],
    *,
    runtime: str,
    wheels: Sequence[Path] = (),
) -> list[MissingImport]:
    """Every import in `scripts` the Worker (Lambda `runtime` plus `requirements`) lacks.

    `wheels`: the requirements' downloaded wheels, if any, for exactly what they provide.
    Scripts that do not parse are left to the script check, which reports them first.
    """
    version = python_version(runtime)
    available = (
        stdlib_modules(version)
        | RUNTIME_MODULES
        | _BUNDLED
        | provided_modules(requirements, wheels)
    )
    missing = []
    for path in scripts:
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        except (OSError, UnicodeDecodeError, SyntaxError, ValueError):
            continue
        for line, module in imported_modules(tree):
            if module not in available:
                missing.append(MissingImport(path, line, module, _advice(path, module, version)))
    return missing


def imported_modules(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, top-level module) of every absolute import a script makes, at any depth.

    Imports a script guards itself are skipped: under `if TYPE_CHECKING:` (never run) or in a
    `try` whose handler catches ImportError (an optional dependency).
    """
    return list(_imports(tree))


def provided_modules(requirements: Sequence[str], wheels: Sequence[Path] = ()) -> frozenset[str]:
    """Top-level modules the requirements (and their wheels, with dependencies) provide."""
    if not requirements:
        return frozenset()
    projects = {project_name(r) for r in requirements}
    modules = {p.replace("-", "_") for p in projects}  # the usual case: pyjwt, not jwt
    modules |= {m for m, project in KNOWN_PROJECTS.items() if project in projects}
    for module, dists in importlib.metadata.packages_distributions().items():
        if any(project_name(d) in projects for d in dists):
            modules.add(module)  # installed here: its metadata knows, yaml for PyYAML
    for wheel in wheels:
        modules |= wheel_modules(wheel)
    return frozenset(modules)


def _advice(script: Path, module: str, version: tuple[int, int]) -> str:
    if removed_from_stdlib(module, version):
        major, minor = version
        return f"Python {major}.{minor} removed it from the standard library"
    if (script.parent / f"{module}.py").is_file() or (script.parent / module).is_dir():
        return f"only the script file itself is deployed, not the {module} module beside it"
    project = KNOWN_PROJECTS.get(module) or _installed_project(module)
    return f"add {project or 'it'} to script_requirements"


def _installed_project(module: str) -> str | None:
    dists = importlib.metadata.packages_distributions().get(module)
    return dists[0] if dists else None


def _imports(node: ast.AST) -> Iterator[tuple[int, str]]:
    if isinstance(node, ast.Import):
        for alias in node.names:
            yield node.lineno, alias.name.split(".")[0]
    elif isinstance(node, ast.ImportFrom):
        if node.level == 0 and node.module:  # relative imports have no top-level name
            yield node.lineno, node.module.split(".")[0]
    elif isinstance(node, ast.If) and _is_type_checking(node.test):
        for statement in node.orelse:
            yield from _imports(statement)
    elif isinstance(node, ast.Try) or type(node).__name__ == "TryStar":
        # TryStar (`except*`, Python 3.11+) has the same fields as Try.
        guarded = any(_catches_import_error(h) for h in getattr(node, "handlers", ()))
        parts = ("handlers", "orelse", "finalbody") if guarded else _TRY_PARTS
        for part in parts:
            for statement in getattr(node, part):
                yield from _imports(statement)
    else:
        for child in ast.iter_child_nodes(node):
            yield from _imports(child)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _catches_import_error(handler: ast.excepthandler) -> bool:
    caught = getattr(handler, "type", None)
    if caught is None:
        return True  # a bare except
    names = caught.elts if isinstance(caught, ast.Tuple) else [caught]
    return any(
        (isinstance(n, ast.Name) and n.id in _GUARDS)
        or (isinstance(n, ast.Attribute) and n.attr in _GUARDS)
        for n in names
    )


def fleet_missing_imports(fleet: Config) -> list[MissingImport]:
    """`missing_imports` for a fleet's scripts, judging its requirements by their cached wheels
    when a deploy downloaded them (never running pip)."""
    from lambdafan.deploy.model import ARCHITECTURE, RUNTIME
    from lambdafan.deploy.requirements import Target, cached_wheels

    requirements = fleet.script_requirements
    wheels = cached_wheels(requirements, Target.for_lambda(RUNTIME, ARCHITECTURE))
    return missing_imports(fleet.script_paths(), requirements, runtime=RUNTIME, wheels=wheels or ())
