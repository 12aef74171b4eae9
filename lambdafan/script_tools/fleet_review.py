"""`validate`'s judgement of the fleet's scripts, without running them in this process and
without AWS: imports the Worker lacks, laptop habits (read from the source), and each script's
import tried in a sandbox (except those that would call AWS doing it)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from lambda_src.scripts import ScriptError, ScriptSpec, check_script
from lambdafan.script_tools.import_check import import_problems
from lambdafan.script_tools.imports import missing_imports, provided_modules
from lambdafan.script_tools.laptop_habits import file_habits, first_at_import


@dataclass
class ScriptReview:
    """What `validate` says of the scripts: problems refuse the config (exit 2); remarks
    (warnings and notes, in the order found) are printed and let it pass. Each is one line
    naming its file."""

    problems: list[str] = field(default_factory=list)
    remarks: list[tuple[Literal["warning", "note"], str]] = field(default_factory=list)

    def warn(self, text: str) -> None:
        self.remarks.append(("warning", text))

    def note(self, text: str) -> None:
        self.remarks.append(("note", text))


def review_scripts(
    scripts: Sequence[ScriptSpec],
    requirements: Sequence[str],
    *,
    runtime: str,
    home_region: str,
    wheels: Sequence[Path] | None,
    try_imports: bool,
) -> ScriptReview:
    """Judge every script; `try_imports` (where the sandbox exists) also imports each in a
    sandbox of its own, with a time limit and without credentials."""
    review = ScriptReview()
    # Before the scripts are imported, where a module the Worker lacks may well exist.
    missing = missing_imports(
        [s.path for s in scripts], requirements, runtime=runtime, wheels=wheels or ()
    )
    review.problems += [str(m) for m in missing]
    # Read, never run: a collect that only prints is a problem (never any record).
    habits = {spec.path: file_habits(spec.path) for spec in scripts}
    for habit in (h for found in habits.values() for h in found):
        if habit.problem:
            review.problems.append(str(habit))
        else:
            review.warn(str(habit))
    if not try_imports:
        review.note(
            "imports not tried: that needs the script sandbox, which needs fork (Linux, macOS)"
        )
        return review
    # Those already refused for their imports are not tried again, nor those that call AWS
    # at import (validate makes no AWS call; in the fleet they run in the member account).
    refused = {m.path for m in missing}
    calls_aws = {p: h for p, found in habits.items() if (h := first_at_import(found)) is not None}
    for spec in scripts:
        if spec.path in calls_aws and spec.path not in refused:
            at = calls_aws[spec.path].line
            review.note(f"{spec.path}: import not tried: it calls AWS at import, line {at}")
    imports = import_problems(
        [s for s in scripts if s.path not in refused and s.path not in calls_aws],
        home_region,
        declared=provided_modules(requirements, wheels or ()),
    )
    for problem in imports:
        if problem.untried:
            review.note(str(problem))
    for problem in imports:
        if problem.calls_aws:
            review.warn(str(problem))
        elif not problem.untried:
            review.problems.append(str(problem))
    return review


def script_habit_lines(path: Path) -> list[str]:
    """`script test FILE`'s warnings: the script's laptop habits, one line each (read, never
    run); none for a script that breaks the contract (no `collect`...), whose run says that."""
    try:
        check_script(path)
    except ScriptError:
        return []
    return [str(habit) for habit in file_habits(path)]


def habit_lines(paths: Sequence[Path]) -> list[str]:
    """Every laptop habit of these scripts, one line each, for `deploy` and `run --local` to
    repeat as warnings (`validate` refuses a collect that only prints; they run it)."""
    return [str(habit) for path in paths for habit in file_habits(path)]
