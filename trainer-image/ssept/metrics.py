"""Ranking metrics from 0-based ranks (rank 0 = the target is first)."""

from __future__ import annotations

import torch


def ranks_from_scores(target_scores: torch.Tensor, other_scores: torch.Tensor) -> torch.Tensor:
    """Rank of each target among the other candidates, counting ties against the target:
    a model that scores everything equally ranks the target last, not first."""
    return (other_scores >= target_scores.unsqueeze(-1)).sum(dim=-1)


def hit_rate_at_k(ranks: torch.Tensor, k: int) -> float:
    if ranks.numel() == 0:
        raise ValueError("no ranks to average")
    return float((ranks < k).double().mean())


def ndcg_at_k(ranks: torch.Tensor, k: int) -> float:
    """One relevant item per user, so IDCG = 1 and NDCG = 1 / log2(rank + 2) inside the top k."""
    if ranks.numel() == 0:
        raise ValueError("no ranks to average")
    gains = 1.0 / torch.log2(ranks.double() + 2.0)
    return float(torch.where(ranks < k, gains, torch.zeros_like(gains)).mean())
