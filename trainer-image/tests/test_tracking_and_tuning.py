import sys
from dataclasses import asdict
from types import SimpleNamespace

import pytest

from ssept.ray_tune import SEARCH_SPACE, apply_trial_config, to_ray_space
from ssept.register_stage import run_register
from ssept.storage import Buckets
from ssept.tracking import MlflowTracker, ModelRegistry
from ssept.training_job import TrainingJob


class FakeMlflowClient:
    """Records calls; behaves like MlflowClient for the methods the adapter uses."""

    def __init__(self, models=(), runs=()):
        self.models = {name: [] for name in models}
        self.aliases = {}
        self.metrics = []
        self.runs = list(runs)  # (experiment, run name, status, start time, run id)

    def get_experiment_by_name(self, name):
        return SimpleNamespace(experiment_id=name) if any(r[0] == name for r in self.runs) else None

    def search_runs(self, experiment_ids, filter_string, order_by):
        name = filter_string.split("= '")[1].rstrip("'")
        assert filter_string == f"tags.`mlflow.runName` = '{name}'" and order_by == ["attributes.start_time DESC"]
        found = [r for r in self.runs if r[0] in experiment_ids and r[1] == name]
        return [SimpleNamespace(info=SimpleNamespace(status=r[2], run_id=r[4])) for r in sorted(found, key=lambda r: -r[3])]

    def search_model_versions(self, filter_string):
        return [SimpleNamespace(version=i + 1) for name, versions in self.models.items()
                for i, (_, run_id) in enumerate(versions) if filter_string == f"name='{name}' and run_id='{run_id}'"]

    def get_run(self, run_id):
        return SimpleNamespace(info=SimpleNamespace(artifact_uri=f"s3://mlflow-artifacts/1/{run_id}/artifacts"))

    def get_registered_model(self, name):
        if name not in self.models:
            raise RuntimeError("RESOURCE_DOES_NOT_EXIST")
        return SimpleNamespace(name=name)

    def create_registered_model(self, name):
        self.models[name] = []

    def create_model_version(self, name, source, run_id=None):
        self.models[name].append((source, run_id))
        return SimpleNamespace(version=len(self.models[name]))

    def get_model_version(self, name, version):
        if not 1 <= int(version) <= len(self.models.get(name, [])):
            raise RuntimeError(f"model version {version} of {name} does not exist")

    def set_registered_model_alias(self, name, alias, version):
        self.aliases[(name, alias)] = version

    def log_metric(self, run_id, key, value, step=0):
        self.metrics.append((key, value, step))


def test_register_run_creates_the_model_and_points_at_the_bundle():
    client = FakeMlflowClient()
    result = run_register(None, "ml-1m", "run42", None, "staging", registry=ModelRegistry("unused", client))
    assert result == {"registered_model": "ssept-ml-1m", "version": "1", "alias": "staging", "run_id": "run42"}
    assert client.models["ssept-ml-1m"] == [("s3://mlflow-artifacts/1/run42/artifacts/model", "run42")]
    assert client.aliases[("ssept-ml-1m", "staging")] == "1"


def test_promotion_moves_an_alias_to_an_existing_version():
    client = FakeMlflowClient(models=["ssept-wikipedia"])
    registry = ModelRegistry("unused", client)
    run_register(None, "wikipedia", "r1", None, None, registry=registry)
    run_register(None, "wikipedia", "r2", None, None, registry=registry)
    run_register(None, "wikipedia", None, "2", "production", registry=registry)
    assert client.aliases == {("ssept-wikipedia", "production"): "2"}
    with pytest.raises(RuntimeError, match="model version 7 of ssept-wikipedia does not exist"):
        run_register(None, "wikipedia", None, "7", "canary", registry=registry)


@pytest.mark.parametrize(
    "run_id, version, alias, message",
    [("r", "1", None, "exactly one of --run-id"), (None, None, "staging", "exactly one of --run-id"),
     (None, None, None, "or --model-version"),
     (None, "3", None, "--model-version without --alias"), ("r", None, "prod", "--alias 'prod'")],
)
def test_register_argument_errors(run_id, version, alias, message):
    with pytest.raises(ValueError, match=message):
        run_register(None, "ml-1m", run_id, version, alias, registry=ModelRegistry("unused", FakeMlflowClient()))


