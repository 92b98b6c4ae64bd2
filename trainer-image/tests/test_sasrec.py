"""The plain SASRec baseline: same blocks, training and evaluation code as SSE-PT."""

import pytest
import torch

from ssept.baselines import PopularityScorer
from ssept.model import SSEPT, ModelConfig, build_model
from ssept.sasrec import SASRec, sasrec_config
from ssept.training import TrainConfig, Trainer


def _model(**overrides):
    torch.manual_seed(1)
    return SASRec(sasrec_config(10, 30, width=8, maxlen=8, num_blocks=2, num_heads=2, **overrides)).eval()


def test_shapes_and_the_width_budget():
    model = _model()
    users, seq = torch.tensor([1, 2, 3]), torch.randint(0, 31, (3, 8))
    pos, neg = torch.randint(1, 31, (3, 8)), torch.randint(1, 31, (3, 8))
    with torch.no_grad():
        assert model.encode(users, seq).shape == (3, 8, 8)
        assert [t.shape for t in model(users, seq, pos, neg)] == [(3, 8), (3, 8)]
        assert model.score_all(users, seq).shape == (3, 31)
        assert model.score_candidates(users, seq, torch.randint(1, 31, (3, 5))).shape == (3, 5)
    assert not hasattr(model, "user_emb")
    assert model.item_emb.weight.shape == (31, 8)  # the whole width in the item embedding


def test_outputs_are_causal_and_ignore_the_user_id():
    model = _model()
    seq = torch.tensor([[0, 0, 5, 6, 7, 8, 9, 10]])
    changed = seq.clone()
    changed[0, 6] = 20
    with torch.no_grad():
        a, b = model.encode(torch.tensor([3]), seq), model.encode(torch.tensor([3]), changed)
        assert torch.allclose(a[0, :6], b[0, :6]) and not torch.allclose(a[0, 6:], b[0, 6:])
        assert torch.equal(model.score_all(torch.tensor([1]), seq), model.score_all(torch.tensor([9]), seq))


def test_scoring_paths_agree_with_training_logits():
    model = _model()
    users, seq = torch.tensor([1, 2]), torch.tensor([[0, 0, 0, 1, 2, 3, 4, 5], [6, 7, 8, 9, 10, 11, 12, 13]])
    pos = torch.tensor([[0, 0, 0, 2, 3, 4, 5, 6], [7, 8, 9, 10, 11, 12, 13, 14]])
    with torch.no_grad():
        pos_logits, _ = model(users, seq, pos, pos)
        all_scores = model.score_all(users, seq)
        cands = torch.tensor([[6, 1, 29], [14, 3, 30]])
        assert torch.allclose(all_scores.gather(1, cands), model.score_candidates(users, seq, cands), atol=1e-5)
    assert torch.allclose(pos_logits[:, -1], all_scores.gather(1, pos[:, -1:]).squeeze(1), atol=1e-5)


def test_config_and_factory():
    assert isinstance(build_model(sasrec_config(5, 9, width=4, maxlen=3)), SASRec)
    assert isinstance(build_model(ModelConfig(5, 9, maxlen=3, item_dim=2, user_dim=2)), SSEPT)
    with pytest.raises(ValueError, match="SASRec has no user embedding, so user_dim must be 0"):
        ModelConfig(5, 9, item_dim=4, user_dim=4, architecture="sasrec")
    with pytest.raises(ValueError, match="architecture must be one of ssept, sasrec"):
        ModelConfig(5, 9, architecture="bert4rec")
    with pytest.raises(ValueError, match="user_dim must be >= 1 for SSE-PT"):
        ModelConfig(5, 9, user_dim=0)


def test_output_projection_is_optional_and_changes_the_parameters():
    plain, projected = _model(), _model(attention_output_proj=True)
    assert plain.blocks[0].out_proj is None and projected.blocks[0].out_proj.weight.shape == (8, 8)


def test_trained_by_the_same_trainer_it_beats_popularity(small_split):
    config = TrainConfig(epochs=30, batch_size=32, eval_every=0, checkpoint_every=0, seed=7,
                         sse_user_keep=1.0, sse_item_keep=1.0)
    model_config = sasrec_config(small_split.num_users, small_split.num_items, width=32, maxlen=30, num_blocks=1)
    trainer = Trainer(small_split, model_config, config)
    history = trainer.fit()
    assert history[-1]["loss"] < history[0]["loss"]
    model = trainer.evaluate("test")
    popularity = trainer.evaluator.evaluate(PopularityScorer(small_split), "test", mask_seen=True, seed=7)
    assert model["test_ndcg10"] > popularity["test_ndcg10"] + 0.05, (model, popularity)
