"""Ray Tune adapter: ASHA over lr, dropout, SSE keep probabilities, SSE-PT++'s window sampling,
blocks, width and its split between the item and the user embedding.

The search space is plain data here so it is validated and applied without Ray; only
`run_search` imports Ray. Every trial runs the same `run_training` as `ssept train`.
"""

from __future__ import annotations

import tempfile
from dataclasses import asdict, replace
from pathlib import Path

import torch

from ssept.checkpoints import STATE_FILE, state_from_bytes, state_to_bytes
from ssept.ray_train import ray_storage, require_ray
from ssept.training_job import TrainingJob, load_job_split, run_training

METRIC = "valid_ndcg10"

# name -> (kind, arguments). "width" is item_dim + user_dim (the transformer's width) and
# "user_share" the part of it given to the user embedding. Only the item part ranks items (the
# user part adds one value to all of a user's scores), so the split is a real trade-off.
SEARCH_SPACE: dict[str, tuple[str, tuple]] = {
    "lr": ("loguniform", (1e-4, 5e-3)),
    "dropout": ("uniform", (0.1, 0.6)),
    "sse_user_keep": ("uniform", (0.0, 1.0)),
    "sse_item_keep": ("uniform", (0.7, 1.0)),
    "window_sample_prob": ("uniform", (0.0, 0.5)),
    "num_blocks": ("choice", ([1, 2, 3],)),
    "width": ("choice", ([64, 100, 128],)),
    "user_share": ("choice", ([0.1, 0.25, 0.5],)),
}


def to_ray_space(tune, space: dict[str, tuple[str, tuple]] = SEARCH_SPACE) -> dict:  # type: ignore[no-untyped-def]
    makers = {"loguniform": tune.loguniform, "uniform": tune.uniform, "choice": tune.choice}
    return {name: makers[kind](*args) for name, (kind, args) in space.items()}


def apply_trial_config(job: TrainingJob, trial: dict) -> TrainingJob:
    """The job with one point of the search space applied."""
    unknown = set(trial) - set(SEARCH_SPACE)
    if unknown:
        raise ValueError(f"unknown search-space keys: {sorted(unknown)}")
    model, train = dict(job.model), dict(job.train)
    if "dropout" in trial:
        model["dropout"] = float(trial["dropout"])
    if "num_blocks" in trial:
        model["num_blocks"] = int(trial["num_blocks"])
    if "width" in trial or "user_share" in trial:
        width = int(trial.get("width", model["item_dim"] + model["user_dim"]))
        share = float(trial.get("user_share", model["user_dim"] / (model["item_dim"] + model["user_dim"])))
        model["user_dim"] = min(width - 1, max(1, round(width * share)))
        model["item_dim"] = width - model["user_dim"]
    for key in ("lr", "sse_user_keep", "sse_item_keep", "window_sample_prob"):
        if key in trial:
            train[key] = float(trial[key])
    return replace(job, model=model, train=train)


class TuneTrialContext:
    """Reports only evaluation epochs (ASHA compares trials on the validation metric, with
    `epoch` as its time axis), each with a checkpoint so the best trial can be registered."""

    rank = 0
    world_size = 1

    def __init__(self, device: torch.device) -> None:
        import ray.train
        import ray.tune

        self.device = device
        new_api = hasattr(ray.tune, "get_checkpoint")  # Ray >= 2.41 has tune.report / tune.Checkpoint
        self._report = ray.tune.report if new_api else ray.train.report
        self._get_checkpoint = ray.tune.get_checkpoint if new_api else ray.train.get_checkpoint
        self._checkpoint = ray.tune.Checkpoint if new_api else ray.train.Checkpoint

    def prepare_model(self, model: torch.nn.Module) -> torch.nn.Module:
        return model

    def restore(self) -> dict | None:
        checkpoint = self._get_checkpoint()
        if checkpoint is None:
            return None
        with checkpoint.as_directory() as directory:
            return state_from_bytes((Path(directory) / STATE_FILE).read_bytes(), self.device)

    def report(self, metrics: dict, state: dict | None) -> None:
        if METRIC not in metrics:
            return
        if state is None:
            self._report(metrics)
            return
        with tempfile.TemporaryDirectory() as directory:
            (Path(directory) / STATE_FILE).write_bytes(state_to_bytes(state))
            self._report(metrics, checkpoint=self._checkpoint.from_directory(directory))


def tune_trial(config: dict) -> None:
    job = apply_trial_config(TrainingJob(**config["job"]), {k: config[k] for k in SEARCH_SPACE if k in config})
    device = torch.device("cuda" if torch.cuda.is_available() and job.device != "cpu" else "cpu")
    run_training(load_job_split(job), job, TuneTrialContext(device))


def run_search(
    job: TrainingJob,
    num_samples: int,
    grace_period: int,
    gpus_per_trial: float,
    cpus_per_trial: float,
    ray_address: str | None = None,
) -> tuple[TrainingJob, dict, dict]:
    """Returns (best trial's job, its final training state, its last metrics)."""
    ray = require_ray("ssept tune")
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler

    if not ray.is_initialized():
        ray.init(address=ray_address) if ray_address else ray.init()
    # Every evaluation epoch reports a checkpoint; the trial's last one must hold its state.
    job = replace(job, train={**job.train, "checkpoint_every": job.train.get("eval_every", 1)})
    storage_path, filesystem = ray_storage(job)
    scheduler = ASHAScheduler(
        time_attr="epoch", max_t=int(job.train["epochs"]), grace_period=grace_period, reduction_factor=2
    )
    resources = {"cpu": cpus_per_trial, "gpu": gpus_per_trial}
    try:
        from ray.tune import RunConfig  # Ray >= 2.41
    except ImportError:
        from ray.train import RunConfig
    tuner = tune.Tuner(
        tune.with_resources(tune_trial, resources),
        param_space={"job": asdict(job), **to_ray_space(tune)},
        tune_config=tune.TuneConfig(metric=METRIC, mode="max", scheduler=scheduler, num_samples=num_samples),
        run_config=RunConfig(name=job.run_name, storage_path=storage_path, storage_filesystem=filesystem),
    )
    results = tuner.fit()
    # scope="last": judged by its final report, which is also the state its last checkpoint holds
    best = results.get_best_result(metric=METRIC, mode="max", scope="last")
    if best.checkpoint is None:
        raise RuntimeError("the best trial left no checkpoint")
    with best.checkpoint.as_directory() as directory:
        state = state_from_bytes((Path(directory) / STATE_FILE).read_bytes(), "cpu")
    best_job = apply_trial_config(job, {k: best.config[k] for k in SEARCH_SPACE})
    return best_job, state, dict(best.metrics)
