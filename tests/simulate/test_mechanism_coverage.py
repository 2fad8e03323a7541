"""Every stress mechanism has a test that switches it on and shows its effect.

``MECHANISM_TESTS`` names, for each field of ``measure.simulate._config.mechanisms()``,
the test functions in ``tests/simulate/test_mechanisms_*.py`` that exercise it. A new
mechanism fails here until a test for it is written and listed; a renamed or deleted
test fails here until the list follows it.
"""

from __future__ import annotations

import ast
from pathlib import Path

from measure.simulate._config import mechanisms

HERE = Path(__file__).resolve().parent

#: Mechanism (``section.field``) -> the test functions that exercise it.
MECHANISM_TESTS: dict[str, tuple[str, ...]] = {
    # latent world: test_mechanisms_world.py
    "suspension.frailty_actor_share": (
        "test_actor_frailty_correlates_the_lifetimes_of_one_actors_accounts",
        "test_returns_inherit_the_frailty_that_got_their_predecessor_suspended",
        "test_mixed_frailty_has_mean_one_over_actors",
    ),
    "suspension.early_spike": (
        "test_early_spike_follows_the_competing_hazard_formula",
        "test_early_spike_keeps_new_accounts_out_of_the_data",
    ),
    "suspension.sweep_dates": (
        "test_sweep_multiplies_the_hazard_inside_its_window",
        "test_sweep_shows_as_a_burst_of_suspended_lookups",
    ),
    "suspension.sweep_days": (
        "test_sweep_multiplies_the_hazard_inside_its_window",
        "test_longer_and_stronger_sweeps_leave_bigger_bursts",
    ),
    "suspension.sweep_multiplier": (
        "test_sweep_multiplies_the_hazard_inside_its_window",
        "test_longer_and_stronger_sweeps_leave_bigger_bursts",
    ),
    "suspension.p_delete_before_suspension": (
        "test_anticipating_deletions_end_accounts_shortly_before_their_suspension",
    ),
    "suspension.anticipation_days": (
        "test_anticipating_deletions_end_accounts_shortly_before_their_suspension",
        "test_anticipation_days_sets_how_early_an_account_goes",
    ),
    "resurrection.p_backup": (
        "test_backup_successors_live_alongside_their_predecessor",
    ),
    "resurrection.backup_lead_days": (
        "test_backup_successors_live_alongside_their_predecessor",
        "test_backup_lead_days_bounds_how_early_the_data_show_a_backup",
    ),
    "resurrection.evasion_sd": (
        "test_evasion_correlates_attribute_reuse_across_successors",
        "test_evasion_reuse_correlation_matches_the_model",
    ),
    # identities and look-ups: test_mechanisms_observe.py
    "resurrection.p_rename": ("test_renamed_accounts_switch_handles_once",),
    "resurrection.background_return_share": (
        "test_returning_spam_accounts_keep_handle_stem_and_avatar",
    ),
    "resurrection.sparse_profile_share": (
        "test_sparse_profiles_have_no_text_and_no_follower_lists",
    ),
    "resurrection.default_handle_share": (
        "test_default_handles_share_first_name_stems",
    ),
    "observation.discover_prominence_slope": (
        "test_discovery_slope_finds_prominent_supporters_first",
    ),
    "observation.lookup_skip_share": ("test_skipped_lookups_thin_the_weekly_schedule",),
    "observation.lookup_jitter_days": ("test_jittered_lookups_leave_the_weekly_grid",),
    "observation.lookup_informative": (
        "test_informative_lookups_check_prominent_accounts_more",
    ),
    # hand coding: test_mechanisms_coding.py
    "coding.coder_b_error_ratio": (
        "test_coder_b_errs_ratio_times_as_often_as_coder_a",
    ),
    "coding.stratum_error_ratio": (
        "test_coder_error_differs_by_stratum_as_configured",
    ),
    "coding.coder_correlation": (
        "test_correlated_coders_agree_more_often_on_wrong_labels",
    ),
    "coding.gold_share": (
        "test_gold_labels_equal_the_truth_on_a_share_of_coded_accounts",
    ),
    # capture-recapture lists: test_mechanisms_capture.py
    "capture.mixture_share": ("test_mixture_adds_singletons_and_hides_the_hard_class",),
    "capture.mixture_shift": (
        "test_mixture_adds_singletons_and_hides_the_hard_class",
        "test_mixture_shift_alone_changes_nothing",
    ),
    "capture.catch_tail_df": (
        "test_heavy_tailed_catchability_fills_both_ends_of_the_histogram",
    ),
    "capture.catch_activity_slope": ("test_activity_slope_favours_active_accounts",),
    "capture.dependence_positive": (
        "test_positive_dependence_raises_the_odds_ratio_of_lists_1_and_2",
    ),
    "capture.dependence_negative": (
        "test_negative_dependence_lowers_the_odds_ratio_of_the_last_pair",
        "test_negative_dependence_needs_three_lists",
    ),
    "capture.list_window_days": ("test_list_windows_open_the_population",),
    "capture.false_detection_share": (
        "test_false_detections_are_non_supporters_on_singleton_patterns",
    ),
}


