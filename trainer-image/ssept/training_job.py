"""One training run as plain data, and the code every worker runs for it.

`run_training` is the single training path: the local process, each Ray Train worker and each
Ray Tune trial call it with their own `TrainingContext` (where to checkpoint, how to report,
how to wrap the model for data parallelism).
"""

from __future__ import annotations

import sys
from dataclasses import asdict, dataclass, field
from typing import Protocol

import torch
import torch.nn as nn

from ssept.checkpoints import StorageCheckpointStore
from ssept.features import load_split
from ssept.model import ModelConfig
from ssept.split import LeaveOneOutSplit
from ssept.stage_env import StageEnv
from ssept.storage import Buckets, open_storage
from ssept.tracking import NullTracker, Tracker
from ssept.training import TrainConfig, Trainer


@dataclass
class TrainingJob:
    """Serializable description of a run (it crosses process boundaries to Ray workers)."""

    dataset: str
    data_version: str
    run_name: str
    model: dict  # ModelConfig without num_users / num_items (taken from the data)
    train: dict  # TrainConfig
    mask_seen: bool
    storage_root: str | None = None
    s3_endpoint_url: str | None = None
    buckets: dict = field(default_factory=lambda: asdict(Buckets()))
    device: str = "auto"
    mlflow_tracking_uri: str | None = None
    mlflow_run_id: str | None = None

    def env(self) -> StageEnv:
        return StageEnv(open_storage(self.storage_root, self.s3_endpoint_url), Buckets(**self.buckets))

    def checkpoint_prefix(self) -> str:
        return f"{self.dataset}/{self.run_name}"

    def model_config(self, split: LeaveOneOutSplit) -> ModelConfig:
        return ModelConfig(num_users=split.num_users, num_items=split.num_items, **self.model)

    def train_config(self) -> TrainConfig:
        return TrainConfig.from_dict(self.train)


class TrainingContext(Protocol):
    rank: int
    world_size: int
    device: torch.device

    def prepare_model(self, model: nn.Module) -> nn.Module: ...

    def restore(self) -> dict | None: ...

    def report(self, metrics: dict, state: dict | None) -> None: ...


def progress_line(metrics: dict) -> str:
    shown = {k: v for k, v in metrics.items() if k in ("epoch", "loss", "epoch_seconds") or k.startswith("valid_")}
    return " ".join(f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}" for k, v in shown.items())


def print_progress(metrics: dict) -> None:
    """One line per epoch on stderr (stdout carries the stage's JSON result)."""
    print(progress_line(metrics), file=sys.stderr, flush=True)


class LocalContext:
    """Single process: checkpoints in object storage, metrics to the tracker."""

    rank = 0
    world_size = 1

    def __init__(
        self, device: torch.device, checkpoints: StorageCheckpointStore | None, tracker: Tracker | None = None, resume: bool = True
    ) -> None:
        self.device = device
        self.checkpoints = checkpoints
        self.tracker = tracker or NullTracker()
        self.resume = resume
        self.saved: list[str] = []

    def prepare_model(self, model: nn.Module) -> nn.Module:
        return model

    def restore(self) -> dict | None:
        if self.checkpoints is None or not self.resume:
            return None
        return self.checkpoints.latest(self.device)

    def report(self, metrics: dict, state: dict | None) -> None:
        print_progress(metrics)
        self.tracker.log_metrics(metrics, step=int(metrics["epoch"]))
        if state is not None and self.checkpoints is not None:
            self.saved.append(self.checkpoints.save(int(state["epoch"]), state))


def run_training(split: LeaveOneOutSplit, job: TrainingJob, ctx: TrainingContext) -> Trainer:
    config = job.train_config()
    trainer = Trainer(
        split,
        job.model_config(split),
        config,
        ctx.device,
        mask_seen=job.mask_seen,
        rank=ctx.rank,
        world_size=ctx.world_size,
        wrap_model=ctx.prepare_model,
    )
    state = ctx.restore()
    if state is not None:
        trainer.load_state_dict(state)

    def on_epoch_end(trainer: Trainer, metrics: dict) -> None:
        due = config.due(config.checkpoint_every, trainer.epoch)
        ctx.report(metrics, trainer.state_dict() if due and ctx.rank == 0 else None)

    trainer.fit(on_epoch_end)
    return trainer


def load_job_split(job: TrainingJob) -> LeaveOneOutSplit:
    split, _ = load_split(job.env(), job.dataset, job.data_version)
    return split
