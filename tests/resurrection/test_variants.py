"""The harder world variants of the linker's calibration tests do what they say."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tests.resurrection._variants import VARIANTS, stem_collisions

# the stem-collision variant must at least multiply by this the unrelated
# same-stem accounts created in the suspended accounts' successor windows
# (per suspended account, and the share meeting five or more)
MIN_COLLISION_RATIO = 1.5
# share of suspended accounts whose stem 100 or more other accounts hold (the
# handle's top term-frequency stratum): the adjustment's strata all in use
MIN_TOP_STRATUM = 0.25


def test_stem_collision_variant_meets_many_unrelated_stems_in_the_windows(
        small_world_factory: Callable[..., Path]) -> None:
    base = stem_collisions(small_world_factory(1))
    var = stem_collisions(small_world_factory(1, **VARIANTS["stem_collisions"]))
    print(f"\nunrelated same-stem accounts in the window per suspended account: "
          f"default {base.per_suspended:.2f}, variant {var.per_suspended:.2f}; "
          f"share with >= 1 {base.share:.3f} / {var.share:.3f}, with >= 5 "
          f"{base.share_5:.3f} / {var.share_5:.3f}; top TF stratum "
          f"{base.top_stratum:.3f} / {var.top_stratum:.3f}")
    assert var.n_suspended > 300 and base.n_suspended > 300
    assert var.per_suspended >= MIN_COLLISION_RATIO * base.per_suspended
    assert var.share_5 >= MIN_COLLISION_RATIO * base.share_5
    assert var.share > base.share
    assert var.top_stratum >= MIN_TOP_STRATUM
