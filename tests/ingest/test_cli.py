"""`measure ingest` through measure.cli.main."""

from __future__ import annotations

import json

import measure
from measure.cli import main

from ._helpers import FIXTURES


def test_cli_ingest_json(tmp_path, capsys):
    out = tmp_path / "v1"
    src = FIXTURES / "twitter_v1_lookup.jsonl"
    rc = main(["ingest", str(src), "--format", "twitter-v1", "--out", str(out),
               "--name", "lookups", "--json"])
    assert rc == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["balanced"] is True
    assert payload["rows_read"] == (payload["rows_written"]["observations"]
                                    + payload["rows_quarantined"]
                                    + payload["rows_collapsed"]["observations"])
    assert payload["dataset_id"].startswith("lookups@sha256:")
    m = json.loads((out / "manifest.json").read_text())
    assert m["command"] == (f"measure ingest {src} --format twitter-v1 --out {out} "
                            "--name lookups")
    measure.open(out).close()


def test_cli_ingest_text_and_errors(tmp_path, capsys):
    src = FIXTURES / "table_checks.csv"
    mp = FIXTURES / "table_checks.toml"
    out = tmp_path / "t"
    assert main(["ingest", str(src), "--format", "table", "--mapping", str(mp),
                 "--out", str(out)]) == 0
    text = capsys.readouterr().out
    # the unreadable optional count ('many') is nulled with a field note
    assert "rows read 11 = rows written 5 + rows quarantined 5 + rows collapsed 1" \
        in text
    # an existing output without --overwrite: one-paragraph error, exit 1
    assert main(["ingest", str(src), "--format", "table", "--mapping", str(mp),
                 "--out", str(out)]) == 1
    assert "--overwrite" in capsys.readouterr().err
    # --strict: first unreadable record named by file, line and column
    assert main(["ingest", str(src), "--format", "table", "--mapping", str(mp),
                 "--out", str(tmp_path / "s"), "--strict"]) == 1
    err = capsys.readouterr().err
    assert "line 7, column 'user_id'" in err and str(src) in err
