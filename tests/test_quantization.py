"""Tests of the quantization experiment: absmax round-to-nearest, storage arithmetic and the QUICK run."""

import math

import pytest
import torch

from experiments import quantization
from experiments.model_sizes import ARCHITECTURES
from experiments.quantization import (
    QUICK,
    SCHEMES,
    LanguageModel,
    Params,
    bits_per_weight,
    dequantize,
    fake_quantize,
    learning_rate_factor,
    linear_shapes,
    max_code,
    quantize,
    quantize_linears,
    reference_memory,
    scale_count,
)

BITS = (8, 4, 3, 2)
GROUP_SIZE = 4


def random_weight(rows=6, cols=16, seed=0):
    return torch.randn(rows, cols, generator=torch.Generator().manual_seed(seed))


def zero_row_weight():
    weight = random_weight()
    weight[2] = 0.0
    return weight


def outlier_weight():
    weight = random_weight() * 0.01
    weight[1, 5] = 10.0
    return weight


def ragged_weight():
    return random_weight(rows=3, cols=10)  # 10 columns: groups of 4, 4 and a short last group of 2


ADVERSARIAL = {"random": random_weight, "zero row": zero_row_weight, "outlier": outlier_weight, "ragged": ragged_weight}


def element_scales(codes, scales, shape):
    """Return the scale that applies to each weight, by dequantizing codes that are all 1."""
    return dequantize(torch.ones_like(codes), scales, shape)


def relative_error(weight, bits, scheme, group_size=GROUP_SIZE):
    restored = fake_quantize(weight, bits, scheme, group_size)
    return ((weight - restored).norm() / weight.norm()).item()


# -----------------------------------------------------------------------------
# Quantize and dequantize


def test_max_code_per_bit_width():
    assert [max_code(b) for b in BITS] == [127, 7, 3, 1]


@pytest.mark.parametrize("case", ADVERSARIAL)
@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("bits", BITS)
def test_error_within_half_a_step(case, scheme, bits):
    weight = ADVERSARIAL[case]()
    codes, scales = quantize(weight, bits, scheme, GROUP_SIZE)
    restored = dequantize(codes, scales, weight.shape)
    half_step = element_scales(codes, scales, weight.shape) / 2

    assert restored.shape == weight.shape
    assert torch.isfinite(restored).all()
    assert ((weight - restored).abs() <= half_step * (1 + 1e-6) + 1e-12).all()


@pytest.mark.parametrize("case", ADVERSARIAL)
@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("bits", BITS)
def test_codes_within_range(case, scheme, bits):
    codes, _ = quantize(ADVERSARIAL[case](), bits, scheme, GROUP_SIZE)
    assert codes.dtype == torch.int8
    assert codes.abs().max().item() <= max_code(bits)


@pytest.mark.parametrize("scheme", SCHEMES)
def test_absmax_weight_gets_max_code(scheme):
    weight = outlier_weight()
    codes, _ = quantize(weight, 4, scheme, GROUP_SIZE)
    restored = fake_quantize(weight, 4, scheme, GROUP_SIZE)

    assert codes.abs().max().item() == 7
    assert restored[1, 5].item() == pytest.approx(10.0)


@pytest.mark.parametrize("scheme", ("per_channel", "group"))
def test_zero_row_stays_zero(scheme):
    codes, scales = quantize(zero_row_weight(), 4, scheme, GROUP_SIZE)
    restored = dequantize(codes, scales, (6, 16))

    assert restored[2].tolist() == [0.0] * 16
    assert (scales == 0).any()
    assert torch.isfinite(scales).all()


@pytest.mark.parametrize("scheme", SCHEMES)
def test_all_zero_matrix_quantizes_to_zero(scheme):
    weight = torch.zeros(3, 8)
    codes, scales = quantize(weight, 2, scheme, GROUP_SIZE)

    assert codes.abs().max().item() == 0
    assert dequantize(codes, scales, weight.shape).abs().max().item() == 0.0


def test_per_tensor_outlier_zeroes_small_weights():
    # One weight of 10 among weights near 0.01 sets a step of 10/7 at 4 bits, which rounds all others to 0.
    weight = outlier_weight()
    restored = fake_quantize(weight, 4, "per_tensor", GROUP_SIZE)
    assert torch.count_nonzero(restored).item() == 1


def test_per_channel_confines_outlier_to_its_row():
    weight = outlier_weight()
    restored = fake_quantize(weight, 4, "per_channel", GROUP_SIZE)
    other_rows = torch.cat([restored[:1], restored[2:]])
    assert torch.count_nonzero(other_rows).item() > other_rows.numel() // 2


