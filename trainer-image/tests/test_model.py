import math

import pytest
import torch

from ssept.attention import attention, explicit_attention, fused_attention_available
from ssept.model import SSEPT, ModelConfig, bce_loss


def reference_attention(q, k, v, allowed):
    """Per query, a softmax over the allowed keys only, written with loops."""
    b, h, length, d = q.shape
    out = torch.zeros_like(q)
    for bi in range(b):
        for hi in range(h):
            for i in range(length):
                keys = [j for j in range(length) if allowed[bi, 0, i, j]]
                logits = torch.stack([q[bi, hi, i] @ k[bi, hi, j] / math.sqrt(d) for j in keys])
                weights = torch.softmax(logits, 0)
                out[bi, hi, i] = sum(w * v[bi, hi, j] for w, j in zip(weights, keys))
    return out


def _mask(valid):
    length = valid.shape[1]
    causal = torch.ones(length, length, dtype=torch.bool).tril()
    return (causal & (valid.unsqueeze(1) | torch.eye(length, dtype=torch.bool))).unsqueeze(1)


def test_explicit_attention_matches_reference():
    torch.manual_seed(0)
    q, k, v = (torch.randn(2, 2, 5, 4) for _ in range(3))
    allowed = _mask(torch.tensor([[False, False, True, True, True], [True] * 5]))
    out = explicit_attention(q, k, v, allowed, 0.0, False, head_dim=4)
    assert torch.allclose(out, reference_attention(q, k, v, allowed), atol=1e-5)


@pytest.mark.skipif(not fused_attention_available(), reason="torch < 2.0 has no scaled_dot_product_attention")
def test_fused_and_explicit_attention_agree():
    torch.manual_seed(0)
    q, k, v = (torch.randn(3, 2, 7, 8) for _ in range(3))
    allowed = _mask(torch.rand(3, 7) > 0.3)
    fused = attention(q, k, v, allowed, 0.0, False, 8, use_fused=True)
    assert torch.allclose(fused, explicit_attention(q, k, v, allowed, 0.0, False, 8), atol=1e-5)


def _model(**overrides):
    torch.manual_seed(1)
    config = dict(num_users=10, num_items=30, maxlen=8, item_dim=6, user_dim=4, num_blocks=2, num_heads=2, dropout=0.2)
    config.update(overrides)
    model = SSEPT(ModelConfig(**config)).eval()
    with torch.no_grad():  # distinct users, as after training (they start at 0)
        model.user_emb.weight.normal_(0.0, 0.3)
    return model


def test_outputs_are_causal():
    model = _model()
    users = torch.tensor([3])
    seq = torch.tensor([[0, 0, 5, 6, 7, 8, 9, 10]])
    changed = seq.clone()
    changed[0, 6] = 20
    with torch.no_grad():
        a, b = model.encode(users, seq), model.encode(users, changed)
    assert torch.allclose(a[0, :6], b[0, :6])  # positions before the change are untouched
    assert not torch.allclose(a[0, 6:], b[0, 6:])
    earlier = seq.clone()
    earlier[0, 2] = 21
    with torch.no_grad():
        c = model.encode(users, earlier)
    assert not torch.allclose(a[0, -1], c[0, -1])  # the last position sees the whole sequence


def test_user_id_personalises_the_input():
    model = _model()
    seq = torch.tensor([[0, 1, 2, 3, 4, 5, 6, 7]])
    with torch.no_grad():
        s1, s2 = model.score_all(torch.tensor([1]), seq), model.score_all(torch.tensor([2]), seq)
    assert not torch.allclose(s1[:, 1:], s2[:, 1:])


def test_scoring_paths_agree_with_training_logits():
    model = _model()
    users = torch.tensor([1, 2])
    seq = torch.tensor([[0, 0, 0, 1, 2, 3, 4, 5], [6, 7, 8, 9, 10, 11, 12, 13]])
    pos = torch.tensor([[0, 0, 0, 2, 3, 4, 5, 6], [7, 8, 9, 10, 11, 12, 13, 14]])
    neg = torch.randint(1, 31, (2, 8))
    with torch.no_grad():
        pos_logits, neg_logits = model(users, seq, pos, neg)
        all_scores = model.score_all(users, seq)
        candidates = torch.tensor([[6, 1, 29], [14, 3, 30]])
        cand_scores = model.score_candidates(users, seq, candidates)
    assert torch.allclose(all_scores.gather(1, candidates), cand_scores, atol=1e-5)
    assert torch.allclose(pos_logits[:, -1], all_scores.gather(1, pos[:, -1:]).squeeze(1), atol=1e-5)
    assert torch.allclose(neg_logits[:, -1], all_scores.gather(1, neg[:, -1:]).squeeze(1), atol=1e-5)


def test_bce_loss_ignores_positions_without_target():
    pos = torch.tensor([[10.0, 2.0]])
    neg = torch.tensor([[-10.0, 1.0]])
    only_second = bce_loss(pos, neg, torch.tensor([[False, True]]))
    expected = -math.log(1 / (1 + math.exp(-2.0))) - math.log(1 - 1 / (1 + math.exp(-1.0)))
    assert only_second.item() == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"num_heads": 3}, "not divisible by num_heads"),
        ({"dropout": 1.0}, "dropout must be in"),
        ({"maxlen": 0}, "maxlen must be >= 1"),
    ],
)
def test_model_config_errors_name_the_field(overrides, message):
    base = dict(num_users=10, num_items=30, item_dim=6, user_dim=4)
    with pytest.raises(ValueError, match=message):
        ModelConfig(**{**base, **overrides})


def test_ssept_starts_without_a_shared_user_bias_and_still_learns_users():
    """Regression (issue 10): with random initial users, <h_user, u> was a large positive bias
    shared by the positive and the negative logit (sigmoid of both near 0.9), so the positive
    half of the loss barely trained and SSE-PT stayed at popularity on the ML-1M-shaped set."""
    torch.manual_seed(0)
    model = SSEPT(ModelConfig(num_users=300, num_items=200, maxlen=20, item_dim=16, user_dim=16, dropout=0.0))
    users = torch.arange(1, 65)
    seq = torch.randint(1, 201, (64, 20))
    pos, neg = torch.randint(1, 201, (64, 20)), torch.randint(1, 201, (64, 20))
    model.eval()
    with torch.no_grad():
        pos_logits, neg_logits = model(users, seq, pos, neg)
    # The item part alone is small at initialisation (|mean| ~ 0.01); the user part must add nothing.
    assert abs(float(pos_logits.mean())) < 0.2 and abs(float(neg_logits.mean())) < 0.2
    model.train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss = bce_loss(*model(users, seq, pos, neg), pos != 0)
    loss.backward()
    optimizer.step()
    assert model.user_emb.weight[users].abs().sum(-1).min() > 0  # every trained user moved off 0
