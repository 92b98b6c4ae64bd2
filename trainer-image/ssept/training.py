"""The training loop shared by the single-process path, every Ray Train worker and every Ray
Tune trial.

Reproducibility across restarts: each epoch reseeds its sampler and dropout from
(seed, epoch, rank), so resuming from the checkpoint of epoch k replays epochs k+1.. exactly
as an uninterrupted run would, without saving RNG streams.
"""

from __future__ import annotations

import contextlib
import copy
import inspect
import time
from dataclasses import asdict, dataclass, fields
from typing import Callable, Literal

import torch
import torch.nn as nn

from ssept.batching import DeviceBatcher
from ssept.evaluation import Evaluator, Stage
from ssept.model import ModelConfig, bce_loss, build_model
from ssept.split import LeaveOneOutSplit

Precision = Literal["auto", "fp32", "bf16"]
STATE_FORMAT = 1


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 200
    batch_size: int = 128
    lr: float = 1e-3
    beta1: float = 0.9
    beta2: float = 0.98
    l2_emb: float = 0.0
    sse_user_keep: float = 0.08
    sse_item_keep: float = 0.9
    # SSE-PT++: the probability that a history longer than maxlen + 1 trains on a window drawn
    # from anywhere in it rather than its latest one (0 = always the latest, as SSE-PT/SASRec).
    window_sample_prob: float = 0.0
    seed: int = 42
    eval_every: int = 20
    checkpoint_every: int = 10
    precision: Precision = "auto"
    eval_users: int = 10_000
    num_negatives: int = 100
    eval_batch_size: int = 1024
    # Early stopping: stop after this many validation evaluations without a better
    # valid_ndcg10 (0 = run every epoch). Either way the weights of the best validation
    # epoch are kept and are what the run reports and stores.
    patience: int = 0

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "eval_users", "num_negatives", "eval_batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"train config: {name} must be >= 1, got {getattr(self, name)}")
        for name in ("eval_every", "checkpoint_every", "patience"):
            if getattr(self, name) < 0:
                raise ValueError(f"train config: {name} must be >= 0 (0 = only at the end), got {getattr(self, name)}")
        if self.lr <= 0:
            raise ValueError(f"train config: lr must be > 0, got {self.lr}")
        for name in ("beta1", "beta2"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"train config: {name} must be in [0, 1), got {getattr(self, name)}")
        for name in ("sse_user_keep", "sse_item_keep", "window_sample_prob"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"train config: {name} must be a probability in [0, 1], got {getattr(self, name)}")
        if self.l2_emb < 0:
            raise ValueError(f"train config: l2_emb must be >= 0, got {self.l2_emb}")
        if self.precision not in ("auto", "fp32", "bf16"):
            raise ValueError(f"train config: precision must be auto, fp32 or bf16, got {self.precision!r}")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "TrainConfig":
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    def due(self, every: int, epoch: int) -> bool:
        return epoch == self.epochs or (every > 0 and epoch % every == 0)


def epoch_seed(seed: int, epoch: int, rank: int) -> int:
    return (seed * 1_000_003 + epoch * 7_919 + rank * 104_729) % (2**63 - 1)


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"--device {name}: CUDA is not available on this machine")
    return device


def autocast_dtype(precision: Precision, device: torch.device) -> torch.dtype | None:
    if device.type != "cuda" or precision == "fp32":
        return None
    if precision == "bf16" or torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return None


def make_adam(params, config: TrainConfig, device: torch.device) -> torch.optim.Adam:  # type: ignore[no-untyped-def]
    """Adam with the fused CUDA kernel where torch has it (>= 2.0): one launch per step
    instead of a few per parameter."""
    kwargs = {"lr": config.lr, "betas": (config.beta1, config.beta2)}
    if device.type == "cuda" and "fused" in inspect.signature(torch.optim.Adam).parameters:
        kwargs["fused"] = True
    return torch.optim.Adam(params, **kwargs)


