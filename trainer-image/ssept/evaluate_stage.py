"""evaluate: a stored model against its data (or another version of it), on the paper's
sampled protocol and on the full catalogue, next to the popularity baseline."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from ssept.baselines import PopularityScorer
from ssept.evaluation import Evaluator, Stage
from ssept.features import load_split
from ssept.model_bundle import fetch_bundle, load_bundle
from ssept.stage_env import StageEnv, utc_now
from ssept.tracking import MlflowTracker
from ssept.training import resolve_device


def run_evaluate(
    env: StageEnv,
    model_ref: str,
    stage: Stage = "test",
    data_version: str | None = None,
    num_negatives: int = 100,
    max_users: int = 10_000,
    seed: int = 42,
    device: str = "auto",
    mlflow_tracking_uri: str | None = None,
    mlflow_run_id: str | None = None,
) -> dict:
    torch_device = resolve_device(device)
    with tempfile.TemporaryDirectory() as tmp:
        bundle_dir = fetch_bundle(env.storage, env.buckets.models, model_ref, Path(tmp), mlflow_tracking_uri)
        model, info = load_bundle(bundle_dir, torch_device)
    split, manifest = load_split(env, info.dataset, data_version or info.data_version)
    if (split.num_users, split.num_items) != (model.config.num_users, model.config.num_items):
        raise ValueError(
            f"data {info.dataset}/{manifest['version']} has {split.num_users} users / {split.num_items} items; the model "
            f"was trained for {model.config.num_users} / {model.config.num_items}"
        )
    evaluator = Evaluator(split, model.config.maxlen, torch_device, num_negatives, max_users)
    started = time.perf_counter()
    metrics = evaluator.evaluate(model, stage, info.mask_seen_items, seed=seed)
    baseline = evaluator.evaluate(PopularityScorer(split, torch_device), stage, info.mask_seen_items, seed=seed)
    report = {
        "model": model_ref,
        "dataset": info.dataset,
        "data_version": manifest["version"],
        "split": stage,
        "num_negatives": num_negatives,
        "max_users": max_users,
        "seed": seed,
        "metrics": metrics,
        "popularity": baseline,
        "seconds": round(time.perf_counter() - started, 3),
        "created_at": utc_now(),
        "git_commit": env.git_commit,
    }
    key = f"evaluations/{info.dataset}/{manifest['version']}/{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}-{stage}.json"
    env.put_json(env.buckets.models, key, report)
    report["report"] = env.storage.uri(env.buckets.models, key)
    if mlflow_tracking_uri and mlflow_run_id:
        MlflowTracker.attach(mlflow_tracking_uri, mlflow_run_id).log_metrics(
            {f"eval_{k}": v for k, v in metrics.items()}
        )
    return report
