"""Tests of the MoE routing experiment: its mathematics by hand, and its QUICK run's output."""

import math
import re

import pytest
import torch

from experiments import moe_routing
from experiments.common.corpus import arithmetic_text, load_corpus
from experiments.moe_routing import (
    QUICK,
    MoELanguageModel,
    Params,
    dropped_fraction,
    expert_capacity,
    load_balancing_loss,
    route_token,
    within_capacity,
)

# A 2-d token and a router for 4 experts whose logits are x @ W.T = [1, 2, 3, -1].
TOKEN = torch.tensor([1.0, 2.0])
ROUTER = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [-1.0, 0.0]])


# -----------------------------------------------------------------------------
# route_token


def test_router_logits_are_token_times_router():
    logits, _, _, _ = route_token(TOKEN, ROUTER, k=2)
    assert logits.tolist() == [1.0, 2.0, 3.0, -1.0]


def test_router_probs_are_softmax_of_logits():
    _, probs, _, _ = route_token(TOKEN, ROUTER, k=2)
    # e^1, e^2, e^3, e^-1 divided by their sum 30.560754...
    expected = [0.0889468173, 0.2417825172, 0.6572330228, 0.0120376427]
    assert probs.tolist() == pytest.approx(expected, abs=1e-6)


def test_top2_chooses_highest_probabilities_first():
    _, _, chosen, _ = route_token(TOKEN, ROUTER, k=2)
    assert chosen.tolist() == [2, 1]


def test_top2_weights_renormalise_over_chosen_experts():
    _, _, _, weights = route_token(TOKEN, ROUTER, k=2)
    # e^3 / (e^3 + e^2) = sigmoid(1) and e^2 / (e^3 + e^2) = 1 - sigmoid(1).
    assert weights.tolist() == pytest.approx([0.7310585786, 0.2689414214], abs=1e-6)
    assert weights.sum().item() == pytest.approx(1.0, abs=1e-6)


def test_top1_weight_is_one():
    _, _, chosen, weights = route_token(TOKEN, ROUTER, k=1)
    assert chosen.tolist() == [2]
    assert weights.tolist() == pytest.approx([1.0])


def test_batched_routing_matches_single_tokens():
    generator = torch.Generator().manual_seed(0)
    tokens = torch.randn(5, 6, generator=generator)
    router = torch.randn(8, 6, generator=generator)

    batched = route_token(tokens, router, k=2)

    for i, token in enumerate(tokens):
        single = route_token(token, router, k=2)
        for batched_part, single_part in zip(batched, single):
            assert torch.allclose(batched_part[i], single_part, atol=1e-6)


# -----------------------------------------------------------------------------
# load_balancing_loss


def test_balancing_loss_is_one_for_uniform_routing():
    n_experts = 4
    probs = torch.full((8, n_experts), 1.0 / n_experts)
    expert_index = torch.tensor([0, 1, 2, 3, 0, 1, 2, 3])

    loss = load_balancing_loss(probs, expert_index, n_experts)

    assert loss.item() == pytest.approx(1.0)


def test_balancing_loss_single_expert_gives_n():
    n_experts = 8
    probs = torch.zeros(5, n_experts)
    probs[:, 3] = 1.0
    expert_index = torch.full((5,), 3)

    loss = load_balancing_loss(probs, expert_index, n_experts)

    assert loss.item() == pytest.approx(8.0)


def test_balancing_loss_unbalanced_top1():
    probs = torch.tensor([[0.9, 0.1], [0.6, 0.4], [0.3, 0.7], [0.8, 0.2]])
    expert_index = torch.tensor([0, 0, 1, 0])

    loss = load_balancing_loss(probs, expert_index, n_experts=2)

    # f = [3/4, 1/4], P = [0.65, 0.35], so 2 * (0.75 * 0.65 + 0.25 * 0.35) = 1.15.
    assert loss.item() == pytest.approx(1.15)


def test_balancing_loss_counts_both_top2_choices():
    probs = torch.tensor([[0.5, 0.3, 0.2, 0.0], [0.4, 0.1, 0.4, 0.1]])
    expert_index = torch.tensor([[0, 1], [0, 2]])

    loss = load_balancing_loss(probs, expert_index, n_experts=4)

    # f = [2/4, 1/4, 1/4, 0], P = [0.45, 0.2, 0.3, 0.05], so 4 * (0.225 + 0.05 + 0.075) = 1.4.
    assert loss.item() == pytest.approx(1.4)


def test_balancing_loss_gradient_through_probs():
    probs = torch.tensor([[0.9, 0.1], [0.6, 0.4], [0.3, 0.7], [0.8, 0.2]], requires_grad=True)
    expert_index = torch.tensor([0, 0, 1, 0])

    load_balancing_loss(probs, expert_index, n_experts=2).backward()

    # d/dp_ti of N * sum_i f_i * mean_t p_ti is N * f_i / T = 2 * [0.75, 0.25] / 4 for every token.
    for row in probs.grad.tolist():
        assert row == pytest.approx([0.375, 0.125])


# -----------------------------------------------------------------------------
# Capacity


def test_capacity_rounds_up():
    assert expert_capacity(1.25, n_tokens=1536, top_k=2, n_experts=8) == 480
    assert expert_capacity(1.0, n_tokens=6, top_k=1, n_experts=3) == 2
    assert expert_capacity(1.0, n_tokens=5, top_k=2, n_experts=3) == 4  # ceil(10 / 3)


