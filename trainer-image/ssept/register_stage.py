"""register: a version of `ssept-<dataset>` for an MLflow run (named by id or by run name),
and/or an alias (staging, canary, production) moved onto a version."""

from __future__ import annotations

from ssept.tracking import ModelRegistry, check_alias, registered_model_name


def run_register(
    tracking_uri: str | None,
    dataset: str,
    run_id: str | None,
    version: str | None,
    alias: str | None,
    registry: ModelRegistry | None = None,
    run_name: str | None = None,
    experiment: str | None = None,
) -> dict:
    if not tracking_uri and registry is None:
        raise ValueError("register needs MLflow: set MLFLOW_TRACKING_URI or pass --mlflow-tracking-uri")
    if sum(bool(x) for x in (run_id, run_name, version)) != 1:
        raise ValueError(
            "pass exactly one of --run-id or --run-name (register that run) or --model-version (an existing version)"
        )
    if version and alias is None:
        raise ValueError("--model-version without --alias does nothing; pass --alias staging|canary|production")
    if alias is not None:
        check_alias(alias)
    registry = registry or ModelRegistry(tracking_uri)  # type: ignore[arg-type]
    name = registered_model_name(dataset)
    if run_name:
        run_id = registry.find_run_id(experiment or name, run_name)
    if run_id:
        version = registry.register_run(name, run_id)
    if alias:
        registry.set_alias(name, alias, version)  # type: ignore[arg-type]
    return {"registered_model": name, "version": version, "alias": alias, "run_id": run_id}
