"""Hand audit of successor links: a stratified sample of candidate pairs, coded.

The linkage model's probabilities are only as good as its assumptions (conditional
independence of the comparisons given match status, one kind of match). The
resurrection literature checks links by hand (Wright et al. 2016; the Brookings
census coded its samples the same way): a coder looks at both accounts and says
whether they are the same user. This module makes that a design-based estimate:

1. :func:`draw_audit` stratifies the scored candidate pairs into the accepted
   links and bands of model probability among the other pairs, draws a simple
   random sample in each stratum (seeded) and returns a coding sheet that carries
   the design (stratum, ``N_h``, ``n_h``, inclusion probability) in its rows;
2. the coder fills the ``match`` column (``1``/``0``, ``yes``/``no``,
   ``true``/``false``; blank = not coded);
3. :func:`audit_links` reads the coded sheet and estimates the precision of the
   accepted links, the number of true links among all candidate pairs, the
   recall of the accepted links among them, and the calibration of the model's
   probabilities per stratum.

Estimators: per-stratum proportions with Wilson score intervals (finite-population
correction) and their MOVER combination for totals (as for the census,
:func:`measure._stats.stratified_total`); the recall, a ratio of two
independent totals (the accepted links' stratum and the others), from intervals
for both at level ``1 - alpha/2`` (Bonferroni; conservative).

Assumptions a reader must accept: the coder's verdicts are correct; uncoded rows
of a stratum are missing at random; true links that blocking never proposed (no
shared key) are outside the audit, so the recall is recall *among candidate
pairs*.

References: Cochran, W. G. (1977). *Sampling Techniques*, 3rd ed., ch. 5;
Wilson, E. B. (1927), JASA 22(158); Zou, G. Y. & Donner, A. (2008), *Statistics in
Medicine* 27(10) (MOVER).
"""

from __future__ import annotations

import csv
import html
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from measure._results import Estimate, estimates_to_polars
from measure._stats import (
    allocate,
    stratified_total,
    stratified_variance,
    wilson_interval,
)
from measure.errors import DataContractError, EstimationError

#: Cut points of the model probability among pairs that are not accepted links:
#: strata ``[0, 0.001]``, ``(0.001, 0.01]``, ``(0.01, 0.2]``, ``(0.2, 1]``.
AUDIT_CUTS = (0.001, 0.01, 0.2)
#: Pairs in strata whose upper probability edge is at or below this floor are not
#: sampled by default: they are taken as non-links (the usual clerical-review
#: practice of a "non-link" region below the "possible links"). A stratum of
#: thousands of pairs that holds a true link in a few hundred cannot be bounded
#: usefully by a hand sample (no true link in 40 coded pairs of 6,500 still
#: allows about 490). ``floor=0`` audits every stratum.
AUDIT_FLOOR = 0.001
LINKED = "linked"
#: Columns a coded sheet must hold (the rest is for the coder).
SHEET_DESIGN = ("previous", "new", "stratum", "N_h", "n_h", "match")
_TRUE = {"1", "yes", "y", "true", "t", "match", "same"}
_FALSE = {"0", "no", "n", "false", "f", "no_match", "different"}

ASSUMPTIONS = (
    "the coder's verdicts (same user or not) are correct",
    "uncoded rows of a stratum are missing at random",
    "true links that blocking never proposed are outside the audit: recall is "
    "among candidate pairs",
)


def _fmt(x: float) -> str:
    """Write an edge for a band name: short, and read back exactly."""
    short = f"{x:g}"
    return short if float(short) == x else repr(float(x))


def _stratum_names(cuts: tuple[float, ...]) -> list[str]:
    edges = [0.0, *cuts, 1.0]
    names = [f"p <= {_fmt(edges[1])}"]
    names += [f"{_fmt(lo)} < p <= {_fmt(hi)}"
              for lo, hi in zip(edges[1:-1], edges[2:], strict=True)]
    return names


