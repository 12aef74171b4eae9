"""What a finished run's messages say, beyond its summary: what changed since the previous run,
and what the run cost. The Notifier builds a `RunReport`; each channel renders it its own way
(Slack blocks, an HTML and a text email, SNS text), and `lambdafan notify --dry-run` shows them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from lambda_src.run_summary import RunSummary

MAX_EXAMPLES = 5  # per script and kind of change: what a message has room for


@dataclass(frozen=True)
class ChangeExample:
    """One record that appeared, disappeared or changed, in a line a person can read."""

    kind: str  # "added", "removed" or "changed"
    account_id: str
    account_name: str
    region: str
    text: str  # the record's identity (its KEY fields, else the record), compact JSON


@dataclass(frozen=True)
class ScriptChanges:
    """One script's records against the previous complete run: counts and the first examples."""

    script: str
    added: int = 0
    removed: int = 0
    changed: int = 0  # same KEY, other fields differ (only scripts that declare KEY)
    examples: tuple[ChangeExample, ...] = ()

    @property
    def any(self) -> bool:
        return bool(self.added or self.removed or self.changed)


@dataclass(frozen=True)
class RunDiff:
    """A run against the one before it; `against` None: no previous complete run (all new)."""

    run_id: str
    against: str | None
    scripts: tuple[ScriptChanges, ...] = ()

    @property
    def any(self) -> bool:
        return any(s.any for s in self.scripts)


@dataclass(frozen=True)
class RunCost:
    """A run's cost at list prices, in US dollars, and what it is made of."""

    total_usd: Decimal
    parts_usd: dict[str, Decimal] = field(default_factory=dict)  # e.g. {"lambda": …}


@dataclass(frozen=True)
class RunReport:
    """Everything a run's messages say."""

    fleet: str
    summary: RunSummary
    diff: RunDiff | None = None  # None: not computed (the diff failed, or was not asked for)
    cost: RunCost | None = None
