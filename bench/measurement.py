"""What one side of a scenario reports from its own process: wall seconds, peak RSS, figures."""

from __future__ import annotations

import resource
import sys
from dataclasses import dataclass, field
from typing import Any


def peak_rss_mb() -> float:
    """This process's peak RSS in MB (VmHWM from /proc, else ru_maxrss)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return maxrss / (1024 * 1024) if sys.platform == "darwin" else maxrss / 1024


@dataclass
class Measurement:
    """One run of one side: `wall_s` is the timed part only (not the interpreter's start)."""

    wall_s: float
    peak_rss_mb: float = field(default_factory=peak_rss_mb)
    figures: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "wall_s": round(self.wall_s, 4),
            "peak_rss_mb": round(self.peak_rss_mb, 1),
            "figures": self.figures,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Measurement:
        return cls(
            wall_s=float(data["wall_s"]),
            peak_rss_mb=float(data["peak_rss_mb"]),
            figures=dict(data.get("figures") or {}),
        )
