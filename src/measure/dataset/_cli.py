"""``measure pin``, ``verify``, ``info``, ``export`` and ``purge``."""

from __future__ import annotations

import argparse
from typing import Any

from measure._cli_util import add_json_flag, add_validate_flag, emit


def register(sub: Any) -> None:
    """Add the dataset subcommands."""
    p = sub.add_parser("pin", help="Write a dataset's manifest.json and print its id",
                       description="Validate DATASET against the data contract "
                       "(every row: full validation), hash every file into "
                       "manifest.json and print name@sha256:<digest>. Add --lock to "
                       "record the id in a lock file for a paper.")
    p.add_argument("dataset", help="Dataset directory")
    p.add_argument("--name", help="Dataset name (default the directory name)")
    p.add_argument("--lock", metavar="LOCKFILE",
                   help="Also add the dataset to this lock file (e.g. measure.lock)")
    add_json_flag(p)
    p.set_defaults(func=run_pin)

    v = sub.add_parser("verify", help="Re-hash a lock file's datasets (or one dataset)",
                       description="Re-hash every file and report each changed, "
                       "missing or unexpected file as expected versus got. Exit "
                       "status 1 on any difference.")
    v.add_argument("target", help="A lock file (measure.lock) or a dataset directory")
    add_json_flag(v)
    v.set_defaults(func=run_verify)

    i = sub.add_parser("info",
                       help="Validate a dataset, check its pin, list its tables",
                       description="Validate DATASET against the data contract "
                       "(from the Parquet footers; --validate full checks every row), "
                       "list its tables with their numbers of rows and, for a pinned "
                       "dataset, show the pinned digest and whether the data match "
                       "it: by default sizes and modification times are compared "
                       "with the manifest and only the files that differ are "
                       "re-hashed; --verify re-hashes every file. When the data "
                       "differ, the digest of the data as they are is shown and "
                       "the exit status is 1.")
    i.add_argument("dataset", help="Dataset directory")
    i.add_argument("--verify", action="store_true",
                   help="Re-hash every file instead of the fast check")
    add_validate_flag(i)
    add_json_flag(i)
    i.set_defaults(func=run_info)

    e = sub.add_parser(
        "export", help="Write a pseudonymised, pinned copy of a dataset to share",
        description="Write a copy of DATASET in which every account id, handle and "
        "avatar hash is replaced by a keyed hash (HMAC-SHA256 with the key in "
        "--key-file, which stays outside both datasets) and free text is dropped. "
        "The copy is written atomically and pinned; its manifest records a "
        "fingerprint of the key, never the key. See docs/sharing.md for what "
        "still identifies people.",
        epilog="What an export reproduces (tolerance 0; docs/sharing.md): the "
        "default (--id-mode ordered --handles hash, no text) keeps churn and the "
        "census headline, not the census's model-assisted totals nor "
        "resurrection; --handles substitute --keep-text display_name,description "
        "keeps census, churn and resurrection; --id-mode hmac keeps counts, and "
        "estimates that draw random numbers differ by Monte Carlo error")
    e.add_argument("dataset", help="Dataset directory")
    e.add_argument("--pseudonymise", "--pseudonymize", action="store_true",
                   dest="pseudonymise",
                   help="Required: the only kind of export measure writes")
    e.add_argument("--key-file", required=True, metavar="F",
                   help="File holding the secret key (at least 16 bytes; e.g. "
                   "the output of `python -c \"import secrets; "
                   "print(secrets.token_hex(32))\"`)")
    e.add_argument("--out", required=True, metavar="DIR",
                   help="Directory of the export (outside DATASET)")
    e.add_argument("--id-mode", choices=("ordered", "hmac"), default="ordered",
                   help="How ids are replaced: ordered, HMAC pseudonyms assigned in "
                   "the order of the original ids, so analyses that draw random "
                   "numbers give the original's numbers (resurrection also needs "
                   "--handles substitute --keep-text display_name,description); "
                   "hmac, each id's own HMAC, the same in every "
                   "export with this key (numbers that draw random numbers differ "
                   "by Monte Carlo error) (default ordered)")
    e.add_argument("--handles", choices=("hash", "substitute"), default="hash",
                   help="How handles are replaced: hash, equality only; substitute, "
                   "a keyed letter substitution that keeps edit distances and "
                   "numeric suffixes, so successor linking sees the same handle "
                   "evidence (a substitution cipher: weaker) (default hash)")
    e.add_argument("--keep-text", nargs="?", const="all", default=None,
                   metavar="COLUMNS",
                   help="Keep free text as written: all of it, or the columns "
                   "named (comma-separated, e.g. display_name,description, which "
                   "successor linking and the census's bio features read)")
    e.add_argument("--name", help="Name of the export (default <name>-pseudonymised)")
    e.add_argument("--overwrite", action="store_true",
                   help="Replace an existing export at --out")
    add_json_flag(e)
    e.set_defaults(func=run_export)

    g = sub.add_parser(
        "purge", help="Remove accounts and every row naming them; re-pin",
        description="Remove the accounts listed in --ids and every row that names "
        "one of them in any account-id column of any table, write the result as a "
        "new version of DATASET atomically and pin it. The manifest records the "
        "date and how many accounts and rows were removed, not which. Running it "
        "again with the same list changes nothing.")
    g.add_argument("dataset", help="Dataset directory")
    g.add_argument("--ids", required=True, metavar="FILE",
                   help="Text file with one account id per line, or a CSV/Parquet "
                   "file with an account_id column")
    g.add_argument("--key-file", metavar="F",
                   help="For an export made with --id-mode hmac: the export's key; "
                   "--ids then lists original ids")
    add_json_flag(g)
    g.set_defaults(func=run_purge)


