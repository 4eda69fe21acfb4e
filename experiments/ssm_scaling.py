"""Forward-pass time of causal self-attention and of a selective state-space scan against sequence length.

Self-attention compares every token with every earlier token, so its forward pass over T tokens
costs O(T^2 d) and its textbook form stores a T x T score matrix per head. A state-space layer
instead carries a fixed-size state from token to token, so its forward pass costs O(T d N) for a
state of N numbers per channel, and the state does not grow with the context.

Both layers are written here at the same model width d and timed on one sequence (batch 1) at
growing lengths on the CPU:

- `attention`: q, k, v projections, the explicit causal softmax over the full T x T score
  matrix, and an output projection. This is the quadratic computation as textbooks write it.
- `attention_fused`: the same layer with torch's scaled_dot_product_attention. On the CPU its
  fused kernel works in tiles, never stores the score matrix and skips the tiles above the
  causal diagonal. It shows that a fused kernel saves memory and a constant factor of time,
  while the cost still grows as T^2.
- `ssm`: a diagonal selective scan in the style of Mamba's S6 layer. Each channel has a diagonal
  A of N negative reals and its own input-dependent step delta. The input-dependent B and C,
  projections of each token to N numbers, are shared by all channels. The layer discretises
  A_bar = exp(delta * A), B_bar x ~ delta * B * x and runs h_t = A_bar_t * h_{t-1} + B_bar_t x_t,
  y_t = C_t . h_t.

The experiment fits the slope of log(time) against log(length) over the longer half of the
lengths (attention should approach 2, the scan 1), and gives the analytic FLOP counts of both
layers next to the pure ratios T^2 and T.

Sources:
- A. Vaswani et al., "Attention Is All You Need", NeurIPS 2017: scaled dot-product attention.
- A. Gu, T. Dao, "Mamba: Linear-Time Sequence Modeling with Selective State Spaces", 2023
  (arXiv:2312.00752): the selective scan (S6) with input-dependent delta, B and C, and the
  discretisation above. The initial values of A and delta follow the authors' reference code
  (state-spaces/mamba, mamba_ssm/modules/mamba_simple.py).
- T. Dao et al., "FlashAttention: Fast and Memory-Efficient Exact Attention with IO-Awareness",
  NeurIPS 2022: attention computed in tiles without storing the score matrix, the idea behind
  fused kernels such as torch's scaled_dot_product_attention.

Only the S6 scan is modelled, not a whole Mamba block. The block's input projection with
expansion, its short convolution and its gate are left out, because they cost O(T) and would
not change the slope.
"""

import math
import statistics
import time
from dataclasses import dataclass

import torch
import torch.nn as nn
from torch.nn import functional as F

SEED = 1337

LAYERS = ("attention", "attention_fused", "ssm")
BYTES_PER_FLOAT = 4  # every tensor here is float32

# Initial step sizes, drawn log-uniformly per channel as in the Mamba reference code.
DELTA_MIN, DELTA_MAX = 1e-3, 1e-1

# FLOPs of the scan per token, channel and state element: delta * A and its exp, delta x * B,
# A_bar * h + B_bar x, and C . h. Counting exp as one FLOP is a convention, not a measured cost.
SCAN_FLOPS_PER_STATE = 7


