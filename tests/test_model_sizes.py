"""Tests of the model-size experiment: counts by hand, published totals, memory, KV cache and output."""

import dataclasses

import jsonschema
import pytest

from experiments import model_sizes
from experiments.model_sizes import (
    ARCHITECTURES,
    QUICK,
    SCHEMA,
    Params,
    count_parameters,
    kv_cache_bytes_per_token,
    total_and_active,
    weight_bytes,
)

# Published parameter counts.
# Mixtral 8x7B: the counts Mistral AI stated at its release in December 2023. The abstract of
# the Mixtral paper rounds them to 47B and 13B.
MIXTRAL_TOTAL = 46.7e9
MIXTRAL_ACTIVE = 12.9e9
# Llama 2 7B: the released checkpoint meta-llama/Llama-2-7b-hf, whose tensor shapes sum to 6.74B.
# The Llama 2 paper names only the size class, 7B.
LLAMA2_7B_TOTAL = 6.74e9
PUBLISHED_TOLERANCE = 0.005  # relative


def counts(key):
    return total_and_active(count_parameters(ARCHITECTURES[key]))


# -----------------------------------------------------------------------------
# Counting


def test_llama2_7b_parts_by_hand():
    parts = count_parameters(ARCHITECTURES["llama2_7b"])
    assert parts["embedding"] == 32000 * 4096 == 131_072_000
    # q, k, v and o are all 4096 x 4096 without GQA.
    assert parts["attention"] == 32 * 4 * 4096 * 4096 == 2_147_483_648
    assert parts["ffn_total"] == 32 * 3 * 4096 * 11008 == 4_328_521_728
    assert parts["ffn_active"] == parts["ffn_total"]
    assert parts["router"] == 0
    assert parts["norm"] == 32 * 2 * 4096 + 4096 == 266_240
    assert parts["output_head"] == 131_072_000


def test_llama2_7b_total_exact():
    total, active = counts("llama2_7b")
    assert total == 6_738_415_616
    assert active == total


def test_llama2_7b_matches_published_total():
    total, _ = counts("llama2_7b")
    assert total == pytest.approx(LLAMA2_7B_TOTAL, rel=PUBLISHED_TOLERANCE)


def test_mixtral_matches_published_total():
    total, _ = counts("mixtral_8x7b")
    assert total == pytest.approx(MIXTRAL_TOTAL, rel=PUBLISHED_TOLERANCE)


def test_mixtral_matches_published_active():
    _, active = counts("mixtral_8x7b")
    assert active == pytest.approx(MIXTRAL_ACTIVE, rel=PUBLISHED_TOLERANCE)


def test_mixtral_exact_counts():
    total, active = counts("mixtral_8x7b")
    assert total == 46_702_792_704
    assert active == 12_879_925_248


def test_mixtral_inactive_are_six_experts_per_layer():
    total, active = counts("mixtral_8x7b")
    expert = 3 * 4096 * 14336
    assert total - active == 32 * (8 - 2) * expert


def test_mixtral_router_is_d_model_by_experts():
    parts = count_parameters(ARCHITECTURES["mixtral_8x7b"])
    assert parts["router"] == 32 * 4096 * 8


def test_mixtral_is_mistral_plus_experts_and_router():
    mistral_total, _ = counts("mistral_7b")
    mixtral_total, _ = counts("mixtral_8x7b")
    expert = 3 * 4096 * 14336
    assert mixtral_total == mistral_total + 32 * 7 * expert + 32 * 4096 * 8


def test_gqa_narrows_key_value_projections():
    parts = count_parameters(ARCHITECTURES["llama2_70b"])
    # q and o are 8192 x 8192. k and v are 8192 x (8 heads * 128) = 8192 x 1024.
    per_layer = 2 * 8192 * 8192 + 2 * 8192 * 1024
    assert parts["attention"] == 80 * per_layer


def test_other_dense_totals_exact():
    assert counts("llama2_13b") == (13_015_864_320, 13_015_864_320)
    assert counts("llama2_70b") == (68_976_648_192, 68_976_648_192)
    assert counts("mistral_7b") == (7_241_732_096, 7_241_732_096)


def test_tied_embeddings_drop_output_head():
    tied = dataclasses.replace(ARCHITECTURES["llama2_7b"], tied_embeddings=True)
    untied_total, _ = counts("llama2_7b")
    parts = count_parameters(tied)
    assert parts["output_head"] == 0
    assert total_and_active(parts)[0] == untied_total - 32000 * 4096


# -----------------------------------------------------------------------------
# Memory and KV cache


