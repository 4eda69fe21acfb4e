"""Expected tokens per target-model call in speculative decoding, in closed form and simulated.

In speculative decoding a small draft model proposes gamma tokens and the large target model
scores all of them in one forward pass. Draft tokens are accepted from left to right until the
first rejection. The same target pass then supplies one more token: a replacement for the rejected
draft token, or the token after the last draft when all gamma were accepted. One target call
therefore yields between 1 and gamma + 1 tokens.

If each draft token is accepted with probability alpha, independently of the others, the
expected number of tokens per target call is

    E[tokens] = (1 - alpha^(gamma+1)) / (1 - alpha),

and with c the time of one draft step relative to one target step, the expected improvement in
walltime over plain decoding is

    speedup = (1 - alpha^(gamma+1)) / ((1 - alpha) * (gamma * c + 1)).

The experiment evaluates both formulas over a grid of alpha and gamma, and checks the first one
with a seeded Monte-Carlo simulation of the accept/reject process.

Source:
- Y. Leviathan, M. Kalman, Y. Matias, "Fast Inference from Transformers via Speculative
  Decoding", ICML 2023 (arXiv:2211.17192): both formulas above, under the assumption that
  acceptances are i.i.d. with rate alpha. The speedup also assumes that the target model scores
  gamma + 1 positions in the time of one step, so the hardware must have compute to spare.
"""

from dataclasses import dataclass

import numpy as np

SEED = 1337


@dataclass(frozen=True)
class Params:
    """Grid and simulation size of the full run. QUICK simulates fewer target calls."""

    alphas: tuple[float, ...] = (0.5, 0.6, 0.7, 0.8, 0.9)  # per-token acceptance rates
    gammas: tuple[int, ...] = (1, 2, 3, 4, 5, 6, 7, 8)  # draft lengths
    # c, the time of one draft-model step divided by the time of one target-model step. 0.05 is a
    # draft model 20 times faster than the target.
    cost_ratio: float = 0.05
    trials: int = 20_000  # simulated target calls per (alpha, gamma)

    def __post_init__(self):
        if not self.alphas or any(not 0.0 <= a <= 1.0 for a in self.alphas):
            raise ValueError(f"alphas must be acceptance rates in [0, 1], got {list(self.alphas)}")
        if not self.gammas or any(not isinstance(g, int) or g < 0 for g in self.gammas):
            raise ValueError(f"gammas must be draft lengths of 0 or more tokens, got {list(self.gammas)}")
        if self.cost_ratio < 0:
            raise ValueError(f"cost_ratio must be 0 or more, got {self.cost_ratio}")
        if self.trials < 2:
            raise ValueError(f"trials must be at least 2 for a standard error, got {self.trials}")


QUICK = Params(trials=2_000)


# -----------------------------------------------------------------------------
# Closed form


def expected_tokens(alpha, gamma):
    """Return E[tokens per target call] = (1 - alpha^(gamma+1)) / (1 - alpha) for i.i.d. acceptance."""
    if alpha == 1.0:
        # Every draft is accepted, so the sum 1 + alpha + ... + alpha^gamma is gamma + 1, the
        # limit of the formula, which itself would divide 0 by 0.
        return float(gamma + 1)
    return (1.0 - alpha ** (gamma + 1)) / (1.0 - alpha)


def walltime_speedup(alpha, gamma, cost_ratio):
    """Return the expected walltime improvement factor over decoding with the target model alone.

    One iteration costs gamma draft steps plus one target step, gamma * c + 1 target-step times,
    and yields expected_tokens(alpha, gamma) tokens. Plain decoding yields one token per step.
    """
    return expected_tokens(alpha, gamma) / (gamma * cost_ratio + 1.0)


# -----------------------------------------------------------------------------
# Simulation


def simulate_tokens(alpha, gamma, trials, rng):
    """Simulate `trials` target calls and return the tokens each one yields, as an int array.

    Each call drafts gamma tokens and accepts each with probability alpha. Acceptance stops at the
    first rejection, and the target then adds one token of its own.
    """
    accepted = rng.random((trials, gamma)) < alpha          # (trials, gamma) per-draft accept draws
    # A draft counts only if it and every draft before it were accepted.
    prefix_accepted = np.cumprod(accepted, axis=1)          # (trials, gamma)
    return prefix_accepted.sum(axis=1) + 1                  # (trials,) accepted drafts + the target's token


# Inputs at which the closed forms are written out as test vectors. The slide's what-if controls
# compute the same formulas in the page, and a browser test checks them against these, including
# the edge cases: every draft accepted, no draft, and a free draft model.
TEST_VECTOR_INPUTS = (
    (0.5, 1, 0.05), (0.8, 4, 0.05), (0.95, 8, 0.1), (0.6, 3, 0.0), (0.99, 10, 0.2),
    (1.0, 5, 0.05), (0.7, 0, 0.05), (0.0, 4, 0.05),
)


def test_vectors():
    """Return expected tokens and speed-up at TEST_VECTOR_INPUTS, for the page's copy of the formulas."""
    return [
        {
            "alpha": alpha,
            "gamma": gamma,
            "cost_ratio": cost_ratio,
            "expected_tokens": sig(expected_tokens(alpha, gamma)),
            "speedup": sig(walltime_speedup(alpha, gamma, cost_ratio)),
        }
        for alpha, gamma, cost_ratio in TEST_VECTOR_INPUTS
    ]


