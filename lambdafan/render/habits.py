"""A script's laptop habits, one warning line each (`script test` shows them before the run)."""

from __future__ import annotations

from pathlib import Path

from lambdafan.render.console import warning
from lambdafan.script_tools.laptop_habits import file_habits


def warn_laptop_habits(path: Path) -> None:
    """Warn about each finding in the script at `path` (read, never run)."""
    for habit in file_habits(path):
        warning(str(habit))
