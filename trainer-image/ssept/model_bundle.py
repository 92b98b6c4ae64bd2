"""A trained model as a directory: weights, configs, and what it was trained on. This is
what goes to the models bucket and to MLflow, and what evaluate/export read."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch

from ssept.model import SSEPT, ModelConfig

WEIGHTS = "weights.pt"
INFO = "bundle.json"


@dataclass
class BundleInfo:
    dataset: str
    data_version: str
    model_config: dict
    train_config: dict
    mask_seen_items: bool
    metrics: dict
    git_commit: str
    epoch: int

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def save_bundle(directory: Path, model: SSEPT, info: BundleInfo) -> Path:
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    torch.save({k: v.detach().cpu() for k, v in model.state_dict().items()}, directory / WEIGHTS)
    (directory / INFO).write_text(json.dumps(info.to_dict(), indent=2, sort_keys=True) + "\n")
    return directory


def load_bundle(directory: Path, device: torch.device | str = "cpu") -> tuple[SSEPT, BundleInfo]:
    directory = Path(directory)
    for name in (WEIGHTS, INFO):
        if not (directory / name).is_file():
            raise FileNotFoundError(f"{directory} is not a model bundle: {name} is missing")
    info = BundleInfo(**json.loads((directory / INFO).read_text()))
    model = SSEPT(ModelConfig.from_dict(info.model_config))
    model.load_state_dict(torch.load(directory / WEIGHTS, map_location="cpu"))
    return model.to(device).eval(), info


def fetch_bundle(storage, models_bucket: str, ref: str, target: Path, tracking_uri: str | None = None) -> Path:  # type: ignore[no-untyped-def]
    """Download a bundle named by an MLflow URI (models:/ssept-ml-1m@production, runs:/<id>/model)
    or by its key prefix in the models bucket (ml-1m/<run-name>)."""
    target = Path(target)
    if ref.startswith(("models:/", "runs:/")):
        from ssept.tracking import _import_mlflow

        mlflow, _ = _import_mlflow()
        if tracking_uri:
            mlflow.set_tracking_uri(tracking_uri)
        try:
            downloaded = Path(mlflow.artifacts.download_artifacts(artifact_uri=ref, dst_path=str(target)))
        except mlflow.exceptions.MlflowException as exc:  # unknown model, alias, version or run
            raise ValueError(f"--model {ref}: {exc.message}") from exc
        return bundle_directory(downloaded, ref)
    from ssept.storage import download_prefix

    download_prefix(storage, models_bucket, ref.strip("/"), target)
    return bundle_directory(target, ref)


def bundle_directory(root: Path, ref: str) -> Path:
    """The directory holding bundle.json: `root` itself or its only sub-directory that has one."""
    if (root / INFO).is_file():
        return root
    found = sorted(p.parent for p in root.rglob(INFO))
    if len(found) != 1:
        raise FileNotFoundError(f"{ref} is not a model bundle: {len(found)} {INFO} files found")
    return found[0]