def _module_sources(path: Path) -> tuple[dict[str, str], dict[str, set[str]]]:
    """Source text and referenced names of each top-level definition of a module.

    Returns
    -------
    tuple of dict
        ``name -> source`` (functions with their decorators, classes, assigned
        constants) and ``name -> names it references``.
    """
    text = path.read_text()
    tree = ast.parse(text, filename=str(path))
    lines = text.splitlines()
    src: dict[str, str] = {}
    refs: dict[str, set[str]] = {}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names = [node.name]
        elif isinstance(node, ast.Assign):
            names = [t.id for t in node.targets if isinstance(t, ast.Name)]
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names = [node.target.id]
        else:
            continue
        first = min(
            [node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])]
        )
        body = "\n".join(lines[first - 1 : node.end_lineno])
        used = {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}
        for name in names:
            src[name], refs[name] = body, used
    return src, refs


def _test_sources() -> dict[str, tuple[str, str]]:
    """Each test function of the mechanism test files: ``name -> (file, source)``.

    The source includes that of every module-level helper or constant the test
    reaches through the names it uses (followed transitively), so a mechanism set
    through a helper such as a shared ``ALL_ON`` dict counts as exercised.
    """
    out: dict[str, tuple[str, str]] = {}
    files = sorted(HERE.glob("test_mechanisms_*.py"))
    assert files, HERE
    for path in files:
        src, refs = _module_sources(path)
        for name in src:
            if not name.startswith("test_"):
                continue
            assert name not in out, f"{name} is defined in {out[name][0]} and {path}"
            seen, todo = {name}, [name]
            while todo:
                for ref in refs[todo.pop()]:
                    if ref in src and ref not in seen:
                        seen.add(ref)
                        todo.append(ref)
            out[name] = (path.name, "\n".join(src[n] for n in sorted(seen)))
    return out


def test_every_mechanism_is_mapped_to_its_tests() -> None:
    assert set(MECHANISM_TESTS) == set(mechanisms()), (
        f"without tests: {sorted(set(mechanisms()) - set(MECHANISM_TESTS))}; "
        f"not mechanisms: {sorted(set(MECHANISM_TESTS) - set(mechanisms()))}"
    )
    for name, tests in MECHANISM_TESTS.items():
        assert tests, name
        assert len(set(tests)) == len(tests), name


def test_every_listed_test_exists_and_sets_its_mechanism() -> None:
    found = _test_sources()
    for name, tests in MECHANISM_TESTS.items():
        field = name.split(".", 1)[1]
        for test in tests:
            assert test in found, f"{name}: no test function {test}"
            file, source = found[test]
            assert field in source, f"{name}: {file}::{test} never sets {field}"
