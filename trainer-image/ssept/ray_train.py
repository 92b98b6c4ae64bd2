"""Ray Train adapter: the same `run_training` on N TorchTrainer workers (DDP), checkpointing
to the ray-checkpoints bucket and resuming after a lost worker or node.

Two recovery paths: FailureConfig(max_failures) restarts the worker group inside one `fit()`
from the latest reported checkpoint; if the driver itself is lost (the RayJob is resubmitted),
`TorchTrainer.restore` picks the run up from the same storage path under the same run name.
Ray is imported only here, only when a Ray path is used.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import asdict
from pathlib import Path

import torch

from ssept.checkpoints import STATE_FILE, state_from_bytes, state_to_bytes
from ssept.tracking import MlflowTracker, NullTracker, Tracker
from ssept.training_job import TrainingJob, load_job_split, print_progress, run_training


def require_ray(feature: str):  # type: ignore[no-untyped-def]
    try:
        import ray
    except ImportError as exc:
        raise RuntimeError(f"{feature} needs Ray (pip install 'ray[train,tune]'); it is not installed here") from exc
    return ray


def ray_storage(job: TrainingJob) -> tuple[str, object | None]:
    """(storage_path, filesystem) for Ray's RunConfig: a local directory, or the S3 bucket
    through pyarrow with the platform's endpoint (Ceph RGW is not AWS)."""
    bucket = job.buckets["ray_checkpoints"]
    if job.storage_root:
        root = job.storage_root[len("file://") :] if job.storage_root.startswith("file://") else job.storage_root
        return str(Path(root).resolve() / bucket / job.dataset), None
    import pyarrow.fs

    endpoint = job.s3_endpoint_url or ""
    scheme = "http" if endpoint.startswith("http://") else "https"
    filesystem = pyarrow.fs.S3FileSystem(
        endpoint_override=endpoint.split("://", 1)[-1],
        scheme=scheme,
        access_key=os.environ.get("AWS_ACCESS_KEY_ID"),
        secret_key=os.environ.get("AWS_SECRET_ACCESS_KEY"),
    )
    return f"{bucket}/{job.dataset}", filesystem


class RayWorkerContext:
    def __init__(self, job: TrainingJob) -> None:
        from ray import train
        import ray.train.torch as ray_torch

        self._train = train
        self._ray_torch = ray_torch
        context = train.get_context()
        self.rank = context.get_world_rank()
        self.world_size = context.get_world_size()
        self.device = torch.device(ray_torch.get_device()) if job.device != "cpu" else torch.device("cpu")
        self.tracker: Tracker = (
            MlflowTracker.attach(job.mlflow_tracking_uri, job.mlflow_run_id)
            if self.rank == 0 and job.mlflow_run_id and job.mlflow_tracking_uri
            else NullTracker()
        )

    def prepare_model(self, model: torch.nn.Module) -> torch.nn.Module:
        return self._ray_torch.prepare_model(model, move_to_device=False)

    def restore(self) -> dict | None:
        checkpoint = self._train.get_checkpoint()
        if checkpoint is None:
            return None
        with checkpoint.as_directory() as directory:
            return state_from_bytes((Path(directory) / STATE_FILE).read_bytes(), self.device)

    def report(self, metrics: dict, state: dict | None) -> None:
        if self.rank == 0:
            print_progress(metrics)
        self.tracker.log_metrics(metrics, step=int(metrics["epoch"]))
        if state is None:
            self._train.report(metrics)
            return
        with tempfile.TemporaryDirectory() as directory:
            (Path(directory) / STATE_FILE).write_bytes(state_to_bytes(state))
            self._train.report(metrics, checkpoint=self._train.Checkpoint.from_directory(directory))


def train_loop_per_worker(config: dict) -> None:
    job = TrainingJob(**config["job"])
    run_training(load_job_split(job), job, RayWorkerContext(job))


def fit_with_ray(
    job: TrainingJob,
    num_workers: int,
    gpus_per_worker: float,
    cpus_per_worker: float,
    max_failures: int,
    ray_address: str | None = None,
) -> dict:
    """Runs the job on Ray Train and returns the final training state (rank 0's)."""
    ray = require_ray("--ray-workers")
    from ray.train import CheckpointConfig, FailureConfig, RunConfig, ScalingConfig
    from ray.train.torch import TorchTrainer

    if not ray.is_initialized():
        ray.init(address=ray_address) if ray_address else ray.init()
    storage_path, filesystem = ray_storage(job)
    loop_config = {"job": asdict(job)}
    resources = {"CPU": cpus_per_worker}
    if gpus_per_worker > 0:
        resources["GPU"] = gpus_per_worker
    experiment_path = f"{storage_path}/{job.run_name}"
    if TorchTrainer.can_restore(experiment_path, storage_filesystem=filesystem):
        trainer = TorchTrainer.restore(
            experiment_path,
            train_loop_per_worker=train_loop_per_worker,
            train_loop_config=loop_config,
            storage_filesystem=filesystem,
        )
    else:
        trainer = TorchTrainer(
            train_loop_per_worker,
            train_loop_config=loop_config,
            # The coordinating trainer actor only waits on the workers: it takes no CPU of theirs.
            scaling_config=ScalingConfig(
                num_workers=num_workers,
                use_gpu=gpus_per_worker > 0,
                resources_per_worker=resources,
                trainer_resources={"CPU": 0},
            ),
            run_config=RunConfig(
                name=job.run_name,
                storage_path=storage_path,
                storage_filesystem=filesystem,
                checkpoint_config=CheckpointConfig(num_to_keep=2),
                failure_config=FailureConfig(max_failures=max_failures),
            ),
        )
    result = trainer.fit()
    if result.error is not None:
        raise RuntimeError(f"Ray Train run {job.run_name} failed: {result.error}")
    if result.checkpoint is None:
        raise RuntimeError(f"Ray Train run {job.run_name} finished without a checkpoint")
    with result.checkpoint.as_directory() as directory:
        return state_from_bytes((Path(directory) / STATE_FILE).read_bytes(), "cpu")
