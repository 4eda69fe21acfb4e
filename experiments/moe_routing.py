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

Every routing statistic is taken at the first MoE layer. Its routing is exactly what a model with
a capacity limit would compute, because dropped assignments only change the input of later
layers. `expert_share_by_layer` shows whether the deeper layers behave differently.
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
    n_experts: int = 8
    top_k: int = 2
    d_model: int = 64
    n_heads: int = 4
    n_layers: int = 2
    expert_hidden: int = 128  # each expert is a d_model -> expert_hidden -> d_model MLP
    context: int = 64  # bytes per training window
    batch_size: int = 24  # windows per batch; rows cycle through the 3 domains, so 8 of each
    train_steps: int = 1200
    learning_rate: float = 3e-3
    aux_loss_coef: float = 0.01  # alpha of the balanced run; the Switch Transformer default
    log_every: int = 50
    # Capacity factors at which dropped assignments are counted. 1.0 leaves no slack at all,
    # and 1.25 is the Switch Transformer's training default.
    capacity_factors: tuple[float, ...] = (1.0, 1.25, 1.5, 1.75, 2.0)
    corpus_bytes_per_domain: int = 300_000
    heldout_fraction: float = 0.1
    eval_tokens_per_domain: int = 16_384  # held-out predictions per domain, a multiple of context


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
        q, k, v = self.qkv(x).split(C, dim=2)                         # 3 x (B, T, C)
        heads = lambda t: t.view(B, T, self.n_heads, C // self.n_heads).transpose(1, 2)
        y = F.scaled_dot_product_attention(heads(q), heads(k), heads(v), is_causal=True)  # (B, nh, T, hs)
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

    Returns (inputs, targets, domain) tensors of shape (n_batches, B, T); domain holds the index
    of the domain each token came from. Each batch mixes the domains like a training batch and
    is also the group of tokens that shares one capacity limit.
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


def coefficient_of_variation(counts):
    """Return std/mean of per-expert loads, with the population std (0 for a perfect balance)."""
    counts = counts.double()
    return (counts.std(unbiased=False) / counts.mean()).item()


def train(model, texts, p: Params, aux_loss_coef, label, progress):
    """Train `model` in place and return its logged curves, final training loss and time."""
    generator = torch.Generator().manual_seed(SEED)  # the same batches for both runs
    optimizer = torch.optim.AdamW(model.parameters(), lr=p.learning_rate)
    logged_steps, load_cv, train_loss = [], [], []
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
            logged_steps.append(step)
            load_cv.append(coefficient_of_variation(first_layer_load))
            train_loss.append(sum(interval_losses) / len(interval_losses))  # mean since the last log
            final_train_loss = train_loss[-1]
            interval_losses = []
            if progress is not None:
                progress(step, p.train_steps, label)

    seconds = time.perf_counter() - started
    return logged_steps, load_cv, train_loss, final_train_loss, seconds


@torch.no_grad()
def evaluate(model, batches, p: Params):
    """Return the held-out loss in nats per byte and each layer's (n_batches, B*T, k) choices."""
    inputs, targets, _ = batches
    model.eval()
    total_nats, chosen_per_layer = 0.0, [[] for _ in range(p.n_layers)]
    for x, y in zip(inputs, targets):
        logits, routings = model(x)
        total_nats += F.cross_entropy(logits.reshape(-1, VOCAB_SIZE), y.reshape(-1), reduction="sum").item()
        for layer, routing in enumerate(routings):
            chosen_per_layer[layer].append(routing.chosen)             # (B*T, k)
    chosen = [torch.stack(c) for c in chosen_per_layer]               # n_layers x (n_batches, B*T, k)
    return total_nats / targets.numel(), chosen


def expert_shares(chosen, n_experts):
    """Return the share of routed token-slots (both top-k choices) that each expert received."""
    counts = torch.bincount(chosen.reshape(-1), minlength=n_experts).double()
    return counts / counts.sum()


def mutual_information_bits(joint_counts):
    """Return I(domain; expert) in bits from a (domains, experts) table of counts."""
    joint = joint_counts.double() / joint_counts.sum()
    outer = joint.sum(dim=1, keepdim=True) * joint.sum(dim=0, keepdim=True)  # p(d) p(e)
    nonzero = joint > 0
    return (joint[nonzero] * torch.log2(joint[nonzero] / outer[nonzero])).sum().item()


def describe_token(window, position):
    """Describe the byte at `position` of a held-out prose window with the text before it."""
    text = bytes(window[: position + 1].tolist()).decode("utf-8", errors="replace")
    before = text[:-1][-24:].replace("\n", " ")
    return f'"{text[-1]}" after "...{before}" (held-out prose, routed by the first MoE layer)'


@torch.no_grad()
def routing_example(model, batches, p: Params):
    """Route one real held-out prose byte with the trained first-layer router via `route_token`."""
    inputs, _, domains = batches
    window = inputs[0][domains[0][:, 0] == DOMAINS.index("prose")][0]     # (T,)
    # The last letter of the window, so the token reads well on a slide and sees a long context.
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


def sig(value):
    """Round to 6 significant digits, enough for any chart and stable in a diff."""
    return float(f"{value:.6g}")


def summarise_run(model, batches, p: Params, aux_loss_coef, curves):
    """Measure one trained model on the held-out batches."""
    logged_steps, load_cv, train_loss, final_train_loss, seconds = curves
    heldout_loss, chosen = evaluate(model, batches, p)
    first = chosen[0]                                                   # (n_batches, B*T, k)
    share = expert_shares(first, p.n_experts)

    # Capacity applies per held-out batch, the group of B*T tokens that is routed together.
    group_tokens = first.shape[1]
    dropped = []
    for factor in p.capacity_factors:
        capacity = expert_capacity(factor, group_tokens, p.top_k, p.n_experts)
        kept = torch.stack([within_capacity(group, p.n_experts, capacity) for group in first])
        dropped.append(1.0 - kept.double().mean().item())

    # Joint counts of (domain, expert) over top-k slots: each token adds one count per choice.
    token_domain = batches[2].reshape(first.shape[0], -1)              # (n_batches, B*T)
    slot_domain = token_domain[..., None].expand_as(first)             # (n_batches, B*T, k)
    joint = torch.zeros(len(DOMAINS), p.n_experts, dtype=torch.long)
    joint.index_put_((slot_domain.reshape(-1), first.reshape(-1)), torch.ones(first.numel(), dtype=torch.long), accumulate=True)
    domain_share = joint.double() / joint.sum(dim=1, keepdim=True)

    run = {
        "aux_loss_coef": aux_loss_coef,
        "expert_share": [sig(v) for v in share.tolist()],
        "expert_share_by_layer": [[sig(v) for v in expert_shares(c, p.n_experts).tolist()] for c in chosen],
        "experts_under_1pct": int((share < 0.01).sum().item()),
        "load_cv": [sig(v) for v in load_cv],
        "train_loss": [sig(v) for v in train_loss],
        "final_train_loss": sig(final_train_loss),
        "heldout_loss": sig(heldout_loss),
        "seconds": round(seconds, 2),
    }
    domains = {
        "share": [[sig(v) for v in row] for row in domain_share.tolist()],
        "specialisation": sig(mutual_information_bits(joint)),
    }
    return run, [sig(v) for v in dropped], domains


def run(params: Params, *, device: str = "cpu", progress=None) -> dict:
    """Train the model without and with the balancing loss and measure routing on held-out text.

    `progress`, when given, is called as progress(step, total, label) at every logged step.
    """
    p = params
    random.seed(SEED)
    torch.manual_seed(SEED)

    corpus = load_corpus(p.corpus_bytes_per_domain, p.heldout_fraction, SEED)
    train_texts = [to_tensor(d.train).to(device) for d in corpus]
    batches = tuple(t.to(device) for t in heldout_batches([to_tensor(d.heldout) for d in corpus], p))

    initial = MoELanguageModel(p).to(device)
    total_params, active_params = initial.count_parameters(p)

    runs, dropped, domains, example, steps = {}, {}, {}, None, None
    for name, coef in (("no_balance", 0.0), ("balanced", p.aux_loss_coef)):
        model = copy.deepcopy(initial)  # the same initial weights for both runs
        curves = train(model, train_texts, p, coef, f"training {name}", progress)
        steps = curves[0]
        runs[name], dropped[name], domains[name] = summarise_run(model, batches, p, coef, curves)
        if name == "balanced":
            example = routing_example(model, batches, p)

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
        "training": {"steps": steps, "runs": runs},
        "capacity": {"factors": list(p.capacity_factors), "dropped": dropped},
        "domains": {
            "names": list(DOMAINS),
            "share": {name: domains[name]["share"] for name in runs},
            "specialisation": {name: domains[name]["specialisation"] for name in runs},
            "specialisation_max": sig(math.log2(len(DOMAINS))),
        },
    }
