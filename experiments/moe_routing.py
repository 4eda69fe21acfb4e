"""Top-2 routing in a small mixture-of-experts language model, with and without load balancing.

A byte-level transformer whose feed-forward layers are mixtures of experts is trained twice, from
the same initial weights and on the same batches: once on the language-model loss alone, and once
with the auxiliary load-balancing loss of the Switch Transformer. On held-out text the experiment
then measures how evenly the routers spread tokens over the experts, how many token-to-expert
assignments a capacity limit would drop, and whether experts specialise by domain.

The corpus mixes Python source, English prose and arithmetic (see experiments/common/corpus.py).

Sources:
- N. Shazeer et al., "Outrageously Large Neural Networks: The Sparsely-Gated
  Mixture-of-Experts Layer", ICLR 2017: top-k gating over a softmax router.
- D. Lepikhin et al., "GShard: Scaling Giant Models with Conditional Computation and Automatic
  Sharding", 2020: top-2 gating, expert capacity, and first choices queued before second choices.
- W. Fedus, B. Zoph, N. Shazeer, "Switch Transformers: Scaling to Trillion Parameter Models with
  Simple and Efficient Sparsity", JMLR 2022 (arXiv 2021): the auxiliary loss
  alpha * N * sum_i f_i * P_i (their eq. 4) and the capacity factor.
- A. Jiang et al., "Mixtral of Experts", 2024: 8 experts with top-2 routing, whose gate weights
  are the softmax over the two chosen logits (the renormalisation in `route_token`).

Unless its key ends in `_by_layer`, every routing statistic is taken at the first MoE layer. Its
routing is exactly what a model with a capacity limit would compute, because dropped assignments
only change the input of later layers. The `_by_layer` keys show whether deeper layers differ.
"""

import copy
import math
import random
import time
from dataclasses import dataclass
from typing import NamedTuple

import torch
import torch.nn as nn
from torch.nn import functional as F

from experiments.common.corpus import DOMAINS, load_corpus

SEED = 1337
VOCAB_SIZE = 256  # bytes


@dataclass(frozen=True)
class Params:
    """Hyperparameters of the full run. QUICK shrinks them for tests and CI."""

    n_experts: int = 8
    top_k: int = 2
    d_model: int = 64
    n_heads: int = 4
    n_layers: int = 2
    expert_hidden: int = 128  # each expert is a d_model -> expert_hidden -> d_model MLP
    context: int = 64  # bytes per training window
    batch_size: int = 24  # windows per batch. Rows cycle through the 3 domains, so 8 of each.
    train_steps: int = 1500
    learning_rate: float = 3e-3
    aux_loss_coef: float = 0.01  # alpha of the balanced run, the value the Switch Transformer paper uses
    log_every: int = 50
    # Capacity factors at which dropped assignments are counted. At 1.0 an expert accepts exactly
    # its even share of the assignments, so any imbalance drops some.
    capacity_factors: tuple[float, ...] = (1.0, 1.25, 1.5, 1.75, 2.0)
    corpus_bytes_per_domain: int = 300_000
    heldout_fraction: float = 0.1
    eval_tokens_per_domain: int = 16_384  # held-out predictions per domain, rounded down to whole windows

    def __post_init__(self):
        if self.d_model % self.n_heads:
            raise ValueError(f"d_model ({self.d_model}) must be a multiple of n_heads ({self.n_heads})")
        if not 1 <= self.top_k <= self.n_experts:
            raise ValueError(f"top_k ({self.top_k}) must be between 1 and n_experts ({self.n_experts})")


QUICK = Params(
    d_model=32,
    n_layers=1,
    expert_hidden=64,
    context=32,
    batch_size=12,
    train_steps=30,
    log_every=10,
    corpus_bytes_per_domain=40_000,
    eval_tokens_per_domain=1_024,
)


# -----------------------------------------------------------------------------
# Routing, the balancing loss and capacity


def route_token(x, router_weight, k):
    """Choose the top-k experts for token x and the weights that mix their outputs.

    x is (d_model,) and router_weight is (n_experts, d_model). Every step works on the last
    dimension, so the MoE layer below routes a batch (N, d_model) through these same lines.
    """
    logits = x @ router_weight.T                    # (n_experts,) one score per expert
    probs = torch.softmax(logits, dim=-1)           # (n_experts,) sums to 1
    top_probs, chosen = probs.topk(k, dim=-1)       # (k,) (k,) highest probability first
    weights = top_probs / top_probs.sum(dim=-1, keepdim=True)  # (k,) sums to 1 over the chosen
    return logits, probs, chosen, weights


