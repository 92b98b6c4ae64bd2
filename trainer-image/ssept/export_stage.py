"""export: model bundle -> ONNX (top-k inside) -> Triton model repository in the models
bucket, after checking that the ONNX graph and PyTorch agree on a batch."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

from ssept.model_bundle import fetch_bundle, load_bundle
from ssept.onnx_export import DEFAULT_OPSET, export_onnx
from ssept.onnx_parity import check_parity, parity_batch
from ssept.stage_env import StageEnv, utc_now
from ssept.storage import upload_directory
from ssept.tracking import registered_model_name
from ssept.triton_repository import InstanceKind, write_repository


def next_triton_version(env: StageEnv, repository_prefix: str, model_name: str) -> int:
    prefix = f"{repository_prefix}/{model_name}/"
    versions = [
        int(m.group(1))
        for key in env.storage.list_keys(env.buckets.models, prefix)
        if (m := re.match(r"(\d+)/model\.onnx$", key[len(prefix) :]))
    ]
    return max(versions, default=0) + 1


def run_export(
    env: StageEnv,
    model_ref: str,
    top_k: int = 100,
    model_name: str | None = None,
    triton_version: int | None = None,
    instance_kind: InstanceKind = "gpu",
    max_batch_size: int = 256,
    repository_prefix: str = "triton",
    opset: int = DEFAULT_OPSET,
    mlflow_tracking_uri: str | None = None,
) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        model, info = load_bundle(fetch_bundle(env.storage, env.buckets.models, model_ref, tmp_path / "bundle", mlflow_tracking_uri))
        name = model_name or registered_model_name(info.dataset)
        version = triton_version or next_triton_version(env, repository_prefix, name)
        onnx_path = tmp_path / "model.onnx"
        recommender = export_onnx(model, onnx_path, top_k, info.mask_seen_items, opset)
        users, seqs = parity_batch(model.config.num_users, model.config.num_items, model.config.maxlen, batch=32)
        parity = check_parity(recommender, onnx_path, users, seqs)
        if not parity.passed:
            raise RuntimeError(f"ONNX/PyTorch parity check failed, nothing uploaded: {parity.as_dict()}")
        repo = tmp_path / "repository"
        write_repository(repo, name, version, onnx_path, model.config.maxlen, top_k, instance_kind, max_batch_size)
        keys = upload_directory(env.storage, env.buckets.models, repository_prefix, repo)
    report = {
        "model": model_ref,
        "dataset": info.dataset,
        "data_version": info.data_version,
        "triton_model": name,
        "triton_version": version,
        "repository": env.storage.uri(env.buckets.models, repository_prefix),
        "objects": keys,
        "top_k": top_k,
        "maxlen": model.config.maxlen,
        "mask_seen_items": info.mask_seen_items,
        "default_instance_kind": instance_kind,
        "opset": opset,
        "parity": parity.as_dict(),
        "created_at": utc_now(),
        "git_commit": env.git_commit,
    }
    env.put_json(env.buckets.models, f"exports/{name}/{version}/export.json", report)
    return report
