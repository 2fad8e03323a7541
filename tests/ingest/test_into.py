"""One dataset from many ingests (`--into`) and mappings that fill several tables.

The worked example of ``docs/ingest.md`` is run as written (its commands and the
accounting lines it shows are read from the page), so the page cannot drift from
what the code does.
"""

from __future__ import annotations

import json
import math
import re
import shlex
import tomllib
from pathlib import Path

import polars as pl
import pytest

import measure
from measure.cli import main
from measure.dataset import DatasetWriter, lock_dataset, verify, verify_dataset
from measure.errors import IngestError
from measure.ingest import ingest

from ._helpers import FIXTURES

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs" / "ingest.md"
EXAMPLES = ROOT / "docs" / "examples" / "ingest"
DOC_DATASET = "data/processed/example-census"


def _doc_block(marker: str) -> str:
    """The fenced block that follows ``<!-- worked-example: marker -->`` in the docs."""
    text = DOCS.read_text()
    m = re.search(rf"<!-- worked-example: {marker} -->\n```\w*\n(.*?)\n```", text,
                  flags=re.S)
    assert m, f"docs/ingest.md has no worked-example block {marker!r}"
    return m.group(1)


def _doc_commands() -> list[list[str]]:
    joined = _doc_block("commands").replace("\\\n", " ")
    out = []
    for line in joined.splitlines():
        argv = shlex.split(line)
        assert argv[0] == ".venv/bin/measure"
        out.append(argv[1:])
    return out


def _build_example(into: Path) -> list:
    """The three ingests of the worked example through the Python API."""
    return [
        ingest(EXAMPLES / "seeds.csv", "table", mapping=EXAMPLES / "seeds.toml",
               into=into),
        ingest(EXAMPLES / "followers", "table", mapping=EXAMPLES / "follows.toml",
               into=into),
        ingest(EXAMPLES / "coded_sheet.csv", "table",
               mapping=EXAMPLES / "labels.toml", into=into),
    ]


def _rows(path: Path, table: str) -> int:
    with measure.open(path) as ds:
        return int(ds.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0])


def test_worked_example_from_docs_gives_a_census_ready_dataset(tmp_path, monkeypatch,
                                                               capsys):
    """CSV seed list + follower lists + coded sheet -> `measure census` runs."""
    monkeypatch.chdir(ROOT)  # the documented paths are relative to the repository
    into = tmp_path / "example-census"
    commands = _doc_commands()
    assert [c[0] for c in commands] == ["ingest", "ingest", "ingest", "census"]
    printed = []
    for argv in commands[:-1]:
        assert DOC_DATASET in argv
        assert main([str(into) if a == DOC_DATASET else a for a in argv]) == 0
        printed.append(capsys.readouterr().out)
    # every accounting line the page shows is printed, in the order shown
    shown = _doc_block("accounting").splitlines()
    lines = [ln.strip() for out in printed for ln in out.splitlines()]
    assert [ln for ln in lines if ln in shown] == shown
    census = commands[-1]
    census = [census[0], "--json"] + [str(into) if a == DOC_DATASET else a
                                      for a in census[1:]]
    assert main(census) == 0
    res = json.loads(capsys.readouterr().out)
    # 3 seeds + 28 accounts in the five follower lists; 20 distinct coded accounts
    assert res["frame_size"] == 31 and res["n_coded"] == 20
    assert math.isfinite(res["estimate"]) and 0 <= res["estimate"] <= 31
    assert res["ci"][0] <= res["estimate"] <= res["ci"][1]
    assert verify_dataset(into).ok
    with measure.open(into, require=("census_estimate",)) as ds:
        crawls = ds.sql("SELECT * FROM crawls ORDER BY account_id")
        edges = ds.sql("SELECT * FROM edges")
        q = ds.sql("SELECT source_file, line, \"column\", kind FROM quarantine "
                   "ORDER BY source_file")
    # one crawls row per follower-list file, values from its path and [files]
    assert crawls["account_id"].to_list() == [1001, 1002, 1003, 2001, 2004]
    assert crawls["level"].to_list() == [0, 0, 0, 1, 1]
    assert crawls["complete"].to_list() == [True, True, True, True, False]
    assert set(crawls["list"]) == {"followers"}
    # each edge carries the collection time of its list (the census pairs them)
    pairs = edges.join(crawls, left_on=["dst", "observed_at"],
                       right_on=["account_id", "collected_at"], how="anti")
    assert pairs.height == 0 and edges.height == 39
    assert q.rows() == [
        ("docs/examples/ingest/coded_sheet.csv", 27, "code", "bad_value"),
        ("docs/examples/ingest/followers/level0/followers_1003_20240502.csv", 9,
         "follower_id", "bad_type")]


