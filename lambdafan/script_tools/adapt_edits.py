"""The edit buffer of `script adapt`: span and line edits placed by the original script's line
numbers, the changes it reports, and the assembled text of the port."""

from __future__ import annotations

import ast
import textwrap
from dataclasses import dataclass

from lambdafan.script_tools.laptop_syntax import string_lines

CHECK = "# lambdafan: check"
CONTINUED = "#   "  # how the lines of a long check comment after its first start
WIDTH = 99  # a check comment's lines are at most this long (with their indent)


@dataclass(frozen=True)
class Change:
    """One edit the port made (or a place it marked): the line of the original script."""

    line: int
    what: str
    check: bool = False  # marked `# lambdafan: check`: a person has to decide


class Edits:
    """Span edits (calls, prints) that keep every line where it is, then line edits (delete,
    indent, replace, insert), all placed by the original line numbers."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.lines = source.splitlines()
        self.source_lines = list(self.lines)
        self.string_lines = string_lines(source)
        self.changes: list[Change] = []
        self.spans: list[tuple[int, int, int, int, str]] = []  # (line, col, end_line, end_col)
        self.deleted: set[int] = set()
        self.indent: dict[int, int] = {}  # line -> spaces added (negative: removed)
        self.replaced: dict[int, str] = {}
        self.before: dict[int, list[str]] = {}  # line -> lines inserted before it (unindented)
        self.checks_at: dict[int, list[str]] = {}
        self.aligned: dict[int, list[str]] = {}  # line -> lines inserted before it, as indented

    # -- what changed --

    def change(self, line: int, what: str) -> None:
        self.changes.append(Change(line, what))

    def check(self, line: int, why: str) -> None:
        if Change(line, why, check=True) in self.changes:
            return
        self.changes.append(Change(line, why, check=True))
        self.checks_at.setdefault(line, []).append(f"{CHECK}: {why}")

    def drop_changes(self, line: int, marker: str) -> None:
        """Forget the changes reported at `line` whose text has `marker`."""
        self.changes = [c for c in self.changes if not (c.line == line and marker in c.what)]

    def reported(self) -> list[Change]:
        """The changes in line order, without the checks and rewrites (`a → b`) of lines that
        went (a client of a region list the port removed)."""
        kept = [
            c for c in self.changes if not ((c.check or " → " in c.what) and c.line in self.deleted)
        ]
        return sorted(kept, key=lambda change: (change.line, change.check))

    # -- reading the original --

    def segment(self, node: ast.AST) -> str:
        return ast.get_source_segment(self.source, node) or ""

    def comments_above(self, line: int) -> int:
        """The first line of the comment lines right above `line` (`line` when none)."""
        while line > 1 and self.lines[line - 2].lstrip().startswith("#"):
            line -= 1
        return line

    def edited(self, node: ast.expr | ast.keyword) -> str:
        """A node's text after the span edits of it (or of parts of it)."""
        start, end = (
            (node.lineno, node.col_offset),
            (node.end_lineno or 0, node.end_col_offset or 0),
        )
        inner = [s for s in self.spans if start <= (s[0], s[1]) and (s[2], s[3]) <= end]
        text = self.segment(node)
        for line, col, end_line, end_col, new in sorted(inner, reverse=True):
            if (line, col, end_line, end_col) == (*start, *end):
                return new
            first, last = self.offset(line, col, start), self.offset(end_line, end_col, start)
            text = text[:first] + new + text[last:]
        return text

    def offset(self, line: int, col: int, start: tuple[int, int]) -> int:
        """Where (line, col) is in the text of a node starting at `start`."""
        if line == start[0]:
            return col - start[1]
        before = self.source_lines[start[0] - 1 : line - 1]
        return sum(len(text) + 1 for text in before) - start[1] + col

    # -- edits --

    def span(self, node: ast.expr | ast.stmt, text: str) -> None:
        """Replace `node`'s text by `text`, keeping the lines after it in place (the span edits
        inside it go: `text` is made from `edited(node)` or replaces them)."""
        start, end = (
            (node.lineno, node.col_offset),
            (node.end_lineno or 0, node.end_col_offset or 0),
        )
        self.spans = [s for s in self.spans if not (start <= (s[0], s[1]) and (s[2], s[3]) <= end)]
        self.spans.append(
            (
                node.lineno,
                node.col_offset,
                node.end_lineno or node.lineno,
                node.end_col_offset or 0,
                text,
            )
        )

    def insert(self, line: int, col: int, text: str) -> None:
        """Insert `text` at (line, col) of the original (a span of no width)."""
        self.spans.append((line, col, line, col, text))

    def unwrap(self, outer: ast.expr, inner: ast.expr, head: str) -> None:
        """Replace `outer`'s text around `inner` (e.g. `print(json.dumps(` and `))`): `head`
        before it, nothing after it."""
        self.spans.append((outer.lineno, outer.col_offset, inner.lineno, inner.col_offset, head))
        self.spans.append(
            (
                inner.end_lineno or inner.lineno,
                inner.end_col_offset or 0,
                outer.end_lineno or outer.lineno,
                outer.end_col_offset or 0,
                "",
            )
        )

    def delete(self, node: ast.stmt, *, comments: bool = False) -> None:
        """Delete `node`'s lines (`comments`: and the comment lines right above it)."""
        first = self.comments_above(node.lineno) if comments else node.lineno
        self.deleted.update(range(first, (node.end_lineno or node.lineno) + 1))

    def shift(self, first: int, last: int, by: int) -> None:
        """Indent lines `first`..`last` by `by` spaces (negative: dedent), but blank lines and
        the inside of multi-line strings."""
        for line in range(first, last + 1):
            if line not in self.string_lines and self.lines[line - 1].strip():
                self.indent[line] = self.indent.get(line, 0) + by

    def insert_at_end(self) -> int:
        """An empty line at the end to insert before; its number."""
        self.lines.append("")
        self.string_lines.discard(len(self.lines))
        return len(self.lines)

    # -- the result --

    def assemble(self) -> str:
        edited = self.apply_spans()
        out: list[str] = []
        pending: list[str] = []  # aligned lines of deleted lines: before the next line of code
        for number, text in enumerate(edited, 1):
            for extra in self.before.get(number, []):
                if extra or (out and out[-2:] != ["", ""]):  # at most two blank lines in a row
                    out.append(extra)
            emptied = (
                not text.strip()
                and number <= len(self.source_lines)
                and self.source_lines[number - 1].strip()
            )  # by a span edit (the rest of a multi-line print)
            if number in self.deleted or emptied:
                pending.extend(self.aligned.get(number, []))
                continue
            if number in self.replaced:
                text = self.replaced[number]
            shift = self.indent.get(number, 0)
            if shift > 0:
                text = " " * shift + text
            elif shift < 0:
                strip = min(-shift, len(text) - len(text.lstrip(" ")))
                text = text[strip:]
            if not text.strip():
                if out and out[-2:] != ["", ""]:  # none at the top, at most two in a row
                    out.append("")
                continue
            pad = text[: len(text) - len(text.lstrip())]
            out.extend(pad + line for line in [*pending, *self.aligned.get(number, [])])
            pending = []
            for why in self.checks_at.get(number, []):
                out.extend(pad + line for line in comment_lines(why, WIDTH - len(pad)))
            out.append(text)
        return "\n".join(out).rstrip("\n") + "\n"

    def apply_spans(self) -> list[str]:
        """The lines after the span edits: each replaced span keeps its line count (the new text
        on its first line, the lines after it empty), so every line keeps its number."""
        lines = list(self.lines)
        for line, col, end_line, end_col, new in sorted(self.spans, reverse=True):
            head = lines[line - 1][:col]
            tail = lines[end_line - 1][end_col:]
            lines[line - 1] = head + new + (tail if end_line == line else "")
            for middle in range(line, end_line - 1):
                lines[middle] = ""
            if end_line != line:
                lines[end_line - 1] = lines[end_line - 1][:0] + tail.strip()
                if lines[end_line - 1]:  # code after the call on its last line: keep it joined
                    lines[line - 1] += tail
                    lines[end_line - 1] = ""
        return lines


def bounds(node: ast.expr | ast.stmt | ast.keyword) -> tuple[tuple[int, int], tuple[int, int]]:
    """Where a node starts and ends: (line, col) each."""
    return (node.lineno, node.col_offset), (node.end_lineno or 0, node.end_col_offset or 0)


def comment_lines(comment: str, width: int) -> list[str]:
    """A `# lambdafan: check: ...` comment wrapped to `width`, its later lines `#   ...`."""
    return textwrap.wrap(
        comment, max(width, 40), subsequent_indent=CONTINUED, break_long_words=False
    ) or [comment]


def strip_checks(text: str) -> str:
    """A port's text without its check comments (and their continuation lines)."""
    kept: list[str] = []
    inside = False
    for line in text.splitlines():
        if CHECK in line:
            inside = True
            continue
        if inside and line.lstrip().startswith(CONTINUED):
            continue
        inside = False
        kept.append(line)
    return "\n".join(kept) + "\n"
