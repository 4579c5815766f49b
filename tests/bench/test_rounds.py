"""bench/rounds.py: interleaved rounds."""

from __future__ import annotations

import pytest

from bench.rounds import interleaved, paired_figures, paired_text, quartiles


def test_rounds_visit_every_setting_once_each_with_the_first_rotating() -> None:
    rounds = list(interleaved(("a", "b", "c"), 3))
    assert [setting for _, setting in rounds] == ["a", "b", "c", "b", "c", "a", "c", "a", "b"]
    assert [round_ for round_, _ in rounds] == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    assert list(interleaved(("a", "b"), 0)) == []


def test_quartiles_are_inclusive_and_one_value_is_both() -> None:
    assert quartiles([1.08, 1.1, 1.1, 1.2]) == pytest.approx((1.095, 1.125))
    assert quartiles([3.0]) == (3.0, 3.0)


def test_paired_figures_are_the_median_and_quartiles_of_the_ratios_with_their_text() -> None:
    figures = paired_figures("full_cpu_ratio", [1.1, 1.08, 1.2, 1.1])
    assert figures == {
        "full_cpu_ratio_paired": 1.1,
        "full_cpu_ratio_q1": 1.095,
        "full_cpu_ratio_q3": 1.125,
    }
    assert paired_text(figures, "full_cpu_ratio") == "1.100 (1.095-1.125)"
