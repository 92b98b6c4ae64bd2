from dataclasses import asdict

import pytest
import torch

from ssept.baselines import PopularityScorer
from ssept.checkpoints import StorageCheckpointStore
from ssept.model import ModelConfig
from ssept.storage import Buckets
from ssept.training import TrainConfig, Trainer
from ssept.training_job import LocalContext, TrainingJob, run_training

MODEL = dict(maxlen=30, item_dim=16, user_dim=16, num_blocks=1, num_heads=1, dropout=0.2)


def _train_config(**overrides):
    base = dict(epochs=30, batch_size=32, eval_every=0, checkpoint_every=0, eval_users=10_000, seed=7)
    base.update(overrides)
    return TrainConfig(**base)


def test_short_training_beats_popularity_on_the_same_protocol(small_split):
    config = _train_config()
    trainer = Trainer(small_split, ModelConfig(small_split.num_users, small_split.num_items, **MODEL), config)
    history = trainer.fit()
    assert history[-1]["loss"] < history[0]["loss"]
    model = trainer.evaluate("test")
    popularity = trainer.evaluator.evaluate(PopularityScorer(small_split), "test", mask_seen=True, seed=config.seed)
    assert model["test_users"] == popularity["test_users"] == 300
    assert model["test_ndcg10"] > popularity["test_ndcg10"] + 0.05, (model, popularity)
    assert model["test_hr10"] > popularity["test_hr10"] + 0.05, (model, popularity)
    assert model["test_full_ndcg10"] > popularity["test_full_ndcg10"], (model, popularity)


def _job(**train):
    return TrainingJob(dataset="ml-1m", data_version="v1", run_name="r1", model=dict(MODEL),
                       train=asdict(_train_config(**train)), mask_seen=True, buckets=asdict(Buckets()))


def _assert_same_state(a: dict, b: dict):
    assert a["epoch"] == b["epoch"]
    for key in a["model"]:
        assert torch.equal(a["model"][key], b["model"][key]), key
    for (ka, va), (kb, vb) in zip(a["optimizer"]["state"].items(), b["optimizer"]["state"].items()):
        for name in va:
            assert torch.equal(torch.as_tensor(va[name]), torch.as_tensor(vb[name])), (ka, name)
    assert [h["loss"] for h in a["history"]] == [h["loss"] for h in b["history"]]


def test_resume_from_checkpoint_reaches_the_uninterrupted_state(small_split, storage):
    job = _job(epochs=6, checkpoint_every=2, eval_every=3)
    straight = run_training(small_split, job, LocalContext(torch.device("cpu"), None)).state_dict()

    store = StorageCheckpointStore(storage, "ray-checkpoints", "ml-1m/r1")
    first = _job(epochs=3, checkpoint_every=2, eval_every=3)  # stops after epoch 3; last checkpoint: epoch 2
    run_training(small_split, first, LocalContext(torch.device("cpu"), store))
    assert store.epochs() == [2, 3]
    # Lose the newest checkpoint, so the resumed run must replay epoch 3 exactly.
    (storage.root / "ray-checkpoints/ml-1m/r1/epoch-000003/state.pt").unlink()
    assert store.epochs() == [2]
    resumed = run_training(small_split, job, LocalContext(torch.device("cpu"), store)).state_dict()
    _assert_same_state(straight, resumed)


class FlakyWorkerContext:
    """Stands in for a Ray Train worker: keeps the last reported checkpoint like Ray's storage,
    and can die after a given epoch as a worker whose GPU lease ended would."""

    rank, world_size, device = 0, 1, torch.device("cpu")

    def __init__(self, storage_checkpoint=None, die_after_epoch=None):
        self.checkpoint = storage_checkpoint
        self.die_after_epoch = die_after_epoch
        self.reports = []

    def prepare_model(self, model):
        return model

    def restore(self):
        return self.checkpoint

    def report(self, metrics, state):
        self.reports.append(metrics["epoch"])
        if state is not None:
            self.checkpoint = state
        if metrics["epoch"] == self.die_after_epoch:
            raise RuntimeError("worker lost")


def test_worker_loss_then_restart_resumes_to_the_same_state(small_split):
    job = _job(epochs=5, checkpoint_every=2, eval_every=0)
    straight = run_training(small_split, job, FlakyWorkerContext()).state_dict()
    first = FlakyWorkerContext(die_after_epoch=3)
    with pytest.raises(RuntimeError, match="worker lost"):
        run_training(small_split, job, first)
    assert first.checkpoint["epoch"] == 2
    second = FlakyWorkerContext(storage_checkpoint=first.checkpoint)
    resumed = run_training(small_split, job, second).state_dict()
    assert second.reports == [3, 4, 5]
    _assert_same_state(straight, resumed)


def test_checkpoint_for_another_model_is_refused(small_split):
    trainer = Trainer(small_split, ModelConfig(small_split.num_users, small_split.num_items, **MODEL), _train_config(epochs=1))
    state = trainer.state_dict()
    other = Trainer(small_split, ModelConfig(small_split.num_users, small_split.num_items, **{**MODEL, "num_blocks": 2}),
                    _train_config(epochs=1))
    with pytest.raises(ValueError, match="checkpoint was written for model config"):
        other.load_state_dict(state)


@pytest.mark.parametrize(
    "overrides, message",
    [({"sse_user_keep": 1.5}, "sse_user_keep must be a probability"), ({"lr": 0}, "lr must be > 0"),
     ({"precision": "fp16"}, "precision must be auto, fp32 or bf16"), ({"epochs": 0}, "epochs must be >= 1")],
)
def test_train_config_errors_name_the_field(overrides, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig(**overrides)
