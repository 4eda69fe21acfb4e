"""Parameter counts, weight memory and KV-cache size of published LLM configurations.

Nothing is trained here. Each model is a configuration copied from its paper, or from the released
checkpoint where the paper gives only the size class. Every figure follows from the configuration
in closed form: the parameters of each weight matrix, the weight memory at common precisions, and
the bytes of keys and values that the KV cache stores per token.

All five models are decoder-only transformers of one family. Each block is pre-norm: RMSNorm,
then attention with separate q, k, v and o projections and no biases, then RMSNorm and a SwiGLU
feed-forward layer with three matrices (gate, up, down). Grouped-query attention (GQA) gives k
and v fewer heads than q. In Mixtral every feed-forward layer is a set of experts with a router.

Sources:
- H. Touvron et al., "LLaMA: Open and Efficient Foundation Language Models", 2023: the
  architecture (pre-normalisation with RMSNorm, SwiGLU, rotary embeddings) that Llama 2 keeps.
- H. Touvron et al., "Llama 2: Open Foundation and Fine-Tuned Chat Models", 2023, Table 1: the
  sizes 7B, 13B and 70B, and grouped-query attention for 70B only.
- A. Jiang et al., "Mistral 7B", 2023, Table 1: the Mistral 7B configuration.
- A. Jiang et al., "Mixtral of Experts", 2024, Table 1: Mistral 7B's dimensions with 8 experts
  and top-2 routing in every layer.

The counts reproduce the parameter count of the released Llama 2 7B checkpoint (6.74B) and the
figures Mistral AI gave for Mixtral 8x7B at its release (46.7B total, 12.9B active per token).
"""

from dataclasses import dataclass

SEED = 0  # Unused, because every figure is exact arithmetic. The runner records a seed for each experiment.

# Storage per weight. INT8 and INT4 ignore the scales and zero-points that real quantization
# formats store per channel or per group of weights, so their byte counts are lower bounds.
BITS_PER_PARAMETER = {"fp32": 32, "fp16": 16, "int8": 8, "int4": 4}

KV_BYTES_PER_VALUE = 2  # the KV cache is counted in FP16

BYTES_PER_GB = 10**9  # decimal gigabytes. A GiB (2**30 bytes) is 7.4% larger.


@dataclass(frozen=True)
class Architecture:
    """A published decoder-only transformer configuration and where it comes from."""

    label: str
    source: str
    n_layers: int
    d_model: int
    ffn_hidden: int            # SwiGLU hidden width of one feed-forward layer (of one expert in an MoE)
    n_heads: int               # query heads
    n_kv_heads: int            # key and value heads. Fewer than n_heads means GQA.
    vocab_size: int
    n_experts: int = 1         # 1 for a dense model
    top_k: int = 1             # experts each token is routed to
    tied_embeddings: bool = False  # True when the output head reuses the embedding matrix
    sliding_window: int | None = None  # attention window in tokens, None for full causal attention

    @property
    def head_dim(self):
        return self.d_model // self.n_heads


ARCHITECTURES = {
    "llama2_7b": Architecture(
        label="Llama 2 7B",
        source=(
            "Touvron et al. (2023), Llama 2, Table 1 (size, no GQA). Layer shapes: the released "
            "checkpoint meta-llama/Llama-2-7b-hf"
        ),
        n_layers=32, d_model=4096, ffn_hidden=11008, n_heads=32, n_kv_heads=32, vocab_size=32000,
    ),
    "llama2_13b": Architecture(
        label="Llama 2 13B",
        source=(
            "Touvron et al. (2023), Llama 2, Table 1 (size, no GQA). Layer shapes: the released "
            "checkpoint meta-llama/Llama-2-13b-hf"
        ),
        n_layers=40, d_model=5120, ffn_hidden=13824, n_heads=40, n_kv_heads=40, vocab_size=32000,
    ),
    # NOTE: "70B" is a size class. These shapes give 68.98B parameters.
    "llama2_70b": Architecture(
        label="Llama 2 70B",
        source=(
            "Touvron et al. (2023), Llama 2, Table 1 (size, GQA). Layer shapes: the released "
            "checkpoint meta-llama/Llama-2-70b-hf"
        ),
        n_layers=80, d_model=8192, ffn_hidden=28672, n_heads=64, n_kv_heads=8, vocab_size=32000,
    ),
    "mistral_7b": Architecture(
        label="Mistral 7B",
        source="Jiang et al. (2023), Mistral 7B, arXiv:2310.06825, Table 1",
        n_layers=32, d_model=4096, ffn_hidden=14336, n_heads=32, n_kv_heads=8, vocab_size=32000,
        sliding_window=4096,
    ),
    "mixtral_8x7b": Architecture(
        label="Mixtral 8x7B",
        source="Jiang et al. (2024), Mixtral of Experts, arXiv:2401.04088, Table 1",
        n_layers=32, d_model=4096, ffn_hidden=14336, n_heads=32, n_kv_heads=8, vocab_size=32000,
        n_experts=8, top_k=2,
    ),
}


