"""Tests of the KV-cache experiment: cached and uncached decoding agree, the cache's shape and bytes, and the output."""

import dataclasses

import pytest
import torch

from experiments import kv_cache
from experiments.kv_cache import (
    QUICK,
    DecoderLM,
    Params,
    cache_bytes_formula,
    cache_nbytes,
    generate,
    prompt_tensor,
    reported_steps,
)
from experiments.model_sizes import ARCHITECTURES, kv_cache_bytes_per_token

LOGIT_TOLERANCE = 1e-4  # float32 sums in a different order differ by about 1e-7 here

# Small shapes: multi-head, grouped-query and multi-query attention.
TINY = Params(n_layers=2, d_model=32, n_heads=4, n_kv_heads=4, max_len=64, prompt_tokens=8,
              new_tokens=40, repeats=1, threads=1, report_every=4)
HEAD_LAYOUTS = {"mha": 4, "gqa": 2, "mqa": 1}


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Run the tests that call the model directly on one thread, which stays fast on a busy machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def tiny_model(n_kv_heads=4, seed=0):
    torch.manual_seed(seed)
    return DecoderLM(dataclasses.replace(TINY, n_kv_heads=n_kv_heads)).eval()


@pytest.fixture(scope="module")
def generations():
    """Return the cached and the uncached Generation of the tiny model, per head layout."""
    prompt = prompt_tensor(TINY.prompt_tokens, "cpu")
    results = {}
    for layout, n_kv_heads in HEAD_LAYOUTS.items():
        model = tiny_model(n_kv_heads)
        results[layout] = (
            generate(model, prompt, TINY.new_tokens, use_cache=True),
            generate(model, prompt, TINY.new_tokens, use_cache=False),
        )
    return results


# -----------------------------------------------------------------------------
# Cached and uncached decoding agree


@pytest.mark.parametrize("layout", HEAD_LAYOUTS)
def test_generation_tokens_identical(generations, layout):
    cached, uncached = generations[layout]
    assert len(cached.tokens) == TINY.new_tokens
    assert cached.tokens == uncached.tokens


@pytest.mark.parametrize("layout", HEAD_LAYOUTS)
def test_generation_logits_close(generations, layout):
    cached, uncached = generations[layout]
    assert cached.logits.shape == (TINY.new_tokens, 256)
    torch.testing.assert_close(cached.logits, uncached.logits, rtol=0, atol=LOGIT_TOLERANCE)


def test_generated_tokens_are_argmax_of_logits(generations):
    cached, _ = generations["mha"]
    assert cached.logits.argmax(dim=-1).tolist() == cached.tokens


@torch.inference_mode()
def test_stepwise_logits_match_full_pass():
    model = tiny_model(n_kv_heads=2)
    sequence = torch.randint(0, 256, (1, 30), generator=torch.Generator().manual_seed(1))
    full_logits, _ = model(sequence)                              # (1, 30, 256)

    cache, step_logits = None, []
    for t in range(sequence.shape[1]):
        logits, cache = model(sequence[:, t : t + 1], cache)
        step_logits.append(logits[:, 0])
    torch.testing.assert_close(torch.stack(step_logits, dim=1), full_logits, rtol=0, atol=LOGIT_TOLERANCE)


@torch.inference_mode()
def test_chunk_after_cache_is_masked_causally():
    # A chunk of several tokens after a cached prefix exercises the mask with past positions.
    model = tiny_model(n_kv_heads=2)
    sequence = torch.randint(0, 256, (1, 24), generator=torch.Generator().manual_seed(2))
    full_logits, _ = model(sequence)
    _, cache = model(sequence[:, :10])
    chunk_logits, _ = model(sequence[:, 10:], cache)
    torch.testing.assert_close(chunk_logits, full_logits[:, 10:], rtol=0, atol=LOGIT_TOLERANCE)


@torch.inference_mode()
def test_full_pass_cache_matches_stepwise_cache():
    model = tiny_model(n_kv_heads=1)
    sequence = torch.randint(0, 256, (1, 12), generator=torch.Generator().manual_seed(3))
    _, full_cache = model(sequence)
    cache = None
    for t in range(sequence.shape[1]):
        _, cache = model(sequence[:, t : t + 1], cache)
    for full_layer, step_layer in zip(full_cache, cache):
        torch.testing.assert_close(step_layer.keys, full_layer.keys, rtol=0, atol=1e-5)
        torch.testing.assert_close(step_layer.values, full_layer.values, rtol=0, atol=1e-5)


