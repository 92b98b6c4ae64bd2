"""SSE-PT (Wu et al., RecSys 2020), following the semantics of the authors' TensorFlow code.

- Input at each position: [item embedding * sqrt(d_item) ; user embedding * sqrt(d_user)]
  plus a learned positional embedding over the (right-aligned) positions 0..maxlen-1.
- Blocks as in SASRec: Q = LN(x); attention over K = V = x with a causal + key-padding mask,
  Q/K/V projections with bias and no output projection (optional, off as in the reference);
  residual onto Q; point-wise FFN
  (two linear layers, ReLU) with its residual onto LN of its input; padding positions zeroed
  after each block; a final LN. Dropout on the embeddings, the attention weights and the FFN.
- Output: position t scores item i by <h_t, [e_i ; u * sqrt(d_user)]>. The user half adds the
  same value to every item of a user, so it changes logits (and the BCE loss) but not rankings.
- Stochastic Shared Embeddings are applied to the ids before the model sees them (see
  batching.py), as the reference implementation does in its sampler.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from ssept.attention import attention

ARCHITECTURES = ("ssept", "sasrec")


@dataclass(frozen=True)
class ModelConfig:
    num_users: int
    num_items: int
    maxlen: int = 200
    item_dim: int = 50
    user_dim: int = 50
    num_blocks: int = 2
    num_heads: int = 1
    dropout: float = 0.2
    layer_norm_eps: float = 1e-8
    # "ssept", or "sasrec": the plain SASRec baseline (no user embedding, user_dim 0, the whole
    # width in item_dim) sharing the blocks, training and evaluation code.
    architecture: str = "ssept"
    # A linear map after attention (as torch's MultiheadAttention has); the SASRec and SSE-PT
    # papers' reference code has none.
    attention_output_proj: bool = False

    def __post_init__(self) -> None:
        if self.architecture not in ARCHITECTURES:
            raise ValueError(f"model config: architecture must be one of {', '.join(ARCHITECTURES)}, got {self.architecture!r}")
        for name in ("num_users", "num_items", "maxlen", "item_dim", "num_heads"):
            if getattr(self, name) < 1:
                raise ValueError(f"model config: {name} must be >= 1, got {getattr(self, name)}")
        if self.architecture == "ssept" and self.user_dim < 1:
            raise ValueError(f"model config: user_dim must be >= 1 for SSE-PT, got {self.user_dim}")
        if self.architecture == "sasrec" and self.user_dim != 0:
            raise ValueError(
                f"model config: SASRec has no user embedding, so user_dim must be 0 (put the width in item_dim), got {self.user_dim}"
            )
        if self.num_blocks < 0:
            raise ValueError(f"model config: num_blocks must be >= 0, got {self.num_blocks}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"model config: dropout must be in [0, 1), got {self.dropout}")
        if self.hidden % self.num_heads:
            raise ValueError(
                f"model config: item_dim + user_dim = {self.hidden} is not divisible by num_heads = {self.num_heads}"
            )

    @property
    def hidden(self) -> int:
        return self.item_dim + self.user_dim

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "ModelConfig":
        return cls(**data)


class SelfAttentionBlock(nn.Module):
    def __init__(self, hidden: int, num_heads: int, dropout: float, eps: float, output_proj: bool = False) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.head_dim = hidden // num_heads
        self.dropout = dropout
        self.attn_norm = nn.LayerNorm(hidden, eps=eps)
        self.q_proj = nn.Linear(hidden, hidden)
        self.k_proj = nn.Linear(hidden, hidden)
        self.v_proj = nn.Linear(hidden, hidden)
        self.out_proj = nn.Linear(hidden, hidden) if output_proj else None
        self.ffn_norm = nn.LayerNorm(hidden, eps=eps)
        self.ffn_in = nn.Linear(hidden, hidden)
        self.ffn_out = nn.Linear(hidden, hidden)
        self.use_fused_attention = True

    def _heads(self, x: torch.Tensor) -> torch.Tensor:
        b, length, _ = x.shape
        return x.view(b, length, self.num_heads, self.head_dim).transpose(1, 2)

    def forward(self, x: torch.Tensor, allowed: torch.Tensor) -> torch.Tensor:
        queries = self.attn_norm(x)
        q, k, v = self._heads(self.q_proj(queries)), self._heads(self.k_proj(x)), self._heads(self.v_proj(x))
        out = attention(q, k, v, allowed, self.dropout, self.training, self.head_dim, self.use_fused_attention)
        b, _, length, _ = out.shape
        out = out.transpose(1, 2).reshape(b, length, -1)
        if self.out_proj is not None:
            out = self.out_proj(out)
        x = out + queries
        y = self.ffn_norm(x)
        h = F.dropout(F.relu(self.ffn_in(y)), self.dropout, self.training)
        return F.dropout(self.ffn_out(h), self.dropout, self.training) + y


class SequenceEncoder(nn.Module):
    """What SSE-PT and SASRec share: positional embedding, the blocks, the final LN."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.pos_emb = nn.Embedding(config.maxlen, config.hidden)
        self.blocks = nn.ModuleList(
            SelfAttentionBlock(
                config.hidden, config.num_heads, config.dropout, config.layer_norm_eps, config.attention_output_proj
            )
            for _ in range(config.num_blocks)
        )
        self.final_norm = nn.LayerNorm(config.hidden, eps=config.layer_norm_eps)

    def reset_parameters(self) -> None:
        for module in self.modules():
            if isinstance(module, (nn.Embedding, nn.Linear)):
                nn.init.xavier_uniform_(module.weight)
            if isinstance(module, nn.Linear):
                nn.init.zeros_(module.bias)
        with torch.no_grad():
            self.item_emb.weight[0].zero_()

    def set_fused_attention(self, enabled: bool) -> None:
        for block in self.blocks:
            block.use_fused_attention = enabled

    def run_blocks(self, x: torch.Tensor, item_seq: torch.Tensor) -> torch.Tensor:
        """x [B, L, H]: the input embeddings of item_seq [B, L] (left-padded with 0, L <= maxlen)."""
        length = item_seq.shape[1]
        valid = item_seq != 0
        positions = torch.arange(self.config.maxlen - length, self.config.maxlen, device=item_seq.device)
        x = x + self.pos_emb(positions).unsqueeze(0)
        keep = valid.unsqueeze(-1).to(x.dtype)
        x = F.dropout(x, self.config.dropout, self.training) * keep
        causal = torch.ones(length, length, dtype=torch.bool, device=item_seq.device).tril()
        # Equal on positions rather than torch.eye: the export's EyeLike has no bool kernel in ONNX Runtime.
        positions = torch.arange(length, device=item_seq.device)
        diagonal = positions.unsqueeze(0) == positions.unsqueeze(1)
        # Padding keys are masked; the diagonal stays open so that padding queries (whose
        # outputs are zeroed anyway) never get an all-masked softmax row.
        allowed = (causal & (valid.unsqueeze(1) | diagonal)).unsqueeze(1)
        for block in self.blocks:
            x = block(x, allowed) * keep
        return self.final_norm(x)