class Trainer:
    def __init__(
        self,
        split: LeaveOneOutSplit,
        model_config: ModelConfig,
        config: TrainConfig,
        device: torch.device | str = "cpu",
        mask_seen: bool = True,
        rank: int = 0,
        world_size: int = 1,
        wrap_model: Callable[[nn.Module], nn.Module] = lambda m: m,
    ) -> None:
        if (model_config.num_users, model_config.num_items) != (split.num_users, split.num_items):
            raise ValueError(
                f"model config is for {model_config.num_users} users / {model_config.num_items} items, "
                f"the data has {split.num_users} / {split.num_items}"
            )
        self.split, self.model_config, self.config = split, model_config, config
        self.device = torch.device(device)
        self.mask_seen, self.rank, self.world_size = mask_seen, rank, world_size
        torch.manual_seed(config.seed)  # same initial weights on every rank
        self.model = build_model(model_config).to(self.device)
        self.train_model = wrap_model(self.model)
        self.optimizer = make_adam(self.train_model.parameters(), config, self.device)
        self.batcher = DeviceBatcher(
            split,
            model_config.maxlen,
            config.batch_size,
            self.device,
            config.sse_user_keep,
            config.sse_item_keep,
            window_sample_prob=config.window_sample_prob,
        )
        self._evaluator: Evaluator | None = None
        self.amp_dtype = autocast_dtype(config.precision, self.device)
        self.epoch = 0
        self.history: list[dict] = []
        # The best validation epoch so far: {"epoch", "valid_ndcg10", "model": CPU weights}.
        self.best: dict | None = None
        self.stopped_early = False

    @property
    def evaluator(self) -> Evaluator:
        if self._evaluator is None:
            self._evaluator = Evaluator(
                self.split,
                self.model_config.maxlen,
                self.device,
                num_negatives=self.config.num_negatives,
                max_users=self.config.eval_users,
                batch_size=self.config.eval_batch_size,
            )
        return self._evaluator

    def _autocast(self) -> contextlib.AbstractContextManager:
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.amp_dtype)

    def _l2(self) -> torch.Tensor | float:
        if self.config.l2_emb == 0:
            return 0.0
        names = ("item_emb", "user_emb", "pos_emb")
        tables = [getattr(self.model, n).weight for n in names if hasattr(self.model, n)]
        return self.config.l2_emb * 0.5 * sum((w.float() ** 2).sum() for w in tables)

    def train_epoch(self) -> dict[str, float]:
        epoch = self.epoch + 1
        seed = epoch_seed(self.config.seed, epoch, self.rank)
        torch.manual_seed(seed)  # dropout
        generator = torch.Generator(device=self.device).manual_seed(seed)
        self.train_model.train()
        started = time.perf_counter()
        total = torch.zeros((), device=self.device)
        steps = 0
        for batch in self.batcher.epoch(generator, self.rank, self.world_size):
            with self._autocast():
                pos_logits, neg_logits = self.train_model(batch.users, batch.seq, batch.pos, batch.neg)
                loss = bce_loss(pos_logits.float(), neg_logits.float(), batch.pos != 0) + self._l2()
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            total += loss.detach()
            steps += 1
        mean_loss = float(total) / max(steps, 1)  # one host sync per epoch
        self.epoch = epoch
        return {"epoch": epoch, "loss": mean_loss, "epoch_seconds": time.perf_counter() - started, "steps": steps}

    def evaluate(self, stage: Stage = "valid") -> dict[str, float]:
        self.model.eval()
        return self.evaluator.evaluate(self.model, stage, self.mask_seen, seed=self.config.seed)

    def fit(self, on_epoch_end: Callable[["Trainer", dict], None] | None = None) -> list[dict]:
        while self.epoch < self.config.epochs and not self.stopped_early:
            metrics = self.train_epoch()
            evaluated = self.rank == 0 and self.config.due(self.config.eval_every, self.epoch)
            if evaluated:
                metrics.update(self.evaluate("valid"))
                self._track_best(metrics)
            self.stopped_early = self._agree_to_stop(evaluated)
            metrics["stopped_early"] = self.stopped_early
            self.history.append(metrics)
            if on_epoch_end is not None:
                on_epoch_end(self, metrics)
        return self.history

    def _track_best(self, metrics: dict) -> None:
        score = float(metrics["valid_ndcg10"])
        if self.best is None or score > self.best["valid_ndcg10"]:
            weights = {k: v.detach().cpu().clone() for k, v in self.model.state_dict().items()}
            self.best = {"epoch": self.epoch, "valid_ndcg10": score, "model": weights}
        metrics["best_epoch"] = self.best["epoch"]

    def evaluations_since_best(self) -> int:
        if self.best is None:
            return 0
        return sum(1 for h in self.history if h["epoch"] > self.best["epoch"] and "valid_ndcg10" in h)

    def _agree_to_stop(self, evaluated: bool) -> bool:
        """Rank 0 decides (it alone evaluates); other ranks follow, so no DDP rank hangs."""
        stop = (
            evaluated
            and self.config.patience > 0
            and self.best is not None
            and self.best["epoch"] < self.epoch
            and self.evaluations_since_best() + 1 >= self.config.patience
        )
        if self.world_size > 1 and torch.distributed.is_available() and torch.distributed.is_initialized():
            flag = torch.tensor([1 if stop else 0], device=self.device)
            torch.distributed.broadcast(flag, src=0)
            stop = bool(flag.item())
        return stop

    def load_best_weights(self) -> None:
        """The best validation epoch's weights into the model (no-op before any evaluation)."""
        if self.best is not None:
            self.model.load_state_dict(self.best["model"])

    def state_dict(self) -> dict:
        return {
            "format": STATE_FORMAT,
            "epoch": self.epoch,
            # Copies, not views: the state must not change as training goes on.
            "model": {k: v.detach().cpu().clone() for k, v in self.model.state_dict().items()},
            "optimizer": copy.deepcopy(self.optimizer.state_dict()),
            "model_config": self.model_config.to_dict(),
            "train_config": self.config.to_dict(),
            "history": list(self.history),
            "best": None if self.best is None else {**self.best, "model": dict(self.best["model"])},
            "stopped_early": self.stopped_early,
        }

    def load_state_dict(self, state: dict) -> None:
        if state.get("format") != STATE_FORMAT:
            raise ValueError(f"checkpoint format {state.get('format')!r} is not {STATE_FORMAT}")
        if ModelConfig.from_dict(state["model_config"]).to_dict() != self.model_config.to_dict():
            raise ValueError(
                f"checkpoint was written for model config {state['model_config']}, not {self.model_config.to_dict()}"
            )
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.epoch = int(state["epoch"])
        self.history = list(state.get("history", []))
        self.best = state.get("best")
        self.stopped_early = bool(state.get("stopped_early", False))