def test_docs_mappings_are_the_example_files():
    """The TOML shown in the worked example parses to the example mapping files."""
    text = DOCS.read_text()
    section = text[text.index("### Worked example"):text.index("### How rows")]
    blocks = [tomllib.loads(b) for b in re.findall(r"```toml\n(.*?)\n```", section,
                                                   flags=re.S)]
    files = [tomllib.loads((EXAMPLES / n).read_text())
             for n in ("seeds.toml", "follows.toml", "labels.toml")]
    assert blocks == files


def test_every_ingest_balances_and_matches_the_tables(tmp_path):
    into = tmp_path / "d"
    reports = _build_example(into)
    for rep in reports:
        assert rep.balanced and rep.changed
        for t, d in rep.tables.items():
            assert d["read"] == d["written"] + d["quarantined"] + d["collapsed"], t
            assert d["after"] == d["before"] + d["written"], t
    last = {}
    for rep in reports:
        last.update({t: d["after"] for t, d in rep.tables.items()})
    assert last == {"seeds": 3, "accounts": 31, "edges": 39, "crawls": 5,
                    "labels": 25}
    for t, n in last.items():
        assert _rows(into, t) == n
    seeds, follows, labels = reports
    # the follower lists: 40 rows, 1 without an id; 9 repeat a follower of another
    # list and 2 name a seed already in the dataset
    acc = follows.tables["accounts"]
    assert (acc["read"], acc["written"], acc["quarantined"], acc["collapsed"]) == \
        (40, 28, 1, 11)
    assert follows.tables["crawls"]["kind"] == "file"
    assert follows.previous_id == seeds.dataset_id
    assert labels.previous_id == follows.dataset_id
    m = json.loads((into / "manifest.json").read_text())
    assert [e["previous"] for e in m["ingests"]] == [
        None, seeds.dataset_id, follows.dataset_id]
    assert m["ingests"][1]["tables"]["accounts"]["collapsed"] == 11
    mapping = [i for i in m["ingests"][1]["inputs"] if i.get("role") == "mapping"]
    assert [Path(i["path"]).name for i in mapping] == ["follows.toml"]
    assert len(m["ingests"][1]["inputs"]) == 6  # 5 follower lists + the mapping


def test_ingesting_the_same_files_again_changes_nothing(tmp_path, capsys):
    into = tmp_path / "d"
    _build_example(into)
    manifest = (into / "manifest.json").read_bytes()
    argv = ["ingest", str(EXAMPLES / "followers"), "--format", "table", "--mapping",
            str(EXAMPLES / "follows.toml"), "--into", str(into)]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "nothing to ingest" in out and out.count("skipped") == 5
    assert (into / "manifest.json").read_bytes() == manifest
    # same content under another name: still recognised by its SHA-256
    copy = tmp_path / "raw" / "followers_1001_20240502.csv"
    copy.parent.mkdir()
    copy.write_bytes((EXAMPLES / "followers/level0/followers_1001_20240502.csv")
                     .read_bytes())
    rep = ingest(copy, "table", mapping=EXAMPLES / "follows.toml", into=into)
    assert not rep.changed and rep.skipped[0]["ingest"] == 2
    assert (into / "manifest.json").read_bytes() == manifest


