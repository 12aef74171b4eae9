"""What `lambdafan demo` prints between its steps."""

from __future__ import annotations

from pathlib import Path

from lambdafan.render.console import console


def step(message: str) -> None:
    """A demo step: a bold arrow and one line."""
    console.print(f"\n[bold cyan]▶[/] [bold]{message}[/]", soft_wrap=True)


def print_kept_demo(endpoint: str, pid: int, config: Path) -> None:
    """How to keep exploring a demo left running with --keep."""
    console.print("\n[bold]The fake AWS is still running.[/] Explore it with:", soft_wrap=True)
    lines = [
        f"export AWS_ENDPOINT_URL={endpoint} AWS_ACCESS_KEY_ID=demo "
        "AWS_SECRET_ACCESS_KEY=demo AWS_DEFAULT_REGION=us-east-1",
        f"lambdafan -c {config} results",
        f"lambdafan -c {config} runs",
        f"lambdafan -c {config} status",
        f"lambdafan -c {config} run --now --local",
        f"kill {pid}    # stop the fake AWS",
    ]
    for line in lines:
        console.print(f"  {line}", markup=False, highlight=False, soft_wrap=True)