def _edge(name: str) -> float | None:
    """Upper probability edge of a band's name (``None`` for any other name)."""
    try:
        return float(name.rsplit(" ", 1)[-1])
    except ValueError:
        return None


def _cuts_of(names: list[str]) -> tuple[float, ...]:
    """Cut points a sheet was drawn with, read back from its band names.

    Every band name (``"p <= a"``, ``"a < p <= b"``) carries its edges; the cuts
    are those inside (0, 1). A sheet with no band (only the accepted links) gives
    the default :data:`AUDIT_CUTS`.
    """
    edges: set[float] = set()
    bands = False
    for name in names:
        if name == LINKED:
            continue
        for part in name.replace("<=", "<").split("<"):
            try:
                x = float(part.strip())
            except ValueError:
                continue
            bands = True
            if 0 < x < 1:
                edges.add(x)
    return tuple(sorted(edges)) if bands else AUDIT_CUTS


def _upper(name: str) -> float:
    """Upper probability edge of a stratum name (1 for the accepted links)."""
    edge = None if name == LINKED else _edge(name)
    return 1.0 if edge is None else edge


def _rank(name: str) -> float:
    """Sort key: the accepted links, bands from high to low probability, others."""
    if name == LINKED:
        return -2.0
    edge = _edge(name)
    return 1.0 if edge is None else -edge


def _coded_sheet(sheet: pl.DataFrame | str | os.PathLike[str]) -> pl.DataFrame:
    """Validate a coded sheet (frame or CSV path); ``match`` as 1.0/0.0/NaN."""
    if isinstance(sheet, pl.DataFrame):
        return _validated(sheet.columns, sheet.to_dicts(), "<audit frame>")
    return read_audit_sheet(sheet)


def strata_of(pairs: pl.DataFrame, links: pl.DataFrame,
              cuts: tuple[float, ...] = AUDIT_CUTS) -> pl.DataFrame:
    """Stratum of every scored pair: ``linked`` or a probability band.

    Parameters
    ----------
    pairs
        Scored candidate pairs (``previous, new, probability``), as
        ``ResurrectionResult.pairs``.
    links
        Accepted links (``previous, new``).
    cuts
        Ascending cut points in (0, 1) of the model probability among the pairs
        that are not accepted links.

    Returns
    -------
    polars.DataFrame
        ``previous, new, probability, stratum``.
    """
    c = sorted(float(x) for x in cuts)
    if any(not 0 < x < 1 for x in c) or len(set(c)) != len(c):
        raise EstimationError(
            f"audit cut points must be distinct and inside (0, 1), got {list(cuts)}")
    names = _stratum_names(tuple(c))
    band = np.searchsorted(np.asarray(c), pairs["probability"].to_numpy(),
                           side="left")
    out = pairs.select("previous", "new", "probability").with_columns(
        pl.Series("stratum", np.asarray(names, dtype=object)[band].tolist(),
                  dtype=pl.String))
    is_link = out.select("previous", "new").join(
        links.select("previous", "new").with_columns(pl.lit(True).alias("_l")),
        on=["previous", "new"], how="left", maintain_order="left")["_l"].fill_null(
        False)
    return out.with_columns(
        pl.when(is_link).then(pl.lit(LINKED)).otherwise(pl.col("stratum"))
        .alias("stratum"))