def load_balancing_loss(router_probs, expert_index, n_experts):
    """Return the Switch Transformer balancing loss N * sum_i f_i * P_i, without alpha.

    router_probs is (T, N): each token's router probabilities. expert_index is (T,) or (T, k):
    the experts each token was dispatched to. f_i is the share of all T * k dispatches that went
    to expert i, so with top-2 both choices count, normalised together. P_i is the mean router
    probability of expert i. The loss is 1.0 when both are uniform and N when every token goes to
    one expert with probability 1. Gradients flow through P only, because f is a count.
    """
    counts = torch.bincount(expert_index.reshape(-1), minlength=n_experts)  # (N,)
    f = counts.to(router_probs.dtype) / expert_index.numel()                # (N,)
    p = router_probs.mean(dim=0)                                             # (N,)
    return n_experts * (f * p).sum()


def expert_capacity(capacity_factor, n_tokens, top_k, n_experts):
    """Return how many assignments each expert accepts from a group of n_tokens tokens."""
    return math.ceil(capacity_factor * n_tokens * top_k / n_experts)


def within_capacity(expert_index, n_experts, capacity):
    """Return a (T, k) bool mask of the assignments that fit into the experts' capacity.

    expert_index is (T, k) with each token's first choice in column 0, or (T,) for top-1.
    As in GShard, every token's first choice queues before any second choice, and within one
    choice rank tokens queue in token order. Each expert keeps the first `capacity` entries of
    its queue and drops the rest.
    """
    if expert_index.dim() == 1:
        expert_index = expert_index[:, None]                  # (T, 1)
    queue = expert_index.T.reshape(-1)                        # (k*T,) all first choices, then all second
    one_hot = F.one_hot(queue, n_experts)                     # (k*T, N)
    position = (one_hot.cumsum(dim=0) * one_hot).sum(dim=1)   # (k*T,) 1-based place in its expert's queue
    kept = position <= capacity                               # (k*T,)
    return kept.view(expert_index.shape[1], -1).T             # (T, k)


def dropped_fraction(expert_index, n_experts, capacity):
    """Return the share of token-to-expert assignments that overflow the experts' capacity."""
    kept = within_capacity(expert_index, n_experts, capacity)
    return 1.0 - kept.float().mean().item()


# -----------------------------------------------------------------------------
# The model


class Routing(NamedTuple):
    """One MoE layer's routing of the N = B*T tokens of a batch."""

    probs: torch.Tensor   # (N, n_experts) router probabilities
    chosen: torch.Tensor  # (N, k) expert indices, highest probability first


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


class MoE(nn.Module):
    """A feed-forward layer of n_experts MLPs, of which each token uses its top_k."""

    def __init__(self, p: Params):
        super().__init__()
        self.top_k = p.top_k
        self.router = nn.Linear(p.d_model, p.n_experts, bias=False)
        self.experts = nn.ModuleList(
            nn.Sequential(nn.Linear(p.d_model, p.expert_hidden), nn.GELU(), nn.Linear(p.expert_hidden, p.d_model))
            for _ in range(p.n_experts)
        )

    def forward(self, x):
        B, T, C = x.shape
        tokens = x.reshape(B * T, C)                                   # (N, C)
        _, probs, chosen, weights = route_token(tokens, self.router.weight, self.top_k)  # (N, E) (N, k) (N, k)

        # Flatten the N*k assignments so each expert can gather its tokens in one indexing step.
        # Training uses no capacity limit, so no assignment is dropped here.
        token_of = torch.arange(B * T, device=x.device).repeat_interleave(self.top_k)  # (N*k,)
        expert_of = chosen.reshape(-1)                                  # (N*k,)
        weight_of = weights.reshape(-1, 1)                              # (N*k, 1)

        out = torch.zeros_like(tokens)                                  # (N, C)
        for e, expert in enumerate(self.experts):
            slots = (expert_of == e).nonzero(as_tuple=True)[0]         # (n_e,)
            rows = token_of[slots]                                      # (n_e,)
            out.index_add_(0, rows, weight_of[slots] * expert(tokens[rows]))
        return out.view(B, T, C), Routing(probs, chosen)


