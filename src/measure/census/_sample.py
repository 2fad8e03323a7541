"""Stratified coding samples: strata, allocation, drawing, coding sheets, import.

Strata are snowball level x band of one sorting metric (Berger & Morgan 2015, §3.5,
§3.7 checked precision along metric rankings; Cochran 1977 ch. 5 for the design).
The design is recorded in the dataset as two tables so estimates weight correctly:

* ``design``: one row per stratum (``design_id, stratum, level, metric, lower,
  upper, N, n, inclusion_prob, allocation, seed``); ``lower`` is inclusive and
  ``upper`` exclusive (null = unbounded);
* ``design_sample``: the drawn accounts (``design_id, account_id, stratum,
  inclusion_prob``).

Writing them changes the dataset's content: **re-pin it** (``measure pin DATASET``)
before citing results.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from measure._io import atomic_write_bytes, atomic_write_text
from measure.census import _frame, _sql
from measure.census._estimate import allocate
from measure.dataset import Dataset
from measure.errors import ConfigError, DataContractError, EstimationError
from measure.options import LABELS, Allocation, validate_option

#: Seed used when none is given; recorded in the design table.
DEFAULT_SEED = 20141101
#: Number of metric bands per level unless told otherwise.
DEFAULT_BANDS = 3
#: Smallest stratum the banding aims for (smaller levels get fewer bands).
MIN_STRATUM = 10
DESIGN_TABLES = ("design", "design_sample")
SHEET_COLUMNS = ("account_id", "screen_name", "display_name", "description",
                 "followers_count", "friends_count", "statuses_count", "link",
                 "label", "coder", "notes")
LABEL_ALIASES = {"non_supporter": "non_supporter", "nonsupporter": "non_supporter",
                 "non": "non_supporter", "supporter": "supporter",
                 "unclear": "unclear", "unknown": "unclear"}


def _check_metric(metric: str) -> str:
    if metric not in _sql.METRICS:
        raise ConfigError(
            f"invalid value {metric!r} for option 'metric'; valid values are: "
            + ", ".join(repr(m) for m in _sql.METRICS))
    return metric


def band_edges(values: np.ndarray, bands: int) -> list[float]:
    """Interior cut points splitting ``values`` into up to ``bands`` quantile bands.

    Cut points are distinct observed values, so a band ``[lower, upper)`` is never
    empty; heavily tied metrics (many zeros) give fewer bands.
    """
    v = np.sort(values[~np.isnan(values)])
    if len(v) == 0 or bands < 2:
        return []
    cuts = []
    for k in range(1, bands):
        q = v[min(int(np.ceil(k * len(v) / bands)), len(v) - 1)]
        if q > v[0] and (not cuts or q > cuts[-1]):
            cuts.append(float(q))
    return cuts


def _fmt(x: float) -> str:
    return f"{x:g}"


def stratify(fr: pl.DataFrame, metric: str, *, bands: int = DEFAULT_BANDS,
             by_level: bool = True) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Assign every frame account to a stratum (level x metric band).

    Returns
    -------
    (assignment, strata)
        ``assignment``: ``account_id, stratum``; ``strata``: ``stratum, level,
        metric, lower, upper, N`` (``lower`` inclusive, ``upper`` exclusive,
        null = unbounded; a null metric value forms its own band).
    """
    _check_metric(metric)
    levels = sorted(fr["level"].unique().to_list()) if by_level else [None]
    parts, rows = [], []
    for lvl in levels:
        sub = fr if lvl is None else fr.filter(pl.col("level") == lvl)
        vals = sub[metric].cast(pl.Float64).to_numpy()
        # small levels get fewer bands (at least MIN_STRATUM accounts per band)
        cuts = band_edges(vals, min(bands, max(len(vals) // MIN_STRATUM, 1)))
        bounds = [-np.inf, *cuts, np.inf]
        prefix = "all" if lvl is None else f"L{lvl}"
        idx = np.full(len(vals), -1)
        for j in range(len(bounds) - 1):
            idx[(vals >= bounds[j]) & (vals < bounds[j + 1])] = j
        names = []
        for j in range(len(bounds) - 1):
            lo = "" if np.isinf(bounds[j]) else _fmt(bounds[j])
            hi = "" if np.isinf(bounds[j + 1]) else _fmt(bounds[j + 1])
            names.append(f"{prefix}:{metric}[{lo},{hi})")
        name_arr = np.array([names[i] if i >= 0 else f"{prefix}:{metric}=NA"
                             for i in idx], dtype=object)
        parts.append(pl.DataFrame({"account_id": sub["account_id"],
                                   "stratum": name_arr.astype(str)}))
        for j, nm in enumerate(names):
            cnt = int((idx == j).sum())
            if cnt:
                rows.append({"stratum": nm, "level": lvl, "metric": metric,
                             "lower": None if np.isinf(bounds[j]) else bounds[j],
                             "upper": None if np.isinf(bounds[j + 1])
                             else bounds[j + 1], "N": cnt})
        if (idx < 0).any():
            rows.append({"stratum": f"{prefix}:{metric}=NA", "level": lvl,
                         "metric": metric, "lower": None, "upper": None,
                         "N": int((idx < 0).sum())})
    strata = pl.DataFrame(rows, schema={"stratum": pl.Utf8, "level": pl.Int32,
                                        "metric": pl.Utf8, "lower": pl.Float64,
                                        "upper": pl.Float64, "N": pl.Int64})
    return pl.concat(parts), strata


@dataclass(frozen=True)
class SampleDraw:
    """A drawn coding sample: design (per stratum), drawn accounts, coding sheet."""

    design: pl.DataFrame
    sample: pl.DataFrame
    sheet: pl.DataFrame
    design_id: str
    seed: int
    allocation: str


def _pilot_sd(ds: Dataset, assignment: pl.DataFrame, strata: pl.DataFrame
              ) -> tuple[np.ndarray, bool]:
    """Anticipated S_h from existing labels (Laplace-smoothed), else 0.5 everywhere."""
    if not ds.has("labels"):
        return np.full(strata.height, 0.5), False
    lab = ds.sql("SELECT account_id, bool_or(label = 'supporter') AS y "
                 "FROM labels GROUP BY account_id")
    j = assignment.join(lab, on="account_id", how="inner")
    if j.height == 0:
        return np.full(strata.height, 0.5), False
    agg = j.group_by("stratum").agg(x=pl.col("y").sum(), n=pl.len())
    s = strata.join(agg, on="stratum", how="left").fill_null(0)
    p = (s["x"].to_numpy() + 1) / (s["n"].to_numpy() + 2)
    return np.sqrt(p * (1 - p)), True


def _link(account_id: object) -> str:
    s = str(account_id)
    if isinstance(account_id, int | np.integer) or s.isdigit():
        return f"https://twitter.com/intent/user?user_id={s}"
    if s.startswith("did:"):
        return f"https://bsky.app/profile/{s}"
    if "@" in s.strip("@"):
        user, _, host = s.strip("@").partition("@")
        return f"https://{host}/@{user}"
    return ""


def draw_sample(ds: Dataset, *, metric: str, n: int,
                allocation: Allocation = "proportional", seed: int = DEFAULT_SEED,
                bands: int = DEFAULT_BANDS, by_level: bool = True) -> SampleDraw:
    """Draw a stratified random sample of frame accounts for hand coding.

    Parameters
    ----------
    ds
        The dataset (needs the census tables).
    metric
        Sorting metric whose quantile bands (within each level) define strata.
    n
        Total number of accounts to code.
    allocation
        ``proportional``, ``equal`` or ``neyman``. Neyman uses stratum SDs from
        labels already in the dataset (Laplace-smoothed ``p_h``); without labels it
        assumes ``p_h = 0.5`` everywhere, which equals proportional allocation.
    seed
        Seed of the NumPy generator (``numpy.random.default_rng(seed)``); accounts
        are sorted by ``account_id`` within each stratum before drawing, so the
        same dataset, options and seed always give the same sample.
    bands
        Quantile bands per level.
    by_level
        Stratify by level as well as by metric band.

    Notes
    -----
    Simple random sampling without replacement within strata; every account of
    stratum ``h`` has inclusion probability ``n_h / N_h``. Each stratum gets at
    least two accounts (when it has them) so its variance can be estimated.
    """
    validate_option("allocation", allocation, Allocation)
    _check_metric(metric)
    if n < 1:
        raise ConfigError(f"sample size n must be a positive integer, got {n}")
    fr = _frame.frame(ds, ranks=False, profile=True)
    if fr.height == 0:
        raise EstimationError("the frame is empty: no seeds or collected lists")
    assignment, strata = stratify(fr, metric, bands=bands, by_level=by_level)
    N_h = strata["N"].to_numpy()
    S_h = None
    if allocation == "neyman":
        S_h, _ = _pilot_sd(ds, assignment, strata)
    n_h = allocate(N_h, n, allocation=allocation, S_h=S_h)
    rng = np.random.default_rng(seed)
    design_id = f"{metric}-{allocation}-n{int(n_h.sum())}-seed{seed}"
    chosen = []
    for name, nh in zip(strata["stratum"].to_list(), n_h, strict=True):
        ids = (assignment.filter(pl.col("stratum") == name)
               .sort("account_id")["account_id"])
        if nh > 0:
            pick = rng.choice(len(ids), size=int(nh), replace=False)
            chosen.append(pl.DataFrame({"account_id": ids.gather(np.sort(pick)),
                                        "stratum": [name] * int(nh)}))
    design = strata.with_columns(
        pl.Series("n", n_h.astype(np.int64)),
        pl.lit(design_id).alias("design_id"),
        pl.lit(allocation).alias("allocation"),
        pl.lit(int(seed)).cast(pl.Int64).alias("seed"),
    ).with_columns((pl.col("n") / pl.col("N")).alias("inclusion_prob"))
    design = design.select("design_id", "stratum", "level", "metric", "lower",
                           "upper", "N", "n", "inclusion_prob", "allocation", "seed")
    sample = pl.concat(chosen).join(design.select("stratum", "inclusion_prob"),
                                    on="stratum").with_columns(
        pl.lit(design_id).alias("design_id")).select(
        "design_id", "account_id", "stratum", "inclusion_prob")
    # The sheet hides strata and metrics (blind coding) and is shuffled.
    prof = fr.select("account_id", "screen_name", "display_name", "description",
                     "followers_count", "friends_count", "statuses_count")
    sheet = sample.select("account_id").join(prof, on="account_id", how="left")
    sheet = sheet[rng.permutation(sheet.height)]
    sheet = sheet.with_columns(
        pl.Series("link", [_link(a) for a in sheet["account_id"].to_list()]),
        pl.lit("").alias("label"), pl.lit("").alias("coder"),
        pl.lit("").alias("notes"),
    ).select(SHEET_COLUMNS)
    return SampleDraw(design, sample, sheet, design_id, int(seed), allocation)


def _parquet_bytes(df: pl.DataFrame) -> bytes:
    buf = io.BytesIO()
    df.write_parquet(buf, compression="zstd", statistics=True)
    return buf.getvalue()


def _write_table(path: Path, name: str, df: pl.DataFrame) -> Path:
    """Atomically write ``<path>/<name>.parquet`` (temporary file, fsync, rename)."""
    if (path / name).is_dir():
        raise DataContractError(
            f"table '{name}' is stored as a directory; this command writes "
            f"'{name}.parquet' and would shadow it; move the directory away first",
            table=name, file=str(path / name))
    dest = path / f"{name}.parquet"
    atomic_write_bytes(dest, _parquet_bytes(df))
    return dest


def write_sheet(sheet: pl.DataFrame, out: str | os.PathLike[str]) -> Path:
    """Write the coding sheet as UTF-8 CSV (atomically)."""
    out = Path(out)
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(sheet.columns)
    for row in sheet.iter_rows():
        w.writerow(["" if v is None else v for v in row])
    atomic_write_text(out, buf.getvalue())
    return out


def record_design(ds: Dataset, draw: SampleDraw) -> list[Path]:
    """Write ``design`` and ``design_sample`` into the dataset directory.

    Each file is written atomically, under the dataset's writer lock. The
    dataset's content changes: a pinned dataset that matched its manifest is
    pinned again (a new id; cite that one).
    """
    from measure.dataset._lock import updating

    with updating(ds.path, action="measure census sample"):
        return [_write_table(ds.path, "design", draw.design),
                _write_table(ds.path, "design_sample", draw.sample)]


def _normalise_label(v: str | None) -> str | None:
    if v is None:
        return None
    s = v.strip().lower().replace("-", "_").replace(" ", "_")
    if not s:
        return None
    return LABEL_ALIASES.get(s, s)


@dataclass(frozen=True)
class ImportReport:
    """What ``import_codes`` did."""

    n_imported: int
    n_blank: int
    coders: tuple[str, ...]
    n_labels_total: int
    design_id: str | None
    path: Path


def import_codes(ds: Dataset, sheet: str | os.PathLike[str], *,
                 coder: str | None = None,
                 coded_at: dt.datetime | None = None) -> ImportReport:
    """Read a coded sheet back into the dataset's ``labels`` table.

    Parameters
    ----------
    ds
        The dataset the sample was drawn from (with ``design_sample``).
    sheet
        CSV with at least ``account_id`` and ``label`` (``supporter``,
        ``non_supporter``, ``unclear``; blank rows are skipped) and optionally
        ``coder``.
    coder
        Coder name for rows whose ``coder`` cell is blank (default: the sheet's file
        name without extension).
    coded_at
        Time stamp for the rows (default: now, UTC).

    Notes
    -----
    Labels get ``sample`` (the stratum) and ``inclusion_prob`` from the design, so
    the estimators weight each coded account by ``1 / inclusion_prob``. Earlier
    labels by the same coder for the same account are replaced. ``labels.parquet``
    is rewritten atomically; re-pin the dataset afterwards.
    """
    sheet = Path(sheet)
    if not sheet.is_file():
        raise ConfigError(f"coding sheet '{sheet}' does not exist")
    df = pl.read_csv(sheet, infer_schema=False)
    for col in ("account_id", "label"):
        if col not in df.columns:
            raise DataContractError(
                f"the coding sheet has no '{col}' column (columns: "
                f"{', '.join(df.columns)}); use the sheet written by "
                "`measure census sample`", file=str(sheet), column=col)
    default_coder = coder or sheet.stem
    df = df.with_columns(
        pl.col("label").map_elements(_normalise_label, return_dtype=pl.Utf8),
        (pl.col("coder") if "coder" in df.columns else pl.lit(None, pl.Utf8))
        .str.strip_chars().replace("", None).fill_null(default_coder).alias("coder"),
    )
    n_blank = int(df["label"].is_null().sum())
    df = df.filter(pl.col("label").is_not_null())
    bad = df.filter(~pl.col("label").is_in(list(LABELS)))
    if bad.height:
        raise DataContractError(
            f"{bad.height} row(s) have a label that is not one of {list(LABELS)}: "
            f"{bad['label'].unique().to_list()[:5]}; fix the sheet and import again",
            file=str(sheet), column="label",
            example=bad.select("account_id", "label").row(0, named=True))
    id_int = ds.id_type != "str"
    try:
        df = df.with_columns(pl.col("account_id").str.strip_chars()
                             .cast(pl.Int64 if id_int else pl.Utf8))
    except pl.exceptions.InvalidOperationError as e:
        raise DataContractError(
            "account_id values in the sheet are not integers like the dataset's",
            file=str(sheet), column="account_id") from e
    design_id = None
    if ds.has("design_sample"):
        smp = ds.sql("SELECT account_id, stratum AS sample, inclusion_prob, design_id "
                     "FROM design_sample")
        design_id = smp["design_id"][0] if smp.height else None
        df = df.join(smp.drop("design_id"), on="account_id", how="left")
        missing = df.filter(pl.col("sample").is_null())
        if missing.height:
            raise DataContractError(
                f"{missing.height} coded account(s) are not in the drawn sample "
                f"(design {design_id}); code only the accounts of the sheet written "
                "by `measure census sample`", table="design_sample",
                example=missing.select("account_id").row(0, named=True))
    else:
        df = df.with_columns(pl.lit(None, pl.Utf8).alias("sample"),
                             pl.lit(None, pl.Float64).alias("inclusion_prob"))
    when = coded_at or dt.datetime.now(dt.UTC)
    new = df.select(
        "account_id", "label", "coder",
        pl.lit(when).cast(pl.Datetime("us", "UTC")).alias("coded_at"),
        pl.col("sample").cast(pl.Utf8), pl.col("inclusion_prob").cast(pl.Float64),
    ).unique(subset=["account_id", "coder"], keep="last", maintain_order=True)
    if ds.has("labels"):
        old = ds.sql("SELECT * FROM labels")
        if "coded_at" in old.columns:
            old = old.with_columns(pl.col("coded_at").cast(pl.Datetime("us", "UTC")))
        old = old.join(new.select("account_id", "coder"),
                       on=["account_id", "coder"], how="anti")
        merged = pl.concat([old, new], how="diagonal_relaxed")
    else:
        merged = new
    from measure.dataset._lock import updating

    with updating(ds.path, action="measure census import-codes"):
        dest = _write_table(ds.path, "labels", merged)
    return ImportReport(new.height, n_blank,
                        tuple(sorted(new["coder"].unique().to_list())),
                        merged.height, design_id, dest)