def draw_audit(result: Any, n: int, *, accounts: pl.DataFrame | None = None,
               cuts: tuple[float, ...] = AUDIT_CUTS, floor: float = AUDIT_FLOOR,
               allocation: str = "equal", seed: int = 0) -> pl.DataFrame:
    """Draw a stratified random sample of candidate pairs and return a coding sheet.

    Parameters
    ----------
    result
        A :class:`~measure.resurrection.ResurrectionResult`.
    n
        Pairs to code in all (split over the strata by ``allocation``; each
        non-empty stratum gets at least two so that its variance is estimable).
    accounts
        Optional ``accounts`` table (``account_id, screen_name, display_name,
        description, created_at``) to show the coder both accounts.
    cuts
        Probability cut points among the pairs that are not links.
    floor
        Strata whose upper edge is at or below it are not sampled (their pairs
        are taken as non-links; :func:`audit_links` reports how many true links
        the model expects there). ``0`` samples every stratum.
    allocation
        ``"equal"`` (default) or ``"proportional"`` (Cochran 1977, 5.5).
    seed
        Seed of the draw (recorded in every row).

    Returns
    -------
    polars.DataFrame
        One row per sampled pair, in random order: ``previous, new, gap_days``,
        the two accounts' handles, names, bios and creation times when
        ``accounts`` is given, an empty ``match`` column for the coder, then the
        design ``probability, stratum, N_h, n_h, inclusion_prob, seed``. Hide the
        design columns from the coder: they show the model's verdict.
    """
    if n < 1:
        raise EstimationError(f"audit sample size must be at least 1, got {n}")
    if allocation not in ("equal", "proportional"):
        raise EstimationError(
            f"audit allocation must be 'equal' or 'proportional', got {allocation!r}")
    st = strata_of(result.pairs, result.links, cuts)
    sizes = st.group_by("stratum").len().sort("stratum").filter(
        pl.col("stratum").map_elements(_upper, return_dtype=pl.Float64) > floor)
    if sizes.height == 0:
        raise EstimationError(
            f"no candidate pairs to audit above the floor p > {floor:g}")
    n_h = allocate(sizes["len"].to_numpy(), n, allocation=allocation)
    rng = np.random.default_rng(seed)
    parts = []
    for name, size, k in zip(sizes["stratum"], sizes["len"], n_h, strict=True):
        if k <= 0:
            continue
        rows = st.filter(pl.col("stratum") == name).sort("previous", "new")
        pick = np.sort(rng.choice(size, size=int(k), replace=False))
        parts.append(rows[pick].with_columns(
            pl.lit(int(size)).alias("N_h"), pl.lit(int(k)).alias("n_h"),
            pl.lit(float(k) / float(size)).alias("inclusion_prob")))
    sheet = pl.concat(parts).with_columns(pl.lit(seed).alias("seed"))
    extra = result.pairs.select("previous", "new", "gap_days")
    sheet = sheet.join(extra, on=["previous", "new"], how="left",
                       maintain_order="left")
    if accounts is not None:
        a = accounts.select("account_id", "screen_name", "display_name",
                            "description", "created_at")
        for side in ("previous", "new"):
            sheet = sheet.join(
                a.rename({c: f"{c}_{side}" for c in a.columns if c != "account_id"}),
                left_on=side, right_on="account_id", how="left",
                maintain_order="left")
    sheet = sheet.with_columns(pl.lit(None, dtype=pl.String).alias("match"))
    # rows in random order (strata interleaved) and the columns that reveal the
    # model's verdict last, so that they can be hidden from the coder
    sheet = sheet[rng.permutation(sheet.height).tolist()]
    design = ["probability", "stratum", "N_h", "n_h", "inclusion_prob", "seed"]
    front = [c for c in sheet.columns if c not in design and c != "match"]
    return sheet.select([*front, "match", *design])


def write_audit_sheet(sheet: pl.DataFrame, path: str | os.PathLike[str]) -> Path:
    """Write the coding sheet as CSV atomically."""
    from measure._io import atomic_path

    dest = Path(path)
    with atomic_path(dest) as tmp:
        sheet.write_csv(tmp)
    return dest


def _parse_match(value: Any, path: str, row: int) -> float:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return np.nan
    if isinstance(value, bool | int | float) and value in (0, 1):
        return float(value)
    s = str(value).strip().lower().replace("-", "_").replace(" ", "_")
    if s == "":
        return np.nan
    if s in _TRUE:
        return 1.0
    if s in _FALSE:
        return 0.0
    raise DataContractError(
        f"{path}, row {row}, column 'match': {value!r} is not a verdict; use 1/0, "
        "yes/no or true/false (blank = not coded)", column="match", file=path,
        example=value)