class Block(nn.Module):
    def __init__(self, p: Params):
        super().__init__()
        self.ln_attn = nn.LayerNorm(p.d_model)
        self.attn = CausalSelfAttention(p)
        self.ln_moe = nn.LayerNorm(p.d_model)
        self.moe = MoE(p)

    def forward(self, x):
        x = x + self.attn(self.ln_attn(x))
        h, routing = self.moe(self.ln_moe(x))
        return x + h, routing


class MoELanguageModel(nn.Module):
    def __init__(self, p: Params):
        super().__init__()
        self.token_embedding = nn.Embedding(VOCAB_SIZE, p.d_model)
        self.position_embedding = nn.Embedding(p.context, p.d_model)
        self.blocks = nn.ModuleList(Block(p) for _ in range(p.n_layers))
        self.ln_final = nn.LayerNorm(p.d_model)
        self.head = nn.Linear(p.d_model, VOCAB_SIZE, bias=False)
        self.head.weight = self.token_embedding.weight  # tied input and output embeddings

        # Small normal init everywhere. For the router this keeps the initial logits near zero,
        # so both runs start from near-uniform routing and any imbalance is learnt.
        for module in self.modules():
            if isinstance(module, (nn.Linear, nn.Embedding)):
                nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if isinstance(module, nn.Linear) and module.bias is not None:
                nn.init.zeros_(module.bias)

    def forward(self, idx):
        B, T = idx.shape
        positions = torch.arange(T, device=idx.device)
        x = self.token_embedding(idx) + self.position_embedding(positions)  # (B, T, C)
        routings = []
        for block in self.blocks:
            x, routing = block(x)
            routings.append(routing)
        return self.head(self.ln_final(x)), routings                          # (B, T, 256), n_layers

    def count_parameters(self, p: Params):
        """Return the total parameter count and the count one token's forward pass uses.

        A token uses every parameter except the experts it is not routed to. Both counts
        include the embeddings, which are tied, so they count once.
        """
        total = sum(t.numel() for t in self.parameters())
        per_expert = sum(t.numel() for t in self.blocks[0].moe.experts[0].parameters())
        unused = p.n_layers * (p.n_experts - p.top_k) * per_expert
        return total, total - unused


# -----------------------------------------------------------------------------
# Data


def to_tensor(data: bytes):
    return torch.tensor(list(data), dtype=torch.long)


def sample_batch(texts, p: Params, generator):
    """Sample batch_size random windows of context+1 bytes, row r from domain r % len(texts)."""
    rows = []
    for r in range(p.batch_size):
        text = texts[r % len(texts)]
        start = torch.randint(len(text) - p.context, (1,), generator=generator).item()
        rows.append(text[start : start + p.context + 1])
    batch = torch.stack(rows)                                           # (B, T+1)
    return batch[:, :-1], batch[:, 1:]                                  # inputs, targets: (B, T)


def heldout_batches(texts, p: Params):
    """Cut each domain's held-out bytes into consecutive windows and interleave them into batches.

    Returns (inputs, targets, domain) tensors of shape (n_batches, B, T). `domain` contains the index
    of the domain that each token comes from. Each batch mixes the domains like a training batch and
    is also the group of tokens that shares one capacity limit. Windows that do not fill a last
    batch are left out.
    """
    windows_per_domain = p.eval_tokens_per_domain // p.context
    windows, domains = [], []
    for d, text in enumerate(texts):
        if len(text) < windows_per_domain * p.context + 1:
            raise ValueError(
                f"the {DOMAINS[d]} held-out text has {len(text)} bytes, fewer than the "
                f"{windows_per_domain * p.context + 1} that eval_tokens_per_domain needs; "
                "raise corpus_bytes_per_domain or heldout_fraction"
            )
        starts = torch.arange(windows_per_domain) * p.context
        windows.append(torch.stack([text[s : s + p.context + 1] for s in starts.tolist()]))
        domains.append(torch.full((windows_per_domain,), d))

    # Interleave so that row r of the stacked windows comes from domain r % 3.
    windows = torch.stack(windows, dim=1).reshape(-1, p.context + 1)    # (3*W, T+1)
    domains = torch.stack(domains, dim=1).reshape(-1)                   # (3*W,)
    n_batches = len(windows) // p.batch_size
    if n_batches == 0:
        raise ValueError("eval_tokens_per_domain is too small for one held-out batch; raise it")
    windows = windows[: n_batches * p.batch_size].view(n_batches, p.batch_size, p.context + 1)
    domains = domains[: n_batches * p.batch_size].view(n_batches, p.batch_size, 1)
    return windows[..., :-1], windows[..., 1:], domains.expand(-1, -1, p.context)


