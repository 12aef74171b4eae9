"""A script's laptop habits, one warning line each (`script test` shows them before the run)."""

from __future__ import annotations

from pathlib import Path

from lambda_src.scripts import ScriptError, check_script
from lambdafan.render.console import warning
from lambdafan.script_tools.laptop_habits import file_habits


def warn_laptop_habits(path: Path) -> None:
    """Warn about each finding in the script at `path` (read, never run); a script that breaks
    the contract (no `collect`...) gets that one error from the run instead."""
    try:
        check_script(path)
    except ScriptError:
        return
    for habit in file_habits(path):
        warning(str(habit))