def read_audit_sheet(path: str | os.PathLike[str]) -> pl.DataFrame:
    """Read a coded sheet; ``match`` becomes 1.0, 0.0 or NaN (not coded).

    Raises
    ------
    DataContractError
        Naming the file, the row (1 = first data row) and the column, when a
        design column is missing or a cell cannot be read.
    """
    p = str(path)
    if not Path(p).is_file():
        raise DataContractError(f"audit sheet {p} does not exist", file=p)
    with open(p, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        header = list(reader.fieldnames or [])
        rows = list(reader)
    return _validated(header, rows, p)


def _validated(header: list[str], rows: list[dict[str, Any]], p: str
               ) -> pl.DataFrame:
    """Check the design columns and parse the verdicts of a sheet's rows."""
    missing = [c for c in SHEET_DESIGN if c not in header]
    if missing:
        raise DataContractError(
            f"{p}: the audit sheet lacks column(s) {missing}; code the sheet "
            "written by --audit-out (its design columns must stay)",
            column=missing[0], file=p)
    out: dict[str, list[Any]] = {c: [] for c in SHEET_DESIGN}
    for i, r in enumerate(rows, start=1):
        for c in ("N_h", "n_h"):
            try:
                v = int(float(r[c]))
            except (TypeError, ValueError):
                raise DataContractError(
                    f"{p}, row {i}, column {c!r}: {r[c]!r} is not a whole number",
                    column=c, file=p, example=r[c]) from None
            if v < 1:
                raise DataContractError(
                    f"{p}, row {i}, column {c!r}: must be at least 1, got {v}",
                    column=c, file=p, example=r[c])
            out[c].append(v)
        if r["stratum"] is None or r["stratum"] == "":
            raise DataContractError(f"{p}, row {i}, column 'stratum' is empty",
                                    column="stratum", file=p)
        out["previous"].append(str(r["previous"]))
        out["new"].append(str(r["new"]))
        out["stratum"].append(r["stratum"])
        out["match"].append(_parse_match(r["match"], p, i))
    df = pl.DataFrame(out, schema={"previous": pl.String, "new": pl.String,
                                   "stratum": pl.String, "N_h": pl.Int64,
                                   "n_h": pl.Int64, "match": pl.Float64})
    bad = df.group_by("stratum").agg(pl.col("N_h").n_unique().alias("k"),
                                     pl.col("n_h").n_unique().alias("j")).filter(
        (pl.col("k") > 1) | (pl.col("j") > 1))
    if bad.height:
        raise DataContractError(
            f"{p}: stratum {bad['stratum'][0]!r} has more than one N_h or n_h; the "
            "design columns were edited", column="N_h", file=p)
    dup = df.select("previous", "new").is_duplicated()
    if dup.any():
        i = int(np.flatnonzero(dup.to_numpy())[0]) + 1
        raise DataContractError(f"{p}, row {i}: pair coded twice", file=p,
                                column="previous")
    return df


def _recall(N: np.ndarray, m: np.ndarray, x: np.ndarray, iL: int, level: float,
            assumptions: tuple[str, ...] = ASSUMPTIONS) -> Estimate:
    """Recall ``A / (A + B)``: ``A`` true accepted links, ``B`` true other pairs.

    ``A`` and ``B`` come from disjoint strata, hence independently; the recall
    rises with ``A`` and falls with ``B``, so intervals for both at level
    ``1 - alpha/2`` give ``[A_lo / (A_lo + B_hi), A_hi / (A_hi + B_lo)]`` with
    coverage at least ``level`` (Bonferroni). Standard error by the delta method.
    """
    rest = np.arange(len(N)) != iL
    inner = 1 - (1 - level) / 2
    a = stratified_total(N[~rest], m[~rest], x[~rest], level=inner)
    if rest.any():
        b = stratified_total(N[rest], m[rest], x[rest], level=inner)
        b_est, b_lo, b_hi, b_se = b.estimate, b.ci[0], b.ci[1], b.std_error
    else:
        b_est = b_lo = b_hi = b_se = 0.0
    method = ("ratio of stratified totals; Bonferroni combination of MOVER-Wilson "
              f"intervals at {inner:.3g} for the accepted links and the other pairs "
              "(conservative), delta-method standard error")
    if a.estimate + b_est <= 0:
        return Estimate.invalid("recall_among_candidates",
                                "the audit found no true link", method=method,
                                level=level, n=int(m.sum()))
    t = a.estimate + b_est
    est = a.estimate / t
    se = float(np.sqrt(b_est**2 * a.std_error**2 + a.estimate**2 * b_se**2) / t**2)
    lo = a.ci[0] / (a.ci[0] + b_hi) if a.ci[0] + b_hi > 0 else 0.0
    hi = a.ci[1] / (a.ci[1] + b_lo) if a.ci[1] + b_lo > 0 else 1.0
    return Estimate(term="recall_among_candidates", estimate=float(est),
                    ci=(float(min(lo, est)), float(max(hi, est))), level=level,
                    std_error=se, method=method, n=int(m.sum()),
                    assumptions=assumptions)


@dataclass(frozen=True)
class LinkAudit:
    """Design-based link quality from a hand-coded stratified sample.

    Attributes
    ----------
    precision
        Share of the accepted links that are true (stratum ``linked``).
    true_links
        Number of true links among all candidate pairs (stratified total).
    recall
        Accepted true links over all true links among candidate pairs.
    strata
        Per stratum: ``stratum, N, n_coded, matches, p_hat, ci_low, ci_high`` and
        ``model_expected`` (the model's mean probability x N, when the result was
        given): where the model's probabilities are too low or too high.
    n_coded, n_uncoded
        Coded and blank rows of the sheet.
    """

    precision: Estimate
    true_links: Estimate
    recall: Estimate
    strata: pl.DataFrame = field(repr=False)
    n_coded: int
    n_uncoded: int
    level: float = 0.95
    warnings: tuple[str, ...] = ()

    def estimates(self) -> list[Estimate]:
        """Return the three estimates."""
        return [self.precision, self.true_links, self.recall]

    def to_polars(self) -> pl.DataFrame:
        """Tidy table ``term, estimate, std_error, ci_low, ci_high, level``."""
        return estimates_to_polars(self.estimates())

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON view."""
        return {
            "link_precision": self.precision.to_dict(),
            "true_links_among_candidates": self.true_links.to_dict(),
            "recall_among_candidates": self.recall.to_dict(),
            "strata": self.strata.to_dicts(),
            "n_coded": self.n_coded,
            "n_uncoded": self.n_uncoded,
            "warnings": list(self.warnings),
        }

    def summary(self) -> str:
        """Text summary."""
        lines = ["Link audit (hand-coded stratified sample of candidate pairs)",
                 f"  coded pairs: {self.n_coded} (blank: {self.n_uncoded})"]
        for e in self.estimates():
            lines.append("  " + e.summary().replace("\n", "\n  "))
        lines.append("  strata (audited share vs the model's expectation):")
        for r in self.strata.iter_rows(named=True):
            exp = r.get("model_expected")
            if not r.get("audited", True):
                lines.append(f"    {r['stratum']}: N {r['N']}, not audited (taken as "
                             f"non-links; model expects {exp:.1f})")
                continue
            exp_s = "" if exp is None else f"; model expects {exp:.1f}"
            lines.append(
                f"    {r['stratum']}: N {r['N']}, coded {r['n_coded']}, true "
                f"{r['matches']} ({r['p_hat']:.3f} [{r['ci_low']:.3f}, "
                f"{r['ci_high']:.3f}]) -> {r['p_hat'] * r['N']:.1f} true pairs"
                f"{exp_s}")
        up = ((self.strata["ci_high"] - self.strata["p_hat"]) * self.strata["N"]
              ).fill_null(0.0)
        if up.len() and float(up.max()) > 0:
            i = int(up.arg_max())
            lines.append(
                f"  the upper end of true_links is widest in stratum "
                f"{self.strata['stratum'][i]!r} (+{float(up[i]):.1f} pairs): code more "
                "pairs there to narrow it and the recall's lower end")
        for w in self.warnings:
            lines.append(f"  warning: {w}")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        return "<pre>" + html.escape(self.summary()) + "</pre>"


def audit_links(sheet: pl.DataFrame | str | os.PathLike[str], *,
                result: Any = None, level: float = 0.95) -> LinkAudit:
    """Estimate link precision and recall from a coded audit sheet.

    Parameters
    ----------
    sheet
        The coded sheet: a path to the CSV, or a frame with ``previous, new,
        stratum, N_h, n_h, match`` (verdicts as in the CSV, or 1/0, blank or
        null = not coded).
    result
        Optional :class:`~measure.resurrection.ResurrectionResult` the sheet was
        drawn from: adds the model's expected number of true pairs per stratum and
        checks that the strata sizes agree. Its pairs are cut at the sheet's own
        bands (read from the stratum names), so a sheet drawn with other ``cuts``
        matches too.
    level
        Confidence level.

    Returns
    -------
    LinkAudit

    Notes
    -----
    With ``x_h`` true pairs among ``m_h`` coded ones in stratum ``h`` of ``N_h``
    pairs: precision = ``x_L / m_L`` (Wilson with finite-population correction);
    true links ``T = sum_h N_h x_h / m_h`` (MOVER-Wilson interval, Cochran's
    standard error); recall ``N_L p_L / T`` (see :func:`_recall`). See the module
    docstring for the assumptions.
    """
    df = _coded_sheet(sheet)
    warnings: list[str] = []
    n_uncoded = int(df["match"].is_nan().sum())
    coded = df.filter(~pl.col("match").is_nan())
    per = df.group_by("stratum").agg(pl.col("N_h").first().alias("N")).join(
        coded.group_by("stratum").agg(pl.len().alias("n_coded"),
                                      pl.col("match").sum().alias("matches")),
        on="stratum", how="left").with_columns(
        pl.col("n_coded").fill_null(0), pl.col("matches").fill_null(0.0))
    per = per.sort(pl.col("stratum").map_elements(_rank, return_dtype=pl.Float64),
                   "stratum")
    empty = per.filter(pl.col("n_coded") == 0)["stratum"].to_list()
    if empty:
        raise EstimationError(
            f"audit strata without a coded pair: {empty}; code at least one pair "
            "in every stratum of the sheet")
    if LINKED not in per["stratum"].to_list():
        raise EstimationError(
            "the audit sheet has no 'linked' stratum: precision of the accepted "
            "links cannot be estimated")
    if n_uncoded:
        warnings.append(f"{n_uncoded} sampled pair(s) left blank: treated as "
                        "missing at random within their stratum")
    N = per["N"].to_numpy().astype(float)
    m = per["n_coded"].to_numpy().astype(float)
    x = per["matches"].to_numpy().astype(float)
    lo, hi = wilson_interval(x, m, N=N, level=level)
    names = per["stratum"].to_list()
    iL = names.index(LINKED)
    strata = per.with_columns(
        pl.Series("p_hat", x / m), pl.Series("ci_low", lo), pl.Series("ci_high", hi))
    assumptions = ASSUMPTIONS
    strata = strata.with_columns(pl.lit(True).alias("audited"))
    if result is not None:
        # the result's pairs cut at the sheet's own bands
        st = strata_of(result.pairs, result.links, _cuts_of(names))
        model = st.group_by("stratum").agg(
            pl.len().alias("_N_now"), pl.col("probability").sum().alias(
                "model_expected"))
        strata = strata.join(model, on="stratum", how="left")
        off = strata.filter(pl.col("_N_now").is_null()
                            | (pl.col("_N_now") != pl.col("N")))
        if off.height:
            name, n_now = off["stratum"][0], off["_N_now"][0]
            warnings.append(
                f"stratum {name!r} of the sheet is not a band of the result given: "
                "the sheet was drawn from another run" if n_now is None else
                f"stratum sizes differ from the result given (e.g. {name!r}: "
                f"sheet {off['N'][0]}, result {n_now}): the sheet was drawn from "
                "another run")
        strata = strata.drop("_N_now")
        rest = model.join(strata.select("stratum"), on="stratum", how="anti")
        if rest.height:
            strata = pl.concat([strata, rest.select(
                "stratum", pl.col("_N_now").cast(strata["N"].dtype).alias("N"),
                pl.lit(0, dtype=strata["n_coded"].dtype).alias("n_coded"),
                pl.lit(None, dtype=pl.Float64).alias("matches"),
                pl.lit(None, dtype=pl.Float64).alias("p_hat"),
                pl.lit(None, dtype=pl.Float64).alias("ci_low"),
                pl.lit(None, dtype=pl.Float64).alias("ci_high"),
                "model_expected", pl.lit(False).alias("audited")).select(
                strata.columns)], how="vertical_relaxed")
            assumptions = ASSUMPTIONS + (
                "pairs of strata not audited are taken as non-links: "
                + "; ".join(f"{r['stratum']}: {r['_N_now']} pairs, the model expects "
                            f"{r['model_expected']:.1f} true links"
                            for r in rest.iter_rows(named=True)),)
    else:
        assumptions = ASSUMPTIONS + (
            "pairs of strata not in the sheet are taken as non-links",)
    method_p = "stratified audit sample, Wilson score interval with FPC"
    p_link = x[iL] / m[iL]
    precision = Estimate(
        term="link_precision", estimate=float(p_link),
        ci=(float(lo[iL]), float(hi[iL])), level=level,
        std_error=float(np.sqrt(stratified_variance([N[iL]], [m[iL]], [p_link]))
                        / N[iL]),
        method=method_p, n=int(m[iL]), assumptions=assumptions)
    tot = stratified_total(N, m, x, level=level)
    true_links = Estimate(
        term="true_links_among_candidates", estimate=tot.estimate, ci=tot.ci,
        level=level, std_error=tot.std_error,
        method="stratified total (Cochran), MOVER-Wilson interval",
        n=int(m.sum()), assumptions=assumptions)
    recall = _recall(N, m, x, iL, level, assumptions)
    return LinkAudit(precision=precision, true_links=true_links, recall=recall,
                     strata=strata, n_coded=int(m.sum()), n_uncoded=n_uncoded,
                     level=level, warnings=tuple(warnings))


#: Ridge on the recalibration slope (keeps a separated bootstrap sample finite).
RECAL_RIDGE = 1e-3
#: Probabilities are clipped to this distance from 0 and 1 before the logit.
_P_EPS = 1e-12


def _logit(p: np.ndarray) -> np.ndarray:
    q = np.clip(p, _P_EPS, 1 - _P_EPS)
    return np.log(q) - np.log1p(-q)


@dataclass(frozen=True)
class Recalibration:
    """Logistic recalibration of link probabilities from a coded audit sample.

    ``logit p' = a + b logit p`` (Cox 1958; Platt scaling), fitted by
    design-weighted logistic regression of the coder's verdicts on the model's
    logit probability (weights ``N_h / m_h``). :meth:`draw` refits it on a
    stratified bootstrap of the audit (the parameter uncertainty of each
    imputation, Rubin's "proper" imputation) and returns recalibrated
    probabilities for every pair, capped so that each suspended account's
    candidates sum to at most 1.

    Attributes
    ----------
    a, b
        Fit on the whole audit sample.
    n_coded
        Coded pairs used.
    """

    a: float
    b: float
    n_coded: int
    logit_sample: np.ndarray = field(repr=False)
    y: np.ndarray = field(repr=False)
    weight: np.ndarray = field(repr=False)
    stratum: np.ndarray = field(repr=False)

    @staticmethod
    def _fit(x: np.ndarray, y: np.ndarray, w: np.ndarray) -> tuple[float, float]:
        from measure.resurrection._fellegi_sunter import _ridge_logit

        beta = _ridge_logit(np.column_stack([np.ones_like(x), x]), y, w,
                            ridge=RECAL_RIDGE)
        return float(beta[0]), float(beta[1])

    def apply(self, probability: np.ndarray, previous: np.ndarray,
              a: float | None = None, b: float | None = None) -> np.ndarray:
        """Recalibrated probabilities (row sums per ``previous`` capped at 1).

        ``previous`` holds non-negative integer codes of the suspended accounts
        (their row numbers, as in ``analyze``).
        """
        a = self.a if a is None else a
        b = self.b if b is None else b
        q = 1.0 / (1.0 + np.exp(-(a + b * _logit(probability))))
        tot = np.bincount(previous, weights=q)
        return q / np.maximum(tot[previous], 1.0)

    def draw(self, rng: np.random.Generator, probability: np.ndarray,
             previous: np.ndarray) -> np.ndarray:
        """Probabilities under a recalibration refitted on a bootstrap of the audit."""
        idx = []
        for h in np.unique(self.stratum):
            rows = np.flatnonzero(self.stratum == h)
            idx.append(rng.choice(rows, size=rows.size, replace=True))
        i = np.concatenate(idx)
        a, b = self._fit(self.logit_sample[i], self.y[i], self.weight[i])
        return self.apply(probability, previous, a, b)


def recalibration(sheet: pl.DataFrame | str | os.PathLike[str],
                  pairs: pl.DataFrame) -> Recalibration:
    """Fit the logistic recalibration of ``pairs.probability`` on a coded sheet.

    Parameters
    ----------
    sheet
        Coded audit sheet (path or frame, as for :func:`audit_links`).
    pairs
        The scored candidate pairs the sheet was drawn from (``previous, new,
        probability``).

    Raises
    ------
    EstimationError
        When fewer than 10 coded pairs match the candidate pairs, or the coded
        pairs are all true or all false.
    """
    coded = _coded_sheet(sheet).filter(~pl.col("match").is_nan())
    m_h = coded.group_by("stratum").agg(pl.len().alias("m_h"))
    coded = coded.join(m_h, on="stratum").with_columns(
        (pl.col("N_h") / pl.col("m_h")).alias("w"))
    key = pairs.select(pl.col("previous").cast(pl.String),
                       pl.col("new").cast(pl.String), "probability")
    j = coded.join(key, on=["previous", "new"], how="inner")
    if j.height < 10:
        raise EstimationError(
            f"only {j.height} coded audit pair(s) are among the candidate pairs of "
            "this analysis (at least 10 needed); was the sheet drawn from another "
            "run or dataset?")
    y = j["match"].to_numpy()
    if y.min() == y.max():
        raise EstimationError(
            "the coded audit pairs are all true or all false links: the "
            "probabilities cannot be recalibrated from them")
    x = _logit(j["probability"].to_numpy())
    w = j["w"].to_numpy().astype(np.float64)
    a, b = Recalibration._fit(x, y, w)
    return Recalibration(a=a, b=b, n_coded=j.height, logit_sample=x, y=y, weight=w,
                         stratum=j["stratum"].to_numpy())


__all__ = ["AUDIT_CUTS", "AUDIT_FLOOR", "LinkAudit", "Recalibration", "audit_links",
           "draw_audit", "read_audit_sheet", "recalibration", "strata_of",
           "write_audit_sheet"]
