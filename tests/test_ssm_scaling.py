"""Tests of the ssm_scaling experiment: both layers against references, the slope fit, the FLOP counts and the run."""

import dataclasses
import math

import jsonschema
import pytest
import torch
from torch.nn import functional as F

from experiments import ssm_scaling
from experiments.ssm_scaling import (
    DELTA_MAX,
    DELTA_MIN,
    LAYERS,
    QUICK,
    SCHEMA,
    CausalSelfAttention,
    Params,
    SelectiveSSM,
    attention_flops,
    crossover,
    fit_slope,
    longer_half,
    selective_scan_chunked,
    selective_scan_naive,
    ssm_flops,
)

TIMING_KEYS = ("time_ms", "slopes", "crossover_length", "crossover_length_fused")


def scan_inputs(seed, length, dtype, d_model=8, state_size=4, delta_scale=1.0, batch=2):
    """Return (delta, A, B, C, x) from a small SelectiveSSM on random input of the given length.

    delta_scale multiplies the steps, so a large value makes states decay by many orders of
    magnitude within one chunk.
    """
    torch.manual_seed(seed)
    layer = SelectiveSSM(d_model, state_size, chunk=4, chunks_per_block=2).to(dtype)
    x = torch.randn(batch, length, d_model, dtype=dtype)
    with torch.no_grad():
        delta, a, b, c = layer.scan_inputs(x)
    return delta * delta_scale, a, b, c, x


