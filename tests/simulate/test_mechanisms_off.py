"""With every stress mechanism off, each preset writes its pinned world.

A world whose mechanisms all hold their *off* value must reproduce the digests below
byte for byte (same files, same ``truth.json``), so results pinned to these worlds
stay reproducible whatever mechanisms the simulator gains.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from measure.simulate import SimConfig, simulate

#: (preset, seed, scale) -> dataset digest of the world without stress mechanisms.
DIGESTS = {
    ("small", 1, 1.0): (
        "0093c8ec8593a22309de7d31656e059985404d288bf85c2902e35ab472d66366"
    ),
    ("small", 2, 1.0): (
        "5dce9754f0911c2eadc2a301d1dab72ca2536ed425c37cd83e2728b636e433da"
    ),
    ("demo", 20141101, 1.0): (
        "72362e4dae4847103ebbbe285cf89fc37b3f10431d6283c049d6b5fc5dfa7725"
    ),
    ("large", 1, 0.0005): (
        "f6d7b7be4a286f92618970edff0105ec858eb02f67059018b33eda46200e2194"
    ),
}


def _digest(path: Path) -> str:
    return json.loads((path / "manifest.json").read_text())["digest"]


@pytest.mark.parametrize(("preset", "seed", "scale"), sorted(DIGESTS))
def test_preset_digest_unchanged_with_mechanisms_off(
    preset: str, seed: int, scale: float, tmp_path: Path
) -> None:
    cfg = SimConfig.preset(preset, scale=scale)
    assert cfg.mechanisms_on() == {}
    path = simulate(cfg, seed, tmp_path / "w")
    assert _digest(path) == DIGESTS[(preset, seed, scale)]
    assert "stress" not in json.loads((path / "truth.json").read_text())


def test_every_mechanism_is_documented_with_its_range() -> None:
    from measure.simulate._config import mechanism_table, mechanisms

    doc = (Path(__file__).resolve().parents[2] / "docs" / "simulation.md").read_text()
    start, end = "<!-- mechanisms:start -->\n", "\n<!-- mechanisms:end -->"
    assert start in doc and end in doc
    table = doc[doc.index(start) + len(start) : doc.index(end)]
    assert table == mechanism_table()
    for name, f in mechanisms().items():
        assert f.metadata["doc"].strip(), name
        r = f.metadata["stress"]
        assert isinstance(r, str) or len(r) in (2, 3), name
        assert f"`{name}`" in table


def test_stress_draws_stay_inside_their_documented_ranges() -> None:
    from measure.simulate._config import mechanisms

    for seed in range(20):
        on = SimConfig.preset("stress", seed=seed).mechanisms_on()
        for name, f in mechanisms().items():
            r = f.metadata["stress"]
            v = on.get(name, f.default)
            if isinstance(r, str):
                # sweep dates: 0-3 ISO dates between the census and the window end
                assert name == "suspension.sweep_dates"
                assert len(v) <= 3 and list(v) == sorted(v)
                assert all("2014-11-01" <= x < "2015-03-01" for x in v), v
                continue
            lo, hi = r[-2], r[-1]
            assert v == f.default or lo <= v <= hi, (seed, name, v)


def test_stress_world_of_demo_size_passes_the_contract(tmp_path: Path) -> None:
    import measure

    cfg = SimConfig.preset("stress", seed=1)
    assert cfg.population == SimConfig.preset("demo").population
    path = simulate(cfg, 1, tmp_path / "w")
    with measure.open(path, validate="full") as ds:
        assert ds.sql("SELECT count(*) AS n FROM accounts")["n"][0] > 0
    truth = json.loads((path / "truth.json").read_text())
    assert set(truth["stress"]) == {"version", "mechanisms", "capture", "coding",
                                    "observe", "world"}
    from measure.simulate._config import STRESS_VERSION

    assert truth["stress"]["version"] == STRESS_VERSION