@dataclass(frozen=True)
class Params:
    """Layer sizes, lengths and timing of the full run. QUICK times short lengths only."""

    d_model: int = 64
    state_size: int = 16  # N, the state numbers per channel, Mamba's default
    # One head keeps the 16K score matrix at 1 GiB. The matmul FLOPs (4 T^2 d) do not depend on
    # the head count, but the softmax's O(T^2) work is per head.
    heads: int = 1
    # In tokens. The scan runs at every length, both attention layers only up to attention_max_length.
    lengths: tuple[int, ...] = (256, 512, 1024, 2048, 4096, 8192, 16384, 32768, 65536)
    # The textbook layer stores heads * T^2 float32 scores and a T x T bool mask, 1.25 GiB at 16K.
    # Each doubling of this cap quadruples that memory and the time of one attention pass.
    attention_max_length: int = 16384
    threads: int = 2  # torch intra-op threads while timing
    warmup: int = 1  # untimed passes before each timed series
    repeats: int = 5  # timed passes per layer and length, summarised by median, min and max
    chunk: int = 32  # tokens per chunk of the scan
    # Chunks scanned together. A block of chunk * chunks_per_block tokens bounds the scan's
    # working memory to three float32 tensors of block * d * N numbers, 4 MiB each by default.
    # On a shared 2-core CPU with one thread, 1024-token blocks ran faster than 4096-token blocks,
    # whose tensors do not fit in the cache.
    chunks_per_block: int = 32
    analytic_lengths: tuple[int, ...] = (1024, 4096, 16384, 65536)  # FLOP counts relative to the first

    def __post_init__(self):
        for name in ("d_model", "state_size", "heads", "threads", "repeats", "chunk", "chunks_per_block"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if not isinstance(self.warmup, int) or self.warmup < 0:
            raise ValueError(f"warmup must be 0 or more passes, got {self.warmup!r}")
        if self.d_model % self.heads:
            raise ValueError(f"d_model ({self.d_model}) must be a multiple of heads ({self.heads})")
        for name in ("lengths", "analytic_lengths"):
            values = getattr(self, name)
            if not values or any(not isinstance(v, int) or v < 1 for v in values):
                raise ValueError(f"{name} must be positive token counts, got {list(values)}")
            if list(values) != sorted(set(values)):
                raise ValueError(f"{name} must be strictly increasing, got {list(values)}")
        if len(self.lengths) < 2:
            raise ValueError(f"lengths must have at least 2 entries to fit a slope, got {list(self.lengths)}")
        if self.attention_max_length < self.lengths[1]:
            raise ValueError(
                f"attention_max_length ({self.attention_max_length}) must be at least the second of "
                f"lengths ({self.lengths[1]}), so that attention is timed at 2 lengths or more to fit a slope"
            )


QUICK = Params(
    lengths=(64, 128, 256, 512),
    attention_max_length=512,
    # One thread, because two threads on two cores that other processes also use wait for each
    # other at every op, and a quick run only checks the pipeline, not the timings.
    threads=1,
    repeats=3,
    chunk=16,
    chunks_per_block=4,  # 64-token blocks, so the quick run crosses block boundaries
)


# -----------------------------------------------------------------------------
# Causal self-attention


class CausalSelfAttention(nn.Module):
    """Multi-head causal self-attention with q, k, v and output projections, without biases."""

    def __init__(self, d_model, heads):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(d_model, 3 * d_model, bias=False)
        self.out = nn.Linear(d_model, d_model, bias=False)

    def forward(self, x, fused=False):
        """Return the layer's output for x of shape (B, T, d), with torch's fused kernel when `fused`."""
        B, T, C = x.shape
        q, k, v = self.qkv(x).split(C, dim=2)                              # 3 x (B, T, C)
        q, k, v = (t.view(B, T, self.heads, C // self.heads).transpose(1, 2) for t in (q, k, v))  # (B, nh, T, hs)
        if fused:
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)    # (B, nh, T, hs)
        else:
            y = explicit_causal_attention(q, k, v)                          # (B, nh, T, hs)
        return self.out(y.transpose(1, 2).reshape(B, T, C))                # (B, T, C)


def explicit_causal_attention(q, k, v):
    """Compute softmax(q k^T / sqrt(hs) + causal mask) v, storing the full T x T scores of one head at a time.

    q, k and v are (B, nh, T, hs). Every score is computed, including the upper triangle that the
    mask then sets to -inf, so the matmuls cost 4 T^2 hs per head. The softmax runs in place, so
    peak memory is one (B, T, T) score matrix plus the mask, whatever the head count.
    """
    T, hs = q.shape[2], q.shape[3]
    future = torch.ones(T, T, dtype=torch.bool, device=q.device).triu_(1)  # (T, T) True above the diagonal
    y = torch.empty_like(q)                                                 # (B, nh, T, hs)
    for head in range(q.shape[1]):
        scores = q[:, head] @ k[:, head].transpose(1, 2)                    # (B, T, T)
        scores.mul_(hs**-0.5).masked_fill_(future, float("-inf"))

        # Softmax over keys. Subtracting the row max keeps exp in range, and the diagonal is
        # never masked, so every row has a finite max.
        scores.sub_(scores.amax(dim=-1, keepdim=True)).exp_()
        scores.div_(scores.sum(dim=-1, keepdim=True))

        y[:, head] = scores @ v[:, head]                                    # (B, T, hs)
    return y


# -----------------------------------------------------------------------------
# Selective state-space layer


class SelectiveSSM(nn.Module):
    """A diagonal selective state-space layer (Mamba's S6) with an output projection.

    delta comes from a rank-R bottleneck (R = ceil(d/16)), as in the Mamba reference code. B and C
    are linear projections of the input to the state size N.
    """

    def __init__(self, d_model, state_size, chunk, chunks_per_block):
        super().__init__()
        self.chunk = chunk
        self.chunks_per_block = chunks_per_block
        self.dt_rank = math.ceil(d_model / 16)
        self.delta_down = nn.Linear(d_model, self.dt_rank, bias=False)
        self.delta_up = nn.Linear(self.dt_rank, d_model, bias=True)
        self.to_b = nn.Linear(d_model, state_size, bias=False)
        self.to_c = nn.Linear(d_model, state_size, bias=False)
        self.out = nn.Linear(d_model, d_model, bias=False)

        # A stored as log(-A) keeps it negative. A[:, n] = -(n+1) in every channel, the S4D-real
        # initialisation, so the N state elements decay at N different rates.
        a = torch.arange(1, state_size + 1, dtype=torch.float32).repeat(d_model, 1)  # (d, N)
        self.a_log = nn.Parameter(torch.log(a))

        # The delta bias is the inverse softplus of a log-uniform step in [DELTA_MIN, DELTA_MAX],
        # so softplus(bias) starts at that step for each channel.
        with torch.no_grad():
            log_step = torch.empty(d_model).uniform_(math.log(DELTA_MIN), math.log(DELTA_MAX))
            step = log_step.exp()
            self.delta_up.bias.copy_(step + torch.log(-torch.expm1(-step)))

    def scan_inputs(self, x):
        """Return (delta, A, B, C) for x of shape (batch, T, d): (batch, T, d), (d, N), (batch, T, N), (batch, T, N)."""
        delta = F.softplus(self.delta_up(self.delta_down(x)))    # (batch, T, d) positive steps
        a = -torch.exp(self.a_log)                               # (d, N) negative reals
        return delta, a, self.to_b(x), self.to_c(x)

    def forward(self, x):
        delta, a, b, c = self.scan_inputs(x)
        y = selective_scan_chunked(delta, a, b, c, x, self.chunk, self.chunks_per_block)  # (batch, T, d)
        return self.out(y)


def selective_scan_naive(delta, a, b, c, x):
    """Run h_t = exp(delta_t A) * h_{t-1} + delta_t B_t x_t, y_t = C_t . h_t one token at a time.

    Shapes: delta and x (batch, T, d), a (d, N), b and c (batch, T, N). Returns y (batch, T, d).
    A Python loop over all T tokens: the reference that the chunked scan is tested against.
    """
    batch, T, d = x.shape
    h = x.new_zeros(batch, d, a.shape[1])                                    # (batch, d, N)
    ys = []
    for t in range(T):
        a_bar = torch.exp(delta[:, t, :, None] * a)                          # (batch, d, N)
        b_bar_x = (delta[:, t] * x[:, t])[:, :, None] * b[:, t, None, :]     # (batch, d, N)
        h = a_bar * h + b_bar_x
        ys.append((h * c[:, t, None, :]).sum(dim=-1))                        # (batch, d)
    return torch.stack(ys, dim=1)                                            # (batch, T, d)


def selective_scan_chunked(delta, a, b, c, x, chunk, chunks_per_block):
    """Compute what selective_scan_naive computes, with Python loops over chunk positions and chunks only.

    The sequence is cut into blocks of chunks_per_block chunks of `chunk` tokens. Blocks run one
    after another and hand their final state to the next, so working memory is bounded by the
    block size and does not grow with T. Within a block, see _scan_block.
    """
    batch, T, d = x.shape
    block = chunk * chunks_per_block
    state = x.new_zeros(batch, d, a.shape[1])                                # (batch, d, N)
    ys = []
    for start in range(0, T, block):
        window = slice(start, start + block)
        y, state = _scan_block(delta[:, window], a, b[:, window], c[:, window], x[:, window], state, chunk)
        ys.append(y)
    return torch.cat(ys, dim=1)                                              # (batch, T, d)


def _scan_block(delta, a, b, c, x, state, chunk):
    """Scan one block of at most chunk * chunks_per_block tokens from `state` and return (y, final state).

    The recurrence is linear in h, so each chunk's final state is its entering state decayed by
    the whole chunk, plus what the chunk adds when it starts from zero. Three steps use that:
    1. A loop over the `chunk` positions runs the recurrence from zero in all chunks at once,
       which gives each chunk's own contribution to its final state.
    2. A loop over chunks carries the state across chunk boundaries. The state entering chunk g+1
       is exp(A * sum of delta over chunk g) * (state entering g) + contribution of g, where the
       sum of delta is the chunk's cumulative log-decay divided by A.
    3. A second loop over positions runs the recurrence again in all chunks at once, now from
       each chunk's true entering state, and keeps every h_t for the outputs y_t = C_t . h_t.
    Every exp is of a non-positive number, so nothing overflows however long the chunk.
    """
    batch, T, d = x.shape
    n = a.shape[1]

    # Zero padding to whole chunks: delta = 0 gives A_bar = 1 and B_bar x = 0, so padded
    # positions leave the state unchanged and the final state is that after the last real token.
    pad = (-T) % chunk
    if pad:
        delta, b, c, x = (F.pad(t, (0, 0, 0, pad)) for t in (delta, b, c, x))
    chunks = (T + pad) // chunk

    # Position-major layout, so that one position of every chunk is one contiguous slice.
    def by_position(t):
        return t.view(batch, chunks, chunk, t.shape[-1]).transpose(1, 2).contiguous()  # (batch, L, G, .)

    delta, x, b, c = by_position(delta), by_position(x), by_position(b), by_position(c)
    a_bar = torch.exp(delta[..., None] * a)                                  # (batch, L, G, d, N)
    b_bar_x = (delta * x)[..., None] * b[..., None, :]                       # (batch, L, G, d, N)

    # Step 1. Each chunk's contribution, starting from zero.
    h = b_bar_x[:, 0]                                                        # (batch, G, d, N)
    for t in range(1, chunk):
        h = torch.addcmul(b_bar_x[:, t], a_bar[:, t], h)
    contribution = h
    chunk_decay = torch.exp(delta.sum(dim=1)[..., None] * a)                 # (batch, G, d, N)

    # Step 2. The state entering each chunk.
    entering = []
    for g in range(chunks):
        entering.append(state)
        state = torch.addcmul(contribution[:, g], chunk_decay[:, g], state)  # (batch, d, N)
    h = torch.stack(entering, dim=1)                                         # (batch, G, d, N)

    # Step 3. The recurrence from the true entering states, one position of all chunks at a time.
    hs = torch.empty_like(a_bar)                                             # (batch, L, G, d, N)
    for t in range(chunk):
        h = torch.addcmul(b_bar_x[:, t], a_bar[:, t], h, out=hs[:, t])      # (batch, G, d, N)
    y = (hs @ c[..., None]).squeeze(-1)                                      # (batch, L, G, d)
    y = y.transpose(1, 2).reshape(batch, chunks * chunk, d)[:, :T]           # (batch, T, d)
    return y, state


# -----------------------------------------------------------------------------
# Analytic cost


def attention_flops(length, d_model):
    """Count the FLOPs of one causal self-attention forward pass over `length` tokens.

    A multiply-add counts as 2 FLOPs. The q, k, v and output projections are 4 matmuls of
    (T x d) by (d x d): 8 T d^2. Causal attention needs only the T(T+1)/2 query-key pairs with
    the key at or before the query. Each pair costs 2d for its score and 2d for its share of the
    weighted sum of values, 2 d T(T+1) in all, half the 4 T^2 d of full attention. The explicit
    layer above computes all T^2 scores and masks half, so it executes the full 4 T^2 d. Softmax,
    scaling and masking are left out: a few operations per score against 4d for the matmuls.
    """
    T, d = length, d_model
    return 8 * T * d * d + 2 * d * T * (T + 1)


def ssm_flops(length, d_model, state_size, dt_rank):
    """Count the FLOPs of one selective-scan forward pass over `length` tokens.

    A multiply-add counts as 2 FLOPs. Projections: delta through its rank-R bottleneck (4 T d R),
    B and C (4 T d N) and the output (2 T d^2). The scan: SCAN_FLOPS_PER_STATE per token, channel
    and state element (7 T d N), plus delta * x per token and channel (T d). This counts the
    recurrence once. The chunked scan above runs it a second time without the output (step 1
    of _scan_block), about 2 T d N more.
    """
    T, d, n, r = length, d_model, state_size, dt_rank
    projections = 4 * T * d * r + 4 * T * d * n + 2 * T * d * d
    scan = SCAN_FLOPS_PER_STATE * T * d * n + T * d
    return projections + scan


def relative(values):
    """Return each value divided by the first."""
    return [sig(v / values[0]) for v in values]


def analytic_costs(p: Params, dt_rank):
    """Return the FLOP counts and memory of both layers at p.analytic_lengths, and the pure ratios."""
    lengths = list(p.analytic_lengths)
    attention = [attention_flops(T, p.d_model) for T in lengths]
    ssm = [ssm_flops(T, p.d_model, p.state_size, dt_rank) for T in lengths]
    return {
        "lengths": lengths,
        "attention_flops": attention,
        "ssm_flops": ssm,
        "attention_relative": relative(attention),
        "ssm_relative": relative(ssm),
        "quadratic_relative": relative([T * T for T in lengths]),
        "linear_relative": relative(lengths),
        "score_matrix_bytes": [p.heads * T * T * BYTES_PER_FLOAT for T in lengths],
        "kv_cache_bytes": [2 * T * p.d_model * BYTES_PER_FLOAT for T in lengths],
        "ssm_state_bytes": p.d_model * p.state_size * BYTES_PER_FLOAT,
    }


# -----------------------------------------------------------------------------
# Timing and the slope fit


def fit_slope(lengths, times):
    """Return the least-squares slope of log(time) on log(length): the exponent k of time ~ length^k."""
    xs = [math.log(v) for v in lengths]
    ys = [math.log(v) for v in times]
    x_mean, y_mean = sum(xs) / len(xs), sum(ys) / len(ys)
    covariance = sum((x - x_mean) * (y - y_mean) for x, y in zip(xs, ys))
    variance = sum((x - x_mean) ** 2 for x in xs)
    return covariance / variance


def longer_half(lengths):
    """Return the index of the first length of the longer half, which has at least 2 lengths."""
    return min(len(lengths) // 2, len(lengths) - 2)


def crossover(lengths, scan_ms, attention_ms):
    """Return the shortest length from which the scan is faster at that and every longer length, or None."""
    found = None
    for length, scan, attention in reversed(list(zip(lengths, scan_ms, attention_ms))):
        if scan >= attention:
            break
        found = length
    return found


def synchronize(device):
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


def time_forward(forward, x, p: Params, device):
    """Run forward(x) p.warmup times untimed, then p.repeats times, and return the timed walltimes in ms."""
    for _ in range(p.warmup):
        forward(x)
    synchronize(device)
    times = []
    for _ in range(p.repeats):
        started = time.perf_counter()
        forward(x)
        synchronize(device)
        times.append((time.perf_counter() - started) * 1e3)
    return times


def sig(value):
    """Round to 6 significant digits, enough for any chart and stable in a diff."""
    return float(f"{value:.6g}")


def run(params: Params, *, device: str = "cpu", progress=None) -> dict:
    """Time the forward pass of each layer at each length and fit the growth exponents.

    `progress`, when given, is called as progress(done, total, label) after each timed length.
    torch's thread count is set to params.threads while timing and restored afterwards.
    NOTE: only device="cpu" has been run.
    """
    p = params
    torch.manual_seed(SEED)
    attention_layer = CausalSelfAttention(p.d_model, p.heads).to(device)
    ssm_layer = SelectiveSSM(p.d_model, p.state_size, p.chunk, p.chunks_per_block).to(device)
    forwards = {
        "attention": attention_layer,
        "attention_fused": lambda x: attention_layer(x, fused=True),
        "ssm": ssm_layer,
    }
    lengths = {
        "attention": [T for T in p.lengths if T <= p.attention_max_length],
        "attention_fused": [T for T in p.lengths if T <= p.attention_max_length],
        "ssm": list(p.lengths),
    }

    generator = torch.Generator(device=device).manual_seed(SEED)
    inputs = {T: torch.randn(1, T, p.d_model, generator=generator, device=device) for T in p.lengths}  # (1, T, d)

    times = {layer: [] for layer in LAYERS}
    total = sum(len(lengths[layer]) for layer in LAYERS)
    done = 0
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(p.threads)
    try:
        with torch.inference_mode():
            for layer in LAYERS:
                for T in lengths[layer]:
                    times[layer].append(time_forward(forwards[layer], inputs[T], p, device))
                    done += 1
                    if progress is not None:
                        progress(done, total, f"timing {layer}")
    finally:
        torch.set_num_threads(previous_threads)

    time_ms, slopes, fit_from = {}, {}, {}
    for layer in LAYERS:
        medians = [statistics.median(ts) for ts in times[layer]]
        first = longer_half(lengths[layer])
        time_ms[layer] = {
            "median": [sig(v) for v in medians],
            "min": [sig(min(ts)) for ts in times[layer]],
            "max": [sig(max(ts)) for ts in times[layer]],
        }
        slopes[layer] = sig(fit_slope(lengths[layer][first:], medians[first:]))
        fit_from[layer] = lengths[layer][first]

    common = len(lengths["attention"])  # attention's lengths are the first ones of the scan's
    scan_medians = time_ms["ssm"]["median"][:common]
    return {
        "lengths": lengths,
        "time_ms": time_ms,
        "slopes": slopes,
        "fit_from_length": fit_from,
        "crossover_length": crossover(lengths["attention"], scan_medians, time_ms["attention"]["median"]),
        "crossover_length_fused": crossover(lengths["attention"], scan_medians, time_ms["attention_fused"]["median"]),
        "analytic": analytic_costs(p, ssm_layer.dt_rank),
        "model": {
            "d_model": p.d_model,
            "state_size": p.state_size,
            "dt_rank": ssm_layer.dt_rank,
            "heads": p.heads,
            "threads": p.threads,
            "warmup": p.warmup,
            "repeats": p.repeats,
            "chunk": p.chunk,
            "chunks_per_block": p.chunks_per_block,
            "dtype": "float32",
        },
    }


# -----------------------------------------------------------------------------
# Output contract


def _array(items, description=None):
    schema = {"type": "array", "items": items, "minItems": 1}
    return {**schema, "description": description} if description else schema


def _object(properties, description=None):
    schema = {"type": "object", "properties": properties, "required": list(properties), "additionalProperties": False}
    return {**schema, "description": description} if description else schema


def _per_layer(schema, description):
    return _object({layer: schema for layer in LAYERS}, description)


def _output_schema():
    """Build the JSON Schema of run()'s output."""
    count = {"type": "integer", "minimum": 1}
    positive = {"type": "number", "exclusiveMinimum": 0}
    milliseconds = _array(positive)
    length_or_null = {"type": ["integer", "null"], "minimum": 1}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        **_object({
            "lengths": _per_layer(_array(count), "sequence lengths in tokens at which each layer was timed"),
            "time_ms": _per_layer(
                _object({"median": milliseconds, "min": milliseconds, "max": milliseconds}),
                "forward-pass walltime in milliseconds at each of the layer's lengths, over `model.repeats` runs",
            ),
            "slopes": _per_layer(
                {"type": "number"},
                "least-squares slope of log(median time) on log(length) from `fit_from_length` on: "
                "the exponent k in time ~ length^k",
            ),
            "fit_from_length": _per_layer(count, "shortest length, in tokens, of the slope fit"),
            "crossover_length": {
                **length_or_null,
                "description": "shortest length in tokens from which the scan is faster than textbook attention "
                "at every longer length timed for both, or null",
            },
            "crossover_length_fused": {
                **length_or_null,
                "description": "the same against the fused attention kernel, or null",
            },
            "analytic": _object({
                "lengths": _array(count, "sequence lengths in tokens"),
                "attention_flops": _array(count, "FLOPs of one causal attention forward pass, a multiply-add counting 2"),
                "ssm_flops": _array(count, "FLOPs of one selective-scan forward pass, a multiply-add counting 2"),
                "attention_relative": _array(positive, "attention_flops divided by its value at the first length"),
                "ssm_relative": _array(positive, "ssm_flops divided by its value at the first length"),
                "quadratic_relative": _array(positive, "(T / first length)^2, the asymptotic attention ratio"),
                "linear_relative": _array(positive, "T / first length, the asymptotic scan ratio"),
                "score_matrix_bytes": _array(count, "float32 T x T scores of all heads, as textbook attention stores them"),
                "kv_cache_bytes": _array(count, "float32 keys and values of T tokens, what attention keeps to decode"),
                "ssm_state_bytes": {**count, "description": "float32 state of the scan, d * N numbers at any length"},
            }, "analytic costs of one layer of each kind, at the model sizes below"),
            "model": _object({
                "d_model": count,
                "state_size": {**count, "description": "N, state numbers per channel"},
                "dt_rank": {**count, "description": "rank of the delta projection, ceil(d_model / 16)"},
                "heads": count,
                "threads": {**count, "description": "torch intra-op threads while timing"},
                "warmup": {"type": "integer", "minimum": 0, "description": "untimed passes before each timed series"},
                "repeats": {**count, "description": "timed passes per layer and length"},
                "chunk": {**count, "description": "tokens per chunk of the scan"},
                "chunks_per_block": {**count, "description": "chunks the scan processes together"},
                "dtype": {"const": "float32"},
            }),
        }),
    }


SCHEMA = _output_schema()

SAME_LENGTH = [
    (
        "lengths.attention",
        "time_ms.attention.median",
        "time_ms.attention.min",
        "time_ms.attention.max",
        "lengths.attention_fused",
        "time_ms.attention_fused.median",
        "time_ms.attention_fused.min",
        "time_ms.attention_fused.max",
    ),
    ("lengths.ssm", "time_ms.ssm.median", "time_ms.ssm.min", "time_ms.ssm.max"),
    (
        "analytic.lengths",
        "analytic.attention_flops",
        "analytic.ssm_flops",
        "analytic.attention_relative",
        "analytic.ssm_relative",
        "analytic.quadratic_relative",
        "analytic.linear_relative",
        "analytic.score_matrix_bytes",
        "analytic.kv_cache_bytes",
    ),
]
