"""Tests of the speculative-decoding experiment: the closed forms, their limits, and the simulation."""

import numpy as np
import pytest

from experiments import speculative_decoding
from experiments.speculative_decoding import (
    QUICK,
    Params,
    expected_tokens,
    simulate_tokens,
    walltime_speedup,
)

MAX_STANDARD_ERRORS = 4  # a point further than this from the closed form fails


# -----------------------------------------------------------------------------
# Closed form


def test_expected_tokens_hand_values():
    assert expected_tokens(0.5, 1) == pytest.approx(1.5)
    assert expected_tokens(0.8, 3) == pytest.approx(1 + 0.8 + 0.64 + 0.512)


def test_expected_tokens_is_geometric_sum():
    for alpha in (0.1, 0.5, 0.9, 0.99):
        for gamma in range(10):
            assert expected_tokens(alpha, gamma) == pytest.approx(sum(alpha**i for i in range(gamma + 1)))


def test_alpha_zero_gives_one_token():
    for gamma in range(10):
        assert expected_tokens(0.0, gamma) == 1.0


def test_gamma_zero_gives_one_token():
    for alpha in (0.0, 0.3, 0.9, 1.0):
        assert expected_tokens(alpha, 0) == 1.0


def test_alpha_one_gives_gamma_plus_one():
    for gamma in range(10):
        assert expected_tokens(1.0, gamma) == gamma + 1


def test_limit_alpha_to_one_is_gamma_plus_one():
    for gamma in range(1, 10):
        assert expected_tokens(1 - 1e-9, gamma) == pytest.approx(gamma + 1, rel=1e-6)


def test_speedup_hand_value():
    # 2.952 tokens per iteration that costs 3 * 0.05 + 1 = 1.15 target steps.
    assert walltime_speedup(0.8, 3, 0.05) == pytest.approx(2.952 / 1.15)


def test_speedup_free_draft_equals_tokens():
    assert walltime_speedup(0.7, 5, 0.0) == pytest.approx(expected_tokens(0.7, 5))


def test_speedup_below_one_when_nothing_accepted():
    assert walltime_speedup(0.0, 4, 0.05) == pytest.approx(1 / 1.2)


# -----------------------------------------------------------------------------
# Simulation


def test_simulation_alpha_zero_yields_one():
    tokens = simulate_tokens(0.0, 5, 100, np.random.default_rng(0))
    assert tokens.tolist() == [1] * 100


def test_simulation_alpha_one_yields_gamma_plus_one():
    tokens = simulate_tokens(1.0, 5, 100, np.random.default_rng(0))
    assert tokens.tolist() == [6] * 100


def test_simulation_gamma_zero_yields_one():
    tokens = simulate_tokens(0.7, 0, 100, np.random.default_rng(0))
    assert tokens.tolist() == [1] * 100


def test_simulation_stops_at_first_rejection():
    class FixedDraws:
        """Draws that accept draft 1, reject draft 2 and would accept draft 3 at alpha 0.5."""

        def random(self, shape):
            return np.broadcast_to(np.array([0.1, 0.9, 0.1]), shape)

    tokens = simulate_tokens(0.5, 3, 4, FixedDraws())
    # One accepted draft plus the target's token. The accepted third draft does not count.
    assert tokens.tolist() == [2, 2, 2, 2]


def test_simulation_stays_within_bounds():
    tokens = simulate_tokens(0.6, 4, 5000, np.random.default_rng(1))
    assert tokens.min() >= 1
    assert tokens.max() <= 5


# -----------------------------------------------------------------------------
# Params


def test_params_reject_alpha_above_one():
    with pytest.raises(ValueError, match="alphas"):
        Params(alphas=(0.5, 1.5))


def test_params_reject_negative_gamma():
    with pytest.raises(ValueError, match="gammas"):
        Params(gammas=(-1, 2))


def test_params_reject_negative_cost_ratio():
    with pytest.raises(ValueError, match="cost_ratio"):
        Params(cost_ratio=-0.1)


def test_params_reject_single_trial():
    with pytest.raises(ValueError, match="trials"):
        Params(trials=1)


# -----------------------------------------------------------------------------
# The run


@pytest.fixture(scope="module")
def quick_output():
    return speculative_decoding.run(QUICK)


@pytest.fixture(scope="module")
def full_output():
    return speculative_decoding.run(Params())


def within_sampling_error(output):
    """Return the (alpha, gamma, gap in standard errors) points further than MAX_STANDARD_ERRORS."""
    outliers = []
    rows = zip(output["alphas"], output["expected_tokens"], output["simulated_tokens"], output["simulated_standard_error"])
    for alpha, expected_row, simulated_row, error_row in rows:
        for gamma, expected, simulated, error in zip(output["gammas"], expected_row, simulated_row, error_row):
            gap = abs(simulated - expected)
            if gap > MAX_STANDARD_ERRORS * error + 1e-9:
                outliers.append((alpha, gamma, gap / error if error else float("inf")))
    return outliers


def test_quick_output_rows_run_over_gammas(quick_output):
    n_gammas = len(quick_output["gammas"])
    for key in ("expected_tokens", "simulated_tokens", "simulated_standard_error", "speedup"):
        for row in quick_output[key]:
            assert len(row) == n_gammas, key


def test_quick_simulation_matches_closed_form(quick_output):
    assert within_sampling_error(quick_output) == []


def test_full_simulation_matches_closed_form(full_output):
    assert within_sampling_error(full_output) == []


def test_full_gap_is_small(full_output):
    # 20,000 calls per point put every standard error near or below 0.02 tokens.
    assert full_output["max_abs_gap"] < 0.1


def test_max_abs_gap_is_max_over_grid(quick_output):
    gaps = [
        abs(s - e)
        for s_row, e_row in zip(quick_output["simulated_tokens"], quick_output["expected_tokens"])
        for s, e in zip(s_row, e_row)
    ]
    # The output means are rounded to 6 significant digits, and the gap is taken before rounding.
    assert quick_output["max_abs_gap"] == pytest.approx(max(gaps), abs=2e-5)


def test_expected_tokens_grow_with_gamma(quick_output):
    for row in quick_output["expected_tokens"]:
        assert row == sorted(row)


def test_best_gamma_has_max_speedup(quick_output):
    rows = zip(quick_output["speedup"], quick_output["best_gamma"], quick_output["best_speedup"])
    for row, best_gamma, best_speedup in rows:
        assert best_speedup == max(row)
        assert row[quick_output["gammas"].index(best_gamma)] == best_speedup


def test_same_seed_gives_same_output(quick_output):
    assert speculative_decoding.run(QUICK) == quick_output


def test_run_reports_progress():
    calls = []
    speculative_decoding.run(QUICK, progress=lambda done, total, label: calls.append((done, total)))
    assert calls == [(i, len(QUICK.alphas)) for i in range(1, len(QUICK.alphas) + 1)]
