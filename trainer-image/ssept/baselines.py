"""Popularity ranking: the status quo the model has to beat, on the same protocol."""

from __future__ import annotations

import torch

from ssept.split import LeaveOneOutSplit


class PopularityScorer:
    """Scores an item by how often it occurs in the training sequences."""

    def __init__(self, split: LeaveOneOutSplit, device: torch.device | str = "cpu") -> None:
        counts = torch.zeros(split.num_items + 1, dtype=torch.float32)
        items = torch.tensor([i for seq in split.train for i in seq], dtype=torch.int64)
        counts.index_add_(0, items, torch.ones(len(items)))
        self.counts = counts.to(device)

    def score_all(self, users: torch.Tensor, item_seq: torch.Tensor) -> torch.Tensor:
        return self.counts.unsqueeze(0).expand(len(users), -1)