# -----------------------------------------------------------------------------
# Training and evaluation


class TrainingLog(NamedTuple):
    """Logged curves and wall-clock time of one training run."""

    steps: list[int]          # logged step numbers, 1-based
    load_cv: list[float]      # first-layer load CV of the batch at each logged step
    train_loss: list[float]   # mean language-model loss since the previous logged step
    seconds: float


def coefficient_of_variation(counts):
    """Return std/mean of per-expert loads, with the population std (0 for a perfect balance)."""
    counts = counts.double()
    return (counts.std(unbiased=False) / counts.mean()).item()


def train(model, texts, p: Params, aux_loss_coef, label, progress):
    """Train `model` in place with AdamW and return its TrainingLog."""
    generator = torch.Generator().manual_seed(SEED)  # the same batches for both runs
    optimizer = torch.optim.AdamW(model.parameters(), lr=p.learning_rate)
    log = TrainingLog([], [], [], 0.0)
    interval_losses = []

    started = time.perf_counter()
    model.train()
    for step in range(1, p.train_steps + 1):
        inputs, targets = sample_batch(texts, p, generator)
        logits, routings = model(inputs)
        lm_loss = F.cross_entropy(logits.reshape(-1, VOCAB_SIZE), targets.reshape(-1))

        # The mean over layers keeps alpha's scale independent of depth.
        balance = torch.stack([load_balancing_loss(r.probs, r.chosen, p.n_experts) for r in routings]).mean()
        loss = lm_loss + aux_loss_coef * balance

        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        interval_losses.append(lm_loss.item())

        if step == 1 or step % p.log_every == 0 or step == p.train_steps:
            first_layer_load = torch.bincount(routings[0].chosen.reshape(-1), minlength=p.n_experts)
            log.steps.append(step)
            log.load_cv.append(coefficient_of_variation(first_layer_load))
            log.train_loss.append(sum(interval_losses) / len(interval_losses))
            interval_losses = []
            if progress is not None:
                progress(step, p.train_steps, label)

    return log._replace(seconds=time.perf_counter() - started)


@torch.no_grad()
def evaluate(model, batches, p: Params):
    """Return the held-out loss in nats per byte and each layer's choices on the CPU.

    The choices are one (n_batches, B*T, k) tensor per layer.
    """
    inputs, targets, _ = batches
    model.eval()
    total_nats, chosen_per_layer = 0.0, [[] for _ in range(p.n_layers)]
    for x, y in zip(inputs, targets):
        logits, routings = model(x)
        total_nats += F.cross_entropy(logits.reshape(-1, VOCAB_SIZE), y.reshape(-1), reduction="sum").item()
        for layer, routing in enumerate(routings):
            chosen_per_layer[layer].append(routing.chosen.cpu())       # (B*T, k)
    chosen = [torch.stack(c) for c in chosen_per_layer]               # n_layers x (n_batches, B*T, k)
    return total_nats / targets.numel(), chosen


def expert_shares(chosen, n_experts):
    """Return the share of routed token-slots (both top-k choices) that each expert received."""
    counts = torch.bincount(chosen.reshape(-1), minlength=n_experts).double()
    return counts / counts.sum()


def mutual_information_bits(joint_counts):
    """Return I(domain; expert) in bits from a (domains, experts) table of counts."""
    joint = joint_counts.double() / joint_counts.sum()
    independent = joint.sum(dim=1, keepdim=True) * joint.sum(dim=0, keepdim=True)  # p(d) p(e)
    nonzero = joint > 0
    return (joint[nonzero] * torch.log2(joint[nonzero] / independent[nonzero])).sum().item()


