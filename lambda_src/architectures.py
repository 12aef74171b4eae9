"""Lambda's names for the CPU architectures a function runs on (what its price depends on).

Apart from `lambda_src.pricing` so that a Worker, which reports its own architecture with its
usage, does not import the price table."""

from __future__ import annotations

X86_64 = "x86_64"
ARM64 = "arm64"
ARCHITECTURES = (X86_64, ARM64)


def architecture(machine: str) -> str:
    """Lambda's name for the architecture of `platform.machine()`: aarch64 is arm64."""
    return ARM64 if machine.lower() in ("aarch64", "arm64") else X86_64
