"""Experiment tracking and the model registry behind a thin adapter. MLflow is imported only
when a tracking URI is configured, so training runs (and is tested) without it.

Registered model name: `ssept-<dataset>`. Promotion is by alias: staging, canary, production.
"""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path
from typing import Protocol

ALIASES = ("staging", "canary", "production")


def registered_model_name(dataset: str) -> str:
    return f"ssept-{dataset}"


def check_alias(alias: str) -> str:
    if alias not in ALIASES:
        raise ValueError(f"--alias {alias!r}: must be one of {', '.join(ALIASES)}")
    return alias


class Tracker(Protocol):
    run_id: str | None

    def log_params(self, params: dict) -> None: ...

    def log_metrics(self, metrics: dict, step: int | None = None) -> None: ...

    def log_artifacts(self, directory: Path, artifact_path: str) -> None: ...

    def register(self, model_name: str, artifact_path: str) -> str | None: ...

    def finish(self, status: str = "FINISHED") -> None: ...


class NullTracker:
    """Tracking disabled: nothing is recorded (the model bundle still holds its metrics)."""

    run_id: str | None = None

    def log_params(self, params: dict) -> None:
        pass

    def log_metrics(self, metrics: dict, step: int | None = None) -> None:
        pass

    def log_artifacts(self, directory: Path, artifact_path: str) -> None:
        pass

    def register(self, model_name: str, artifact_path: str) -> str | None:
        return None

    def finish(self, status: str = "FINISHED") -> None:
        pass


def _import_mlflow():  # type: ignore[no-untyped-def]
    try:
        import mlflow
        from mlflow.tracking import MlflowClient
    except ImportError as exc:
        raise RuntimeError(
            "MLflow tracking was requested (MLFLOW_TRACKING_URI / --mlflow-tracking-uri) but mlflow is not "
            "installed; install it or pass --tracking none"
        ) from exc
    return mlflow, MlflowClient


def numeric_metrics(metrics: dict) -> dict[str, float]:
    return {k: float(v) for k, v in metrics.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}


class MlflowTracker:
    def __init__(self, tracking_uri: str, client=None) -> None:  # type: ignore[no-untyped-def]
        if client is None:
            mlflow, client_cls = _import_mlflow()
            mlflow.set_tracking_uri(tracking_uri)
            client = client_cls(tracking_uri=tracking_uri)
        self.client = client
        self.run_id: str | None = None

    @classmethod
    def start(
        cls, tracking_uri: str, experiment: str, run_name: str, tags: dict[str, str], artifact_location: str | None
    ) -> "MlflowTracker":
        tracker = cls(tracking_uri)
        found = tracker.client.get_experiment_by_name(experiment)
        experiment_id = (
            found.experiment_id
            if found is not None
            else tracker.client.create_experiment(experiment, artifact_location=artifact_location)
        )
        run = tracker.client.create_run(experiment_id, tags=tags, run_name=run_name)
        tracker.run_id = run.info.run_id
        return tracker

    @classmethod
    def attach(cls, tracking_uri: str, run_id: str) -> "MlflowTracker":
        tracker = cls(tracking_uri)
        tracker.run_id = run_id
        return tracker

    def log_params(self, params: dict) -> None:
        for key, value in sorted(params.items()):
            self.client.log_param(self.run_id, key, str(value)[:500])

    def log_metrics(self, metrics: dict, step: int | None = None) -> None:
        for key, value in numeric_metrics(metrics).items():
            self.client.log_metric(self.run_id, key, value, step=step or 0)

    def log_artifacts(self, directory: Path, artifact_path: str) -> None:
        self.client.log_artifacts(self.run_id, str(directory), artifact_path)

    def register(self, model_name: str, artifact_path: str) -> str:
        run = self.client.get_run(self.run_id)
        return register_version(self.client, model_name, f"{run.info.artifact_uri}/{artifact_path}", self.run_id)

    def finish(self, status: str = "FINISHED") -> None:
        # MLflow prints "View run ... at: <url>" on stdout here; stdout carries the stage's JSON.
        with contextlib.redirect_stdout(sys.stderr):
            self.client.set_terminated(self.run_id, status)


def register_version(client, model_name: str, source: str, run_id: str) -> str:  # type: ignore[no-untyped-def]
    """The version of `model_name` for this run: the existing one if the run was registered
    before (so a retried step does not register it twice), else a new one."""
    try:
        client.get_registered_model(model_name)
    except Exception:  # MlflowException(RESOURCE_DOES_NOT_EXIST); mlflow is not imported here
        client.create_registered_model(model_name)
    existing = client.search_model_versions(f"name='{model_name}' and run_id='{run_id}'")
    if existing:
        return str(max(int(v.version) for v in existing))
    version = client.create_model_version(model_name, source, run_id=run_id)
    return str(version.version)


class ModelRegistry:
    """The `register` stage's view of MLflow: new versions and alias promotion."""

    def __init__(self, tracking_uri: str, client=None) -> None:  # type: ignore[no-untyped-def]
        if client is None:
            mlflow, client_cls = _import_mlflow()
            mlflow.set_tracking_uri(tracking_uri)
            client = client_cls(tracking_uri=tracking_uri)
        self.client = client

    def find_run_id(self, experiment: str, run_name: str) -> str:
        """The latest finished run called `run_name` (a resumed run leaves a failed one before it)."""
        found = self.client.get_experiment_by_name(experiment)
        if found is None:
            raise ValueError(f"no MLflow experiment {experiment!r}")
        runs = self.client.search_runs(
            [found.experiment_id],
            filter_string=f"tags.`mlflow.runName` = '{run_name}'",
            order_by=["attributes.start_time DESC"],
        )
        finished = [run for run in runs if run.info.status == "FINISHED"]
        if not finished:
            raise ValueError(f"--run-name {run_name!r}: no finished run of that name in MLflow experiment {experiment!r}")
        return finished[0].info.run_id

    def register_run(self, model_name: str, run_id: str, artifact_path: str = "model") -> str:
        run = self.client.get_run(run_id)
        return register_version(self.client, model_name, f"{run.info.artifact_uri}/{artifact_path}", run_id)

    def set_alias(self, model_name: str, alias: str, version: str) -> None:
        self.client.get_model_version(model_name, version)  # fails clearly if the version does not exist
        self.client.set_registered_model_alias(model_name, check_alias(alias), version)
