"""ONNX export of the serving graph: (user_id [B], item_seq [B, maxlen]) -> top-k item ids and
scores, with the top-k (and the masking of already-seen items, where the dataset wants it)
inside the graph, so Triton returns recommendations directly."""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn as nn

from ssept.model import SSEPT

INPUT_NAMES = ("user_id", "item_seq")
OUTPUT_NAMES = ("top_items", "top_scores")
DEFAULT_OPSET = 17


class TopKRecommender(nn.Module):
    def __init__(self, model: SSEPT, k: int, mask_seen: bool) -> None:
        super().__init__()
        limit = model.config.num_items - (model.config.maxlen if mask_seen else 0)
        if not 1 <= k <= limit:
            raise ValueError(
                f"--top-k {k}: must be in 1..{limit} ({model.config.num_items} items"
                + (f", up to {model.config.maxlen} of them masked as already seen)" if mask_seen else ")")
            )
        self.model = model.eval()
        self.k = k
        self.mask_seen = mask_seen
        padding = torch.zeros(model.config.num_items + 1)
        padding[0] = float("-inf")
        self.register_buffer("padding_penalty", padding)

    def forward(self, user_id: torch.Tensor, item_seq: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        scores = self.model.score_all(user_id, item_seq) + self.padding_penalty
        if self.mask_seen:
            scores = scores.scatter(1, item_seq, float("-inf"))
        top_scores, top_items = torch.topk(scores, self.k, dim=1)
        return top_items, top_scores


def export_onnx(model: SSEPT, path: Path, k: int, mask_seen: bool, opset: int = DEFAULT_OPSET) -> TopKRecommender:
    """Writes the graph with a dynamic batch axis; attention uses the explicit formulation
    (same math as the fused kernel) so the graph is the same on every torch version."""
    model = model.cpu().eval()
    model.set_fused_attention(False)
    wrapper = TopKRecommender(model, k, mask_seen).eval()
    maxlen = model.config.maxlen
    users = torch.tensor([1, min(2, model.config.num_users)], dtype=torch.int64)
    seqs = torch.zeros(2, maxlen, dtype=torch.int64)
    seqs[:, -3:] = torch.tensor([1, 2, 3]).clamp_max(model.config.num_items)
    path.parent.mkdir(parents=True, exist_ok=True)
    with torch.no_grad():
        torch.onnx.export(
            wrapper,
            (users, seqs),
            str(path),
            input_names=list(INPUT_NAMES),
            output_names=list(OUTPUT_NAMES),
            dynamic_axes={
                "user_id": {0: "batch"},
                "item_seq": {0: "batch"},
                "top_items": {0: "batch"},
                "top_scores": {0: "batch"},
            },
            opset_version=opset,
            do_constant_folding=True,
        )
    return wrapper