def describe_token(window, position):
    """Describe the byte at `position` of a held-out prose window by the text before it."""
    text = bytes(window[: position + 1].tolist()).decode("utf-8", errors="replace")
    # About 24 bytes of context, starting at a word boundary.
    before = text[:-1][-24:].replace("\n", " ")
    before = before.split(" ", 1)[-1].lstrip()
    return f'the "{text[-1]}" after "…{before}" in held-out prose'


@torch.no_grad()
def routing_example(model, batches, p: Params):
    """Route one real held-out prose byte with the trained first-layer router via `route_token`."""
    inputs, _, domains = batches
    window = inputs[0][domains[0][:, 0] == DOMAINS.index("prose")][0]     # (T,)
    # The window's last letter, so the token reads well on a slide and has a long context before it.
    position = max(i for i, b in enumerate(window.tolist()) if chr(b).isalpha())

    # Capture the input of the first MoE layer (the normalised hidden state) for that window.
    captured = {}
    hook = model.blocks[0].moe.register_forward_pre_hook(lambda module, args: captured.update(x=args[0]))
    model.eval()
    model(window[None, :])
    hook.remove()

    x = captured["x"][0, position]                                      # (d_model,)
    logits, probs, chosen, weights = route_token(x, model.blocks[0].moe.router.weight, p.top_k)
    return {
        "token": describe_token(window, position),
        "logits": [sig(v) for v in logits.tolist()],
        "probs": [sig(v) for v in probs.tolist()],
        "chosen": chosen.tolist(),
        "weights": [sig(v) for v in weights.tolist()],
    }


# The characters a student can route on the what-if slide: printable ASCII.
PROBE_CHARACTERS = "".join(chr(code) for code in range(32, 127))


def router_probe(model, p: Params, device):
    """Return the first router's input for each character alone, the router weights and test vectors.

    Each character is a sequence of one byte at position 0, so its router input depends on the
    byte alone. That input is the embedding plus position, passed through the first attention
    layer and the layer norm before the MoE layer. Over one token the attention weight is 1,
    so attention returns that token's value vector. The slide's what-if control
    multiplies these inputs by the exported router weights in the page, exactly as route_token
    does, and a browser test replays `expected` against it.
    """
    captured = {}
    hook = model.blocks[0].moe.register_forward_pre_hook(lambda module, args: captured.update(x=args[0]))
    model.eval()
    codes = torch.tensor([[ord(c)] for c in PROBE_CHARACTERS], device=device)  # (C, 1) one byte each
    with torch.no_grad():
        model(codes)
    hook.remove()
    inputs = captured["x"][:, 0]                                              # (C, d_model)
    router_weight = model.blocks[0].moe.router.weight.detach()                # (n_experts, d_model)

    expected = []
    for x in inputs:
        _, probs, chosen, weights = route_token(x, router_weight, p.top_k)
        expected.append({
            "probs": [sig(v) for v in probs.tolist()],
            "chosen": chosen.tolist(),
            "weights": [sig(v) for v in weights.tolist()],
        })
    return {
        "characters": PROBE_CHARACTERS,
        # The browser recomputes from these, so they keep full float32 precision.
        "inputs": [[float(v) for v in x.tolist()] for x in inputs.cpu()],
        "router_weight": [[float(v) for v in row] for row in router_weight.cpu().tolist()],
        "top_k": p.top_k,
        "expected": expected,
    }


def sig(value):
    """Round to 6 significant digits, enough for any chart and stable in a diff."""
    return float(f"{value:.6g}")


