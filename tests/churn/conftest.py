"""Hand-built status panels with known suspension-time distributions.

``make_panel`` writes a dataset on the data contract (``accounts`` and
``observations``) in which every account has an exponential latent suspension time
(mean ``mean_susp`` days) and an independent exponential latent deletion time;
accounts are created before and during the collection, found with a delay, and
looked up every ``look_every`` days until the end. So the true survival of the
latent suspension time is ``exp(-t / mean_susp)`` and left truncation is real
(accounts created before the collection started enter the panel late).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from measure import DatasetWriter

T0 = datetime(2014, 9, 1, tzinfo=UTC)


def make_panel(path: Path, *, n: int = 2000, seed: int = 0, mean_susp: float = 60.0,
               mean_del: float = 400.0, look_every: float = 7.0,
               study_days: float = 200.0, created_before: float = 150.0,
               find_delay: float = 5.0, reinstated: int = 0,
               shape: float = 1.0) -> Path:
    """Write a synthetic panel to ``path`` and return it (see module docstring).

    ``shape != 1`` draws Weibull suspension times instead, ``S(t) = exp(-(t /
    mean_susp) ** shape)`` (``mean_susp`` is then the scale): ``shape < 1`` is a
    hazard that falls with age, steepest in the first days.
    """
    rng = np.random.default_rng(seed)
    created = rng.uniform(-created_before, study_days * 0.8, n)  # days since T0
    ts = (rng.exponential(mean_susp, n) if shape == 1.0
          else mean_susp * rng.weibull(shape, n))
    td = rng.exponential(mean_del, n)
    found = np.maximum(created, 0.0) + rng.exponential(find_delay, n)
    lang = rng.choice(["ar", "en", "fr"], n, p=[0.6, 0.3, 0.1])
    rows_id, rows_t, rows_s, rows_f = [], [], [], []
    first_seen = []
    for i in range(n):
        t = found[i]
        first_seen.append(t)
        while t <= study_days:
            age = t - created[i]
            if age < min(ts[i], td[i]):
                st = "active"
            elif ts[i] <= td[i]:
                st = "suspended"
            else:
                st = "not_found"
            rows_id.append(i + 1)
            rows_t.append(t)
            rows_s.append(st)
            rows_f.append(int(rng.poisson(100)) if st == "active" else None)
            if st != "active" and rng.uniform() < 0.5:
                break  # collections often stop looking after a terminal status
            t += look_every
    ids = np.asarray(rows_id)
    status = np.asarray(rows_s, dtype=object)
    if reinstated:
        # make a few suspended accounts come back active at their next look-up
        susp_ids = np.unique(ids[status == "suspended"])[:reinstated]
        for a in susp_ids:
            idx = np.flatnonzero((ids == a) & (status == "suspended"))
            if idx.size > 1:
                status[idx[1]] = "active"
    base = T0

    def ts_col(days: np.ndarray) -> pl.Series:
        return pl.Series([base + timedelta(days=float(d)) for d in days],
                         dtype=pl.Datetime("us", "UTC"))

    accounts = pl.DataFrame({
        "account_id": np.arange(1, n + 1, dtype=np.int64),
        "screen_name": [f"user{i}" for i in range(1, n + 1)],
        "created_at": ts_col(created),
        "first_seen": ts_col(np.asarray(first_seen)),
        "lang": lang,
    })
    obs = pl.DataFrame({
        "account_id": ids.astype(np.int64),
        "observed_at": ts_col(np.asarray(rows_t)),
        "status": status.tolist(),
        "followers_count": pl.Series(rows_f, dtype=pl.Int64),
    })
    with DatasetWriter(path, name=path.name, command="tests/churn make_panel",
                       overwrite=True) as w:
        w.write_table("accounts", accounts)
        w.write_table("observations", obs)
    return path


@pytest.fixture(scope="session")
def panel_factory(tmp_path_factory: pytest.TempPathFactory):
    """``panel_factory(**kwargs) -> path`` (cached per arguments)."""
    cache: dict[tuple, Path] = {}

    def make(**kwargs: object) -> Path:
        key = tuple(sorted(kwargs.items()))
        if key not in cache:
            p = tmp_path_factory.mktemp("panel") / "panel"
            cache[key] = make_panel(p, **kwargs)  # type: ignore[arg-type]
        return cache[key]

    return make
