"""The real CLI entry point (`lambdafan.cli.main`) run in the bench's process, its stdout to a
sink behind a buffered text layer (like a pipe's): what scenarios 8 and 9 measure."""

from __future__ import annotations

import io
import sys
import time
from collections.abc import Sequence
from typing import Any


def run_cli(command: Sequence[str], sink: io.RawIOBase) -> float:
    """Run `lambdafan COMMAND`, stdout written to `sink`; the wall seconds it took. Raises when
    it exits with a failure."""
    from lambdafan.cli import main

    saved, saved_argv = sys.stdout, sys.argv
    sys.stdout = io.TextIOWrapper(io.BufferedWriter(sink), encoding="utf-8")
    sys.argv = ["lambdafan", *command]
    code: Any = 0
    began = time.perf_counter()
    try:
        main()
    except SystemExit as exc:
        code = exc.code
    finally:
        sys.stdout.flush()
        wall = time.perf_counter() - began
        sys.stdout, sys.argv = saved, saved_argv
    if code not in (0, None):
        raise RuntimeError(f"lambdafan {command[0]} exited {code}")
    return wall