@pytest.mark.parametrize("scheme", SCHEMES)
def test_error_falls_with_more_bits(scheme):
    weight = random_weight(rows=32, cols=64, seed=3)
    errors = [relative_error(weight, bits, scheme) for bits in (8, 4, 3, 2)]
    assert errors[0] < errors[1]
    assert errors[1] < errors[2]
    assert errors[2] < errors[3]


def test_finer_scales_give_smaller_error():
    # Row 0 contains integers up to 7 in its first group and multiples of 1/8 up to 7/8 in its second.
    # Row 1 contains multiples of 8 with 56 in each group. At 4 bits (codes up to 7) each group's own scale is a
    # power of two (1, 1/8, 8) that represents its values exactly, so group-wise is exact.
    # Per-channel gives row 0 the scale 1, which rounds the eighths. Per-tensor gives every row
    # the scale 8, which also rounds row 0's integers.
    weight = torch.tensor([
        [7.0, -3.0, 2.0, 5.0, 0.875, -0.375, 0.125, 0.625],
        [56.0, -8.0, 24.0, 16.0, -56.0, 8.0, 48.0, -32.0],
    ])
    group = relative_error(weight, 4, "group", group_size=4)
    channel = relative_error(weight, 4, "per_channel", group_size=4)
    tensor = relative_error(weight, 4, "per_tensor", group_size=4)

    assert group == 0.0
    assert channel > group
    assert tensor > channel


def test_scale_counts_per_scheme():
    assert scale_count(4, 128, "per_tensor", 64) == 1
    assert scale_count(4, 128, "per_channel", 64) == 4
    assert scale_count(4, 128, "group", 64) == 8
    assert scale_count(4, 130, "group", 64) == 12  # a short third group per row


def test_quantize_rejects_unknown_scheme():
    with pytest.raises(ValueError, match="scheme"):
        quantize(random_weight(), 4, "per_row", GROUP_SIZE)


def test_quantize_rejects_vector():
    with pytest.raises(ValueError, match="2-d"):
        quantize(torch.ones(8), 4, "per_tensor", GROUP_SIZE)


# -----------------------------------------------------------------------------
# Storage


def test_bits_per_weight_hand_values():
    shapes = [(4, 128, 1)]  # 512 weights
    assert bits_per_weight(shapes, 4, "per_tensor", 64) == pytest.approx((512 * 4 + 16) / 512)  # 4.03125
    assert bits_per_weight(shapes, 4, "per_channel", 64) == pytest.approx(4 + 4 * 16 / 512)  # 4.125
    assert bits_per_weight(shapes, 4, "group", 64) == pytest.approx(4 + 16 / 64)  # 4.25
    assert bits_per_weight(shapes, 3, "group", 48) == pytest.approx(3 + 4 * 3 * 16 / 512)  # 3 groups per row


def test_bits_per_weight_counts_matrix_multiplicity():
    # Two 2x8 matrices at 8 bits per tensor: 32 weights, 256 bits of codes and 2 scales.
    assert bits_per_weight([(2, 8, 2)], 8, "per_tensor", 64) == pytest.approx((256 + 32) / 32)


def test_llama2_7b_linear_shapes_match_parameter_count():
    shapes = linear_shapes(ARCHITECTURES["llama2_7b"])
    attention = 32 * 4 * 4096 * 4096
    ffn = 32 * 3 * 4096 * 11008
    assert sum(rows * cols * count for rows, cols, count in shapes) == attention + ffn


def test_llama2_7b_memory_hand_values():
    summary, memory = reference_memory([8, 4], 64)
    fp16_parameters = 6_738_415_616 - 6_476_005_376  # embedding, output head and norms
    # Per-channel: one scale per output row, 32 layers x (4 x 4096 + 2 x 11008 + 4096) rows.
    channel_scales = 32 * (4 * 4096 + 2 * 11008 + 4096)
    expected_int4 = (6_476_005_376 * 4 + channel_scales * 16 + fp16_parameters * 16) / 8 / 1e9
    # Group-wise with 64: every group is full, because 4096 and 11008 are multiples of 64.
    expected_group_int8 = (6_476_005_376 * (8 + 16 / 64) + fp16_parameters * 16) / 8 / 1e9

    assert summary["parameters_total"] == 6_738_415_616
    assert summary["parameters_quantized"] == 6_476_005_376
    assert summary["fp16_gb"] == pytest.approx(13.476831232)
    assert memory["per_channel"][1] == pytest.approx(expected_int4)
    assert memory["group"][0] == pytest.approx(expected_group_int8)
    assert memory["per_tensor"][0] < memory["per_channel"][0] < memory["group"][0]


