"""`lambdafan results --format html`: the page's HTML, and the page in a real headless Chromium
(Playwright's Python API driving the system's chromium: Playwright's own browser download is
not available everywhere). Without a chromium the browser tests skip, unless
LAMBDAFAN_REQUIRE_BROWSER is set (CI sets it): then they fail."""

from __future__ import annotations

import datetime as dt
import io
import os
import re
import shutil
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, NoReturn

import pytest

from lambdafan.render import html_report
from lambdafan.render.html_report import error_section, record_sections, write_report
from tests.conftest import cli
from tests.test_cli_results import finished_run  # noqa: F401 (a fixture)
from tests.test_cli_run import A, B

RUN: dict[str, Any] = {
    "run_id": "20260102T030405Z-abc123",
    "status": "complete with failures",
    "started_at": "2026-01-02T03:04:05+00:00",
    "finished_at": "2026-01-02T03:05:10+00:00",
    "accounts_done": 2,
    "accounts_expected": 2,
    "records": 7,
    "errors": 1,
}
EVIL = '<script>window.pwned = 1</script><img src=x onerror="window.pwned = 2">'
VCPUS = [2, 16, 4, 1, 8]
NAMES = ["web-10", "web-9", EVIL, "db", "web-2"]


def instances() -> list[dict[str, Any]]:
    return [
        {
            "account_id": A if n % 2 else B,
            "account_name": "prod" if n % 2 else "staging",
            "region": "us-east-1",
            "script": "ec2_instances",
            "instance_id": f"i-0d090d87522d{n:05d}",
            "vcpus": VCPUS[n],
            "name": NAMES[n],
            "arn": f"arn:aws:ec2:us-east-1:{A}:instance/i-0d090d87522d{n:05d}",
            "tags": {"team": "core", "n": n},
        }
        for n in range(5)
    ]


def buckets() -> list[dict[str, Any]]:
    return [
        {"account_id": A, "account_name": "prod", "region": "global", "script": "s3_buckets",
         "bucket": name, EVIL: "field names are data too"}
        for name in ("logs", "assets")
    ]  # fmt: skip


ERRORS = [
    {
        "account_id": B,
        "account_name": "staging",
        "region": "eu-west-1",
        "script": "ec2_instances",
        "error_type": "AccessDenied",
        "message": f"not allowed {EVIL}",
        "collected_at": "2026-01-02T03:05:00+00:00",
    }
]


def report(rows: list[dict[str, Any]] | None = None, **kwargs: Any) -> str:
    rows = instances() + buckets() if rows is None else rows
    sections = record_sections(rows, order=["s3_buckets", "ec2_instances"], **kwargs)
    sections.append(error_section(ERRORS, html_report.ERROR_COLUMNS))
    out = io.StringIO()
    write_report(
        out, {**RUN, "run_id": f"{RUN['run_id']}{EVIL}"}, sections, filters=["account x"],
        now=dt.datetime(2026, 1, 2, 4, tzinfo=dt.timezone.utc),
    )  # fmt: skip
    return out.getvalue()


