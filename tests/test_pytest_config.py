"""The README's test command, `python -m pytest -q`, ends with a pass count (issue 13, row 15):
pyproject's addopts must not add a second -q, which hides the summary line."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_addopts_has_no_quiet_flag() -> None:
    # A regex, not tomllib: Python 3.10 (supported) has no tomllib.
    addopts = re.search(r'^addopts = "(.*)"$', (ROOT / "pyproject.toml").read_text(), re.M)
    assert addopts is not None
    assert "-q" not in addopts.group(1).split()


def test_the_readme_command_prints_a_pass_count(tmp_path: Path) -> None:
    tiny = tmp_path / "test_tiny.py"
    tiny.write_text("def test_one():\n    pass\n\n\ndef test_two():\n    pass\n")
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-c", str(ROOT / "pyproject.toml"), str(tiny)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert re.search(r"^2 passed in [\d.]+s", done.stdout, re.MULTILINE), done.stdout
