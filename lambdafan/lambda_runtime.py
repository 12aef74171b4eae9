"""What AWS Lambda's Python runtime gives a script before its `script_requirements`: the standard
library of the runtime's Python version, and boto3 with its dependencies."""

from __future__ import annotations

import sys

# Top-level modules of the boto3 that Lambda's Python runtimes ship, and of its dependencies.
RUNTIME_MODULES = frozenset(
    {"boto3", "botocore", "s3transfer", "jmespath", "dateutil", "urllib3", "six"}
)
# Distributions the config refuses and vendoring skips: they are the runtime's, are tied to one
# another's versions, and botocore alone would add over 10 MB to every Worker bundle.
RUNTIME_DISTRIBUTIONS = frozenset({"boto3", "botocore", "s3transfer"})

# Top-level standard-library modules by the version that added or removed them, so a laptop on
# another Python judges a script by the runtime's version, not its own.
_ADDED = {(3, 11): frozenset({"tomllib"})}
_REMOVED_IN_3_13 = frozenset({"aifc", "audioop", "cgi", "cgitb", "chunk", "crypt", "imghdr",
    "lib2to3", "mailcap", "msilib", "nis", "nntplib", "ossaudiodev", "pipes", "sndhdr", "spwd",
    "sunau", "telnetlib", "uu", "xdrlib"})  # fmt: skip
_REMOVED = {
    (3, 12): frozenset({"asynchat", "asyncore", "distutils", "imp", "smtpd"}),
    (3, 13): _REMOVED_IN_3_13,
}


def python_version(runtime: str) -> tuple[int, int]:
    """The (major, minor) of a Lambda runtime identifier such as `python3.12`."""
    major, _, minor = runtime.removeprefix("python").partition(".")
    if not (major.isdigit() and minor.isdigit()):
        raise ValueError(f"{runtime!r} is not a Lambda Python runtime like python3.12")
    return int(major), int(minor)


def stdlib_modules(version: tuple[int, int]) -> frozenset[str]:
    """The standard library's top-level modules in Python `version` (as far as we know)."""
    names = set(sys.stdlib_module_names)
    for since, added in _ADDED.items():
        names = names | added if version >= since else names - added
    for since, removed in _REMOVED.items():
        names = names - removed if version >= since else names | removed
    return frozenset(names)


def removed_from_stdlib(module: str, version: tuple[int, int]) -> bool:
    """Whether `module` was once in the standard library but is gone by Python `version`."""
    return any(module in removed for since, removed in _REMOVED.items() if version >= since)
