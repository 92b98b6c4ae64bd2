"""Masked scaled dot-product attention: PyTorch's fused kernel when present (torch >= 2.0),
otherwise the same computation written out: softmax(Q K^T / sqrt(d) masked) V."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

_FUSED = getattr(F, "scaled_dot_product_attention", None)


def fused_attention_available() -> bool:
    return _FUSED is not None


def explicit_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    allowed: torch.Tensor,
    dropout_p: float,
    training: bool,
    head_dim: int,
) -> torch.Tensor:
    """q, k, v: [B, H, L, head_dim]; allowed: bool, broadcastable to [B, H, L, L], True = may
    attend. Every query row must allow at least one key (the model always allows the
    diagonal), so the softmax never sees a row of only -inf."""
    scores = torch.matmul(q, k.transpose(-2, -1)) * (1.0 / math.sqrt(head_dim))
    scores = scores.masked_fill(~allowed, float("-inf"))
    weights = torch.softmax(scores, dim=-1)
    weights = F.dropout(weights, p=dropout_p, training=training)
    return torch.matmul(weights, v)


def attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    allowed: torch.Tensor,
    dropout_p: float,
    training: bool,
    head_dim: int,
    use_fused: bool = True,
) -> torch.Tensor:
    """The fused kernel's default scale is 1/sqrt(head_dim), as in the explicit path."""
    if use_fused and _FUSED is not None:
        return _FUSED(q, k, v, attn_mask=allowed, dropout_p=dropout_p if training else 0.0)
    return explicit_attention(q, k, v, allowed, dropout_p, training, head_dim)