@dataclass(frozen=True)
class Params:
    """Models and context lengths to report. QUICK equals the defaults because the run is exact arithmetic."""

    models: tuple[str, ...] = tuple(ARCHITECTURES)  # keys of ARCHITECTURES, in chart order
    contexts: tuple[int, ...] = (4096, 32768)  # in tokens, Llama 2's training context and Mixtral's
    # The dense_vs_sparse comparison: Mixtral against the dense models its paper compares it with.
    compared: tuple[str, ...] = ("mixtral_8x7b", "llama2_70b", "llama2_13b")

    def __post_init__(self):
        for field_name in ("models", "compared"):
            keys = getattr(self, field_name)
            unknown = [key for key in keys if key not in ARCHITECTURES]
            if unknown or not keys:
                raise ValueError(
                    f"{field_name} must list one or more known models, got {list(keys)}. "
                    f"Known models: {', '.join(ARCHITECTURES)}"
                )
            if len(set(keys)) != len(keys):
                raise ValueError(f"{field_name} must list each model once, got {list(keys)}")
        if not self.contexts or any(not isinstance(c, int) or c < 1 for c in self.contexts):
            raise ValueError(f"contexts must be positive token counts, got {list(self.contexts)}")


QUICK = Params()


# -----------------------------------------------------------------------------
# Counting


def count_parameters(arch: Architecture):
    """Count the parameters of each part of `arch`, with the feed-forward layers split into total and active.

    Returns a dict with the keys embedding, attention, ffn_total, ffn_active, router, norm and
    output_head.
    """
    d, layers = arch.d_model, arch.n_layers
    q_width = arch.n_heads * arch.head_dim
    kv_width = arch.n_kv_heads * arch.head_dim

    # q and o map d <-> n_heads * head_dim. Under GQA, k and v are narrower: n_kv_heads * head_dim.
    attention_per_layer = d * q_width + 2 * d * kv_width + q_width * d
    # SwiGLU: gate and up project d -> ffn_hidden, down projects ffn_hidden -> d.
    expert = 3 * d * arch.ffn_hidden
    # A linear router without bias, d -> n_experts, in every layer of an MoE model.
    router_per_layer = d * arch.n_experts if arch.n_experts > 1 else 0
    # Two RMSNorm gains per block (before attention and before the FFN), one before the head.
    norm = 2 * d * layers + d

    embedding = arch.vocab_size * d
    return {
        "embedding": embedding,
        "attention": attention_per_layer * layers,
        "ffn_total": expert * arch.n_experts * layers,
        "ffn_active": expert * arch.top_k * layers,
        "router": router_per_layer * layers,
        "norm": norm,
        "output_head": 0 if arch.tied_embeddings else embedding,
    }


def total_and_active(parts):
    """Return (total, active-per-token) parameter counts from count_parameters' parts.

    The active count includes the whole embedding table, although a token reads one row of it.
    That convention gives Mixtral's published 12.9B. Without the table, Mixtral's count would be 12.7B.
    """
    shared = parts["embedding"] + parts["attention"] + parts["router"] + parts["norm"] + parts["output_head"]
    return shared + parts["ffn_total"], shared + parts["ffn_active"]


