"""Ray Train and Ray Tune for real: a local Ray runtime (2 CPUs, shared by the session), the
`ssept train --ray-workers N` / `ssept tune` paths, checkpoints in the RGW bucket, MLflow runs."""

import io
import json
import os
import signal
import threading
import time
import uuid
from pathlib import Path

import pytest
import torch

from conftest import s3_client
from ssept.cli import main
from ssept.synthetic import generate_sequences, jodie_csv

EPOCHS = 6
# Small enough for seconds per run on 2 shared cores, long enough to kill a worker mid-run.
MODEL_AND_TRAINING = ["--maxlen", "20", "--item-dim", "16", "--user-dim", "16", "--num-blocks", "1",
                      "--batch-size", "32", "--eval-every", "0", "--eval-users", "200", "--device", "cpu", "--seed", "3"]


def _stage(capsys, *args):
    code = main(list(args))
    out = capsys.readouterr()
    assert code == 0, out.err
    return json.loads(out.out)


def _keys(client, bucket, prefix):
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return [item["Key"] for page in pages for item in page.get("Contents", [])]


def _wikipedia_features(tmp_path: Path, capsys) -> None:
    """A wikipedia.csv-shaped file (JODIE layout, repeated edits) through ingest, clean, features."""
    sequences = generate_sequences(400, 150, mean_length=25, min_length=6, repeat_prob=0.3, unique_items=False, seed=4)
    source = tmp_path / "wikipedia.csv"
    source.write_bytes(jodie_csv(sequences))
    _stage(capsys, "ingest", "--dataset", "wikipedia", "--date", "2025-02-01", "--source-url", source.as_uri(),
           "--expected-rows", "0")
    _stage(capsys, "clean", "--dataset", "wikipedia")
    _stage(capsys, "features", "--dataset", "wikipedia", "--maxlen", "20")


def _bundle(client, bucket, run_name):
    history = json.loads(client.get_object(Bucket=bucket, Key=f"wikipedia/{run_name}/history.json")["Body"].read())
    weights = torch.load(io.BytesIO(client.get_object(Bucket=bucket, Key=f"wikipedia/{run_name}/weights.pt")["Body"].read()))
    return history, weights


