"""The stages against the real services: Ceph RGW for every bucket, the MLflow server (Postgres
backend, artifacts proxied to the RGW bucket) for runs, the registry and aliases."""

import json
import uuid

import pytest

from conftest import s3_client
from ssept.cli import main
from ssept.synthetic import generate_sequences, movielens_ratings_dat, movielens_zip


def _stage(capsys, *args):
    code = main(list(args))
    out = capsys.readouterr()
    assert code == 0, out.err
    return json.loads(out.out)


def _keys(client, bucket, prefix):
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return [item["Key"] for page in pages for item in page.get("Contents", [])]


def test_pipeline_on_rgw_tracks_registers_and_resolves_aliases(mlflow_services, s3_buckets, tmp_path, capsys):
    from mlflow.tracking import MlflowClient

    tag = uuid.uuid4().hex[:8]
    run_name, experiment = f"svc-{tag}", f"ssept-tests-{tag}"
    zip_path = tmp_path / "ml-1m.zip"
    zip_path.write_bytes(movielens_zip(movielens_ratings_dat(generate_sequences(60, 50, 12, 6, seed=9))))
    _stage(capsys, "ingest", "--dataset", "ml-1m", "--date", "2025-01-31", "--source-url", zip_path.as_uri(),
           "--expected-md5", "", "--expected-rows", "0")
    _stage(capsys, "clean", "--dataset", "ml-1m")
    _stage(capsys, "features", "--dataset", "ml-1m", "--maxlen", "12")
    train = _stage(capsys, "train", "--dataset", "ml-1m", "--run-name", run_name, "--epochs", "2", "--item-dim", "8",
                   "--user-dim", "8", "--batch-size", "16", "--experiment", experiment, "--register")
    run_id, version = train["mlflow_run_id"], train["registered_version"]
    assert run_id and version and train["registered_model"] == "ssept-ml-1m"

    client = MlflowClient(mlflow_services["MLFLOW_TRACKING_URI"])
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED" and run.info.run_name == run_name
    assert run.data.params["model.item_dim"] == "8" and run.data.params["dataset"] == "ml-1m"
    assert run.data.tags["data_version"] == "2025-01-31"
    # MLflow returns a metric history in no guaranteed order (Postgres answers in whatever order).
    assert sorted(m.step for m in client.get_metric_history(run_id, "loss")) == [1, 2]
    assert run.data.metrics["test_ndcg10"] == pytest.approx(train["metrics"]["test_ndcg10"])
    assert {f.path for f in client.list_artifacts(run_id, "model")} >= {"model/bundle.json", "model/weights.pt"}
    # The server proxied the artifacts into the RGW bucket it was started with.
    s3 = s3_client(mlflow_services)
    stored = _keys(s3, "mlflow-artifacts", f"{experiment}/")
    assert f"{experiment}/{run_id}/artifacts/model/weights.pt" in stored, stored
    # The bundle itself went to the models bucket, the checkpoints to ray-checkpoints.
    assert f"ml-1m/{run_name}/weights.pt" in _keys(s3, s3_buckets.models, "ml-1m/")
    assert _keys(s3, s3_buckets.ray_checkpoints, f"ml-1m/{run_name}/") == [f"ml-1m/{run_name}/epoch-000002/state.pt"]

    # A retried register step (by run name) finds the same version; aliases are set and read back.
    registered = _stage(capsys, "register", "--dataset", "ml-1m", "--run-name", run_name, "--experiment", experiment,
                        "--alias", "staging")
    assert registered["version"] == version and registered["run_id"] == run_id
    _stage(capsys, "register", "--dataset", "ml-1m", "--model-version", version, "--alias", "canary")
    for alias in ("staging", "canary"):
        found = client.get_model_version_by_alias("ssept-ml-1m", alias)
        assert (found.version, found.run_id) == (version, run_id)

    # evaluate and export resolve models:/name@alias through the server.
    evaluation = _stage(capsys, "evaluate", "--model", "models:/ssept-ml-1m@staging", "--split", "test",
                        "--mlflow-run-id", run_id)
    assert evaluation["metrics"]["test_users"] == 60
    assert client.get_run(run_id).data.metrics["eval_test_ndcg10"] == pytest.approx(evaluation["metrics"]["test_ndcg10"])
    export = _stage(capsys, "export", "--model", "models:/ssept-ml-1m@canary", "--top-k", "10", "--instance-kind", "cpu")
    assert export["parity"]["passed"] and export["parity"]["engine"].startswith("onnxruntime "), export["parity"]
    assert "triton/ssept-ml-1m/1/model.onnx" in _keys(s3, s3_buckets.models, "triton/")


def test_an_unknown_alias_is_a_clear_error(mlflow_services, s3_buckets, capsys):
    code = main(["export", "--model", "models:/ssept-ml-1m@no-such-alias-" + uuid.uuid4().hex[:6]])
    err = capsys.readouterr().err
    assert code == 1 and "no-such-alias" in err, err


def test_redis_answers_on_its_port(services):
    from conftest import require_module, unavailable

    redis = require_module("redis")
    if "redis" not in services.get("SSEPT_SERVICES", "").split():
        unavailable("the redis test service is not running")
    client = redis.Redis.from_url(services["REDIS_URL"])
    key = f"ssept-tests:{uuid.uuid4().hex}"
    client.set(key, "x", ex=60)
    assert client.get(key) == b"x"
