"""`lambdafan results --format html`: one self-contained page of a run's records, for sharing.

The page needs nothing but itself: inline CSS and JS, no fonts, images or CDN. Every value is
HTML-escaped (records are whatever scripts returned, so they are untrusted), and the page's
Content-Security-Policy allows only its own style and script, by hash: even an unescaped
`<script>` in a value could not run. Each table sorts by a column when its header is clicked.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import html
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import IO, Any

from lambdafan.render.records import HEADERS, table_columns, value_text

STYLE = """
:root { color-scheme: light; --line: #d9dee5; --muted: #5b6472; --accent: #1f5fbf; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif;
  color: #1d2430; background: #f5f7fa; }
header { padding: 20px 28px 12px; background: #14202e; color: #f3f6fa; }
header h1 { margin: 0 0 10px; font-size: 20px; font-weight: 600; }
header h1 code { font-size: 18px; }
dl.meta { display: flex; flex-wrap: wrap; gap: 6px 28px; margin: 0; }
dl.meta div { display: flex; gap: 8px; }
dl.meta dt { color: #9fb0c4; }
dl.meta dd { margin: 0; font-variant-numeric: tabular-nums; }
.status { padding: 0 8px; border-radius: 9px; background: #3b4b5f; }
.status.ok { background: #1e7a46; }
.status.bad { background: #a3332b; }
p.filters { margin: 10px 0 0; color: #c5d1de; }
nav { margin-top: 12px; display: flex; flex-wrap: wrap; gap: 8px; }
nav a { color: #f3f6fa; text-decoration: none; padding: 2px 10px; border: 1px solid #3b4b5f;
  border-radius: 12px; }
nav a:hover { background: #22344a; }
main { padding: 8px 28px 28px; }
section { margin-top: 22px; }
h2 { font-size: 17px; margin: 0 0 8px; }
h2 .count { font-weight: 400; color: var(--muted); font-size: 14px; margin-left: 8px; }
.scroll { overflow-x: auto; background: #fff; border: 1px solid var(--line); border-radius: 6px; }
table { border-collapse: collapse; width: 100%; }
th, td { padding: 5px 10px; text-align: left; vertical-align: top;
  border-bottom: 1px solid var(--line); }
td { white-space: nowrap;
  font: 13px/1.4 ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace; }
td.text { white-space: pre-wrap; overflow-wrap: break-word; min-width: 24ch; max-width: 60ch; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
tbody tr:nth-child(even) { background: #f8fafc; }
tbody tr:hover { background: #eef4fd; }
th { position: sticky; top: 0; background: #eef1f5; cursor: pointer; user-select: none;
  white-space: nowrap; font-weight: 600; }
th:hover { color: var(--accent); }
th::after { content: " \\2195"; color: #a0a8b4; font-size: 11px; }
th[aria-sort="ascending"]::after { content: " \\25B2"; color: var(--accent); }
th[aria-sort="descending"]::after { content: " \\25BC"; color: var(--accent); }
section.errors h2 { color: #a3332b; }
p.more, p.empty { color: var(--muted); margin: 6px 0 0; }
footer { padding: 0 28px 24px; color: var(--muted); font-size: 12px; }
"""

# Sorts a table by the clicked header's column: numbers (data-num) numerically and before
# text, text in natural order ("i-9" before "i-10"); a second click reverses the order.
SCRIPT = """
(function () {
  "use strict";
  var collator = new Intl.Collator(undefined, { numeric: true, sensitivity: "base" });
  function compare(a, b) {
    var x = a.getAttribute("data-num"), y = b.getAttribute("data-num");
    if (x !== null && y !== null) { return Number(x) - Number(y); }
    if (x !== null) { return -1; }
    if (y !== null) { return 1; }
    return collator.compare(a.textContent, b.textContent);
  }
  function sortBy(table, heads, index) {
    var head = heads[index];
    var descending = head.getAttribute("aria-sort") === "ascending";
    for (var i = 0; i < heads.length; i++) { heads[i].setAttribute("aria-sort", "none"); }
    head.setAttribute("aria-sort", descending ? "descending" : "ascending");
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (r, s) {
      var order = compare(r.cells[index], s.cells[index]);
      return descending ? -order : order;
    });
    var sorted = document.createDocumentFragment();
    rows.forEach(function (row) { sorted.appendChild(row); });
    body.appendChild(sorted);
  }
  var tables = document.querySelectorAll("table.sortable");
  Array.prototype.forEach.call(tables, function (table) {
    var heads = table.tHead.rows[0].cells;
    Array.prototype.forEach.call(heads, function (head, index) {
      head.tabIndex = 0;
      head.addEventListener("click", function () { sortBy(table, heads, index); });
      head.addEventListener("keydown", function (event) {
        if (event.key === "Enter" || event.key === " ") {
          event.preventDefault();
          sortBy(table, heads, index);
        }
      });
    });
  });
})();
"""

# The errors table's columns, where a record table has its origin.
ERROR_COLUMNS = (
    "account_name",
    "account_id",
    "region",
    "script",
    "error_type",
    "message",
    "collected_at",
)
_GOOD = ("complete",)
_BAD = ("complete with failures", "incomplete", "overdue", "interrupted", "failed to start")


@dataclass(frozen=True)
class Section:
    """One table of the page: a script's records, or the run's errors."""

    title: str
    columns: Sequence[str]
    rows: Sequence[Mapping[str, Any]]
    total: int  # rows found; `rows` holds the first `limit` of them
    errors: bool = False


def record_sections(
    rows: Iterable[Mapping[str, Any]],
    *,
    order: Sequence[str] = (),
    columns: Sequence[str] | None = None,
    limit: int | None = None,
) -> list[Section]:
    """A section per script, scripts in `order` first (the config's), at most `limit` rows each
    (default: every row; the page holds the rows it shows)."""
    by_script: dict[str, list[Mapping[str, Any]]] = {name: [] for name in order}
    totals: dict[str, int] = {}
    for row in rows:
        script = str(row["script"])
        totals[script] = totals.get(script, 0) + 1
        kept = by_script.setdefault(script, [])
        if limit is None or len(kept) < limit:
            kept.append(row)
    return [
        Section(script, table_columns(kept, columns), kept, totals[script])
        for script, kept in by_script.items()
        if kept or totals.get(script)
    ]


def run_sections(
    rows: Iterable[Mapping[str, Any]],
    *,
    errors_only: bool,
    error_rows: Iterable[Mapping[str, Any]] = (),
    order: Sequence[str] = (),
    columns: Sequence[str] | None = None,
    limit: int | None = None,
) -> list[Section]:
    """The page's sections: `rows` (records) a section per script, then `error_rows` if there
    are any; or, `errors_only`, `rows` (errors) alone."""
    if errors_only:
        return [error_section(rows, columns or ERROR_COLUMNS, limit)]
    sections = record_sections(rows, order=order, columns=columns, limit=limit)
    failed = error_section(error_rows, ERROR_COLUMNS, limit)
    return [*sections, failed] if failed.total else sections


def filter_names(**given: str | None) -> list[str]:
    """The filters given, as the page names them (`account 1111…`), in the order given."""
    return [f"{name} {value}" for name, value in given.items() if value is not None]


def error_section(
    rows: Iterable[Mapping[str, Any]], columns: Sequence[str], limit: int | None = None
) -> Section:
    """The run's errors as one section."""
    kept: list[Mapping[str, Any]] = []
    total = 0
    for row in rows:
        total += 1
        if limit is None or len(kept) < limit:
            kept.append(row)
    return Section("errors", columns, kept, total, errors=True)


def write_report(
    handle: IO[str],
    run: Mapping[str, Any],
    sections: Sequence[Section],
    *,
    filters: Sequence[str] = (),
    now: dt.datetime | None = None,
) -> None:
    """The page: the run's id, status and times on top, then each section's table."""
    run_id = str(run.get("run_id", ""))
    made = (now or dt.datetime.now(dt.timezone.utc)).strftime("%Y-%m-%d %H:%M:%S UTC")
    policy = (
        "default-src 'none'; "
        f"style-src '{_sha256(STYLE)}'; script-src '{_sha256(SCRIPT)}'; "
        "base-uri 'none'; form-action 'none'"
    )
    out = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{_e(policy)}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        '<meta name="generator" content="lambdafan">',
        f"<title>lambdafan run {_e(run_id)}</title>",
        f"<style>{STYLE}</style>",
        "</head><body>",
        _header(run, sections, filters),
        "<main>",
    ]
    handle.write("\n".join(out) + "\n")
    if not sections:
        handle.write('<p class="empty">no records found</p>\n')
    for index, section in enumerate(sections):
        _write_section(handle, index, section)
    handle.write(
        f"</main>\n<footer>made by lambdafan at {_e(made)}; click a column's header to sort by "
        "it, again to reverse</footer>\n"
        f"<script>{SCRIPT}</script>\n</body></html>\n"
    )


def _header(run: Mapping[str, Any], sections: Sequence[Section], filters: Sequence[str]) -> str:
    status = str(run.get("status", ""))
    kind = "ok" if status in _GOOD else "bad" if status in _BAD else ""
    facts = [
        ("status", f'<span class="status {kind}">{_e(status)}</span>'),
        ("started", _e(str(run.get("started_at", "")))),
    ]
    if run.get("finished_at"):
        facts.append(("finished", _e(str(run["finished_at"]))))
    done, expected = run.get("accounts_done"), run.get("accounts_expected")
    if expected is not None:
        failed = int(run.get("accounts_failed") or 0)
        extra = f", {failed} failed" if failed else ""
        facts.append(("accounts", _e(f"{done}/{expected} done{extra}")))
    for name in ("records", "errors"):
        if run.get(name) is not None:
            facts.append((name, _e(str(run[name]))))
    meta = "".join(f"<div><dt>{name}</dt><dd>{value}</dd></div>" for name, value in facts)
    links = "".join(
        f'<a href="#s{i}">{_e(s.title)} <b>{s.total}</b></a>' for i, s in enumerate(sections)
    )
    shown = f'<p class="filters">only {_e(", ".join(filters))}</p>' if filters else ""
    return (
        f"<header><h1>lambdafan run <code>{_e(str(run.get('run_id', '')))}</code></h1>"
        f'<dl class="meta">{meta}</dl>{shown}<nav>{links}</nav></header>'
    )


def _write_section(handle: IO[str], index: int, section: Section) -> None:
    count = _plural(section.total, "error" if section.errors else "record")
    accounts = {str(row.get("account_id")) for row in section.rows}
    regions = {str(row.get("region")) for row in section.rows}
    where = f" in {_plural(len(accounts), 'account')}, {_plural(len(regions), 'region')}"
    css = ' class="errors"' if section.errors else ""
    heads = "".join(
        f'<th scope="col" aria-sort="none">{_e(HEADERS.get(c, c))}</th>' for c in section.columns
    )
    handle.write(
        f'<section id="s{index}"{css}><h2>{_e(section.title)}'
        f'<span class="count">{_e(count + (where if section.rows else ""))}</span></h2>\n'
    )
    if section.columns:
        handle.write(
            f'<div class="scroll"><table class="sortable"><thead><tr>{heads}</tr></thead><tbody>\n'
        )
        for row in section.rows:
            handle.write("<tr>" + "".join(_cell(row.get(c)) for c in section.columns) + "</tr>\n")
        handle.write("</tbody></table></div>\n")
    else:  # a table of no columns would be a header with no cells: say why instead
        handle.write('<p class="empty">none of the columns picked</p>\n')
    if section.total > len(section.rows):
        handle.write(f'<p class="more">… {section.total - len(section.rows)} more not shown</p>\n')
    handle.write("</section>\n")


def _cell(value: Any) -> str:
    if value is None:
        return "<td></td>"
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return f'<td class="num" data-num="{value!r}">{_e(str(value))}</td>'
    text = value_text(value)
    # A value with spaces wraps; one without (an id, an ARN, a date) stays on one line, whole.
    css = ' class="text"' if any(c.isspace() for c in text) else ""
    return f"<td{css}>{_e(text)}</td>"


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _e(text: str) -> str:
    return html.escape(text, quote=True)


def _sha256(source: str) -> str:
    digest = hashlib.sha256(source.encode("utf-8")).digest()
    return "sha256-" + base64.b64encode(digest).decode("ascii")
