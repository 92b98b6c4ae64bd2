"""train: fit SSE-PT on a features version (locally or on Ray Train), evaluate it against
the popularity baseline, store the bundle in the models bucket, log and register in MLflow."""

from __future__ import annotations

import json
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

import torch

from ssept.baselines import PopularityScorer
from ssept.checkpoints import StorageCheckpointStore
from ssept.evaluation import Evaluator
from ssept.features import load_split
from ssept.model import ModelConfig, build_model
from ssept.model_bundle import BundleInfo, save_bundle
from ssept.split import LeaveOneOutSplit
from ssept.stage_env import StageEnv
from ssept.storage import upload_directory
from ssept.tracking import MlflowTracker, NullTracker, Tracker, registered_model_name
from ssept.training import TrainConfig, resolve_device
from ssept.training_job import LocalContext, TrainingJob, run_training


def default_run_name(dataset: str) -> str:
    return f"{dataset}-{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}"


def start_tracker(job: TrainingJob, env: StageEnv, experiment: str | None) -> Tracker:
    if not job.mlflow_tracking_uri:
        return NullTracker()
    name = experiment or f"ssept-{job.dataset}"
    tracker = MlflowTracker.start(
        job.mlflow_tracking_uri,
        name,
        job.run_name,
        tags={"dataset": job.dataset, "data_version": job.data_version, "git_commit": env.git_commit},
        # Proxied by the tracking server (--serve-artifacts) into its artifacts bucket: clients need
        # only the tracking URI, never the bucket's keys.
        artifact_location=f"mlflow-artifacts:/{name}",
    )
    tracker.log_params(
        {"dataset": job.dataset, "data_version": job.data_version, "git_commit": env.git_commit, "mask_seen": job.mask_seen,
         **{f"model.{k}": v for k, v in job.model.items()}, **{f"train.{k}": v for k, v in job.train.items()}}
    )
    return tracker


def finalize(
    env: StageEnv,
    job: TrainingJob,
    split: LeaveOneOutSplit,
    state: dict,
    tracker: Tracker,
    register: bool,
    device: torch.device,
) -> dict:
    """Final evaluation (model and popularity, same users and negatives), bundle upload,
    MLflow artifacts and registration."""
    model_config = ModelConfig.from_dict(state["model_config"])
    train_config = TrainConfig.from_dict(state["train_config"])
    model = build_model(model_config)
    # The best validation epoch's weights (early stopping), never a test-chosen epoch.
    best = state.get("best")
    model.load_state_dict(best["model"] if best else state["model"])
    model = model.to(device).eval()
    evaluator = Evaluator(
        split, model_config.maxlen, device, train_config.num_negatives, train_config.eval_users, train_config.eval_batch_size
    )
    metrics: dict[str, float] = {}
    for stage in ("valid", "test"):
        metrics.update(evaluator.evaluate(model, stage, job.mask_seen, seed=train_config.seed))
    popularity = evaluator.evaluate(PopularityScorer(split, device), "test", job.mask_seen, seed=train_config.seed)
    metrics.update({f"popularity_{k}": v for k, v in popularity.items()})
    metrics["best_epoch"] = int(best["epoch"]) if best else int(state["epoch"])
    info = BundleInfo(
        dataset=job.dataset,
        data_version=job.data_version,
        model_config=model_config.to_dict(),
        train_config=train_config.to_dict(),
        mask_seen_items=job.mask_seen,
        metrics=metrics,
        git_commit=env.git_commit,
        epoch=int(state["epoch"]),
    )
    prefix = f"{job.dataset}/{job.run_name}"
    with tempfile.TemporaryDirectory() as tmp:
        bundle = save_bundle(Path(tmp) / "model", model, info)
        (bundle / "history.json").write_text(json.dumps(state.get("history", []), indent=1))
        upload_directory(env.storage, env.buckets.models, prefix, bundle)
        tracker.log_metrics(metrics, step=int(state["epoch"]))
        tracker.log_artifacts(bundle, "model")
    version = tracker.register(registered_model_name(job.dataset), "model") if register else None
    return {
        "run_name": job.run_name,
        "model": env.storage.uri(env.buckets.models, prefix),
        "model_key": prefix,
        "mlflow_run_id": tracker.run_id,
        "registered_model": registered_model_name(job.dataset) if version else None,
        "registered_version": version,
        "epochs": int(state["epoch"]),
        "metrics": metrics,
    }


def build_job(
    env: StageEnv,
    dataset: str,
    data_version: str,
    run_name: str | None,
    model_overrides: dict,
    train_config: TrainConfig,
    storage_root: str | None,
    s3_endpoint_url: str | None,
    device: str,
    mlflow_tracking_uri: str | None,
) -> tuple[TrainingJob, LeaveOneOutSplit]:
    split, manifest = load_split(env, dataset, data_version)
    model = {k: v for k, v in model_overrides.items() if v is not None}
    model.setdefault("maxlen", manifest["maxlen"])
    ModelConfig(num_users=split.num_users, num_items=split.num_items, **model)  # validate before any work
    job = TrainingJob(
        dataset=dataset,
        data_version=manifest["version"],
        run_name=run_name or default_run_name(dataset),
        model=model,
        train=train_config.to_dict(),
        mask_seen=bool(manifest["mask_seen_items"]),
        storage_root=storage_root,
        s3_endpoint_url=s3_endpoint_url,
        buckets=asdict(env.buckets),
        device=device,
        mlflow_tracking_uri=mlflow_tracking_uri,
    )
    return job, split


def run_train(
    env: StageEnv,
    job: TrainingJob,
    split: LeaveOneOutSplit,
    register: bool = False,
    experiment: str | None = None,
    resume: bool = True,
    ray_workers: int = 0,
    ray_gpus_per_worker: float = 0.0,
    ray_cpus_per_worker: float = 1.0,
    ray_max_failures: int = 3,
    ray_address: str | None = None,
) -> dict:
    tracker = start_tracker(job, env, experiment)
    job.mlflow_run_id = tracker.run_id
    try:
        if ray_workers > 0:
            from ssept.ray_train import fit_with_ray

            state = fit_with_ray(job, ray_workers, ray_gpus_per_worker, ray_cpus_per_worker, ray_max_failures, ray_address)
            device = resolve_device(job.device)
        else:
            device = resolve_device(job.device)
            checkpoints = StorageCheckpointStore(env.storage, env.buckets.ray_checkpoints, job.checkpoint_prefix())
            trainer = run_training(split, job, LocalContext(device, checkpoints, tracker, resume))
            state = trainer.state_dict()
        summary = finalize(env, job, split, state, tracker, register, device)
    except BaseException:
        tracker.finish("FAILED")
        raise
    tracker.finish("FINISHED")
    return summary
