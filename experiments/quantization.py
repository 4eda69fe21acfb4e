"""Weight-only round-to-nearest quantization of a small language model at 8, 4, 3 and 2 bits.

A dense byte-level transformer is trained on the project's corpus (Python source, English prose
and arithmetic, see experiments/common/corpus.py). The weight matrix of every nn.Linear is then
quantized with symmetric absmax round-to-nearest (RTN) and dequantized back to float, so the model
runs in FP32 on weights that only take the values the integer format can store (simulated
quantization). For b bits the integer codes lie in [-(2^(b-1) - 1), 2^(b-1) - 1], and a block of
weights w with scale s = max|w| / (2^(b-1) - 1) is stored as round(w / s).

Three scale granularities are compared, each with one FP16 scale per block:
- per-tensor: one scale for the whole matrix,
- per-channel: one scale per output row,
- group-wise: one scale per `group_size` consecutive input weights of a row.

For each granularity and bit width the experiment reports the relative reconstruction error of
the weights, the held-out loss in nats and bits per byte, the perplexity, and the storage cost in
bits per weight including the scales. It also applies the same storage arithmetic to Llama 2 7B's
published shapes (experiments/model_sizes.py) to give the weight memory of each format.

What is quantized: the q, k, v, attention output and both MLP matrices of every block. The token
and position embeddings and the LayerNorms stay FP32. The output head reuses the token embedding
matrix (tied weights), so it stays FP32 as well. The Llama 2 7B figures follow the same rule: its
attention and feed-forward matrices are quantized, while its embedding, untied output head and
RMSNorm gains stay FP16.

NOTE: the model is small and trained for a few hundred steps, far below the 6.7B parameters at which
LLM.int8() reports large outlier features emerging. Its loss barely moves at 8 and 4 bits, and what
separates the schemes shows mainly at 3 and 2 bits.

Sources:
- T. Dettmers, M. Lewis, Y. Belkada, L. Zettlemoyer, "LLM.int8(): 8-bit Matrix Multiplication for
  Transformers at Scale", NeurIPS 2022: absmax quantization, and vector-wise quantization with a
  separate scale for each row, which the per-channel scheme here is.
- E. Frantar, S. Ashkboos, T. Hoefler, D. Alistarh, "GPTQ: Accurate Post-Training Quantization
  for Generative Pre-trained Transformers", ICLR 2023: round-to-nearest as the baseline that
  breaks down at 3 and 4 bits, and scales shared by groups of consecutive weights.
- H. Touvron et al., "Llama 2: Open Foundation and Fine-Tuned Chat Models", 2023: the 7B model
  whose weight memory is computed.
"""

import copy
import math
import time
from dataclasses import dataclass

import torch
import torch.nn as nn
from torch.nn import functional as F

from experiments.common.corpus import DOMAINS, load_corpus
from experiments.model_sizes import ARCHITECTURES, BYTES_PER_GB, count_parameters, total_and_active

SEED = 1337
VOCAB_SIZE = 256  # bytes
SCALE_BITS = 16  # every scale is stored as FP16
FP16_BITS = 16

SCHEMES = ("per_tensor", "per_channel", "group")
REFERENCE_MODEL = "llama2_7b"  # the ARCHITECTURES key whose weight memory is reported


def scheme_label(scheme, group_size):
    """Return the name of `scheme` for a chart legend, with the group size of the group scheme."""
    return {"per_tensor": "per-tensor", "per_channel": "per-channel", "group": f"group-wise ({group_size})"}[scheme]