def test_weight_bytes_per_precision():
    assert weight_bytes(6_738_415_616) == {
        "fp32": 4 * 6_738_415_616,
        "fp16": 2 * 6_738_415_616,
        "int8": 6_738_415_616,
        "int4": 6_738_415_616 // 2,
    }


def test_int4_bytes_round_up_odd_count():
    assert weight_bytes(3)["int4"] == 2


def test_kv_cache_llama2_7b_per_token():
    # 2 (K and V) * 32 layers * 32 KV heads * 128 head_dim * 2 bytes = 512 KiB.
    assert kv_cache_bytes_per_token(ARCHITECTURES["llama2_7b"]) == 524_288


def test_kv_cache_mistral_7b_per_token():
    # 8 KV heads instead of 32: a quarter of Llama 2 7B's cache.
    assert kv_cache_bytes_per_token(ARCHITECTURES["mistral_7b"]) == 131_072


def test_kv_cache_llama2_70b_per_token():
    assert kv_cache_bytes_per_token(ARCHITECTURES["llama2_70b"]) == 2 * 80 * 8 * 128 * 2


# -----------------------------------------------------------------------------
# Params


def test_params_reject_unknown_model():
    with pytest.raises(ValueError, match="gpt4"):
        Params(models=("llama2_7b", "gpt4"))


def test_params_reject_unknown_compared_model():
    with pytest.raises(ValueError, match="compared"):
        Params(compared=("llama2_7b", "gpt4"))


def test_params_reject_repeated_model():
    with pytest.raises(ValueError, match="once"):
        Params(models=("llama2_7b", "llama2_7b"))


def test_params_reject_zero_context():
    with pytest.raises(ValueError, match="contexts"):
        Params(contexts=(4096, 0))


# -----------------------------------------------------------------------------
# The run


@pytest.fixture(scope="module")
def output():
    return model_sizes.run(QUICK)


def test_output_kv_cache_rows_follow_order(output):
    for row in output["kv_cache_gb"]:
        assert len(row) == len(output["order"])
    for key in output["order"]:
        assert len(output["models"][key]["kv_cache_bytes"]) == len(output["contexts"])


def test_output_keyed_by_model(output):
    mixtral = output["models"]["mixtral_8x7b"]
    assert mixtral["parameters_total"] == 46_702_792_704
    assert mixtral["parameters_active"] == 12_879_925_248
    assert mixtral["label"] == "Mixtral 8x7B"


def test_output_parts_sum_to_total(output):
    for key, model in output["models"].items():
        assert sum(model["parameters_by_part"].values()) == model["parameters_total"], key


def test_output_arrays_follow_order(output):
    for index, key in enumerate(output["order"]):
        model = output["models"][key]
        assert output["labels"][index] == model["label"]
        assert output["parameters_total_b"][index] == pytest.approx(model["parameters_total"] / 1e9, rel=1e-5)
        assert output["memory_gb"]["fp16"][index] == pytest.approx(model["weight_bytes"]["fp16"] / 1e9, rel=1e-5)
        assert output["kv_cache_bytes_per_token"][index] == model["kv_cache_bytes_per_token"]


def test_output_kv_cache_at_contexts(output):
    llama = output["models"]["llama2_7b"]
    assert output["contexts"] == [4096, 32768]
    assert llama["kv_cache_bytes"] == [524_288 * 4096, 524_288 * 32768]
    # 4096 tokens of 512 KiB each are 2 GiB.
    assert llama["kv_cache_bytes"][0] == 2 * 1024**3


def test_output_dense_vs_sparse(output):
    block = output["dense_vs_sparse"]
    assert block["order"] == ["mixtral_8x7b", "llama2_70b", "llama2_13b"]
    assert block["parameters_total"] == [46_702_792_704, 68_976_648_192, 13_015_864_320]
    assert block["parameters_active"] == [12_879_925_248, 68_976_648_192, 13_015_864_320]
    assert block["memory_gb_fp16"] == pytest.approx([93.4056, 137.953, 26.0317], rel=1e-5)


def test_output_follows_params_order():
    data = model_sizes.run(Params(models=("mistral_7b", "llama2_7b"), contexts=(1024,)))
    assert data["order"] == ["mistral_7b", "llama2_7b"]
    assert data["labels"] == ["Mistral 7B", "Llama 2 7B"]
    assert data["kv_cache_gb"] == [pytest.approx([131_072 * 1024 / 1e9, 524_288 * 1024 / 1e9], rel=1e-5)]
    jsonschema.Draft202012Validator(SCHEMA).validate(data)