# -----------------------------------------------------------------------------
# The model


def test_quantize_linears_leaves_embedding_and_head():
    p = Params(d_model=16, n_heads=2, n_layers=1, mlp_hidden=32, context=8, group_size=8)
    model = LanguageModel(p)
    embedding = model.token_embedding.weight.clone()
    fc1 = model.blocks[0].mlp[0].weight.clone()

    error = quantize_linears(model, 2, "per_tensor", p.group_size)

    assert torch.equal(model.token_embedding.weight, embedding)
    assert not torch.equal(model.blocks[0].mlp[0].weight, fc1)
    assert torch.equal(model.blocks[0].mlp[0].weight, fake_quantize(fc1, 2, "per_tensor", p.group_size))
    assert 0.0 < error < 1.0


def test_learning_rate_warms_up_then_decays():
    p = Params(train_steps=100, warmup_steps=10)
    assert learning_rate_factor(0, p) == pytest.approx(0.1)
    assert learning_rate_factor(9, p) == pytest.approx(1.0)
    assert learning_rate_factor(10, p) == pytest.approx(1.0)
    assert learning_rate_factor(99, p) == pytest.approx(0.1, abs=1e-3)


# -----------------------------------------------------------------------------
# Params


@pytest.mark.parametrize("bits", [(1, 4), (4, 9), (4, 4), ()])
def test_params_reject_bad_bits(bits):
    with pytest.raises(ValueError, match="bits"):
        Params(bits=bits)


def test_params_reject_indivisible_heads():
    with pytest.raises(ValueError, match="n_heads"):
        Params(d_model=130, n_heads=4)


def test_params_reject_zero_group_size():
    with pytest.raises(ValueError, match="group_size"):
        Params(group_size=0)


def test_params_reject_warmup_past_training():
    with pytest.raises(ValueError, match="warmup_steps"):
        Params(train_steps=10, warmup_steps=10)


def test_params_reject_eval_shorter_than_context():
    with pytest.raises(ValueError, match="eval_tokens_per_domain"):
        Params(context=128, eval_tokens_per_domain=100)


def test_params_reject_zero_learning_rate():
    with pytest.raises(ValueError, match="learning_rate"):
        Params(learning_rate=0.0)


# -----------------------------------------------------------------------------
# The QUICK run


@pytest.fixture(scope="module")
def quick_run():
    calls = []
    output = quantization.run(QUICK, progress=lambda done, total, label: calls.append((done, total, label)))
    return output, calls


def without_timing(output):
    model = {key: value for key, value in output["model"].items() if key != "train_seconds"}
    return {**output, "model": model}


def test_quick_loss_units_agree(quick_run):
    output, _ = quick_run
    for scheme in SCHEMES:
        row = output["results"][scheme]
        for loss, bits_per_byte, perplexity in zip(row["loss"], row["bits_per_byte"], row["perplexity"]):
            assert bits_per_byte == pytest.approx(loss / math.log(2), rel=1e-5)
            assert perplexity == pytest.approx(math.exp(loss), rel=1e-5)


def test_quick_int8_matches_baseline(quick_run):
    output, _ = quick_run
    for scheme in SCHEMES:
        int8 = output["results"][scheme]["loss"][output["bits"].index(8)]
        assert int8 == pytest.approx(output["baseline"]["loss"], abs=0.01), scheme


def test_quick_weight_error_falls_with_bits(quick_run):
    output, _ = quick_run
    for scheme in SCHEMES:
        errors = output["results"][scheme]["weight_error"]  # bits in QUICK run 8, 4, 3, 2
        assert errors == sorted(errors), scheme


def test_quick_memory_labels_start_with_fp16(quick_run):
    output, _ = quick_run
    memory = output["llama2_7b_memory_gb"]
    assert memory["labels"][0] == "FP16"
    assert memory["values"][0] == output["llama2_7b"]["fp16_gb"]
    assert memory["values"][1:] == [gb for s in SCHEMES for gb in output["results"][s]["llama2_7b_gb"]]


def test_same_seed_gives_same_output(quick_run):
    output, _ = quick_run
    assert without_timing(quantization.run(QUICK)) == without_timing(output)


def test_quick_run_reports_progress(quick_run):
    _, calls = quick_run
    training = [(done, total) for done, total, label in calls if label == "training"]
    evaluating = [(done, total) for done, total, label in calls if label != "training"]

    assert training[-1] == (QUICK.train_steps, QUICK.train_steps)
    assert evaluating == [(i, 12) for i in range(1, 13)]