def test_same_files_with_another_mapping_collapse_into_existing_rows(tmp_path):
    into = tmp_path / "d"
    _build_example(into)
    mapping = tmp_path / "follows.toml"
    mapping.write_text((EXAMPLES / "follows.toml").read_text() + "# edited\n")
    rep = ingest(EXAMPLES / "followers", "table", mapping=mapping, into=into)
    assert rep.changed and rep.balanced
    for t in ("edges", "accounts", "crawls"):
        d = rep.tables[t]
        assert d["written"] == 0 and d["after"] == d["before"], t
        assert d["collapsed"] == d["read"] - d["quarantined"], t
    assert _rows(into, "quarantine") == 3  # the bad row is quarantined again


def test_mapping_errors_name_the_file_and_every_key(tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "followers_1_20240501.csv").write_text("follower_id\n5\n")
    bad = raw / "bad.toml"
    bad.write_text(
        '[file]\npattern = "followers_{owner}_{day}.csv"\n'
        '[tables.edgez.columns]\nsrc = "follower_id"\n'
        '[tables.edges.columns]\nsrc = "follower_id"\ndts = "owner"\n'
        '[tables.edges.from_file]\ndst = "ownr"\n'
        '[tables.crawls]\nrows = "file"\n'
        '[tables.crawls.from_file]\naccount_id = "owner"\n'
        '[tables.crawls.constants]\nlist = "follower"\n')
    with pytest.raises(IngestError) as e:
        ingest(raw / "followers_1_20240501.csv", "table", mapping=bad,
               into=tmp_path / "d")
    msg = str(e.value)
    assert msg.startswith(f"mapping file '{bad}'")
    for part in ("[tables.edgez]: 'edgez' is not a contract table",
                 "[tables.edges.columns] dts: 'dts' is not a column of table 'edges'",
                 "[tables.edges.extra]",  # the hint for a non-contract column
                 "[tables.edges.from_file] dst: unknown file field 'ownr'",
                 "[tables.crawls]: table 'crawls' needs column(s) ['level']",
                 "[tables.crawls.constants] list: 'follower' is not allowed"):
        assert part in msg
    assert not (tmp_path / "d").exists()
    # a file that does not match the pattern is named, with the fix
    good = raw / "good.toml"
    good.write_text(
        '[file]\npattern = "followers_{owner}_{day}.csv"\n'
        '[tables.edges.columns]\nsrc = "follower_id"\n'
        '[tables.edges.from_file]\ndst = "owner"\n')
    (raw / "other.csv").write_text("follower_id\n5\n")
    with pytest.raises(IngestError, match=r"file '.*other\.csv' does not match the "
                       r"\[file\] pattern .*\[files\.\"other\.csv\"\]"):
        ingest(raw / "other.csv", "table", mapping=good, into=tmp_path / "d")
    # a mapped source column missing from a file: file, line 1, column, table
    (raw / "followers_2_20240501.csv").write_text("id\n5\n")
    with pytest.raises(IngestError, match=r"followers_2_20240501\.csv', line 1, "
                       r"column 'follower_id'.*\[tables\.edges\]"):
        ingest(raw / "followers_2_20240501.csv", "table", mapping=good,
               into=tmp_path / "d")


def test_failure_while_writing_leaves_the_previous_version(tmp_path, monkeypatch):
    into = tmp_path / "d"
    seeds, follows, _ = _build_example(into)
    # start again from two ingests
    into2 = tmp_path / "e"
    ingest(EXAMPLES / "seeds.csv", "table", mapping=EXAMPLES / "seeds.toml",
           into=into2)
    ingest(EXAMPLES / "followers", "table", mapping=EXAMPLES / "follows.toml",
           into=into2)
    before = verify_dataset(into2)
    assert before.ok
    files = sorted(p.name for p in into2.iterdir())
    calls = []
    real = DatasetWriter.write_parquet

    def failing(self, relpath, table):
        calls.append(relpath)
        if len(calls) == 2:
            raise OSError("disk full (simulated)")
        return real(self, relpath, table)

    monkeypatch.setattr(DatasetWriter, "write_parquet", failing)
    with pytest.raises(OSError, match="simulated"):
        ingest(EXAMPLES / "coded_sheet.csv", "table",
               mapping=EXAMPLES / "labels.toml", into=into2)
    assert len(calls) == 2  # one table was written before the failure
    after = verify_dataset(into2)
    assert after.ok and after.digest == before.digest
    assert sorted(p.name for p in into2.iterdir()) == files
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    # and the same ingest succeeds afterwards
    monkeypatch.setattr(DatasetWriter, "write_parquet", real)
    rep = ingest(EXAMPLES / "coded_sheet.csv", "table",
                 mapping=EXAMPLES / "labels.toml", into=into2)
    assert rep.previous_id == f"e@sha256:{before.digest}"
    assert rep.digest == json.loads((into / "manifest.json").read_text())["digest"]


