"""Fuzzing every ingest format with mutated fixture records (Hypothesis).

For each format, Hypothesis writes raw files of mutated fixture records (see
``tests/ingest/_fuzz.py`` for the mutations) and reads them with the format's
reader. The invariant, for every example: no exception but a clear
:class:`~measure.errors.IngestError` naming the file; rows read = written +
quarantined + collapsed; every quarantined record and every field note names
its file, line, column and reason; the tables keep the contract's required
columns filled, its times in range and counts non-negative.

TOML mappings of the ``table`` format are fuzzed too: a mutated mapping is either
accepted or refused with an :class:`~measure.errors.IngestError` naming it.

The default run draws a bounded number of examples per format (about 4 s each);
the ``slow`` run draws 10,000 per format and prints a tally per format.
Hypothesis runs derandomized (the same examples on every run) and keeps no
example database, so it writes nothing into the repository.
"""

from __future__ import annotations

import time

import pytest
from hypothesis import HealthCheck, given, settings

from measure.errors import IngestError
from measure.ingest._table import Mapping

from ._fuzz import FORMATS, TALLIES, Tally, mapping_data, run_example

#: Examples per format in the default run (about 5 s per format on the CI
#: machine) and in the slow run.
DEFAULT_EXAMPLES = 100
SLOW_EXAMPLES = 10_000


def _settings(n: int) -> settings:
    return settings(max_examples=n, derandomize=True, database=None, deadline=None,
                    print_blob=False, suppress_health_check=list(HealthCheck))


def _fuzz(fmt: str, n: int) -> Tally:
    spec = FORMATS[fmt]
    TALLIES.pop(fmt, None)

    @_settings(n)
    @given(spec.content)
    def run(content: bytes) -> None:
        run_example(spec, content)

    run()
    return TALLIES[fmt]


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_mutated_records_never_crash_and_every_row_is_accounted_for(fmt):
    tally = _fuzz(fmt, DEFAULT_EXAMPLES)
    assert tally.examples == DEFAULT_EXAMPLES
    assert tally.unaccounted == 0
    # the mutations reach the readers: records are read, kept, quarantined and
    # kept with a field nulled (a field note)
    assert tally.read > tally.examples
    assert tally.written > 0 and tally.quarantined > 0 and tally.notes > 0


def _check_mapping(data: dict) -> bool:
    """Build a mapping: it is either accepted or refused with a clear IngestError."""
    try:
        m = Mapping(data, "fuzz.toml")
    except IngestError as e:
        assert str(e).startswith("mapping file 'fuzz.toml': "), str(e)
        return False
    assert m.tables
    return True


def test_mutated_mappings_are_accepted_or_refused_with_a_clear_error():
    results: list[bool] = []

    @_settings(300)
    @given(mapping_data())
    def run(data: dict) -> None:
        results.append(_check_mapping(data))

    run()
    assert len(results) == 300 and any(results) and not all(results)


@pytest.mark.slow
@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_ten_thousand_mutated_files_per_format_never_crash(fmt):
    t = time.perf_counter()
    tally = _fuzz(fmt, SLOW_EXAMPLES)
    print(f"\n{tally.line(fmt)}; {time.perf_counter() - t:.0f} s; reasons "
          f"{dict(sorted(tally.reasons.items()))}")
    assert tally.examples == SLOW_EXAMPLES
    assert tally.unaccounted == 0
    assert tally.written > 0 and tally.quarantined > 0 and tally.notes > 0


@pytest.mark.slow
def test_ten_thousand_mutated_mappings_are_accepted_or_refused_clearly():
    results: list[bool] = []

    @_settings(SLOW_EXAMPLES)
    @given(mapping_data())
    def run(data: dict) -> None:
        results.append(_check_mapping(data))

    t = time.perf_counter()
    run()
    print(f"\nmappings: {len(results)} examples, 0 crashes, {sum(results)} accepted, "
          f"{len(results) - sum(results)} refused with IngestError; "
          f"{time.perf_counter() - t:.0f} s")
    assert len(results) == SLOW_EXAMPLES and any(results) and not all(results)