def test_register_by_run_name_takes_the_latest_finished_run_and_is_idempotent():
    client = FakeMlflowClient(runs=[
        ("ssept-ml-1m", "wf-1", "FAILED", 1, "run-a"),  # lost mid-run, then resumed under the same name
        ("ssept-ml-1m", "wf-1", "FINISHED", 2, "run-b"),
        ("ssept-ml-1m", "wf-2", "FINISHED", 3, "run-c"),
    ])
    registry = ModelRegistry("unused", client)
    first = run_register(None, "ml-1m", None, None, None, registry=registry, run_name="wf-1")
    again = run_register(None, "ml-1m", None, None, "canary", registry=registry, run_name="wf-1")
    assert first["run_id"] == again["run_id"] == "run-b" and first["version"] == again["version"] == "1"
    assert len(client.models["ssept-ml-1m"]) == 1 and client.aliases[("ssept-ml-1m", "canary")] == "1"
    with pytest.raises(ValueError, match="--run-name 'wf-9': no finished run"):
        run_register(None, "ml-1m", None, None, None, registry=registry, run_name="wf-9")
    with pytest.raises(ValueError, match="no MLflow experiment 'ssept-wikipedia'"):
        run_register(None, "wikipedia", None, None, None, registry=registry, run_name="wf-1")


def test_tracker_logs_only_numeric_metrics_with_their_epoch():
    client = FakeMlflowClient()
    tracker = MlflowTracker("unused", client)
    tracker.run_id = "r"
    tracker.log_metrics({"loss": 0.5, "valid_ndcg10": 0.3, "note": "x", "ok": True}, step=4)
    assert sorted(client.metrics) == [("loss", 0.5, 4), ("valid_ndcg10", 0.3, 4)]


def _job():
    return TrainingJob(dataset="ml-1m", data_version="v1", run_name="t",
                       model={"maxlen": 200, "item_dim": 50, "user_dim": 50, "num_blocks": 2, "num_heads": 1, "dropout": 0.2},
                       train={"lr": 0.001, "sse_user_keep": 0.08, "sse_item_keep": 0.9, "epochs": 10},
                       mask_seen=True, buckets=asdict(Buckets()))


def test_trial_config_maps_onto_model_and_training():
    job = apply_trial_config(_job(), {"lr": 0.003, "dropout": 0.4, "sse_user_keep": 0.5, "sse_item_keep": 0.8,
                                      "window_sample_prob": 0.2, "num_blocks": 3, "width": 64, "user_share": 0.25})
    assert (job.model["item_dim"], job.model["user_dim"], job.model["num_blocks"]) == (48, 16, 3)
    assert job.model["dropout"] == 0.4 and job.train["lr"] == 0.003
    assert (job.train["sse_user_keep"], job.train["sse_item_keep"], job.train["window_sample_prob"]) == (0.5, 0.8, 0.2)
    assert _job().model["item_dim"] == 50  # the original is not modified
    with pytest.raises(ValueError, match="unknown search-space keys: \\['heads'\\]"):
        apply_trial_config(_job(), {"heads": 2})


def test_width_and_user_share_apply_alone_and_keep_both_halves():
    # the job is item 50 + user 50: width alone keeps the half split, the share alone keeps width 100
    wider = apply_trial_config(_job(), {"width": 128}).model
    assert (wider["item_dim"], wider["user_dim"]) == (64, 64)
    split = apply_trial_config(_job(), {"user_share": 0.1}).model
    assert (split["item_dim"], split["user_dim"]) == (90, 10)
    tiny = apply_trial_config(_job(), {"width": 2, "user_share": 0.01}).model
    assert (tiny["item_dim"], tiny["user_dim"]) == (1, 1)  # never a zero-width half


def test_search_space_covers_the_issue_parameters_and_translates_to_ray():
    assert set(SEARCH_SPACE) == {"lr", "dropout", "sse_user_keep", "sse_item_keep", "window_sample_prob", "num_blocks", "width", "user_share"}
    fake_tune = SimpleNamespace(loguniform=lambda a, b: ("log", a, b), uniform=lambda a, b: ("uni", a, b),
                                choice=lambda options: ("choice", tuple(options)))
    space = to_ray_space(fake_tune)
    assert space["lr"][0] == "log" and space["num_blocks"] == ("choice", (1, 2, 3))
    for name, (kind, args) in SEARCH_SPACE.items():
        if kind != "choice":
            low, high = args
            assert 0 <= low < high and (name == "lr" or high <= 1)


def test_ray_paths_fail_clearly_without_ray(monkeypatch):
    from ssept.ray_train import require_ray

    monkeypatch.setitem(sys.modules, "ray", None)  # as if Ray were not installed: `import ray` raises ImportError
    with pytest.raises(RuntimeError, match="--ray-workers needs Ray"):
        require_ray("--ray-workers")