def summarise_run(model, batches, p: Params, aux_loss_coef, log: TrainingLog):
    """Measure one trained model on the held-out batches.

    Returns the run's entry for `training.runs`, its dropped fractions per capacity factor, and
    its per-domain expert shares with their mutual information.
    """
    heldout_loss, chosen = evaluate(model, batches, p)
    first = chosen[0]                                                   # (n_batches, B*T, k)
    layer_shares = [expert_shares(c, p.n_experts) for c in chosen]      # n_layers x (n_experts,)
    share = layer_shares[0]

    # Capacity applies per held-out batch, the group of B*T tokens that is routed together.
    group_tokens = first.shape[1]
    dropped = []
    for factor in p.capacity_factors:
        capacity = expert_capacity(factor, group_tokens, p.top_k, p.n_experts)
        kept = torch.stack([within_capacity(group, p.n_experts, capacity) for group in first])
        dropped.append(1.0 - kept.double().mean().item())

    # Joint counts of (domain, expert) over top-k slots: each token adds one count per choice.
    token_domain = batches[2].cpu().reshape(first.shape[0], -1)        # (n_batches, B*T)
    slot_domain = token_domain[..., None].expand_as(first)             # (n_batches, B*T, k)
    joint = torch.zeros(len(DOMAINS), p.n_experts, dtype=torch.long)
    ones = torch.ones(first.numel(), dtype=torch.long)
    joint.index_put_((slot_domain.reshape(-1), first.reshape(-1)), ones, accumulate=True)
    domain_share = joint.double() / joint.sum(dim=1, keepdim=True)

    run = {
        "aux_loss_coef": aux_loss_coef,
        "expert_share": [sig(v) for v in share.tolist()],
        "expert_share_by_layer": [[sig(v) for v in s.tolist()] for s in layer_shares],
        "experts_under_1pct": int((share < 0.01).sum().item()),
        "experts_under_1pct_by_layer": [int((s < 0.01).sum().item()) for s in layer_shares],
        "load_cv": [sig(v) for v in log.load_cv],
        "train_loss": [sig(v) for v in log.train_loss],
        "final_train_loss": sig(log.train_loss[-1]),
        "heldout_loss": sig(heldout_loss),
        "seconds": round(log.seconds, 2),
    }
    domains = {
        "share": [[sig(v) for v in row] for row in domain_share.tolist()],
        "specialisation": sig(mutual_information_bits(joint)),
    }
    return run, [sig(v) for v in dropped], domains


def run(params: Params, *, device: str = "cpu", progress=None) -> dict:
    """Train the model without and with the balancing loss and measure routing on held-out text.

    `progress`, when given, is called as progress(step, total, label) at every logged step.
    NOTE: only device="cpu" has been run. The statistics are computed on the CPU either way.
    """
    p = params
    random.seed(SEED)
    torch.manual_seed(SEED)

    corpus = load_corpus(p.corpus_bytes_per_domain, p.heldout_fraction, SEED)
    train_texts = [to_tensor(d.train).to(device) for d in corpus]
    batches = tuple(t.to(device) for t in heldout_batches([to_tensor(d.heldout) for d in corpus], p))

    initial = MoELanguageModel(p).to(device)
    total_params, active_params = initial.count_parameters(p)

    runs, dropped, domains, logged_steps, example = {}, {}, {}, [], None
    for name, coef in (("no_balance", 0.0), ("balanced", p.aux_loss_coef)):
        model = copy.deepcopy(initial)  # the same initial weights for both runs
        log = train(model, train_texts, p, coef, f"training {name}", progress)
        logged_steps = log.steps
        runs[name], dropped[name], domains[name] = summarise_run(model, batches, p, coef, log)
        if name == "balanced":
            example = routing_example(model, batches, p)
            probe = router_probe(model, p, device)

    return {
        "model": {
            "n_experts": p.n_experts,
            "top_k": p.top_k,
            "d_model": p.d_model,
            "n_layers": p.n_layers,
            "context": p.context,
            "parameters_total": total_params,
            "parameters_active_per_token": active_params,
        },
        "corpus": {d.name: {"bytes": len(d.train) + len(d.heldout), "source": d.source} for d in corpus},
        "routing_example": example,
        "router_probe": probe,
        "training": {"steps": logged_steps, "runs": runs},
        "capacity": {"factors": list(p.capacity_factors), "dropped": dropped},
        "domains": {
            "names": list(DOMAINS),
            "share": {name: domains[name]["share"] for name in runs},
            "specialisation": {name: domains[name]["specialisation"] for name in runs},
            "specialisation_max": sig(math.log2(len(DOMAINS))),
        },
    }


# -----------------------------------------------------------------------------
# Output contract

RUNS = ("no_balance", "balanced")


def _array(items, length=None, min_items=1):
    schema = {"type": "array", "items": items, "minItems": length or min_items}
    if length is not None:
        schema["maxItems"] = length
    return schema


def _object(properties):
    return {"type": "object", "properties": properties, "required": list(properties), "additionalProperties": False}


