"""The image's attention path (torch's scaled_dot_product_attention) against the explicit one,
on the torch that trainer-image/requirements.lock pins."""

import re
from pathlib import Path

import torch

from conftest import unavailable
from ssept.attention import fused_attention_available
from ssept.model import SSEPT, ModelConfig

LOCK = Path(__file__).resolve().parents[1] / "requirements.lock"


def _pinned_torch() -> str:
    return re.search(r"^torch==(\S+)", LOCK.read_text(), re.MULTILINE).group(1)


def _require_pinned_torch():
    if torch.__version__.split("+")[0] != _pinned_torch():
        unavailable(f"torch {torch.__version__} is not the pinned {_pinned_torch()} (run on .venv)")
    assert fused_attention_available()


def _model_and_batch(num_heads: int):
    torch.manual_seed(5)
    model = SSEPT(ModelConfig(num_users=20, num_items=50, maxlen=12, item_dim=12, user_dim=4, num_blocks=2,
                              num_heads=num_heads, dropout=0.0))
    with torch.no_grad():  # distinct users, as after training (they start at 0)
        model.user_emb.weight.normal_(0.0, 0.3)
    users = torch.randint(1, 21, (6,))
    seqs = torch.zeros(6, 12, dtype=torch.long)
    for row, length in enumerate((0, 1, 4, 7, 11, 12)):  # empty to full, left-padded
        if length:
            seqs[row, 12 - length :] = torch.randint(1, 51, (length,))
    return model, users, seqs


def test_sdpa_and_explicit_paths_give_the_same_scores_and_gradients():
    _require_pinned_torch()
    for num_heads in (1, 2):
        model, users, seqs = _model_and_batch(num_heads)
        pos, neg = torch.randint(1, 51, seqs.shape), torch.randint(1, 51, seqs.shape)
        results = {}
        for fused in (True, False):
            model.set_fused_attention(fused)
            model.zero_grad()
            model.train()  # dropout 0: training mode is deterministic, and gradients flow
            pos_logits, neg_logits = model(users, seqs, pos, neg)
            (pos_logits.sum() - neg_logits.sum()).backward()
            model.eval()
            with torch.no_grad():
                scores = model.score_all(users, seqs)
            grads = {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}
            results[fused] = (pos_logits.detach(), scores, grads)
        (fused_logits, fused_scores, fused_grads), (plain_logits, plain_scores, plain_grads) = results[True], results[False]
        assert torch.allclose(fused_logits, plain_logits, atol=1e-5), (fused_logits - plain_logits).abs().max()
        # Rows of only padding are arbitrary in both paths but must still be finite and equal.
        assert torch.allclose(fused_scores, plain_scores, atol=1e-5), (fused_scores - plain_scores).abs().max()
        assert fused_grads.keys() == plain_grads.keys()
        for name in fused_grads:
            assert torch.allclose(fused_grads[name], plain_grads[name], atol=1e-4), name
