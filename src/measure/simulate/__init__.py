"""A world simulator with ground truth: every estimator's yardstick.

``simulate(config, seed, out)`` writes a dataset on the data contract plus
``truth.json`` and ``truth/`` tables; ``load_truth(path)`` reads the truth back.
The model and the studies motivating each assumption: ``docs/simulation.md``.

Examples
--------
>>> from measure.simulate import SimConfig, simulate, load_truth
>>> path = simulate("small", seed=1, out="/tmp/world")  # doctest: +SKIP
>>> load_truth(path).alive_at_census  # doctest: +SKIP
"""

from measure.simulate._config import PRESETS, SimConfig, load_overrides
from measure.simulate._simulate import simulate
from measure.simulate._truth import Truth, load_truth

__all__ = ["PRESETS", "SimConfig", "Truth", "load_overrides", "load_truth", "simulate"]