# -----------------------------------------------------------------------------
# The cache's shape and bytes


@pytest.mark.parametrize("layout", HEAD_LAYOUTS)
@torch.inference_mode()
def test_cache_grows_one_position_per_step(layout):
    n_kv_heads = HEAD_LAYOUTS[layout]
    model = tiny_model(n_kv_heads)
    head_dim = TINY.d_model // TINY.n_heads
    _, cache = model(prompt_tensor(TINY.prompt_tokens, "cpu"))
    for step in range(5):
        expected = (1, n_kv_heads, TINY.prompt_tokens + step, head_dim)
        assert len(cache) == TINY.n_layers
        for layer in cache:
            assert tuple(layer.keys.shape) == expected
            assert tuple(layer.values.shape) == expected
        _, cache = model(torch.tensor([[65]]), cache)


@torch.inference_mode()
def test_cache_keeps_stored_positions():
    model = tiny_model()
    _, before = model(prompt_tensor(TINY.prompt_tokens, "cpu"))
    _, after = model(torch.tensor([[65]]), before)
    for old, new in zip(before, after):
        assert torch.equal(new.keys[:, :, : TINY.prompt_tokens], old.keys)
        assert torch.equal(new.values[:, :, : TINY.prompt_tokens], old.values)


def test_cache_bytes_formula_hand_value():
    # 2 x 4 layers x 4 KV heads x 64 head_dim x 4 bytes (float32) x 399 tokens
    assert cache_bytes_formula(4, 4, 64, 4, 399) == 3_268_608


@pytest.mark.parametrize("layout", HEAD_LAYOUTS)
def test_measured_cache_bytes_equal_formula(generations, layout):
    n_kv_heads = HEAD_LAYOUTS[layout]
    cached, _ = generations[layout]
    tokens = TINY.prompt_tokens + TINY.new_tokens - 1  # the last new token is never fed back
    head_dim = TINY.d_model // TINY.n_heads
    expected = cache_bytes_formula(TINY.n_layers, n_kv_heads, head_dim, 4, tokens)
    assert cache_nbytes(cached.cache) == expected
    assert expected == 2 * 2 * n_kv_heads * 8 * 4 * 47


def test_llama2_7b_cache_is_512_kib_per_token():
    assert kv_cache_bytes_per_token(ARCHITECTURES["llama2_7b"]) == 2 * 32 * 32 * 128 * 2 == 512 * 1024


def test_mistral_7b_cache_is_128_kib_per_token():
    # 8 KV heads serve 32 query heads, so the cache is a quarter of Llama 2 7B's.
    assert kv_cache_bytes_per_token(ARCHITECTURES["mistral_7b"]) == 2 * 32 * 8 * 128 * 2 == 128 * 1024


# -----------------------------------------------------------------------------
# Helpers


def test_prompt_tensor_takes_prompt_bytes():
    assert prompt_tensor(3, "cpu").tolist() == [list(b"The")]


def test_prompt_tensor_repeats_short_prompt():
    length = len(kv_cache.PROMPT)
    prompt = prompt_tensor(length + 3, "cpu")[0].tolist()
    assert prompt == list(kv_cache.PROMPT) + list(kv_cache.PROMPT[:3])


def test_reported_steps_hand_values():
    assert reported_steps(64, 8) == [0, 8, 16, 24, 32, 40, 48, 56, 63]
    assert reported_steps(32, 16) == [0, 16, 31]
    assert reported_steps(33, 16) == [0, 16, 32]
    assert reported_steps(1, 16) == [0]
    assert reported_steps(3, 1) == [0, 1, 2]


@torch.inference_mode()
def test_forward_rejects_sequence_over_max_len():
    model = tiny_model()
    with pytest.raises(ValueError, match="max_len"):
        model(torch.zeros(1, TINY.max_len + 1, dtype=torch.long))


# -----------------------------------------------------------------------------
# Params


def test_params_reject_sequence_over_max_len():
    with pytest.raises(ValueError, match="max_len"):
        Params(max_len=100, prompt_tokens=16, new_tokens=85)


def test_params_accept_sequence_at_max_len():
    assert Params(max_len=100, prompt_tokens=16, new_tokens=84).new_tokens == 84


def test_params_reject_d_model_not_multiple_of_heads():
    with pytest.raises(ValueError, match="n_heads"):
        Params(d_model=250, n_heads=4)