def _train_worker_pids() -> list[int]:
    """Processes of Ray Train's worker actors (Ray names them ray::RayTrainWorker...)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if b"RayTrainWorker" in (entry / "cmdline").read_bytes():
                    pids.append(int(entry.name))
            except OSError:
                pass
    return sorted(pids)


class WorkerKiller(threading.Thread):
    """Kills one training worker (SIGKILL, as a lost node would) as soon as the run's second
    checkpoint is in the bucket."""

    def __init__(self, client, bucket: str, prefix: str) -> None:
        super().__init__(daemon=True)
        self.client, self.bucket, self.prefix = client, bucket, prefix
        self.killed: int | None = None
        self.checkpoints_at_kill: list[str] = []

    def run(self) -> None:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and self.killed is None:
            keys = _keys(self.client, self.bucket, self.prefix)
            checkpoints = sorted({k.split("/checkpoint_")[1].split("/")[0] for k in keys if "/checkpoint_" in k})
            pids = _train_worker_pids()
            if "000001" in checkpoints and pids:
                os.kill(pids[-1], signal.SIGKILL)
                self.killed, self.checkpoints_at_kill = pids[-1], checkpoints
            time.sleep(0.2)


def test_ray_train_two_workers_resume_after_a_killed_worker(ray_runtime, mlflow_services, s3_buckets, tmp_path, capsys):
    from mlflow.tracking import MlflowClient

    _wikipedia_features(tmp_path, capsys)
    s3 = s3_client(mlflow_services)
    tag = uuid.uuid4().hex[:8]
    experiment = f"ssept-ray-{tag}"
    common = ["--dataset", "wikipedia", "--epochs", str(EPOCHS), "--checkpoint-every", "1", *MODEL_AND_TRAINING,
              "--experiment", experiment, "--ray-cpus-per-worker", "1"]
    timings = {}
    for workers in (1, 2):
        started = time.perf_counter()
        _stage(capsys, "train", "--run-name", f"w{workers}-{tag}", "--ray-workers", str(workers), *common)
        history, _ = _bundle(s3, s3_buckets.models, f"w{workers}-{tag}")
        assert [h["epoch"] for h in history] == list(range(1, EPOCHS + 1))
        timings[workers] = ([h["epoch_seconds"] for h in history], time.perf_counter() - started)
    with capsys.disabled():
        for workers, (epochs, total) in timings.items():
            print(f"\nRay Train, {workers} CPU worker(s): s/epoch first {epochs[0]:.2f}, "
                  f"mean of the rest {sum(epochs[1:]) / len(epochs[1:]):.2f}; whole run with startup {total:.1f} s")

    # The same two-worker run, with one worker killed after its second checkpoint.
    killed_run = f"killed-{tag}"
    killer = WorkerKiller(s3, s3_buckets.ray_checkpoints, f"wikipedia/{killed_run}/")
    killer.start()
    result = _stage(capsys, "train", "--run-name", killed_run, "--ray-workers", "2", "--ray-max-failures", "2", *common)
    killer.join(timeout=5)
    assert killer.killed is not None, "no worker was killed: the run ended before its second checkpoint"
    final_index = f"{EPOCHS - 1:06d}"
    assert final_index not in killer.checkpoints_at_kill, "the worker was killed after the last epoch"
    assert result["epochs"] == EPOCHS

    # Resumed from the latest checkpoint: no epoch reported twice (Ray numbers every reported
    # checkpoint, so a restart from scratch would end past checkpoint_{EPOCHS-1}) ...
    checkpoints = sorted({k.split("/checkpoint_")[1].split("/")[0]
                          for k in _keys(s3, s3_buckets.ray_checkpoints, f"wikipedia/{killed_run}/") if "/checkpoint_" in k})
    assert checkpoints[-1] == final_index, checkpoints
    # ... and nothing lost: the same weights as the uninterrupted two-worker run.
    history, weights = _bundle(s3, s3_buckets.models, killed_run)
    _, reference = _bundle(s3, s3_buckets.models, f"w2-{tag}")
    assert [h["epoch"] for h in history] == list(range(1, EPOCHS + 1))
    for name, tensor in reference.items():
        assert torch.allclose(weights[name], tensor, rtol=0, atol=1e-6), name
    # Rank 0 reported every epoch to the run's MLflow run, across the restart.
    client = MlflowClient(mlflow_services["MLFLOW_TRACKING_URI"])
    steps = {m.step for m in client.get_metric_history(result["mlflow_run_id"], "loss")}
    assert steps == set(range(1, EPOCHS + 1))


def test_ray_tune_asha_logs_the_best_trial_to_mlflow(ray_runtime, mlflow_services, s3_buckets, tmp_path, capsys):
    from mlflow.tracking import MlflowClient

    _wikipedia_features(tmp_path, capsys)
    tag = uuid.uuid4().hex[:8]
    experiment = f"ssept-tune-{tag}"
    started = time.perf_counter()
    result = _stage(capsys, "tune", "--dataset", "wikipedia", "--run-name", f"tune-{tag}", "--num-samples", "4",
                    "--epochs", "4", "--grace-period", "1", "--cpus-per-trial", "1", "--eval-every", "1",
                    "--maxlen", "20", "--batch-size", "32", "--eval-users", "200", "--device", "cpu",
                    "--experiment", experiment)
    with capsys.disabled():
        print(f"\nRay Tune, 4 ASHA trials x up to 4 epochs: {time.perf_counter() - started:.1f} s")
    assert result["registered_version"] and result["registered_model"] == "ssept-wikipedia"
    client = MlflowClient(mlflow_services["MLFLOW_TRACKING_URI"])
    run = client.get_run(result["mlflow_run_id"])
    assert run.info.status == "FINISHED" and run.data.params["tune.scheduler"] == "ASHA"
    assert run.data.params["tune.num_samples"] == "4"
    best_model, best_train = result["best_model_config"], result["best_train_config"]
    for key in ("item_dim", "num_blocks", "dropout"):
        assert run.data.params[f"model.{key}"] == str(best_model[key])
    width = best_model["item_dim"] + best_model["user_dim"]
    assert width in (64, 100, 128) and best_model["num_blocks"] in (1, 2, 3)
    assert best_model["user_dim"] in {max(1, round(width * share)) for share in (0.1, 0.25, 0.5)}
    assert 0.0 <= best_train["window_sample_prob"] <= 0.5
    assert run.data.params["train.lr"] == str(best_train["lr"]) and 1e-4 <= best_train["lr"] <= 5e-3
    assert run.data.metrics["valid_ndcg10"] == pytest.approx(result["best_trial_metrics"]["valid_ndcg10"], abs=1e-6)
    assert {f.path for f in client.list_artifacts(run.info.run_id, "model")} >= {"model/weights.pt"}
