"""How `lambdafan cost` prints: the monthly figure, the per-run figure and its parts, and every
assumption they rest on."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.markup import escape

from lambdafan.render.console import console
from lambdafan.render.run_history import format_usd

if TYPE_CHECKING:  # the command module imports this one
    from lambdafan.cli.cost import CostEstimate


def print_estimate(estimate: CostEstimate) -> None:
    console.print(f"fleet {escape(estimate.fleet)} in {estimate.region}, at AWS list prices")
    parts = ", ".join(
        f"{name} {format_usd(amount)}" for name, amount in estimate.per_run.parts_usd.items()
    )
    basis = f"measured, {len(estimate.measured_runs)} runs" if estimate.measured_runs else "assumed"
    console.print(f"  per run:   {format_usd(estimate.per_run.total_usd)}  ({parts}; {basis})")
    if estimate.runs_per_month is None or estimate.monthly_usd is None:
        console.print("  a month:   not estimated (see below)")
    else:
        console.print(
            f"  a month:   ${estimate.monthly_usd:,.2f}  "
            f"({estimate.runs_per_month:g} runs x {format_usd(estimate.per_run.total_usd)})"
        )
    console.print("assumptions:")
    for line in estimate.assumptions:
        console.print(f"  - {escape(line)}")