def test_params_reject_heads_not_multiple_of_kv_heads():
    with pytest.raises(ValueError, match="n_kv_heads"):
        Params(n_heads=4, n_kv_heads=3)


@pytest.mark.parametrize("name", ["n_layers", "repeats", "threads", "report_every", "new_tokens", "prompt_tokens"])
def test_params_reject_zero(name):
    with pytest.raises(ValueError, match=name):
        Params(**{name: 0})


def test_params_reject_fractional_repeats():
    with pytest.raises(ValueError, match="repeats"):
        Params(repeats=2.5)


def test_params_reject_empty_contexts():
    with pytest.raises(ValueError, match="contexts"):
        Params(contexts=())


def test_params_reject_non_positive_context():
    with pytest.raises(ValueError, match="contexts"):
        Params(contexts=(1024, 0))


# -----------------------------------------------------------------------------
# The run


@pytest.fixture(scope="module")
def quick_output():
    return kv_cache.run(QUICK)


def test_quick_latency_has_value_per_position(quick_output):
    positions = quick_output["positions"]
    # QUICK: a 16-byte prompt, 64 new tokens, every 8th reported plus the last.
    assert positions == [16, 24, 32, 40, 48, 56, 64, 72, 79]
    assert len(quick_output["latency_ms"]["cached"]) == len(positions)
    assert len(quick_output["latency_ms"]["uncached"]) == len(positions)


def test_quick_tokens_identical(quick_output):
    assert quick_output["tokens_identical"] is True
    assert quick_output["max_abs_logit_diff"] < LOGIT_TOLERANCE


def test_quick_cache_bytes_match_formula(quick_output):
    cache = quick_output["cache_bytes"]
    assert cache["measured"] == cache["formula"]
    # 2 x 2 layers x 4 KV heads x 16 head_dim x 4 bytes x (16 + 64 - 1) tokens
    assert cache["formula"] == 2 * 2 * 4 * 16 * 4 * 79 == 80_896
    assert cache["tokens"] == 79
    assert cache["per_token"] == 1024


def test_quick_published_cache_sizes(quick_output):
    assert quick_output["cache_kib_per_token"] == {"llama2_7b": 512.0, "mistral_7b": 128.0}
    assert quick_output["labels"] == {"llama2_7b": "Llama 2 7B", "mistral_7b": "Mistral 7B"}
    assert quick_output["contexts"] == [1024, 4096, 8192, 16384, 32768]
    # 512 KiB x 4096 tokens = 2 GiB = 2.147 GB, and a quarter of that under GQA.
    assert quick_output["cache_gb"]["llama2_7b"][1] == pytest.approx(2.14748)
    assert quick_output["cache_gb"]["mistral_7b"][1] == pytest.approx(0.536871)


def test_quick_published_cache_is_linear_in_context(quick_output):
    for key, sizes in quick_output["cache_gb"].items():
        for context, size in zip(quick_output["contexts"], sizes):
            assert size == pytest.approx(sizes[0] * context / quick_output["contexts"][0], rel=1e-5), key


def test_quick_totals_are_ordered(quick_output):
    for mode, total in quick_output["total_s"].items():
        assert total["min"] <= total["median"] <= total["max"], mode


def test_quick_speedup_is_ratio_of_medians(quick_output):
    total = quick_output["total_s"]
    ratio = total["uncached"]["median"] / total["cached"]["median"]
    assert quick_output["speedup"] == pytest.approx(ratio, rel=1e-4)


def timing_free(output):
    """Return the output without the keys that hold measured times."""
    return {key: value for key, value in output.items() if key not in ("latency_ms", "total_s", "speedup")}


def test_same_seed_gives_same_output(quick_output):
    assert timing_free(kv_cache.run(QUICK)) == timing_free(quick_output)


def test_run_restores_thread_count():
    before = torch.get_num_threads()
    torch.set_num_threads(3)
    try:
        kv_cache.run(dataclasses.replace(TINY, new_tokens=4))
        assert torch.get_num_threads() == 3
    finally:
        torch.set_num_threads(before)


def test_run_reports_progress():
    calls = []
    kv_cache.run(TINY, progress=lambda done, total, label: calls.append((done, total)))
    # A warm-up and TINY.repeats timed generations, per mode.
    assert calls == [(1, 4), (2, 4), (3, 4), (4, 4)]
