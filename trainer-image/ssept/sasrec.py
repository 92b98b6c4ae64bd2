"""Plain SASRec (Kang & McAuley, ICDM 2018), the baseline SSE-PT is measured against.

The SASRec paper's architecture with the blocks SSE-PT uses (ssept.model.SequenceEncoder):
input item embedding * sqrt(d) plus a learned positional embedding, causal self-attention
blocks, a final LN, and item i at position t scored by <h_t, e_i> with the input embedding
table shared for prediction. No user embedding and no SSE, so with item_dim = SSE-PT's
item_dim + user_dim it has the same embedding width budget. Trained by the same Trainer
(BCE against one sampled negative per position) and ranked by the same Evaluator.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn

from ssept.model import ModelConfig, SequenceEncoder


class SASRec(SequenceEncoder):
    def __init__(self, config: ModelConfig) -> None:
        if config.architecture != "sasrec":
            raise ValueError(f"SASRec needs architecture 'sasrec', got {config.architecture!r}")
        super().__init__(config)
        self.item_emb = nn.Embedding(config.num_items + 1, config.item_dim, padding_idx=0)
        self.item_scale = math.sqrt(config.item_dim)
        self.reset_parameters()

    def encode(self, users: torch.Tensor, item_seq: torch.Tensor) -> torch.Tensor:
        """item_seq [B, L] left-padded with 0 -> hidden [B, L, H]; `users` is not used."""
        return self.run_blocks(self.item_emb(item_seq) * self.item_scale, item_seq)

    def forward(
        self, users: torch.Tensor, item_seq: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        hidden = self.encode(users, item_seq)
        return (hidden * self.item_emb(pos)).sum(-1), (hidden * self.item_emb(neg)).sum(-1)

    def score_candidates(self, users: torch.Tensor, item_seq: torch.Tensor, candidates: torch.Tensor) -> torch.Tensor:
        hidden = self.encode(users, item_seq)[:, -1, :]
        return (self.item_emb(candidates) * hidden.unsqueeze(1)).sum(-1)

    def score_all(self, users: torch.Tensor, item_seq: torch.Tensor) -> torch.Tensor:
        """Scores [B, num_items + 1] for every item id; column 0 (padding) is meaningless."""
        return self.encode(users, item_seq)[:, -1, :] @ self.item_emb.weight.t()


def sasrec_config(num_users: int, num_items: int, width: int = 100, **overrides: object) -> ModelConfig:
    """SASRec with `width` (SSE-PT's item_dim + user_dim for the same budget)."""
    return ModelConfig(num_users, num_items, item_dim=width, user_dim=0, architecture="sasrec", **overrides)  # type: ignore[arg-type]