# -----------------------------------------------------------------------------
# Selective scan


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize(
    "length, chunk, chunks_per_block",
    [
        (1, 4, 2),      # one token
        (37, 8, 2),     # not a multiple of the chunk nor of the block
        (50, 1, 3),     # chunk size 1
        (64, 16, 4),    # exactly one block
        (200, 7, 5),    # several blocks, the last one partial
        (45, 64, 2),    # shorter than one chunk
    ],
)
def test_chunked_scan_matches_naive_float64(seed, length, chunk, chunks_per_block):
    delta, a, b, c, x = scan_inputs(seed, length, torch.float64)
    expected = selective_scan_naive(delta, a, b, c, x)
    actual = selective_scan_chunked(delta, a, b, c, x, chunk, chunks_per_block)
    assert actual.shape == expected.shape == x.shape
    assert torch.allclose(actual, expected, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("seed", [3, 4])
def test_chunked_scan_matches_naive_float32(seed):
    delta, a, b, c, x = scan_inputs(seed, 129, torch.float32)
    expected = selective_scan_naive(delta, a, b, c, x)
    actual = selective_scan_chunked(delta, a, b, c, x, 16, 3)
    assert torch.allclose(actual, expected, rtol=1e-4, atol=1e-5)


def test_chunked_scan_survives_strong_decay():
    # Steps up to ~30 with A down to -4 decay a state by up to e^-120 per token, beyond float32's
    # range within one chunk, which would overflow a scan that divides by cumulative decays.
    delta, a, b, c, x = scan_inputs(5, 90, torch.float32, delta_scale=300.0)
    assert delta.max() * a.abs().max() > 88  # exp(-88) is below float32's smallest normal
    expected = selective_scan_naive(delta, a, b, c, x)
    actual = selective_scan_chunked(delta, a, b, c, x, 32, 2)
    assert torch.isfinite(actual).all()
    assert torch.allclose(actual, expected, rtol=1e-4, atol=1e-5)


def test_naive_scan_hand_value():
    # One channel, one state element, A = -1: h_1 = d1 x1 B1, h_2 = e^-d2 h_1 + d2 x2 B2.
    delta = torch.tensor([[[0.5], [1.0]]], dtype=torch.float64)    # (1, 2, 1)
    x = torch.tensor([[[2.0], [3.0]]], dtype=torch.float64)
    a = torch.tensor([[-1.0]], dtype=torch.float64)
    b = torch.tensor([[[1.0], [0.5]]], dtype=torch.float64)
    c = torch.tensor([[[2.0], [1.0]]], dtype=torch.float64)
    h1 = 0.5 * 2.0 * 1.0
    h2 = math.exp(-1.0) * h1 + 1.0 * 3.0 * 0.5
    y = selective_scan_naive(delta, a, b, c, x)
    assert y[0, :, 0].tolist() == pytest.approx([2.0 * h1, 1.0 * h2])
    y_chunked = selective_scan_chunked(delta, a, b, c, x, chunk=1, chunks_per_block=1)
    assert y_chunked[0, :, 0].tolist() == pytest.approx([2.0 * h1, 1.0 * h2])


def test_ssm_initial_values():
    torch.manual_seed(0)
    layer = SelectiveSSM(32, 16, chunk=8, chunks_per_block=2)
    with torch.no_grad():
        delta, a, b, c = layer.scan_inputs(torch.zeros(1, 3, 32))
    assert (a < 0).all()
    assert a[0].tolist() == pytest.approx([-(n + 1) for n in range(16)])
    # With zero input, delta is softplus(bias): the initial step of each channel.
    assert delta.min() >= DELTA_MIN * (1 - 1e-5)
    assert delta.max() <= DELTA_MAX * (1 + 1e-5)
    assert layer.dt_rank == 2


def test_ssm_layer_is_causal():
    torch.manual_seed(0)
    layer = SelectiveSSM(16, 4, chunk=4, chunks_per_block=2)
    x = torch.randn(1, 30, 16)
    changed = x.clone()
    changed[:, 20:] = torch.randn(1, 10, 16)
    with torch.no_grad():
        before, after = layer(x), layer(changed)
    assert torch.equal(before[:, :20], after[:, :20])
    assert not torch.allclose(before[:, 20:], after[:, 20:])


# -----------------------------------------------------------------------------
# Causal self-attention


@pytest.mark.parametrize("heads", [1, 4])
def test_explicit_attention_matches_sdpa(heads):
    torch.manual_seed(0)
    layer = CausalSelfAttention(32, heads)
    x = torch.randn(2, 50, 32)
    with torch.no_grad():
        explicit = layer(x)
        fused = layer(x, fused=True)
    assert torch.allclose(explicit, fused, rtol=1e-4, atol=1e-5)


def test_explicit_attention_matches_sdpa_on_raw_heads():
    torch.manual_seed(1)
    q, k, v = (torch.randn(2, 3, 17, 8, dtype=torch.float64) for _ in range(3))  # (B, nh, T, hs)
    expected = F.scaled_dot_product_attention(q, k, v, is_causal=True)
    actual = ssm_scaling.explicit_causal_attention(q, k, v)
    assert torch.allclose(actual, expected, rtol=1e-10, atol=1e-12)


def test_first_token_attends_only_to_itself():
    torch.manual_seed(2)
    q, k, v = (torch.randn(1, 2, 6, 4) for _ in range(3))
    y = ssm_scaling.explicit_causal_attention(q, k, v)
    assert torch.allclose(y[:, :, 0], v[:, :, 0])


def test_attention_future_tokens_do_not_change_past():
    torch.manual_seed(3)
    layer = CausalSelfAttention(16, 2)
    x = torch.randn(1, 24, 16)
    changed = x.clone()
    changed[:, 12:] = torch.randn(1, 12, 16)
    for fused in (False, True):
        with torch.no_grad():
            before, after = layer(x, fused=fused), layer(changed, fused=fused)
        assert torch.allclose(before[:, :12], after[:, :12], rtol=0, atol=1e-6), f"fused={fused}"
        assert not torch.allclose(before[:, 12:], after[:, 12:]), f"fused={fused}"


# -----------------------------------------------------------------------------
# Slope fit and crossover


def test_fit_slope_recovers_quadratic():
    lengths = [1024, 2048, 4096, 8192, 16384]
    assert fit_slope(lengths, [3e-7 * n**2 for n in lengths]) == pytest.approx(2.0)


def test_fit_slope_recovers_linear():
    lengths = [4096, 8192, 16384, 32768, 65536]
    assert fit_slope(lengths, [0.02 * n for n in lengths]) == pytest.approx(1.0)


def test_fit_slope_ignores_constant_factor():
    lengths = [100, 300, 1000]
    assert fit_slope(lengths, [5.0 * n**1.5 for n in lengths]) == pytest.approx(1.5)


def test_longer_half_keeps_two_lengths():
    assert longer_half([1, 2]) == 0
    assert longer_half([1, 2, 3]) == 1
    assert longer_half([1, 2, 3, 4, 5, 6, 7]) == 3
    assert longer_half(list(range(9))) == 4


def test_crossover_first_length_of_lasting_lead():
    lengths = [256, 512, 1024, 2048]
    # The scan leads at 256 by noise, loses at 512, and leads from 1024 on.
    assert crossover(lengths, [1.0, 3.0, 4.0, 5.0], [2.0, 2.0, 8.0, 30.0]) == 1024


def test_crossover_none_when_scan_never_faster():
    assert crossover([256, 512], [5.0, 6.0], [1.0, 4.0]) is None


def test_crossover_at_first_length_when_always_faster():
    assert crossover([256, 512], [1.0, 2.0], [3.0, 9.0]) == 256


def test_crossover_requires_lead_at_longest():
    assert crossover([256, 512, 1024], [1.0, 2.0, 9.0], [3.0, 9.0, 8.0]) is None


# -----------------------------------------------------------------------------
# Analytic FLOPs


def test_attention_flops_hand_value():
    # T = 4, d = 2: projections 8 * 4 * 2^2 = 128, and 10 causal pairs at 4d = 8 FLOPs each = 80.
    assert attention_flops(4, 2) == 208


def test_attention_flops_counts_causal_pairs():
    for length in (1, 5, 12):
        pairs = sum(1 for query in range(length) for key in range(length) if key <= query)
        d = 3
        assert attention_flops(length, d) == 8 * length * d * d + 4 * d * pairs


def test_ssm_flops_hand_value():
    # T = 4, d = 2, N = 3, R = 1. delta: 4*4*2*1 = 32, B and C: 4*4*2*3 = 96, output: 2*4*2*2 = 32.
    # Scan: 7*4*2*3 = 168, delta * x: 4*2 = 8.
    assert ssm_flops(4, 2, 3, 1) == 32 + 96 + 32 + 168 + 8


def test_ssm_flops_linear_in_length():
    assert ssm_flops(65536, 64, 16, 4) == 64 * ssm_flops(1024, 64, 16, 4)


def test_attention_flops_approach_quadratic():
    # At 1M tokens the linear projection term is under 0.1% of the total, so doubling T nearly quadruples the FLOPs.
    ratio = attention_flops(2**21, 64) / attention_flops(2**20, 64)
    assert ratio == pytest.approx(4.0, rel=1e-3)
    assert ratio < 4.0


# -----------------------------------------------------------------------------
# Params


@pytest.mark.parametrize(
    "overrides, parameter",
    [
        ({"d_model": 64, "heads": 3}, "heads"),
        ({"d_model": 0}, "d_model"),
        ({"state_size": 0}, "state_size"),
        ({"threads": 0}, "threads"),
        ({"repeats": 0}, "repeats"),
        ({"warmup": -1}, "warmup"),
        ({"chunk": 0}, "chunk"),
        ({"chunks_per_block": 0}, "chunks_per_block"),
        ({"lengths": (512, 256, 1024)}, "lengths"),
        ({"lengths": (256, 256, 512)}, "lengths"),
        ({"lengths": (256,), "attention_max_length": 256}, "lengths"),
        ({"lengths": (0, 256)}, "lengths"),
        ({"attention_max_length": 256}, "attention_max_length"),
        ({"analytic_lengths": ()}, "analytic_lengths"),
        ({"analytic_lengths": (4096, 1024)}, "analytic_lengths"),
    ],
)
def test_params_reject_invalid(overrides, parameter):
    with pytest.raises(ValueError, match=parameter):
        Params(**overrides)


def test_params_defaults_are_valid():
    p = Params()
    assert p.threads == 2
    assert p.attention_max_length in p.lengths


# -----------------------------------------------------------------------------
# The run


@pytest.fixture(scope="module")
def quick_run():
    calls = []
    output = ssm_scaling.run(QUICK, progress=lambda done, total, label: calls.append((done, total, label)))
    return output, calls


@pytest.fixture(scope="module")
def quick_output(quick_run):
    return quick_run[0]


def test_attention_lengths_capped(quick_output):
    assert quick_output["lengths"]["ssm"] == list(QUICK.lengths)
    for layer in ("attention", "attention_fused"):
        assert quick_output["lengths"][layer] == [n for n in QUICK.lengths if n <= QUICK.attention_max_length]


def test_capped_attention_keeps_scan_lengths():
    p = dataclasses.replace(QUICK, lengths=(32, 64, 128), attention_max_length=64, repeats=1, warmup=0)
    output = ssm_scaling.run(p)
    assert output["lengths"]["attention"] == [32, 64]
    assert output["lengths"]["ssm"] == [32, 64, 128]
    assert output["fit_from_length"] == {"attention": 32, "attention_fused": 32, "ssm": 64}
    jsonschema.Draft202012Validator(SCHEMA).validate(output)


def test_time_summary_is_ordered(quick_output):
    for layer in LAYERS:
        times = quick_output["time_ms"][layer]
        for low, middle, high in zip(times["min"], times["median"], times["max"]):
            assert 0 < low <= middle <= high


def test_fit_starts_at_longer_half(quick_output):
    for layer in LAYERS:
        lengths = quick_output["lengths"][layer]
        assert quick_output["fit_from_length"][layer] == lengths[longer_half(lengths)]


def test_analytic_ratios(quick_output):
    analytic = quick_output["analytic"]
    assert analytic["lengths"] == [1024, 4096, 16384, 65536]
    assert analytic["quadratic_relative"] == [1, 16, 256, 4096]
    assert analytic["linear_relative"] == [1, 4, 16, 64]
    assert analytic["ssm_relative"] == [1, 4, 16, 64]
    assert analytic["attention_relative"][0] == 1
    # Projections are linear in T, so attention grows a little slower than T^2.
    for attention, quadratic in zip(analytic["attention_relative"][1:], analytic["quadratic_relative"][1:]):
        assert 0.5 * quadratic < attention < quadratic
    assert analytic["score_matrix_bytes"][2] == 2**30  # one head at 16K tokens: 1 GiB
    assert analytic["ssm_state_bytes"] == 64 * 16 * 4


def test_run_restores_thread_count():
    before = torch.get_num_threads()
    ssm_scaling.run(dataclasses.replace(QUICK, lengths=(16, 32), attention_max_length=32, threads=before + 1, repeats=1))
    assert torch.get_num_threads() == before


def test_same_seed_gives_same_output(quick_output):
    again = ssm_scaling.run(dataclasses.replace(QUICK, repeats=1, warmup=0))
    for key in quick_output:
        if key not in TIMING_KEYS and key != "model":
            assert again[key] == quick_output[key], key
    assert {k: v for k, v in again["model"].items() if k not in ("repeats", "warmup")} == {
        k: v for k, v in quick_output["model"].items() if k not in ("repeats", "warmup")
    }


def test_run_reports_progress(quick_run):
    _, calls = quick_run
    total = sum(len(QUICK.lengths if layer == "ssm" else [n for n in QUICK.lengths if n <= QUICK.attention_max_length]) for layer in LAYERS)
    assert [done for done, _, _ in calls] == list(range(1, total + 1))
    assert all(t == total for _, t, _ in calls)
    assert {label for _, _, label in calls} == {f"timing {layer}" for layer in LAYERS}