@dataclass(frozen=True)
class Params:
    """Model, training and quantization settings of the full run. QUICK shrinks the model and the data."""

    d_model: int = 128
    n_heads: int = 4
    n_layers: int = 4
    mlp_hidden: int = 512  # 4 * d_model, as in GPT-2
    context: int = 128  # bytes per training and held-out window
    batch_size: int = 16
    train_steps: int = 500
    learning_rate: float = 6e-3  # peak, reached after warmup_steps and decayed along a cosine to a tenth
    warmup_steps: int = 30
    log_every: int = 25
    bits: tuple[int, ...] = (8, 4, 3, 2)
    # 64 weights per scale cost 16 / 64 = 0.25 extra bits per weight, half of what 32 would. 64 still
    # splits every row of this model into 2 (attention, d_model = 128) to 8 (MLP down projection,
    # 512 inputs) groups, so group-wise differs from per-channel everywhere. A group of 128 would
    # equal per-channel in the attention matrices here.
    group_size: int = 64
    corpus_bytes_per_domain: int = 300_000
    heldout_fraction: float = 0.1
    eval_tokens_per_domain: int = 8_192  # held-out predictions per domain, rounded down to whole windows

    def __post_init__(self):
        sizes = ("d_model", "n_heads", "n_layers", "mlp_hidden", "context", "batch_size", "train_steps",
                 "log_every", "group_size", "corpus_bytes_per_domain", "eval_tokens_per_domain")
        for name in sizes:
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if self.d_model % self.n_heads:
            raise ValueError(f"d_model ({self.d_model}) must be a multiple of n_heads ({self.n_heads})")
        if not isinstance(self.warmup_steps, int) or not 0 <= self.warmup_steps < self.train_steps:
            raise ValueError(
                f"warmup_steps must be an integer from 0 to train_steps - 1 ({self.train_steps - 1}), "
                f"got {self.warmup_steps!r}"
            )
        if not self.learning_rate > 0:
            raise ValueError(f"learning_rate must be positive, got {self.learning_rate}")
        # 1 bit leaves no nonzero level in a symmetric format, and codes are stored in int8.
        if not self.bits or any(not isinstance(b, int) or not 2 <= b <= 8 for b in self.bits):
            raise ValueError(f"bits must be integer widths from 2 to 8, got {list(self.bits)}")
        if len(set(self.bits)) != len(self.bits):
            raise ValueError(f"bits must list each width once, got {list(self.bits)}")
        if self.eval_tokens_per_domain < self.context:
            raise ValueError(
                f"eval_tokens_per_domain ({self.eval_tokens_per_domain}) must be at least context "
                f"({self.context}), the tokens of one held-out window"
            )


QUICK = Params(
    d_model=64,
    n_heads=2,
    n_layers=1,
    mlp_hidden=256,
    context=32,
    batch_size=8,
    train_steps=20,
    warmup_steps=5,
    log_every=5,
    corpus_bytes_per_domain=40_000,
    eval_tokens_per_domain=1_024,
)


# -----------------------------------------------------------------------------
# Quantization


def max_code(bits):
    """Return the largest integer code of a symmetric `bits`-bit format, 2^(bits-1) - 1."""
    return 2 ** (bits - 1) - 1


def blocks_of(weight, scheme, group_size):
    """Reshape a (rows, cols) matrix into (n_blocks, block_len) so that each block shares one scale.

    For the group scheme the columns are padded with zeros to a multiple of group_size, so a short
    last group of a row gets its own scale. Zeros never raise a block's absmax.
    """
    rows, cols = weight.shape
    if scheme == "per_tensor":
        return weight.reshape(1, rows * cols)                              # (1, rows*cols)
    if scheme == "per_channel":
        return weight                                                      # (rows, cols)
    if scheme == "group":
        padded_cols = math.ceil(cols / group_size) * group_size
        padded = F.pad(weight, (0, padded_cols - cols))                    # (rows, padded_cols)
        return padded.reshape(-1, group_size)                              # (rows*padded_cols/g, g)
    raise ValueError(f"scheme must be one of {', '.join(SCHEMES)}, got {scheme!r}")