def run_pin(args: argparse.Namespace) -> int:
    """Pin a dataset (holding its writer lock)."""
    from measure.dataset import Dataset, lock_dataset, write_manifest, writer_lock

    with writer_lock(args.dataset, action="measure pin"):
        # refuse to pin a dataset that breaks the contract, checked row by row
        # (pinning data that differ from an earlier pin is how a change is
        # accepted)
        Dataset(args.dataset, validate="full").close()
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
    """Validate and describe a dataset; say whether it matches its pin.

    Exit status 1 when a pinned dataset's files differ from its manifest.
    """
    import duckdb

    from measure.dataset import Dataset, check_dataset
    from measure.errors import MeasureError

    rep = check_dataset(args.dataset, full=args.verify)
    payload: dict[str, Any] = {
        "name": rep.name, "path": str(args.dataset), "digest": rep.expected,
        "pinned": rep.pinned, "data_match": rep.ok if rep.pinned else None,
        "data_digest": rep.digest, "check": rep.to_dict(), "tables": None}
    error = None
    try:
        with Dataset(args.dataset, validate=args.validate) as ds:
            payload["name"] = ds.name
            payload["tables"] = {
                t: ds.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0]
                for t in ds.tables}
    except (MeasureError, duckdb.Error, OSError) as e:
        if rep.ok:
            raise
        error = f"the data cannot be opened as they are: {e}"
        payload["error"] = error
    lines = [f"{payload['name']} ({payload['path']})",
             f"pinned digest: sha256:{rep.expected}" if rep.pinned
             else "digest: not pinned"]
    if rep.pinned:
        lines.append(rep.text())
    if error:
        lines.append(error)
    lines += [f"  {t:<14}{n:>14,} rows"
              for t, n in (payload["tables"] or {}).items()]
    emit(args, payload, "\n".join(lines))
    return 0 if rep.ok else 1


def run_export(args: argparse.Namespace) -> int:
    """Write a pseudonymised export."""
    from measure.dataset._export import export_pseudonymised, read_key
    from measure.errors import ConfigError

    if not args.pseudonymise:
        raise ConfigError("measure export writes pseudonymised exports only; add "
                          "--pseudonymise to say that this is what you want")
    keep: bool | list[str] = False
    if args.keep_text == "all":
        keep = True
    elif args.keep_text:
        keep = [c.strip() for c in args.keep_text.split(",") if c.strip()]
    rep = export_pseudonymised(
        args.dataset, args.out, key=read_key(args.key_file), id_mode=args.id_mode,
        handle_mode=args.handles, keep_text=keep, name=args.name,
        overwrite=args.overwrite, key_path=args.key_file)
    emit(args, rep.to_dict(), rep.summary())
    return 0


def run_purge(args: argparse.Namespace) -> int:
    """Purge accounts from a dataset."""
    from measure.dataset._export import read_key
    from measure.dataset._purge import purge

    key = read_key(args.key_file) if args.key_file else None
    rep = purge(args.dataset, args.ids, key=key)
    emit(args, rep.to_dict(), rep.summary())
    return 0
