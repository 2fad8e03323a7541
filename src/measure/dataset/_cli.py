"""``measure pin``, ``measure verify``, ``measure lock`` and ``measure info``."""

from __future__ import annotations

import argparse
from typing import Any

from measure._cli_util import add_json_flag, emit


def register(sub: Any) -> None:
    """Add the dataset subcommands."""
    p = sub.add_parser("pin", help="write a dataset's manifest.json and print its id",
                       description="Hash every file of DATASET into manifest.json "
                       "and print name@sha256:<digest>. Add --lock to record the id "
                       "in a lock file for a paper.")
    p.add_argument("dataset")
    p.add_argument("--name", help="dataset name (default: directory name)")
    p.add_argument("--lock", metavar="LOCKFILE",
                   help="also add the dataset to this lock file (e.g. measure.lock)")
    add_json_flag(p)
    p.set_defaults(func=run_pin)

    v = sub.add_parser("verify", help="re-hash a lock file's datasets (or one dataset)",
                       description="Re-hash every file and report each changed, "
                       "missing or unexpected file as expected versus got. Exit "
                       "status 1 on any difference.")
    v.add_argument("target", help="a lock file (measure.lock) or a dataset directory")
    add_json_flag(v)
    v.set_defaults(func=run_verify)

    i = sub.add_parser("info", help="validate a dataset and list its tables")
    i.add_argument("dataset")
    add_json_flag(i)
    i.set_defaults(func=run_info)


def run_pin(args: argparse.Namespace) -> int:
    """Pin a dataset."""
    from measure.dataset import lock_dataset, open_dataset, write_manifest

    # refuse to pin a dataset that breaks the contract
    open_dataset(args.dataset).close()
    m = write_manifest(args.dataset, name=args.name)
    ident = f"{m['name']}@sha256:{m['digest']}"
    payload: dict[str, Any] = {"id": ident, "name": m["name"], "digest": m["digest"],
                               "files": len(m["files"])}
    if args.lock:
        lock_dataset(args.lock, args.dataset)
        payload["lock"] = args.lock
    emit(args, payload, ident)
    return 0


def run_verify(args: argparse.Namespace) -> int:
    """Verify a lock file or a dataset."""
    from measure.dataset import verify

    reports = verify(args.target)
    ok = all(r.ok for r in reports)
    emit(args, {"ok": ok, "datasets": [r.to_dict() for r in reports]},
         "\n".join(r.text() for r in reports))
    return 0 if ok else 1


def run_info(args: argparse.Namespace) -> int:
    """Validate and describe a dataset."""
    from measure.dataset import open_dataset

    with open_dataset(args.dataset) as ds:
        counts = {t: ds.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0]
                  for t in ds.tables}
        payload = {"name": ds.name, "path": str(ds.path), "digest": ds.digest,
                   "tables": counts}
    text = "\n".join([f"{payload['name']} ({payload['path']})",
                      f"digest: {payload['digest'] or 'not pinned'}"]
                     + [f"  {t:<14}{n:>14,} rows" for t, n in counts.items()])
    emit(args, payload, text)
    return 0