def quantize(weight, bits, scheme, group_size):
    """Quantize a 2-d weight matrix with symmetric absmax round-to-nearest.

    Returns (codes, scales): int8 codes in [-max_code, max_code] with the shape of
    blocks_of(weight), and one scale per block as an (n_blocks, 1) float tensor.
    A block of zeros gets the scale 0 and the codes 0.
    """
    if weight.dim() != 2:
        raise ValueError(f"weight must be a 2-d matrix, got shape {tuple(weight.shape)}")
    blocks = blocks_of(weight, scheme, group_size)                         # (n_blocks, block_len)
    absmax = blocks.abs().amax(dim=1, keepdim=True)                        # (n_blocks, 1)
    scales = absmax / max_code(bits)                                       # (n_blocks, 1)

    # A zero block would divide 0 by 0. Dividing by 1 instead gives its codes 0, which is exact.
    divisor = torch.where(scales > 0, scales, torch.ones_like(scales))
    codes = torch.round(blocks / divisor).clamp(-max_code(bits), max_code(bits))
    return codes.to(torch.int8), scales


def dequantize(codes, scales, shape):
    """Map codes back to floats, code * scale, and undo blocks_of's reshape and padding."""
    rows, cols = shape
    values = codes.to(scales.dtype) * scales                               # (n_blocks, block_len)
    return values.reshape(rows, -1)[:, :cols]                              # (rows, cols)


def fake_quantize(weight, bits, scheme, group_size):
    """Return dequantize(quantize(weight)): the float matrix that a quantized model computes with.

    NOTE: scales stay FP32 here although the storage cost counts them as FP16. Rounding a scale to
    FP16 would change each dequantized weight by at most 2^-11 of its value, far less than a step.
    """
    codes, scales = quantize(weight, bits, scheme, group_size)
    return dequantize(codes, scales, weight.shape)


def scale_count(rows, cols, scheme, group_size):
    """Return how many scales a (rows, cols) matrix stores under `scheme`."""
    if scheme == "per_tensor":
        return 1
    if scheme == "per_channel":
        return rows
    if scheme == "group":
        return rows * math.ceil(cols / group_size)
    raise ValueError(f"scheme must be one of {', '.join(SCHEMES)}, got {scheme!r}")


def storage_bits(shapes, bits, scheme, group_size):
    """Return the bits that the matrices in `shapes` take when quantized: codes plus FP16 scales.

    shapes is a list of (rows, cols, count), count being the number of matrices of that shape.
    """
    total = 0
    for rows, cols, count in shapes:
        total += count * (rows * cols * bits + scale_count(rows, cols, scheme, group_size) * SCALE_BITS)
    return total


def bits_per_weight(shapes, bits, scheme, group_size):
    """Return the effective storage per weight in bits, scales included."""
    n_weights = sum(rows * cols * count for rows, cols, count in shapes)
    return storage_bits(shapes, bits, scheme, group_size) / n_weights


# -----------------------------------------------------------------------------
# Llama 2 7B weight memory


def linear_shapes(arch):
    """Return the (rows, cols, count) of the attention and feed-forward matrices of `arch`.

    Rows are outputs and columns inputs, as in nn.Linear. The output head is left out, because it
    is kept in FP16 like the embedding.
    """
    d, layers = arch.d_model, arch.n_layers
    q_width = arch.n_heads * arch.head_dim
    kv_width = arch.n_kv_heads * arch.head_dim
    experts = arch.n_experts * layers
    shapes = [
        (q_width, d, layers),             # q
        (kv_width, d, 2 * layers),        # k and v
        (d, q_width, layers),             # o
        (arch.ffn_hidden, d, 2 * experts),  # SwiGLU gate and up
        (d, arch.ffn_hidden, experts),    # SwiGLU down
    ]
    if arch.n_experts > 1:
        shapes.append((arch.n_experts, d, layers))  # router
    return shapes


