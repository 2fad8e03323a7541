"""Score linker output against the simulator's truth *as the data can show it*.

The truth comes from the simulator itself (``measure.simulate.Truth``):
:meth:`~measure.simulate.Truth.observable_links` (each supporter account seen
suspended and its actor's next account in the data; the new account may skip an
incarnation the collection never found, ``skipped > 0``) and
:meth:`~measure.simulate.Truth.rate_in_data` (the observable d-day rate over every
account seen suspended). See ``docs/resurrection.md``.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from measure.simulate import load_truth

WINDOW_DAYS = 60.0  # the linker's default search window


def true_links(path: str | Path, window: float = WINDOW_DAYS) -> pl.DataFrame:
    """Observable links as ``previous, new, created_new, linkable, skipped``."""
    return load_truth(path).observable_links(window).select(
        pl.col("previous_id").alias("previous"), pl.col("new_id").alias("new"),
        pl.col("new_created_at").alias("created_new"), "linkable", "skipped")


def precision_recall(links: pl.DataFrame, truth: pl.DataFrame) -> tuple[float, float]:
    """Link precision (against every observable link) and recall over linkable ones.

    ``truth`` as from :func:`true_links`; ``links`` has ``previous, new``.
    """
    key = ["previous", "new"]
    tp = links.join(truth, on=key).height
    lk = truth.filter(pl.col("linkable"))
    found = lk.join(links, on=key).height
    prec = tp / links.height if links.height else float("nan")
    rec = found / lk.height if lk.height else float("nan")
    return prec, rec


__all__ = ["WINDOW_DAYS", "precision_recall", "true_links"]
