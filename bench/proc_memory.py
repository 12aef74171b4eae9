"""Bench helper: the memory of a process and of every process it started, sampled from outside.

`TreeSampler(pid)` reads, every `interval` seconds, the RSS and PSS (and USS: private pages) of
`pid` and of each of its descendants (found through the ppid in /proc/*/stat; Linux only), and
keeps the peaks per phase: the process's own, its descendants' summed, and their sum with the
process's own. Descendants are grouped by depth (1: children, 2: grandchildren...), with the
largest single process and the most alive at once per depth. No dependency beyond the standard
library (psutil is not installed here).
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field

KB = 1024


def children_by_parent() -> dict[int, list[int]]:
    """pid → pids of its children, for every process visible in /proc."""
    tree: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as stat:
                data = stat.read()
        except OSError:
            continue  # gone meanwhile
        # "pid (comm) state ppid ...": comm may hold spaces and parentheses; split after it.
        ppid = int(data[data.rindex(b")") + 2 :].split(b" ", 2)[1])
        tree.setdefault(ppid, []).append(int(name))
    return tree


def descendants(pid: int, tree: dict[int, list[int]] | None = None) -> list[tuple[int, int]]:
    """(pid, depth) of every descendant of `pid` (children at depth 1)."""
    tree = children_by_parent() if tree is None else tree
    found: list[tuple[int, int]] = []
    level, depth = [pid], 0
    while level:
        depth += 1
        level = [child for parent in level for child in tree.get(parent, ())]
        found.extend((child, depth) for child in level)
    return found


@dataclass
class Memory:
    """One process's memory, in bytes: resident, proportional (shared pages split), private."""

    rss: int = 0
    pss: int = 0
    uss: int = 0

    def __add__(self, other: Memory) -> Memory:
        return Memory(self.rss + other.rss, self.pss + other.pss, self.uss + other.uss)


def memory_of(pid: int) -> Memory | None:
    """From /proc/<pid>/smaps_rollup; None once the process is gone (or is a zombie)."""
    try:
        with open(f"/proc/{pid}/smaps_rollup", "rb") as rollup:
            text = rollup.read()
    except OSError:
        return None
    values: dict[bytes, int] = {}
    for line in text.splitlines()[1:]:
        key, _, rest = line.partition(b":")
        parts = rest.split()
        if parts:
            values[key] = int(parts[0]) * KB
    if not values:
        return None
    return Memory(
        rss=values.get(b"Rss", 0),
        pss=values.get(b"Pss", 0),
        uss=values.get(b"Private_Clean", 0) + values.get(b"Private_Dirty", 0),
    )