def _per_run(schema):
    return _object({name: schema for name in RUNS})


def _output_schema(n_experts, top_k):
    """Build the JSON Schema of run()'s output for a model with n_experts and top_k."""
    number = {"type": "number"}
    fraction = {"type": "number", "minimum": 0, "maximum": 1}
    count = {"type": "integer", "minimum": 1}
    shares = _array(fraction, n_experts)

    training_run = _object({
        "aux_loss_coef": {"type": "number", "minimum": 0},
        "expert_share": {**shares, "description": "share of held-out top-k slots per expert, first MoE layer"},
        "expert_share_by_layer": _array(shares),
        "experts_under_1pct": {"type": "integer", "minimum": 0, "maximum": n_experts},
        "experts_under_1pct_by_layer": _array({"type": "integer", "minimum": 0, "maximum": n_experts}),
        "load_cv": {**_array({"type": "number", "minimum": 0}), "description": "std/mean of first-layer expert load per logged batch"},
        "train_loss": {**_array(number), "description": "cross-entropy in nats per byte, mean since the previous logged step"},
        "final_train_loss": number,
        "heldout_loss": {"type": "number", "minimum": 0, "description": "cross-entropy in nats per byte"},
        "seconds": {"type": "number", "minimum": 0},
    })
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        **_object({
            "model": _object({
                "n_experts": count,
                "top_k": count,
                "d_model": count,
                "n_layers": count,
                "context": count,
                "parameters_total": count,
                "parameters_active_per_token": count,
            }),
            "corpus": _object({
                name: _object({"bytes": count, "source": {"type": "string", "minLength": 1}}) for name in DOMAINS
            }),
            "routing_example": _object({
                "token": {"type": "string", "minLength": 1},
                "logits": _array(number, n_experts),
                "probs": shares,
                "chosen": {**_array({"type": "integer", "minimum": 0, "maximum": n_experts - 1}, top_k), "uniqueItems": True},
                "weights": _array(fraction, top_k),
            }),
            "router_probe": {
                **_object({
                    "characters": {"type": "string", "minLength": 1},
                    "inputs": _array(_array(number)),
                    "router_weight": _array(_array(number), n_experts),
                    "top_k": {"type": "integer", "const": top_k},
                    "expected": _array(_object({
                        "probs": shares,
                        "chosen": {**_array({"type": "integer", "minimum": 0, "maximum": n_experts - 1}, top_k), "uniqueItems": True},
                        "weights": _array(fraction, top_k),
                    })),
                }),
                "description": "first-layer router input per character alone, the router weights, and the routing they give",
            },
            "training": _object({
                "steps": _array(count),
                "runs": _per_run(training_run),
            }),
            "capacity": _object({
                "factors": _array({"type": "number", "exclusiveMinimum": 0}),
                "dropped": {**_per_run(_array(fraction)), "description": "share of first-layer assignments dropped per factor"},
            }),
            "domains": _object({
                "names": _array({"type": "string"}, len(DOMAINS)),
                "share": {**_per_run(_array(shares, len(DOMAINS))), "description": "per domain, share of its top-k slots per expert"},
                "specialisation": {**_per_run({"type": "number", "minimum": 0}), "description": "I(domain; expert) in bits over top-k slots"},
                "specialisation_max": {"type": "number", "minimum": 0, "description": "log2(number of domains), the bound on I"},
            }),
        }),
    }


# The schema fixes array lengths for the default expert count and top-k, which QUICK shares.
SCHEMA = _output_schema(Params().n_experts, Params().top_k)

SAME_LENGTH = [
    (
        "training.steps",
        "training.runs.no_balance.load_cv",
        "training.runs.balanced.load_cv",
        "training.runs.no_balance.train_loss",
        "training.runs.balanced.train_loss",
    ),
    ("capacity.factors", "capacity.dropped.no_balance", "capacity.dropped.balanced"),
    ("router_probe.inputs", "router_probe.expected"),
    ("domains.names", "domains.share.no_balance", "domains.share.balanced"),
    (
        "training.runs.no_balance.expert_share_by_layer",
        "training.runs.balanced.expert_share_by_layer",
        "training.runs.no_balance.experts_under_1pct_by_layer",
        "training.runs.balanced.experts_under_1pct_by_layer",
    ),
]