class Page(HTMLParser):
    """What a browser would build, roughly: elements, their attributes, and text per cell."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.cells: list[str] = []
        self._cell: list[str] | None = None
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None:
            self.cells.append("".join(self._cell))
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def test_every_value_is_escaped_and_only_the_pages_own_script_runs() -> None:
    text = report()
    page = Page(text)
    assert [tag for tag, _ in page.tags].count("script") == 1
    assert [tag for tag, _ in page.tags].count("img") == 0
    # The untrusted strings come back as text, whole: in cells, in a header, in the title.
    assert page.cells.count(EVIL) == 2  # a value, and a field name (a header)
    assert f"not allowed {EVIL}" in page.cells
    assert "window.pwned" not in text.split("<script>")[1]


def test_the_page_needs_nothing_but_itself() -> None:
    text = report()
    page = Page(text)
    links = [str(attrs["href"]) for _, attrs in page.tags if "href" in attrs]
    assert all(link.startswith("#") for link in links) and links
    assert not [attrs for _, attrs in page.tags if "src" in attrs]
    assert "@import" not in text and "url(" not in text and "//" not in text
    [policy] = [
        a["content"] for t, a in page.tags if a.get("http-equiv") == "Content-Security-Policy"
    ]
    assert policy is not None and policy.startswith("default-src 'none'")
    assert "'unsafe-inline'" not in policy and "'sha256-" in policy


def test_sections_per_script_in_config_order_with_counts() -> None:
    text = report()
    titles = re.findall(r"<h2>(.*?)<span", text)
    assert titles == ["s3_buckets", "ec2_instances", "errors"]
    assert "5 records in 2 accounts, 1 region" in text and "2 records in 1 account" in text
    assert "1 error in 1 account" in text
    assert RUN["status"] in text and RUN["started_at"] in text and RUN["finished_at"] in text
    assert "2/2 done" in text and "only account x" in text


def test_limit_and_columns() -> None:
    text = report(limit=2, columns=["instance_id", "vcpus", "bucket"])
    page = Page(text)
    assert "… 3 more not shown" in text
    assert "instance_id" in page.cells and "arn" not in page.cells
    assert text.count('<td class="num" data-num="') == 2


def test_a_script_with_none_of_the_columns_picked_says_so_instead_of_an_empty_table() -> None:
    text = report(columns=["bucket"])
    assert text.count("none of the columns picked") == 1  # ec2_instances has no bucket
    assert "<tr></tr>" not in text and ">bucket<" in text


def test_an_overdue_run_is_shown_as_bad() -> None:
    out = io.StringIO()
    write_report(out, {**RUN, "status": "overdue"}, [])
    assert '<span class="status bad">overdue</span>' in out.getvalue()


def test_run_sections_records_then_errors_or_the_errors_alone() -> None:
    sections = html_report.run_sections(
        instances(), errors_only=False, error_rows=ERRORS, order=["ec2_instances"], limit=1
    )
    assert [(s.title, s.total, len(s.rows)) for s in sections] == [
        ("ec2_instances", 5, 1), ("errors", 1, 1),
    ]  # fmt: skip
    assert [s.title for s in html_report.run_sections(instances(), errors_only=False)] == [
        "ec2_instances"
    ]  # no errors, no errors section
    [alone] = html_report.run_sections(ERRORS, errors_only=True, columns=["message"])
    assert alone.errors and alone.columns == ["message"]
    assert html_report.filter_names(account="1", script=None, region="r") == [
        "account 1", "region r",
    ]  # fmt: skip


# --- in the browser ---------------------------------------------------------------------------


def chromium_path() -> str | None:
    """The system's Chromium (Debian's `chromium`), or LAMBDAFAN_CHROMIUM."""
    named = os.environ.get("LAMBDAFAN_CHROMIUM")
    if named:
        return named
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        found = shutil.which(name)
        if found:
            return found
    return None


def _unavailable(why: str) -> NoReturn:
    if os.environ.get("LAMBDAFAN_REQUIRE_BROWSER"):
        pytest.fail(f"LAMBDAFAN_REQUIRE_BROWSER is set but {why}")
    pytest.skip(why)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("playwright is not installed (pip install -e '.[test]')")
    path = chromium_path()
    if path is None:
        _unavailable("no chromium found (apt-get install chromium)")
    with sync_playwright() as playwright:
        # A container has no user namespaces for Chromium's sandbox; the page is our own file.
        launched = playwright.chromium.launch(
            executable_path=path, args=["--no-sandbox", "--disable-dev-shm-usage"]
        )
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def page(browser: Any, tmp_path: Path) -> Iterator[tuple[Any, list[str]]]:
    """The report, opened from a file as a user would; every console error and page error."""
    path = tmp_path / "report.html"
    path.write_text(report(), encoding="utf-8")
    tab = browser.new_page()
    problems: list[str] = []
    tab.on(
        "console",
        lambda m: (
            problems.append(f"console {m.type}: {m.text}")
            if m.type in ("error", "warning")
            else None
        ),
    )
    tab.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    tab.goto(path.as_uri())
    yield tab, problems
    tab.close()


def column(tab: Any, section: int, name: str) -> list[str]:
    """The cells of a column, top to bottom, as shown."""
    heads = tab.locator(f"#s{section} thead th").all_inner_texts()
    index = [h.rstrip(" ↕▲▼").strip() for h in heads].index(name)
    cells: list[str] = tab.locator(
        f"#s{section} tbody tr td:nth-child({index + 1})"
    ).all_text_contents()
    return cells


def test_the_browser_shows_every_record_and_runs_no_injected_script(
    page: tuple[Any, list[str]],
) -> None:
    tab, problems = page
    assert tab.locator("#s0 tbody tr").count() == 2
    assert tab.locator("#s1 tbody tr").count() == 5
    assert tab.locator("#s2 tbody tr").count() == 1
    assert column(tab, 1, "instance_id") == [r["instance_id"] for r in instances()]
    assert column(tab, 1, "arn") == [r["arn"] for r in instances()]
    assert column(tab, 1, "name") == NAMES  # the <script> as text
    assert sorted(column(tab, 0, "bucket")) == ["assets", "logs"]
    assert tab.evaluate("window.pwned") is None
    assert tab.title() == f"lambdafan run {RUN['run_id']}{EVIL}"
    assert problems == []


def test_clicking_a_header_sorts_numbers_numerically_both_ways(
    page: tuple[Any, list[str]],
) -> None:
    tab, problems = page
    header = tab.locator("#s1 thead th", has_text="vcpus")
    header.click()
    assert column(tab, 1, "vcpus") == ["1", "2", "4", "8", "16"]  # not "1", "16", "2", ...
    assert header.get_attribute("aria-sort") == "ascending"
    # The rows move whole: each id stays beside its own count.
    pairs = dict(zip(column(tab, 1, "instance_id"), column(tab, 1, "vcpus"), strict=True))
    assert pairs == {r["instance_id"]: str(r["vcpus"]) for r in instances()}
    header.click()
    assert column(tab, 1, "vcpus") == ["16", "8", "4", "2", "1"]
    assert header.get_attribute("aria-sort") == "descending"
    assert problems == []


def test_clicking_a_text_header_sorts_in_natural_order(page: tuple[Any, list[str]]) -> None:
    tab, problems = page
    tab.locator("#s1 thead th", has_text="name").click()
    assert column(tab, 1, "name") == [EVIL, "db", "web-2", "web-9", "web-10"]
    tab.locator("#s1 thead th", has_text="name").click()
    assert column(tab, 1, "name") == ["web-10", "web-9", "web-2", "db", EVIL]
    # Another header takes over; the first is no longer marked.
    tab.locator("#s1 thead th", has_text="account id").click()
    assert column(tab, 1, "account id") == sorted(column(tab, 1, "account id"))
    assert tab.locator("#s1 thead th", has_text="name").get_attribute("aria-sort") == "none"
    assert problems == []


# --- the command --------------------------------------------------------------------------------


def test_results_format_html_of_a_run(
    finished_run: tuple[Path, str, list[dict[str, Any]]],  # noqa: F811
) -> None:
    config, run_id, written = finished_run
    done = cli("results", "-c", str(config), "--format", "html")
    assert done.returncode == 0, done.stderr
    page = Page(done.stdout)
    text = done.stdout
    assert re.findall(r"<h2>(.*?)<span", text) == ["whoami", "fails_in_eu", "errors"]
    assert "4 records in 2 accounts, 2 regions" in text and "6 records" in text
    assert "2 errors" in text and run_id in text
    assert text.count("<tr><td") == len(written) + 2
    for row in written:
        assert row["account_id"] in page.cells and row["region"] in page.cells

    only = cli(
        "results", "-c", str(config), "--format", "html", "--script", "whoami", "--account", A,
        "--columns", "region,caller_account",
    )  # fmt: skip
    assert only.returncode == 0, only.stderr
    assert re.findall(r"<h2>(.*?)<span", only.stdout) == ["whoami"]  # no errors of whoami
    assert "only account 111111111111, script whoami" in only.stdout
    assert only.stdout.count("<tr><td") == 2 and ">caller_account<" in only.stdout

    errors = cli("results", "-c", str(config), "--format", "html", "--errors")
    assert re.findall(r"<h2>(.*?)<span", errors.stdout) == ["errors"]
    assert errors.stdout.count("<tr><td") == 2 and "RuntimeError" in errors.stdout