def reference_memory(bits_list, group_size):
    """Compute Llama 2 7B's weight memory at FP16 and in each quantized format, in decimal GB.

    Returns (summary, memory) where memory[scheme] lists GB per entry of bits_list. The matrices of
    linear_shapes are quantized, and every other parameter stays at FP16.
    """
    arch = ARCHITECTURES[REFERENCE_MODEL]
    parts = count_parameters(arch)
    total, _ = total_and_active(parts)
    shapes = linear_shapes(arch)
    quantized = sum(rows * cols * count for rows, cols, count in shapes)
    if quantized != parts["attention"] + parts["ffn_total"] + parts["router"]:
        raise AssertionError(f"linear_shapes counts {quantized} weights, but count_parameters disagrees: {parts}")
    kept_bits = (total - quantized) * FP16_BITS

    memory = {
        scheme: [(storage_bits(shapes, b, scheme, group_size) + kept_bits) / 8 / BYTES_PER_GB for b in bits_list]
        for scheme in SCHEMES
    }
    summary = {
        "label": arch.label,
        "parameters_total": total,
        "parameters_quantized": quantized,
        "fp16_gb": total * FP16_BITS / 8 / BYTES_PER_GB,
    }
    return summary, memory


# -----------------------------------------------------------------------------
# The model


