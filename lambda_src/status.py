"""A run's status: `running`, then exactly one of the five ways a run ends."""

from __future__ import annotations

RUNNING = "running"
COMPLETE = "complete"  # every account reported, nothing failed
COMPLETE_WITH_FAILURES = "complete with failures"  # every account reported; some errors
INCOMPLETE = "incomplete"  # the run's deadline passed with accounts that never reported
INTERRUPTED = "interrupted"  # stopped by the user (Ctrl-C on a local run)
FAILED_TO_START = "failed to start"  # the Director could not start it

FINISHED = frozenset({COMPLETE, COMPLETE_WITH_FAILURES, INCOMPLETE, INTERRUPTED, FAILED_TO_START})


def is_finished(status: object) -> bool:
    """Whether a run with this status has ended (whatever the outcome)."""
    return status in FINISHED