def test_capacity_drops_overflow_in_token_order():
    expert_index = torch.tensor([0, 0, 1, 0, 2, 1])  # top-1 choices of 6 tokens

    kept = within_capacity(expert_index, n_experts=3, capacity=1)

    # Each expert keeps its first token: tokens 0 (expert 0), 2 (expert 1) and 4 (expert 2).
    assert kept.reshape(-1).tolist() == [True, False, True, False, True, False]
    assert dropped_fraction(expert_index, n_experts=3, capacity=1) == pytest.approx(0.5)


def test_capacity_queues_first_choices_first():
    expert_index = torch.tensor([[0, 1], [1, 0], [0, 2]])

    kept = within_capacity(expert_index, n_experts=3, capacity=2)

    # Expert 0 receives the first choices of tokens 0 and 2 before the second choice of token 1,
    # so that second choice is the one dropped, not token 2's first choice.
    assert kept.tolist() == [[True, True], [True, False], [True, True]]
    assert dropped_fraction(expert_index, n_experts=3, capacity=2) == pytest.approx(1 / 6)


def test_capacity_drops_nothing_when_large_enough():
    expert_index = torch.tensor([[0, 1], [0, 1], [0, 1]])
    assert dropped_fraction(expert_index, n_experts=2, capacity=3) == 0.0


# -----------------------------------------------------------------------------
# Model and corpus


def test_active_parameters_exclude_unchosen_experts():
    model = MoELanguageModel(QUICK)
    total, active = model.count_parameters(QUICK)

    per_expert = sum(t.numel() for t in model.blocks[0].moe.experts[0].parameters())

    assert total == sum(t.numel() for t in model.parameters())
    assert total - active == QUICK.n_layers * (QUICK.n_experts - QUICK.top_k) * per_expert


def test_params_reject_indivisible_heads():
    with pytest.raises(ValueError, match="n_heads"):
        Params(d_model=30, n_heads=4)


def test_corpus_domain_sizes_and_split():
    corpus = load_corpus(bytes_per_domain=10_000, heldout_fraction=0.1, seed=1)

    assert [d.name for d in corpus] == ["code", "prose", "arithmetic"]
    for domain in corpus:
        assert len(domain.train) == 9_000, domain.name
        assert len(domain.heldout) == 1_000, domain.name
        assert domain.source, domain.name


def test_arithmetic_lines_are_correct():
    text, _ = arithmetic_text(5_000, seed=3)
    lines = text.decode("ascii").splitlines()[:-1]  # the last line may be cut

    assert lines
    for line in lines:
        match = re.fullmatch(r"(\d+) ([-+*]) (\d+) = (-?\d+)", line)
        assert match, line
        a, op, b, result = match.groups()
        expected = {"+": int(a) + int(b), "-": int(a) - int(b), "*": int(a) * int(b)}[op]
        assert int(result) == expected, line


# -----------------------------------------------------------------------------
# The QUICK run


@pytest.fixture(scope="module")
def quick_output():
    return moe_routing.run(QUICK)


def numbers_in(value, path="data"):
    if isinstance(value, dict):
        for key, item in value.items():
            yield from numbers_in(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from numbers_in(item, f"{path}[{index}]")
    elif isinstance(value, (int, float)):
        yield path, value


def test_quick_output_numbers_are_finite(quick_output):
    for path, value in numbers_in(quick_output):
        assert math.isfinite(value), path


def test_quick_output_shares_sum_to_one(quick_output):
    runs = quick_output["training"]["runs"]
    distributions = {"routing_example.probs": quick_output["routing_example"]["probs"]}
    distributions["routing_example.weights"] = quick_output["routing_example"]["weights"]
    for name, run in runs.items():
        distributions[f"{name}.expert_share"] = run["expert_share"]
        for layer, share in enumerate(run["expert_share_by_layer"]):
            distributions[f"{name}.expert_share_by_layer[{layer}]"] = share
        for domain, share in zip(quick_output["domains"]["names"], quick_output["domains"]["share"][name]):
            distributions[f"domains.share.{name}.{domain}"] = share

    for path, values in distributions.items():
        assert sum(values) == pytest.approx(1.0, abs=1e-4), path


def test_quick_routing_example_is_top2_of_its_probs(quick_output):
    example = quick_output["routing_example"]
    probs = torch.tensor(example["probs"])

    assert example["chosen"] == probs.topk(2).indices.tolist()
    assert torch.allclose(torch.softmax(torch.tensor(example["logits"]), dim=0), probs, atol=1e-5)


def test_quick_runs_start_from_same_weights(quick_output):
    runs = quick_output["training"]["runs"]
    assert runs["no_balance"]["load_cv"][0] == runs["balanced"]["load_cv"][0]
    assert runs["no_balance"]["train_loss"][0] == runs["balanced"]["train_loss"][0]


def test_same_seed_gives_same_routing_example(quick_output):
    again = moe_routing.run(QUICK)
    assert again["routing_example"] == quick_output["routing_example"]


def test_quick_run_reports_progress():
    calls = []
    moe_routing.run(QUICK, progress=lambda step, total, label: calls.append((step, total, label)))

    labels = {label for _, _, label in calls}
    assert labels == {"training no_balance", "training balanced"}
    assert all(total == QUICK.train_steps for _, total, _ in calls)
    assert calls[-1][0] == QUICK.train_steps