class CausalSelfAttention(nn.Module):
    def __init__(self, p: Params):
        super().__init__()
        self.n_heads = p.n_heads
        self.qkv = nn.Linear(p.d_model, 3 * p.d_model, bias=False)
        self.out = nn.Linear(p.d_model, p.d_model, bias=False)

    def forward(self, x):
        B, T, C = x.shape
        q, k, v = self.qkv(x).split(C, dim=2)                          # 3 x (B, T, C)
        q, k, v = (t.view(B, T, self.n_heads, C // self.n_heads).transpose(1, 2) for t in (q, k, v))  # (B, nh, T, hs)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)     # (B, nh, T, hs)
        y = y.transpose(1, 2).reshape(B, T, C)                         # (B, T, C)
        return self.out(y)


class Block(nn.Module):
    """Pre-norm transformer block: attention and a GELU MLP, each around a residual connection."""

    def __init__(self, p: Params):
        super().__init__()
        self.ln_attn = nn.LayerNorm(p.d_model)
        self.attn = CausalSelfAttention(p)
        self.ln_mlp = nn.LayerNorm(p.d_model)
        self.mlp = nn.Sequential(
            nn.Linear(p.d_model, p.mlp_hidden, bias=False),
            nn.GELU(),
            nn.Linear(p.mlp_hidden, p.d_model, bias=False),
        )

    def forward(self, x):
        x = x + self.attn(self.ln_attn(x))
        return x + self.mlp(self.ln_mlp(x))


class LanguageModel(nn.Module):
    """Byte-level decoder-only transformer with learned positions and a head tied to the token embedding."""

    def __init__(self, p: Params):
        super().__init__()
        self.token_embedding = nn.Embedding(VOCAB_SIZE, p.d_model)
        self.position_embedding = nn.Embedding(p.context, p.d_model)
        self.blocks = nn.ModuleList(Block(p) for _ in range(p.n_layers))
        self.ln_final = nn.LayerNorm(p.d_model)
        for module in self.modules():
            if isinstance(module, (nn.Linear, nn.Embedding)):
                nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def forward(self, idx):
        B, T = idx.shape
        positions = torch.arange(T, device=idx.device)
        x = self.token_embedding(idx) + self.position_embedding(positions)  # (B, T, C)
        for block in self.blocks:
            x = block(x)
        # The head is the token embedding matrix (tied), applied with F.linear so that it is no
        # nn.Linear and quantize_linears leaves it in FP32.
        return F.linear(self.ln_final(x), self.token_embedding.weight)     # (B, T, 256)


def quantized_linears(model):
    """Return the nn.Linear modules of `model`, the layers whose weights are quantized."""
    return [module for module in model.modules() if isinstance(module, nn.Linear)]


@torch.no_grad()
def quantize_linears(model, bits, scheme, group_size):
    """Replace every nn.Linear weight of `model` in place by its fake-quantized copy.

    Returns the relative reconstruction error ||W - deq(q(W))||_F / ||W||_F over all those weights.
    """
    error_sq, norm_sq = 0.0, 0.0
    for linear in quantized_linears(model):
        weight = linear.weight
        restored = fake_quantize(weight, bits, scheme, group_size)
        error_sq += (weight - restored).double().pow(2).sum().item()
        norm_sq += weight.double().pow(2).sum().item()
        weight.copy_(restored)
    return math.sqrt(error_sq / norm_sq)


# -----------------------------------------------------------------------------
# Data, training and evaluation


def to_tensor(data: bytes, device):
    return torch.tensor(list(data), dtype=torch.long, device=device)


def sample_batch(texts, p: Params, generator):
    """Sample batch_size random windows of context+1 bytes, row r from domain r % len(texts)."""
    rows = []
    for r in range(p.batch_size):
        text = texts[r % len(texts)]
        start = torch.randint(len(text) - p.context, (1,), generator=generator).item()
        rows.append(text[start : start + p.context + 1])
    batch = torch.stack(rows)                                           # (B, T+1)
    return batch[:, :-1], batch[:, 1:]                                  # inputs, targets: (B, T)


def heldout_windows(texts, p: Params):
    """Cut each domain's held-out bytes into consecutive windows of context+1 bytes.

    Returns (inputs, targets), each (n_windows, T), with the same number of windows per domain.
    """
    windows_per_domain = p.eval_tokens_per_domain // p.context
    windows = []
    for name, text in zip(DOMAINS, texts):
        if len(text) < windows_per_domain * p.context + 1:
            raise ValueError(
                f"the {name} held-out text has {len(text)} bytes, fewer than the "
                f"{windows_per_domain * p.context + 1} that eval_tokens_per_domain needs; "
                "raise corpus_bytes_per_domain or heldout_fraction, or lower eval_tokens_per_domain"
            )
        starts = range(0, windows_per_domain * p.context, p.context)
        windows.extend(text[s : s + p.context + 1] for s in starts)
    stacked = torch.stack(windows)                                       # (n_windows, T+1)
    return stacked[:, :-1], stacked[:, 1:]


def learning_rate_factor(step, p: Params):
    """Return the learning rate of 0-based `step` as a fraction of the peak: linear warmup, then cosine to 0.1."""
    if step < p.warmup_steps:
        return (step + 1) / p.warmup_steps
    decayed = min((step - p.warmup_steps) / max(p.train_steps - p.warmup_steps, 1), 1.0)
    return 0.1 + 0.9 * 0.5 * (1.0 + math.cos(math.pi * decayed))


def train(model, texts, p: Params, progress):
    """Train `model` in place with AdamW and return (final train loss, seconds).

    The final train loss is the mean loss over the last log_every steps, in nats per byte.
    """
    generator = torch.Generator().manual_seed(SEED)
    optimizer = torch.optim.AdamW(model.parameters(), lr=p.learning_rate)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: learning_rate_factor(step, p))
    recent = []

    started = time.perf_counter()
    model.train()
    for step in range(1, p.train_steps + 1):
        inputs, targets = sample_batch(texts, p, generator)
        logits = model(inputs)                                          # (B, T, 256)
        loss = F.cross_entropy(logits.reshape(-1, VOCAB_SIZE), targets.reshape(-1))

        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
        recent = (recent + [loss.item()])[-p.log_every :]

        if progress is not None and (step % p.log_every == 0 or step == p.train_steps):
            progress(step, p.train_steps, "training")
    return sum(recent) / len(recent), time.perf_counter() - started


@torch.no_grad()
def heldout_loss(model, windows, batch_size=64):
    """Return the mean cross-entropy on the held-out windows, in nats per byte."""
    inputs, targets = windows
    model.eval()
    total_nats = 0.0
    for start in range(0, len(inputs), batch_size):
        logits = model(inputs[start : start + batch_size])               # (b, T, 256)
        chunk = targets[start : start + batch_size]                      # (b, T)
        total_nats += F.cross_entropy(logits.reshape(-1, VOCAB_SIZE), chunk.reshape(-1), reduction="sum").item()
    return total_nats / targets.numel()


def sig(value):
    """Round to 6 significant digits, enough for any chart and stable in a diff."""
    return float(f"{value:.6g}")


def loss_entry(loss):
    """Return a held-out loss in nats per byte, in bits per byte and as perplexity."""
    return {"loss": sig(loss), "bits_per_byte": sig(loss / math.log(2)), "perplexity": sig(math.exp(loss))}


# -----------------------------------------------------------------------------
# The run


def run(params: Params, *, device: str = "cpu", progress=None) -> dict:
    """Train the model, quantize it under each scheme and bit width, and measure each copy.

    `progress`, when given, is called as progress(done, total, label): during training every
    log_every steps, then after each quantized copy is evaluated.
    """
    p = params
    torch.manual_seed(SEED)

    corpus = load_corpus(p.corpus_bytes_per_domain, p.heldout_fraction, SEED)
    train_texts = [to_tensor(d.train, device) for d in corpus]
    windows = heldout_windows([to_tensor(d.heldout, device) for d in corpus], p)

    model = LanguageModel(p).to(device)
    final_train_loss, train_seconds = train(model, train_texts, p, progress)
    baseline = heldout_loss(model, windows)

    shapes = [(*linear.weight.shape, 1) for linear in quantized_linears(model)]
    results = {scheme: {key: [] for key in ("weight_error", "loss", "bits_per_byte", "perplexity", "bits_per_weight")}
               for scheme in SCHEMES}
    total, done = len(SCHEMES) * len(p.bits), 0
    for scheme in SCHEMES:
        for bits in p.bits:
            quantized = copy.deepcopy(model)
            error = quantize_linears(quantized, bits, scheme, p.group_size)
            entry = loss_entry(heldout_loss(quantized, windows))

            row = results[scheme]
            row["weight_error"].append(sig(error))
            for key in ("loss", "bits_per_byte", "perplexity"):
                row[key].append(entry[key])
            row["bits_per_weight"].append(sig(bits_per_weight(shapes, bits, scheme, p.group_size)))

            done += 1
            if progress is not None:
                progress(done, total, "evaluating quantized copies")

    reference, memory = reference_memory(p.bits, p.group_size)
    for scheme in SCHEMES:
        results[scheme]["llama2_7b_gb"] = [sig(gb) for gb in memory[scheme]]
    labels = ["FP16"] + [f"{scheme_label(s, p.group_size)} INT{b}" for s in SCHEMES for b in p.bits]
    values = [reference["fp16_gb"]] + [gb for s in SCHEMES for gb in memory[s]]

    return {
        "bits": list(p.bits),
        "schemes": list(SCHEMES),
        "schemes_labels": [scheme_label(s, p.group_size) for s in SCHEMES],
        "group_size": p.group_size,
        "scale_bits": SCALE_BITS,
        "baseline": {**loss_entry(baseline), "bits_per_weight": 32},
        "results": results,
        "llama2_7b": {**reference, "fp16_gb": sig(reference["fp16_gb"])},
        "llama2_7b_memory_gb": {"labels": labels, "values": [sig(v) for v in values]},
        "model": {
            "d_model": p.d_model,
            "n_heads": p.n_heads,
            "n_layers": p.n_layers,
            "mlp_hidden": p.mlp_hidden,
            "context": p.context,
            "parameters": sum(t.numel() for t in model.parameters()),
            "quantized_weights": sum(rows * cols for rows, cols, _ in shapes),
            "train_steps": p.train_steps,
            "batch_size": p.batch_size,
            "final_train_loss": sig(final_train_loss),
            "train_seconds": round(train_seconds, 2),
        },
        "corpus": {d.name: {"bytes": len(d.train) + len(d.heldout), "source": d.source} for d in corpus},
        "eval_tokens": windows[1].numel(),
    }


# -----------------------------------------------------------------------------
# Output contract

PER_BITS_KEYS = ("weight_error", "loss", "bits_per_byte", "perplexity", "bits_per_weight", "llama2_7b_gb")


def _array(items):
    return {"type": "array", "items": items, "minItems": 1}


def _object(properties):
    return {"type": "object", "properties": properties, "required": list(properties), "additionalProperties": False}


def _output_schema():
    """Build the JSON Schema of run()'s output, for any bit widths and model size."""
    count = {"type": "integer", "minimum": 1}
    positive = {"type": "number", "exclusiveMinimum": 0}
    non_negative = {"type": "number", "minimum": 0}
    text = {"type": "string", "minLength": 1}
    loss = {
        "loss": {**non_negative, "description": "held-out cross-entropy in nats per byte"},
        "bits_per_byte": {**non_negative, "description": "held-out cross-entropy in bits per byte"},
        "perplexity": {"type": "number", "minimum": 1, "description": "exp(loss), per byte"},
    }
    per_bits = {
        "weight_error": {
            **_array(non_negative),
            "description": "||W - deq(q(W))||_F / ||W||_F over all quantized weights, per entry of `bits`",
        },
        "loss": {**_array(non_negative), "description": "held-out loss in nats per byte, per entry of `bits`"},
        "bits_per_byte": {**_array(non_negative), "description": "held-out loss in bits per byte, per entry of `bits`"},
        "perplexity": {**_array({"type": "number", "minimum": 1}), "description": "exp(loss), per entry of `bits`"},
        "bits_per_weight": {
            **_array(positive),
            "description": "storage in bits per quantized weight, FP16 scales included, per entry of `bits`",
        },
        "llama2_7b_gb": {
            **_array(positive),
            "description": "Llama 2 7B weight memory in GB (10^9 bytes) in this format, per entry of `bits`",
        },
    }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        **_object({
            "bits": {**_array({"type": "integer", "minimum": 2, "maximum": 8}), "uniqueItems": True,
                     "description": "bit widths of the integer codes"},
            "schemes": {**_array({"enum": list(SCHEMES)}), "uniqueItems": True},
            "schemes_labels": _array(text),
            "group_size": {**count, "description": "consecutive input weights per scale in the group scheme"},
            "scale_bits": {**count, "description": "bits per stored scale (FP16)"},
            "baseline": {
                **_object({**loss, "bits_per_weight": {**positive, "description": "FP32"}}),
                "description": "the trained model with FP32 weights",
            },
            "results": _object({scheme: _object(per_bits) for scheme in SCHEMES}),
            "llama2_7b": _object({
                "label": text,
                "parameters_total": count,
                "parameters_quantized": {**count, "description": "attention and feed-forward weights"},
                "fp16_gb": {**positive, "description": "all parameters at FP16, in GB (10^9 bytes)"},
            }),
            "llama2_7b_memory_gb": {
                **_object({"labels": _array(text), "values": _array(positive)}),
                "description": "Llama 2 7B weight memory in GB (10^9 bytes): FP16, then each scheme x bits",
            },
            "model": _object({
                "d_model": count,
                "n_heads": count,
                "n_layers": count,
                "mlp_hidden": count,
                "context": {**count, "description": "bytes per window"},
                "parameters": count,
                "quantized_weights": {**count, "description": "weights of all nn.Linear layers"},
                "train_steps": count,
                "batch_size": count,
                "final_train_loss": {**non_negative, "description": "nats per byte, mean of the last log_every steps"},
                "train_seconds": {**non_negative, "description": "wall-clock training time, varies run to run"},
            }),
            "corpus": _object({name: _object({"bytes": count, "source": text}) for name in DOMAINS}),
            "eval_tokens": {**count, "description": "held-out bytes predicted per evaluation"},
        }),
    }


SCHEMA = _output_schema()

SAME_LENGTH = [
    ("bits", *(f"results.{scheme}.{key}" for scheme in SCHEMES for key in PER_BITS_KEYS)),
    ("schemes", "schemes_labels"),
    ("llama2_7b_memory_gb.labels", "llama2_7b_memory_gb.values"),
]