class SSEPT(SequenceEncoder):
    def __init__(self, config: ModelConfig) -> None:
        if config.architecture != "ssept":
            raise ValueError(f"SSEPT needs architecture 'ssept', got {config.architecture!r}")
        super().__init__(config)
        self.item_emb = nn.Embedding(config.num_items + 1, config.item_dim, padding_idx=0)
        self.user_emb = nn.Embedding(config.num_users + 1, config.user_dim)
        self.item_scale = math.sqrt(config.item_dim)
        self.user_scale = math.sqrt(config.user_dim)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        super().reset_parameters()
        # The user vector is both in the input and in every candidate's vector, so with random
        # initial users the residual stream makes <h_user, u> a large positive bias (about +2.3
        # on the ML-1M-shaped set) shared by the positive and the negative: sigmoid(positive)
        # starts near 0.9, the positive term of the BCE loss gives little gradient, and training
        # mostly pushes the uniform negatives down (it learns popularity). Starting users at 0
        # starts that bias at 0; users still learn (the candidate side gives them a gradient).
        with torch.no_grad():
            self.user_emb.weight.zero_()

    def user_vectors(self, users: torch.Tensor) -> torch.Tensor:
        return self.user_emb(users) * self.user_scale

    def encode(self, users: torch.Tensor, item_seq: torch.Tensor) -> torch.Tensor:
        """users [B], item_seq [B, L] left-padded with 0 (L <= maxlen) -> hidden [B, L, H]."""
        batch, length = item_seq.shape
        user = self.user_vectors(users).unsqueeze(1).expand(batch, length, self.config.user_dim)
        x = torch.cat([self.item_emb(item_seq) * self.item_scale, user], dim=-1)
        return self.run_blocks(x, item_seq)

    def _split(self, hidden: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return hidden[..., : self.config.item_dim], hidden[..., self.config.item_dim :]

    def forward(
        self, users: torch.Tensor, item_seq: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Training logits for the positive and the sampled negative at every position."""
        h_item, h_user = self._split(self.encode(users, item_seq))
        user_term = (h_user * self.user_vectors(users).unsqueeze(1)).sum(-1)
        pos_logits = (h_item * self.item_emb(pos)).sum(-1) + user_term
        neg_logits = (h_item * self.item_emb(neg)).sum(-1) + user_term
        return pos_logits, neg_logits

    def last_hidden(self, users: torch.Tensor, item_seq: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h_item, h_user = self._split(self.encode(users, item_seq)[:, -1, :])
        user_term = (h_user * self.user_vectors(users)).sum(-1)
        return h_item, user_term

    def score_candidates(self, users: torch.Tensor, item_seq: torch.Tensor, candidates: torch.Tensor) -> torch.Tensor:
        """Scores [B, C] of candidate items [B, C] as the next item after each sequence."""
        h_item, user_term = self.last_hidden(users, item_seq)
        return (self.item_emb(candidates) * h_item.unsqueeze(1)).sum(-1) + user_term.unsqueeze(1)

    def score_all(self, users: torch.Tensor, item_seq: torch.Tensor) -> torch.Tensor:
        """Scores [B, num_items + 1] for every item id; column 0 (padding) is meaningless."""
        h_item, user_term = self.last_hidden(users, item_seq)
        return h_item @ self.item_emb.weight.t() + user_term.unsqueeze(1)


def bce_loss(pos_logits: torch.Tensor, neg_logits: torch.Tensor, targets_mask: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy over positions that have a target (pos != 0)."""
    weight = targets_mask.to(pos_logits.dtype)
    loss = F.binary_cross_entropy_with_logits(pos_logits, torch.ones_like(pos_logits), reduction="none")
    loss = loss + F.binary_cross_entropy_with_logits(neg_logits, torch.zeros_like(neg_logits), reduction="none")
    return (loss * weight).sum() / weight.sum().clamp_min(1.0)


def build_model(config: ModelConfig) -> nn.Module:
    """The model a config describes (SSE-PT, or the SASRec baseline)."""
    if config.architecture == "sasrec":
        from ssept.sasrec import SASRec

        return SASRec(config)
    return SSEPT(config)