def sig(value):
    """Round to 6 significant digits, enough for any chart and stable in a diff."""
    return float(f"{value:.6g}")


def run(params: Params, *, device: str = "cpu", progress=None) -> dict:
    """Evaluate the closed forms over the alpha x gamma grid and simulate each point.

    `progress`, when given, is called as progress(done, total, label) after each alpha.
    `device` is accepted for the runner's contract and unused, because numpy runs on the CPU.
    """
    p = params
    rng = np.random.default_rng(SEED)

    expected, simulated, standard_error, speedup = [], [], [], []
    for done, alpha in enumerate(p.alphas, start=1):
        expected_row, simulated_row, error_row, speedup_row = [], [], [], []
        for gamma in p.gammas:
            tokens = simulate_tokens(alpha, gamma, p.trials, rng)
            expected_row.append(expected_tokens(alpha, gamma))
            simulated_row.append(float(tokens.mean()))
            error_row.append(float(tokens.std(ddof=1)) / p.trials**0.5)
            speedup_row.append(walltime_speedup(alpha, gamma, p.cost_ratio))
        expected.append(expected_row)
        simulated.append(simulated_row)
        standard_error.append(error_row)
        speedup.append(speedup_row)
        if progress is not None:
            progress(done, len(p.alphas), "simulating")

    gaps = [abs(s - e) for s_row, e_row in zip(simulated, expected) for s, e in zip(s_row, e_row)]
    # The draft length with the highest speedup in the grid, per alpha. Ties go to the shorter draft.
    best = [max(range(len(p.gammas)), key=lambda j: (row[j], -j)) for row in speedup]

    return {
        "alphas": list(p.alphas),
        "gammas": list(p.gammas),
        "cost_ratio": p.cost_ratio,
        "trials": p.trials,
        "expected_tokens": [[sig(v) for v in row] for row in expected],
        "simulated_tokens": [[sig(v) for v in row] for row in simulated],
        "simulated_standard_error": [[sig(v) for v in row] for row in standard_error],
        "max_abs_gap": sig(max(gaps)),
        "speedup": [[sig(v) for v in row] for row in speedup],
        "best_gamma": [p.gammas[j] for j in best],
        "best_speedup": [sig(row[j]) for row, j in zip(speedup, best)],
        "test_vectors": test_vectors(),
    }


# -----------------------------------------------------------------------------
# Output contract


def _array(items):
    return {"type": "array", "items": items, "minItems": 1}


def _per_alpha(items, description):
    """Schema of one array over gammas for each alpha."""
    return {**_array(_array(items)), "description": description}


def _output_schema():
    """Build the JSON Schema of run()'s output."""
    tokens = {"type": "number", "minimum": 1}
    non_negative = {"type": "number", "minimum": 0}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "properties": {
            "alphas": _array({"type": "number", "minimum": 0, "maximum": 1}),
            "gammas": _array({"type": "integer", "minimum": 0}),
            "cost_ratio": {**non_negative, "description": "draft step time / target step time"},
            "trials": {"type": "integer", "minimum": 2},
            "expected_tokens": _per_alpha(tokens, "closed-form tokens per target call, per alpha over gammas"),
            "simulated_tokens": _per_alpha(tokens, "mean simulated tokens per target call, per alpha over gammas"),
            "simulated_standard_error": _per_alpha(non_negative, "standard error of each simulated mean"),
            "max_abs_gap": {**non_negative, "description": "max |simulated - closed form| over the grid, in tokens"},
            "speedup": _per_alpha({"type": "number", "exclusiveMinimum": 0}, "expected walltime improvement factor"),
            "best_gamma": {**_array({"type": "integer", "minimum": 0}), "description": "per alpha, the gamma of the highest speedup"},
            "best_speedup": _array({"type": "number", "exclusiveMinimum": 0}),
            "test_vectors": {
                **_array({
                    "type": "object",
                    "properties": {
                        "alpha": {"type": "number"}, "gamma": {"type": "integer"}, "cost_ratio": {"type": "number"},
                        "expected_tokens": tokens, "speedup": {"type": "number", "exclusiveMinimum": 0},
                    },
                    "required": ["alpha", "gamma", "cost_ratio", "expected_tokens", "speedup"],
                    "additionalProperties": False,
                }),
                "description": "closed-form values at fixed inputs, replayed against the slide's what-if controls",
            },
        },
        "required": [
            "alphas", "gammas", "cost_ratio", "trials", "expected_tokens", "simulated_tokens",
            "simulated_standard_error", "max_abs_gap", "speedup", "best_gamma", "best_speedup", "test_vectors",
        ],
        "additionalProperties": False,
    }


SCHEMA = _output_schema()

# Each inner array runs over gammas. The runner checks only the outer lengths, and the tests check the inner ones.
SAME_LENGTH = [
    ("alphas", "expected_tokens", "simulated_tokens", "simulated_standard_error", "speedup", "best_gamma", "best_speedup"),
]
