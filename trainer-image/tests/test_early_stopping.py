"""Early stopping on validation: the run keeps, reports and stores the best validation epoch's
weights, never the best test result."""

import pytest
import torch

from ssept.model import ModelConfig
from ssept.training import TrainConfig, Trainer

MODEL = dict(maxlen=20, item_dim=8, user_dim=8, num_blocks=1, dropout=0.2)


def _trainer(split, **train):
    config = TrainConfig(**{**dict(epochs=12, batch_size=64, eval_every=1, checkpoint_every=0, seed=3, eval_users=100), **train})
    return Trainer(split, ModelConfig(split.num_users, split.num_items, **MODEL), config)


def test_best_epoch_is_the_argmax_of_validation_and_its_weights_are_restored(small_split):
    trainer = _trainer(small_split, lr=0.01, epochs=6)
    history = trainer.fit()
    evaluated = [h for h in history if "valid_ndcg10" in h]
    best = max(evaluated, key=lambda h: h["valid_ndcg10"])  # the first maximum, as `>` keeps it
    assert trainer.best["epoch"] == best["epoch"] and trainer.best["valid_ndcg10"] == best["valid_ndcg10"]
    assert all(h["best_epoch"] <= h["epoch"] for h in evaluated)
    trainer.load_best_weights()
    assert trainer.evaluate("valid")["valid_ndcg10"] == pytest.approx(best["valid_ndcg10"], abs=1e-9)


def _scripted(trainer, scores):
    """Validation results in a given order, to test the stopping rule exactly."""
    queue = list(scores)
    trainer.evaluate = lambda stage="valid": {"valid_ndcg10": queue.pop(0), "valid_hr10": 0.0}
    return trainer


def test_patience_stops_after_that_many_evaluations_without_improvement(small_split):
    trainer = _scripted(_trainer(small_split, epochs=10, patience=2), [0.1, 0.3, 0.2, 0.3, 0.5, 0.6])
    history = trainer.fit()
    assert [h["epoch"] for h in history] == [1, 2, 3, 4]  # 0.2 and an equal 0.3 are no improvement
    assert trainer.stopped_early and trainer.best["epoch"] == 2 and trainer.best["valid_ndcg10"] == 0.3
    assert [h["stopped_early"] for h in history] == [False, False, False, True]
    assert [h["best_epoch"] for h in history] == [1, 2, 2, 2]


def test_only_evaluation_epochs_count_towards_patience(small_split):
    trainer = _scripted(_trainer(small_split, epochs=10, patience=2, eval_every=3), [0.4, 0.3, 0.2, 0.9])
    history = trainer.fit()
    assert history[-1]["epoch"] == 9 and trainer.best["epoch"] == 3


def test_patience_zero_never_stops_and_the_state_carries_the_best(small_split):
    trainer = _trainer(small_split, epochs=4, eval_every=2)
    trainer.fit()
    assert trainer.epoch == 4 and not trainer.stopped_early
    state = trainer.state_dict()
    assert state["best"]["epoch"] in (2, 4)
    resumed = _trainer(small_split, epochs=4, eval_every=2)
    resumed.load_state_dict(state)
    assert resumed.best["epoch"] == state["best"]["epoch"]
    for key, value in state["best"]["model"].items():
        assert torch.equal(resumed.best["model"][key], value)


def test_a_stopped_run_does_not_train_on_after_resume(small_split):
    trainer = _trainer(small_split, epochs=6)
    trainer.fit()
    state = trainer.state_dict()
    state["stopped_early"] = True
    state["epoch"] = 3
    resumed = _trainer(small_split, epochs=6)
    resumed.load_state_dict(state)
    assert resumed.fit() == state["history"] and resumed.epoch == 3


def test_patience_must_not_be_negative():
    with pytest.raises(ValueError, match="patience must be >= 0"):
        TrainConfig(patience=-1)