def weight_bytes(n_parameters):
    """Return the bytes that n_parameters weights take at each precision of BITS_PER_PARAMETER."""
    return {name: (n_parameters * bits + 7) // 8 for name, bits in BITS_PER_PARAMETER.items()}  # whole bytes, rounded up


def kv_cache_bytes(arch: Architecture, context: int, bytes_per_value: float = KV_BYTES_PER_VALUE):
    """Return the bytes of keys and values a full KV cache holds for `context` tokens of one sequence."""
    # One key and one value vector per KV head, in every layer, for every token.
    return 2 * arch.n_layers * arch.n_kv_heads * arch.head_dim * bytes_per_value * context


def kv_cache_bytes_per_token(arch: Architecture):
    """Return the FP16 bytes of keys and values that one token adds to the KV cache."""
    return kv_cache_bytes(arch, 1)


# Inputs at which the formulas are written out as test vectors for the slides' what-if controls,
# which compute the same formulas in the page. Bytes per value 0.5 is a 4-bit cache.
TEST_CONTEXTS = (1024, 4096, 32768, 131072)
TEST_BYTES_PER_VALUE = (4, 2, 1, 0.5)
TEST_BITS = (32, 16, 8, 4, 3, 2)


def test_vectors(models):
    """Return KV-cache and weight memory in GB at the test inputs, for every model in `models`."""
    return {
        "kv_cache": [
            {"model": key, "context": context, "bytes_per_value": width,
             "gb": to_gigabytes(kv_cache_bytes(ARCHITECTURES[key], context, width))}
            for key in models for context in TEST_CONTEXTS for width in TEST_BYTES_PER_VALUE
        ],
        "weights": [
            {"model": key, "bits": bits,
             "gb": to_gigabytes(total_and_active(count_parameters(ARCHITECTURES[key]))[0] * bits / 8)}
            for key in models for bits in TEST_BITS
        ],
    }


# -----------------------------------------------------------------------------
# The run


def to_billions(n):
    return sig(n / 1e9)


def to_gigabytes(n_bytes):
    return sig(n_bytes / BYTES_PER_GB)


def sig(value):
    """Round to 6 significant digits, enough for any chart and stable in a diff."""
    return float(f"{value:.6g}")


def describe_model(arch: Architecture, contexts):
    """Compute the output entry of one model: its configuration, counts, weight bytes and KV cache."""
    parts = count_parameters(arch)
    total, active = total_and_active(parts)
    per_token = kv_cache_bytes_per_token(arch)
    return {
        "label": arch.label,
        "source": arch.source,
        "architecture": {
            "n_layers": arch.n_layers,
            "d_model": arch.d_model,
            "ffn_hidden": arch.ffn_hidden,
            "n_heads": arch.n_heads,
            "n_kv_heads": arch.n_kv_heads,
            "head_dim": arch.head_dim,
            "vocab_size": arch.vocab_size,
            "n_experts": arch.n_experts,
            "top_k": arch.top_k,
            "tied_embeddings": arch.tied_embeddings,
            "sliding_window": arch.sliding_window,
        },
        "parameters_total": total,
        "parameters_active": active,
        "parameters_by_part": {
            "embedding": parts["embedding"],
            "attention": parts["attention"],
            "ffn": parts["ffn_total"],
            "router": parts["router"],
            "norm": parts["norm"],
            "output_head": parts["output_head"],
        },
        "weight_bytes": weight_bytes(total),
        "kv_cache_bytes_per_token": per_token,
        # NOTE: these assume a full cache. Mistral 7B's sliding window lets a rolling buffer keep
        # only the last 4096 positions, which caps its cache at the 4096-token figure.
        "kv_cache_bytes": [per_token * context for context in contexts],
    }


def run(params: Params, *, device: str = "cpu", progress=None) -> dict:
    """Count parameters, weight memory and KV-cache bytes for each model in params.models.

    `device` and `progress` are accepted for the runner's contract and unused, because the run is
    plain integer arithmetic that finishes at once.
    """
    p = params
    models = {key: describe_model(ARCHITECTURES[key], p.contexts) for key in p.models}
    ordered = [models[key] for key in p.models]

    compared = [describe_model(ARCHITECTURES[key], p.contexts) for key in p.compared]
    dense_vs_sparse = {
        "order": list(p.compared),
        "labels": [m["label"] for m in compared],
        "parameters_total": [m["parameters_total"] for m in compared],
        "parameters_active": [m["parameters_active"] for m in compared],
        "parameters_total_b": [to_billions(m["parameters_total"]) for m in compared],
        "parameters_active_b": [to_billions(m["parameters_active"]) for m in compared],
        "memory_gb_fp16": [to_gigabytes(m["weight_bytes"]["fp16"]) for m in compared],
    }

    # Arrays over p.models, so a chart takes them straight from the results.
    return {
        "order": list(p.models),
        "labels": [m["label"] for m in ordered],
        "precisions": list(BITS_PER_PARAMETER),
        "bits_per_parameter": list(BITS_PER_PARAMETER.values()),
        "contexts": list(p.contexts),
        "models": models,
        "parameters_total_b": [to_billions(m["parameters_total"]) for m in ordered],
        "parameters_active_b": [to_billions(m["parameters_active"]) for m in ordered],
        "memory_gb": {
            precision: [to_gigabytes(m["weight_bytes"][precision]) for m in ordered]
            for precision in BITS_PER_PARAMETER
        },
        "kv_cache_bytes_per_token": [m["kv_cache_bytes_per_token"] for m in ordered],
        # One array over p.models per context length.
        "kv_cache_gb": [
            [to_gigabytes(m["kv_cache_bytes"][i]) for m in ordered] for i in range(len(p.contexts))
        ],
        "dense_vs_sparse": dense_vs_sparse,
        "test_vectors": test_vectors(p.models),
    }


# -----------------------------------------------------------------------------
# Output contract


def _array(items):
    return {"type": "array", "items": items, "minItems": 1}


def _object(properties):
    return {"type": "object", "properties": properties, "required": list(properties), "additionalProperties": False}


def _by_precision(schema):
    return _object({name: schema for name in BITS_PER_PARAMETER})


def _output_schema():
    """Build the JSON Schema of run()'s output, for any choice of models and contexts."""
    count = {"type": "integer", "minimum": 1}
    non_negative = {"type": "integer", "minimum": 0}
    positive = {"type": "number", "exclusiveMinimum": 0}
    text = {"type": "string", "minLength": 1}
    model_key = {"enum": list(ARCHITECTURES)}

    model = _object({
        "label": text,
        "source": text,
        "architecture": _object({
            "n_layers": count,
            "d_model": count,
            "ffn_hidden": count,
            "n_heads": count,
            "n_kv_heads": count,
            "head_dim": count,
            "vocab_size": count,
            "n_experts": count,
            "top_k": count,
            "tied_embeddings": {"type": "boolean"},
            "sliding_window": {"type": ["integer", "null"], "minimum": 1},
        }),
        "parameters_total": count,
        "parameters_active": {**count, "description": "parameters that take part in one token's forward pass"},
        "parameters_by_part": _object({
            "embedding": count,
            "attention": count,
            "ffn": {**count, "description": "all experts of all layers"},
            "router": non_negative,
            "norm": count,
            "output_head": non_negative,
        }),
        "weight_bytes": _by_precision(count),
        "kv_cache_bytes_per_token": {**count, "description": "FP16 keys and values over all layers"},
        "kv_cache_bytes": {**_array(count), "description": "full FP16 cache at each of `contexts`"},
    })
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        **_object({
            "order": {**_array(model_key), "uniqueItems": True},
            "labels": _array(text),
            "precisions": _array(text),
            "bits_per_parameter": _array(count),
            "contexts": {**_array(count), "description": "context lengths in tokens"},
            "models": {
                "type": "object",
                "propertyNames": model_key,
                "additionalProperties": model,
                "minProperties": 1,
            },
            "parameters_total_b": {**_array(positive), "description": "billions, in `order`"},
            "parameters_active_b": {**_array(positive), "description": "billions, in `order`"},
            "memory_gb": {
                **_by_precision(_array(positive)),
                "description": "weight memory in GB (10^9 bytes) per precision, in `order`",
            },
            "kv_cache_bytes_per_token": {**_array(count), "description": "FP16, in `order`"},
            "kv_cache_gb": {
                **_array(_array(positive)),
                "description": "per context length, the full FP16 KV cache of one sequence in GB, in `order`",
            },
            "dense_vs_sparse": _object({
                "order": {**_array(model_key), "uniqueItems": True},
                "labels": _array(text),
                "parameters_total": _array(count),
                "parameters_active": _array(count),
                "parameters_total_b": _array(positive),
                "parameters_active_b": _array(positive),
                "memory_gb_fp16": {**_array(positive), "description": "weights at FP16 in GB (10^9 bytes)"},
            }),
            "test_vectors": {
                **_object({
                    "kv_cache": _array(_object({
                        "model": model_key, "context": count, "bytes_per_value": positive, "gb": positive,
                    })),
                    "weights": _array(_object({"model": model_key, "bits": count, "gb": positive})),
                }),
                "description": "memory in GB at fixed inputs, replayed against the slides' what-if controls",
            },
        }),
    }


SCHEMA = _output_schema()

SAME_LENGTH = [
    (
        "order",
        "labels",
        "parameters_total_b",
        "parameters_active_b",
        "memory_gb.fp32",
        "memory_gb.fp16",
        "memory_gb.int8",
        "memory_gb.int4",
        "kv_cache_bytes_per_token",
    ),
    ("precisions", "bits_per_parameter"),
    ("contexts", "kv_cache_gb"),
    (
        "dense_vs_sparse.order",
        "dense_vs_sparse.labels",
        "dense_vs_sparse.parameters_total",
        "dense_vs_sparse.parameters_active",
        "dense_vs_sparse.parameters_total_b",
        "dense_vs_sparse.parameters_active_b",
        "dense_vs_sparse.memory_gb_fp16",
    ),
]