def _write_csv(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_rows_with_a_known_key_are_merged_the_later_ingest_winning(tmp_path):
    raw = tmp_path / "raw"
    into = tmp_path / "d"
    acc_map = _write_csv(raw / "acc.toml", 'table = "accounts"\n[columns]\n'
                         'account_id = "id"\nscreen_name = "handle"\n'
                         'display_name = "name"\n')
    first = ingest(_write_csv(raw / "a1.csv", "id,handle,name\n1,a,Ann\n2,b,Bo\n"),
                   "table", mapping=acc_map, into=into)
    # a later source without display names: the handle changes, the name stays
    acc2 = _write_csv(raw / "acc2.toml", 'table = "accounts"\n[columns]\n'
                      'account_id = "id"\nscreen_name = "handle"\n')
    rep = ingest(_write_csv(raw / "a2.csv", "id,handle\n2,b_new\n3,c\n"), "table",
                 mapping=acc2, into=into)
    d = rep.tables["accounts"]
    assert (d["read"], d["written"], d["collapsed"], d["before"], d["after"]) == \
        (2, 1, 1, 2, 3)
    assert rep.previous_id == first.dataset_id
    with measure.open(into) as ds:
        acc = ds.sql("SELECT account_id, screen_name, display_name FROM accounts "
                     "ORDER BY account_id")
    assert acc.rows() == [(1, "a", "Ann"), (2, "b_new", "Bo"), (3, "c", None)]
    # labels: a corrected sheet replaces the same coder's code of the same account
    lab = _write_csv(raw / "lab.toml", 'table = "labels"\n[columns]\n'
                     'account_id = "id"\nlabel = "code"\ncoder = "who"\n')
    ingest(_write_csv(raw / "s1.csv", "id,code,who\n1,supporter,ana\n"
                      "2,supporter,ana\n"), "table", mapping=lab, into=into)
    rep = ingest(_write_csv(raw / "s2.csv", "id,code,who\n2,non_supporter,ana\n"
                            "2,supporter,ben\n"), "table", mapping=lab, into=into)
    d = rep.tables["labels"]
    assert (d["written"], d["collapsed"], d["before"], d["after"]) == (1, 1, 2, 3)
    with measure.open(into) as ds:
        labels = ds.sql("SELECT account_id, coder, label FROM labels "
                        "ORDER BY account_id, coder")
    assert labels.rows() == [(1, "ana", "supporter"), (2, "ana", "non_supporter"),
                             (2, "ben", "supporter")]


def test_appending_to_a_pinned_dataset_repins_and_old_lock_fails(tmp_path,
                                                                 raw_copy):
    src = raw_copy("twitter_v1_lookup.jsonl")
    d = tmp_path / "processed" / "lookups"
    first = ingest(src, "twitter-v1", d)  # --out
    lock = tmp_path / "measure.lock"
    entry = lock_dataset(lock, d)
    assert entry.id == first.dataset_id
    # the file the --out ingest read is recognised: nothing to do
    assert not ingest(src, "twitter-v1", into=d).changed
    # a later look-up: beta is suspended; its profile must survive the error record
    later = tmp_path / "raw" / "later.jsonl"
    later.write_text('{"collected_at": "2024-06-01T12:00:00Z", "id": '
                     '1180000000000000002, "errors": [{"code": 63, "message": '
                     '"User has been suspended."}]}\n')
    with measure.open(d) as ds:
        beta_before = ds.sql("SELECT * FROM accounts WHERE account_id = "
                             "1180000000000000002").row(0, named=True)
    rep = ingest(later, "twitter-v1", into=d)
    assert rep.previous_id == first.dataset_id and rep.dataset_id != first.dataset_id
    assert rep.tables["observations"]["written"] == 1
    assert rep.tables["accounts"]["collapsed"] == 1
    assert rep.tables["accounts"]["written"] == 0
    with measure.open(d) as ds:
        beta = ds.sql("SELECT * FROM accounts WHERE account_id = "
                      "1180000000000000002").row(0, named=True)
        st = ds.sql("SELECT status FROM observations WHERE account_id = "
                    "1180000000000000002 ORDER BY observed_at")["status"].to_list()
    assert beta == beta_before  # null fields of the error record erase nothing
    assert st[-1] == "suspended"
    # the new version verifies; the lock still names the old id and now fails
    assert verify_dataset(d).ok
    (report,) = verify(lock)
    assert not report.ok
    diff = [x for x in report.differences if x["kind"] == "digest"]
    assert diff == [{"kind": "digest", "path": "(dataset)",
                     "expected": f"sha256:{first.digest}",
                     "got": f"sha256:{rep.digest}"}]
    m = json.loads((d / "manifest.json").read_text())
    assert [e["format"] for e in m["ingests"]] == ["twitter-v1", "twitter-v1"]
    assert "ingest" not in m  # the --out summary lives on as the first entry


def test_a_dataset_changed_since_its_pin_is_refused(tmp_path):
    into = tmp_path / "d"
    ingest(EXAMPLES / "seeds.csv", "table", mapping=EXAMPLES / "seeds.toml",
           into=into)
    (into / "notes.parquet").write_bytes(b"not pinned")
    manifest = (into / "manifest.json").read_bytes()
    with pytest.raises(IngestError, match=r"(?s)differs from its manifest.*"
                       r"notes\.parquet.*measure pin"):
        ingest(EXAMPLES / "coded_sheet.csv", "table",
               mapping=EXAMPLES / "labels.toml", into=into)
    assert (into / "manifest.json").read_bytes() == manifest


def test_part_files_are_kept_and_a_part_is_added(tmp_path):
    into = tmp_path / "d"
    with DatasetWriter(into, name="d", command="tests") as w:
        w.write_table("accounts", pl.DataFrame(
            {"account_id": [1, 2], "screen_name": ["a", "b"]}))
        w.append("edges", pl.DataFrame({"src": [1], "dst": [2]}))
    old = {f["path"]: f["sha256"] for f in w.manifest["files"]}
    m = _write_csv(tmp_path / "raw" / "e.toml",
                   'table = "edges"\nunique = ["src", "dst"]\n[columns]\n'
                   'src = "a"\ndst = "b"\n')
    rep = ingest(_write_csv(tmp_path / "raw" / "e.csv", "a,b\n1,2\n2,1\n"), "table",
                 mapping=m, into=into)
    d = rep.tables["edges"]
    assert (d["written"], d["collapsed"], d["before"], d["after"]) == (1, 1, 1, 2)
    new = {f["path"]: f["sha256"]
           for f in json.loads((into / "manifest.json").read_text())["files"]}
    assert new["edges/part-00000.parquet"] == old["edges/part-00000.parquet"]
    assert new["accounts.parquet"] == old["accounts.parquet"]
    assert "edges/part-00001.parquet" in new
    assert pl.read_parquet(into / "edges/part-00001.parquet").select(
        "src", "dst").rows() == [(2, 1)]


def test_an_empty_follower_list_still_records_its_crawl(tmp_path):
    raw = tmp_path / "raw" / "followers"
    _write_csv(raw / "level0" / "followers_7_20240502.csv",
               "follower_id,follower_handle,follower_name\n")
    _write_csv(raw / "level0" / "followers_8_20240502.csv",
               "follower_id,follower_handle,follower_name\n9,sim_9,Nine\n")
    rep = ingest(raw, "table", mapping=EXAMPLES / "follows.toml",
                 into=tmp_path / "d")
    assert rep.tables["crawls"]["read"] == 2 and rep.tables["edges"]["read"] == 1
    with measure.open(tmp_path / "d") as ds:
        crawls = ds.sql("SELECT account_id, complete FROM crawls ORDER BY 1")
        edges = ds.sql("SELECT src, dst FROM edges")
    assert crawls.rows() == [(7, True), (8, True)]
    assert edges.rows() == [(9, 8)]


def test_cli_takes_several_sources_and_one_destination(tmp_path, capsys):
    into = tmp_path / "d"
    argv = ["ingest", str(EXAMPLES / "followers/level0"),
            str(EXAMPLES / "followers/level1"), "--format", "table", "--mapping",
            str(EXAMPLES / "follows.toml"), "--into", str(into), "--json"]
    assert main(argv) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["tables"]["crawls"]["written"] == 5 and payload["balanced"]
    m = json.loads((into / "manifest.json").read_text())
    assert m["command"] == shlex.join(
        ["measure", "ingest", argv[1], argv[2], "--format", "table", "--into",
         str(into), "--mapping", argv[6]])
    with pytest.raises(SystemExit):
        main(["ingest", str(EXAMPLES / "seeds.csv"), "--format", "table",
              "--out", str(tmp_path / "o"), "--into", str(into)])
    capsys.readouterr()
    # ids of another type than the dataset's are refused with the fix
    m2 = _write_csv(tmp_path / "raw" / "s.toml", 'table = "seeds"\nid_type = "str"\n'
                    '[columns]\naccount_id = "id"\n')
    with pytest.raises(IngestError, match=r"text account ids.*integer ids.*id_type"):
        ingest(_write_csv(tmp_path / "raw" / "s.csv", "id\nx1\n"), "table",
               mapping=m2, into=into)


def test_twitter_v1_then_fixture_into_one_dataset_equals_out(tmp_path):
    """--into on an absent dataset writes the same tables as --out."""
    src = FIXTURES / "twitter_v1_lookup.jsonl"
    a = ingest(src, "twitter-v1", tmp_path / "a")
    b = ingest(src, "twitter-v1", into=tmp_path / "b")
    for t in ("accounts", "observations", "quarantine"):
        with measure.open(tmp_path / "a") as da, measure.open(tmp_path / "b") as db:
            assert da.sql(f"SELECT * FROM {t}").equals(db.sql(f"SELECT * FROM {t}"))
    assert a.tables["observations"]["written"] == b.tables["observations"]["written"]


def test_duplicates_already_in_a_dataset_are_merged_and_counted(tmp_path):
    """A hand-made dataset (no manifest) with two rows of one label key."""
    into = tmp_path / "d"
    with DatasetWriter(into, name="d", command="tests") as w:
        w.write_table("accounts", pl.DataFrame(
            {"account_id": [1, 2], "screen_name": ["a", "b"]}))
        w.append("labels", pl.DataFrame({"account_id": [1, 1],
                                         "label": ["supporter", "unclear"],
                                         "coder": ["ana", "ana"]}))
    (into / "manifest.json").unlink()
    m = _write_csv(tmp_path / "raw" / "l.toml", 'table = "labels"\n[columns]\n'
                   'account_id = "id"\nlabel = "code"\ncoder = "who"\n')
    rep = ingest(_write_csv(tmp_path / "raw" / "l.csv",
                            "id,code,who\n1,non_supporter,ana\n2,supporter,ana\n"),
                 "table", mapping=m, into=into)
    d = rep.tables["labels"]
    # 2 rows before; the new code of account 1 replaces both old rows of its key
    assert (d["written"], d["collapsed"], d["existing_duplicates"]) == (1, 1, 1)
    assert (d["before"], d["after"]) == (2, 2) and rep.balanced
    assert rep.previous_id is None
    with measure.open(into) as ds:
        assert ds.sql("SELECT account_id, label FROM labels ORDER BY 1").rows() == [
            (1, "non_supporter"), (2, "supporter")]
    # a folder table that had to be rewritten holds one part
    assert sorted(p.name for p in (into / "labels").iterdir()) == [
        "part-00000.parquet"]