@dataclass
class Peaks:
    """Peak figures of one phase, in bytes (each peak on its own: they need not coincide)."""

    root: Memory = field(default_factory=Memory)
    children: Memory = field(default_factory=Memory)  # all descendants summed
    root_rss_children_pss: int = 0  # the process's RSS + its descendants' PSS, same instant
    root_rss_children_rss: int = 0
    tree_pss: int = 0  # PSS summed over the process and its descendants
    by_depth: dict[int, Memory] = field(default_factory=dict)  # the largest single process
    sum_by_depth: dict[int, Memory] = field(default_factory=dict)  # all at one depth, summed
    alive_by_depth: dict[int, int] = field(default_factory=dict)  # most at once
    samples: int = 0
    # The sample where root RSS + descendants' PSS peaked: the root's memory, and by depth the
    # descendants' memory summed and how many were alive then.
    at_peak_root: Memory = field(default_factory=Memory)
    at_peak_by_depth: dict[int, Memory] = field(default_factory=dict)
    at_peak_alive: dict[int, int] = field(default_factory=dict)

    def add(self, root: Memory, kids: list[tuple[int, Memory]]) -> None:
        total = sum((m for _, m in kids), Memory())
        self.samples += 1
        self.root = _max(self.root, root)
        self.children = _max(self.children, total)
        if root.rss + total.pss > self.root_rss_children_pss or self.samples == 1:
            self.at_peak_root = root
            self.at_peak_by_depth, self.at_peak_alive = {}, {}
            for depth, memory in kids:
                self.at_peak_by_depth[depth] = self.at_peak_by_depth.get(depth, Memory()) + memory
                self.at_peak_alive[depth] = self.at_peak_alive.get(depth, 0) + 1
        self.root_rss_children_pss = max(self.root_rss_children_pss, root.rss + total.pss)
        self.root_rss_children_rss = max(self.root_rss_children_rss, root.rss + total.rss)
        self.tree_pss = max(self.tree_pss, root.pss + total.pss)
        alive: dict[int, int] = {}
        sums: dict[int, Memory] = {}
        for depth, memory in kids:
            self.by_depth[depth] = _max(self.by_depth.get(depth, Memory()), memory)
            alive[depth] = alive.get(depth, 0) + 1
            sums[depth] = sums.get(depth, Memory()) + memory
        for depth, memory in sums.items():
            self.sum_by_depth[depth] = _max(self.sum_by_depth.get(depth, Memory()), memory)
        for depth, count in alive.items():
            self.alive_by_depth[depth] = max(self.alive_by_depth.get(depth, 0), count)

    def as_dict(self) -> dict[str, object]:
        mb = 1 / (1024 * 1024)
        return {
            "samples": self.samples,
            "root_rss_mb": round(self.root.rss * mb, 1),
            "root_pss_mb": round(self.root.pss * mb, 1),
            "children_rss_mb": round(self.children.rss * mb, 1),
            "children_pss_mb": round(self.children.pss * mb, 1),
            "children_uss_mb": round(self.children.uss * mb, 1),
            "root_rss_plus_children_pss_mb": round(self.root_rss_children_pss * mb, 1),
            "root_rss_plus_children_rss_mb": round(self.root_rss_children_rss * mb, 1),
            "tree_pss_mb": round(self.tree_pss * mb, 1),
            "largest_by_depth": {d: _mb(m) for d, m in sorted(self.by_depth.items())},
            "sum_by_depth": {d: _mb(m) for d, m in sorted(self.sum_by_depth.items())},
            "alive_by_depth": dict(sorted(self.alive_by_depth.items())),
        }


def _mb(memory: Memory) -> dict[str, float]:
    return {
        "rss_mb": round(memory.rss / (1024 * 1024), 1),
        "pss_mb": round(memory.pss / (1024 * 1024), 1),
        "uss_mb": round(memory.uss / (1024 * 1024), 1),
    }


def _unreadable(pid: int) -> bool:
    """Whether reading the process's smaps_rollup is refused (a non-dumpable process of another
    user, or of this user without root), as opposed to the process having gone."""
    try:
        with open(f"/proc/{pid}/smaps_rollup", "rb") as rollup:
            rollup.read(1)
    except PermissionError:
        return True
    except OSError:
        return False
    return False


def _max(a: Memory, b: Memory) -> Memory:
    return Memory(max(a.rss, b.rss), max(a.pss, b.pss), max(a.uss, b.uss))


class TreeSampler:
    """Samples `pid` and its descendants on a thread until `stop()`; `phase(name)` starts a new
    set of peaks (e.g. "cold", "warm"), `overall` spans every phase."""

    def __init__(self, pid: int, interval: float = 0.02) -> None:
        self.pid = pid
        self.interval = interval
        self.overall = Peaks()
        self.phases: dict[str, Peaks] = {}
        self._phase = "start"
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._busy_s = 0.0
        # Processes seen but whose memory could not be read (non-dumpable, and no root): missing.
        self.unreadable = 0
        self._thread = threading.Thread(target=self._loop, name="tree-sampler", daemon=True)

    def start(self) -> TreeSampler:
        self._thread.start()
        return self

    def phase(self, name: str) -> None:
        with self._lock:
            self._phase = name

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def cost_ms_per_sample(self) -> float:
        return 1000 * self._busy_s / max(self.overall.samples, 1)

    def _loop(self) -> None:
        while not self._stop.is_set():
            began = time.perf_counter()
            root = memory_of(self.pid)
            if root is None:
                return
            kids = []
            for child, depth in descendants(self.pid):
                memory = memory_of(child)
                if memory is not None and memory.rss:
                    kids.append((depth, memory))
                elif memory is None and _unreadable(child):
                    self.unreadable += 1
            with self._lock:
                peaks = self.phases.setdefault(self._phase, Peaks())
                peaks.add(root, kids)
                self.overall.add(root, kids)
            spent = time.perf_counter() - began
            self._busy_s += spent
            self._stop.wait(max(self.interval - spent, 0.001))
