"""A straightforward PyTorch SASRec (Kang & McAuley, ICDM 2018), written the way the common public
ports do it, as the yardstick for ssept's speed: batches sampled on the host with Python loops and
rejection-sampled negatives, `nn.MultiheadAttention` blocks, and the paper-protocol evaluation one
user at a time (target + 100 sampled negatives). Used only by bench_train.py; not part of the image.
"""

from __future__ import annotations

import math
import time

import numpy as np
import torch
import torch.nn as nn

from ssept.split import LeaveOneOutSplit


class ReferenceSASRec(nn.Module):
    def __init__(self, num_items: int, maxlen: int, dim: int, blocks: int, dropout: float) -> None:
        super().__init__()
        self.item_emb = nn.Embedding(num_items + 1, dim, padding_idx=0)
        self.pos_emb = nn.Embedding(maxlen, dim)
        self.dropout = nn.Dropout(dropout)
        self.attn_norms = nn.ModuleList(nn.LayerNorm(dim, eps=1e-8) for _ in range(blocks))
        self.attns = nn.ModuleList(nn.MultiheadAttention(dim, 1, dropout=dropout, batch_first=True) for _ in range(blocks))
        self.ffn_norms = nn.ModuleList(nn.LayerNorm(dim, eps=1e-8) for _ in range(blocks))
        self.ffns = nn.ModuleList(
            nn.Sequential(nn.Linear(dim, dim), nn.Dropout(dropout), nn.ReLU(), nn.Linear(dim, dim), nn.Dropout(dropout))
            for _ in range(blocks)
        )
        self.last_norm = nn.LayerNorm(dim, eps=1e-8)
        self.dim = dim

    def features(self, seqs: torch.Tensor) -> torch.Tensor:
        length = seqs.shape[1]
        x = self.item_emb(seqs) * math.sqrt(self.dim) + self.pos_emb(torch.arange(length, device=seqs.device))
        x = self.dropout(x)
        keep = (seqs != 0).unsqueeze(-1).float()
        x = x * keep
        causal = ~torch.tril(torch.ones(length, length, dtype=torch.bool, device=seqs.device))
        for norm, attn, ffn_norm, ffn in zip(self.attn_norms, self.attns, self.ffn_norms, self.ffns):
            q = norm(x)
            out, _ = attn(q, x, x, attn_mask=causal, need_weights=False)
            x = q + out
            x = ffn_norm(x)
            x = (x + ffn(x)) * keep
        return self.last_norm(x)

    def forward(self, seqs: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.features(seqs)
        return (h * self.item_emb(pos)).sum(-1), (h * self.item_emb(neg)).sum(-1)


def _negative(rng: np.random.Generator, num_items: int, seen: set[int]) -> int:
    item = int(rng.integers(1, num_items + 1))
    while item in seen:
        item = int(rng.integers(1, num_items + 1))
    return item


def _sample_batch(split: LeaveOneOutSplit, users: np.ndarray, maxlen: int, rng: np.random.Generator):
    seqs = np.zeros((len(users), maxlen), dtype=np.int64)
    pos, neg = np.zeros_like(seqs), np.zeros_like(seqs)
    for row, user in enumerate(users):
        history = split.train[user]
        seen = set(history)
        target = history[-1]
        index = maxlen - 1
        for item in reversed(history[:-1]):
            seqs[row, index], pos[row, index] = item, target
            neg[row, index] = _negative(rng, split.num_items, seen)
            target = item
            index -= 1
            if index < 0:
                break
    return seqs, pos, neg


def train_epoch(model: ReferenceSASRec, optimizer, split: LeaveOneOutSplit, maxlen: int, batch_size: int,
                device: torch.device, rng: np.random.Generator) -> float:
    """One epoch of ceil(trainable users / batch) steps, each on a uniform sample of users."""
    started = time.perf_counter()
    trainable = np.array([u for u in range(1, split.num_users + 1) if len(split.train[u]) >= 2])
    loss_fn = nn.BCEWithLogitsLoss()
    model.train()
    for _ in range(math.ceil(len(trainable) / batch_size)):
        seqs, pos, neg = (torch.from_numpy(a).to(device) for a in _sample_batch(split, rng.choice(trainable, batch_size), maxlen, rng))
        pos_logits, neg_logits = model(seqs, pos, neg)
        mask = pos != 0
        loss = loss_fn(pos_logits[mask], torch.ones_like(pos_logits[mask])) + loss_fn(
            neg_logits[mask], torch.zeros_like(neg_logits[mask])
        )
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - started


@torch.no_grad()
def evaluate_test(model: ReferenceSASRec, split: LeaveOneOutSplit, maxlen: int, device: torch.device,
                  max_users: int = 10_000, seed: int = 0) -> dict:
    """Paper protocol, one user per forward pass: the test item against 100 sampled negatives."""
    model.eval()
    rng = np.random.default_rng(seed)
    users = [u for u in range(1, split.num_users + 1) if split.test[u] and split.valid[u]]
    if len(users) > max_users:
        users = sorted(rng.choice(users, max_users, replace=False).tolist())
    hits = ndcg = 0.0
    for user in users:
        history = split.train[user] + [int(split.valid[user])]
        seq = np.zeros(maxlen, dtype=np.int64)
        tail = history[-maxlen:]
        seq[maxlen - len(tail) :] = tail
        seen = set(split.history(user))
        candidates = [int(split.test[user])] + [_negative(rng, split.num_items, seen) for _ in range(100)]
        h = model.features(torch.from_numpy(seq).unsqueeze(0).to(device))[0, -1]
        scores = model.item_emb(torch.tensor(candidates, device=device)) @ h
        rank = int((scores[1:] >= scores[0]).sum())
        if rank < 10:
            hits += 1
            ndcg += 1 / math.log2(rank + 2)
    return {"hr10": hits / len(users), "ndcg10": ndcg / len(users), "users": len(users)}


def run_reference(split: LeaveOneOutSplit, maxlen: int, dim: int, blocks: int, dropout: float, epochs: int,
                  batch_size: int, device: torch.device, seed: int) -> dict:
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = ReferenceSASRec(split.num_items, maxlen, dim, blocks, dropout).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.001, betas=(0.9, 0.98))
    seconds = [train_epoch(model, optimizer, split, maxlen, batch_size, device, rng) for _ in range(epochs)]
    started = time.perf_counter()
    metrics = evaluate_test(model, split, maxlen, device, seed=seed)
    steady = seconds[1:] or seconds
    return {"first_s": seconds[0], "epoch_s": sum(steady) / len(steady), "eval_s": time.perf_counter() - started,
            "hr10": metrics["hr10"], "ndcg10": metrics["ndcg10"]}
