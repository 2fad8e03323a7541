"""``docs/ingest.md`` shows every format: a three-line example, a command, a mapping.

Every format that ``measure ingest --format`` offers has a section headed
``## `FORMAT`:`` holding a three-line source example (marked
``<!-- format-example: FORMAT -->``), a ``.venv/bin/measure ingest`` command for the
format's fixture, and a table from source fields to contract columns. The examples
of ``twitter-v1``, ``twitter-v2``, ``fifthtribe`` and ``table`` are ingested here and
give what the page says they give (the platform formats' examples are run in their
own test files). The page is a manual: no development history.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import re
import shlex
from pathlib import Path

import pytest

import measure
from measure.cli import main
from measure.ingest import FORMATS, handle_id, ingest

from ._helpers import FIXTURES

UTC = dt.UTC
ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs" / "ingest.md"


def _section(fmt: str) -> str:
    text = DOCS.read_text()
    m = re.search(rf"^## `{re.escape(fmt)}`:.*?(?=^## |\Z)", text, flags=re.S | re.M)
    assert m, f"docs/ingest.md has no section '## `{fmt}`: ...'"
    return m.group(0)


def _example(fmt: str) -> str:
    m = re.search(rf"<!-- format-example: {re.escape(fmt)} -->\n```\w+\n(.*?)\n```",
                  _section(fmt), flags=re.S)
    assert m, f"the section of {fmt!r} has no format-example block"
    return m.group(1)


def _cli_formats() -> list[str]:
    """The ``--format`` choices as ``measure ingest --help`` prints them."""
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf), pytest.raises(SystemExit):
        main(["ingest", "--help"])
    m = re.search(r"--format \{([^}]*)\}", buf.getvalue())
    assert m
    return m.group(1).split(",")


def _sql(out: Path, query: str) -> list[tuple]:
    with measure.open(out) as ds:
        return ds.sql(query).rows()


def test_the_cli_lists_the_formats_the_api_takes():
    assert _cli_formats() == list(FORMATS)
    assert len(FORMATS) == 8


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format_has_a_three_line_example_command_and_mapping_table(fmt):
    sec = _section(fmt)
    assert len(_example(fmt).splitlines()) == 3
    # "They give ..." follows the example: what the three lines write
    after = sec[sec.index(f"<!-- format-example: {fmt} -->"):]
    assert re.search(r"\n\nThey give ", after)
    # a command that ingests the format's fixture, with the documented flag
    cmds = [shlex.split(c.replace("\\\n", " ")) for c in re.findall(
        r"^\.venv/bin/measure ingest .*?(?<!\\)$", sec, flags=re.S | re.M)]
    assert any(c[c.index("--format") + 1] == fmt and any(
        a.startswith("tests/ingest/fixtures/") for a in c) for c in cmds), fmt
    for c in cmds:
        for a in c:
            if a.startswith("tests/ingest/fixtures/"):
                assert (ROOT / a).exists(), a
    # a table from the source's fields to contract columns (or, for `table`, the
    # mapping file that is that table) and, where the source carries statuses,
    # the status mapping
    if fmt == "table":
        assert "[columns]" in sec and "[values.status]" in sec
    else:
        assert re.search(r"^\| (source|source field|source column|event|response|"
                         r"line / field) \| contract \|$", sec, flags=re.M), fmt
    if fmt != "fifthtribe":  # a tweet archive holds no look-ups of gone accounts
        assert "`suspended`" in sec, fmt


def test_the_usage_line_lists_every_format():
    usage = re.search(r"--format \{([^}]*)\}", DOCS.read_text())
    assert usage and sorted(usage.group(1).split(",")) == sorted(FORMATS)


@pytest.mark.parametrize("page", ["ingest.md", "sharing.md"])
def test_pages_read_as_a_manual_without_development_history(page):
    text = (ROOT / "docs" / page).read_text().lower()
    for phrase in ("until now", "no longer", "previously", "used to", "session",
                   "we added", "this pr", "issue #", "todo", "fixme", "now also"):
        assert not re.search(rf"\b{phrase}\b", text), (page, phrase)


def _write(tmp_path: Path, fmt: str, name: str) -> Path:
    raw = tmp_path / "raw" / name
    raw.parent.mkdir(parents=True)
    raw.write_text(_example(fmt) + "\n")
    return raw


def test_twitter_v1_example_gives_what_the_docs_say(tmp_path):
    rep = ingest(_write(tmp_path, "twitter-v1", "lookups.jsonl"), "twitter-v1",
                 tmp_path / "d")
    assert (rep.rows_read, rep.rows_quarantined) == (3, 0) and rep.balanced
    noon = dt.datetime(2024, 5, 1, 12, tzinfo=UTC)
    assert _sql(tmp_path / "d", "SELECT account_id, observed_at, status, "
                "followers_count, friends_count, statuses_count FROM observations "
                "ORDER BY 1") == [
        (1180000000000000001, noon, "active", 120, 80, 1500),
        (1180000000000000003, noon, "suspended", None, None, None),
        (1180000000000000004, noon, "not_found", None, None, None)]
    acc = _sql(tmp_path / "d", "SELECT account_id, screen_name, display_name, "
               "created_at, lang, profile_image_hash IS NOT NULL FROM accounts "
               "ORDER BY 1")
    assert acc == [
        (1180000000000000001, "sim_alpha", "Sim Alpha",
         dt.datetime(2018, 10, 10, 20, 19, 24, tzinfo=UTC), "en", True),
        (1180000000000000003, None, None, None, None, False),
        (1180000000000000004, None, None, None, None, False)]


def test_twitter_v2_example_gives_what_the_docs_say(tmp_path):
    rep = ingest(_write(tmp_path, "twitter-v2", "users.jsonl"), "twitter-v2",
                 tmp_path / "d")
    assert (rep.rows_read, rep.rows_quarantined) == (3, 0) and rep.balanced

    def t(s: int) -> dt.datetime:
        return dt.datetime(2024, 5, 2, 10, 0, s, tzinfo=UTC)

    assert _sql(tmp_path / "d", "SELECT account_id, observed_at, status, "
                "followers_count, friends_count, statuses_count FROM observations "
                "ORDER BY 1") == [
        (1280000000000000001, t(0), "active", 10, 20, 30),
        (1280000000000000002, t(2), "protected", None, None, None),
        (1280000000000000003, t(1), "suspended", None, None, None)]
    assert _sql(tmp_path / "d", "SELECT account_id, screen_name, display_name "
                "FROM accounts ORDER BY 1") == [
        (1280000000000000001, "sim_v2_one", "Sim V2 One"),
        (1280000000000000002, "sim_v2_two", "Sim V2 Two"),
        (1280000000000000003, None, None)]


def test_fifthtribe_example_gives_what_the_docs_say(tmp_path):
    rep = ingest(_write(tmp_path, "fifthtribe", "tweets.csv"), "fifthtribe",
                 tmp_path / "d")
    # the header is not a record: two tweets, each one observation
    assert (rep.rows_read, rep.rows_quarantined) == (2, 0) and rep.balanced
    out = tmp_path / "d"
    w, r, e = (handle_id(h) for h in ("sim_writer", "sim_reader", "sim_echo"))
    assert _sql(out, "SELECT account_id, observed_at, status, followers_count, "
                "statuses_count FROM observations ORDER BY observed_at") == [
        (w, dt.datetime(2015, 1, 6, 21, 7, tzinfo=UTC), "active", 100, 50),
        (r, dt.datetime(2015, 1, 7, 9, 15, tzinfo=UTC), "active", 12, 7)]
    assert _sql(out, "SELECT count(*) FROM tweets") == [(2,)]
    assert sorted(_sql(out, "SELECT account_id FROM accounts")) == sorted(
        [(w,), (r,)])
    assert sorted(_sql(out, "SELECT src, dst, relation FROM edges")) == sorted([
        (w, e, "mentions"), (w, r, "mentions"), (r, w, "mentions")])
    assert sorted(_sql(out, "SELECT screen_name, is_author FROM handles")) == [
        ("sim_echo", False), ("sim_reader", True), ("sim_writer", True)]


def test_table_example_gives_what_the_docs_say(tmp_path):
    rep = ingest(_write(tmp_path, "table", "checks.csv"), "table", tmp_path / "d",
                 mapping=FIXTURES / "table_checks.toml")
    assert (rep.rows_read, rep.rows_quarantined) == (2, 0) and rep.balanced
    # Europe/Berlin: CET (+01:00) on 30 March 2024, CEST (+02:00) from 02:00 on
    # 31 March (EU summer time, Directive 2000/84/EC: the last Sunday of March)
    assert _sql(tmp_path / "d", "SELECT account_id, observed_at, status, "
                "followers_count, screen_name FROM observations ORDER BY 1") == [
        (1380000000000000001, dt.datetime(2024, 3, 30, 22, 30, tzinfo=UTC),
         "active", 15, "sim_tab_one"),
        (1380000000000000002, dt.datetime(2024, 3, 31, 1, 30, tzinfo=UTC),
         "suspended", None, "sim_tab_two")]
