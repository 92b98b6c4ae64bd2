import json
import subprocess
import sys
from pathlib import Path

import pytest

from ssept.cli import build_parser, main
from ssept.synthetic import generate_sequences, movielens_ratings_dat, movielens_zip

PACKAGE_ROOT = Path(__file__).resolve().parents[1]


def _run(args, capsys):
    code = main(args)
    out = capsys.readouterr()
    return code, out.out, out.err


def _parse_error(args, capsys):
    with pytest.raises(SystemExit) as exc:
        main(args)
    assert exc.value.code == 2
    return capsys.readouterr().err


@pytest.mark.parametrize(
    "args, expected",
    [
        (["train", "--dataset", "ml1m"], "argument --dataset: invalid choice: 'ml1m'"),
        (["train", "--dataset", "ml-1m", "--sse-user-keep", "1.5"], "argument --sse-user-keep: '1.5' is invalid: must be a probability in [0, 1]"),
        (["train", "--dataset", "ml-1m", "--epochs", "ten"], "argument --epochs: 'ten' is not an integer"),
        (["train", "--dataset", "ml-1m", "--dropout", "1"], "argument --dropout: '1' is invalid: must be in [0, 1)"),
        (["ingest", "--dataset", "ml-1m", "--date", "2025-13-01"], "argument --date: '2025-13-01' is not a date in YYYY-MM-DD form"),
        (["clean", "--dataset", "ml-1m", "--version", "../x"], "argument --version: '../x' is invalid"),
        (["register", "--dataset", "ml-1m", "--alias", "prod"], "argument --alias: invalid choice: 'prod'"),
        (["export", "--model", "m", "--opset", "11"], "argument --opset: '11' is invalid: must be between 14 and 17"),
        (["deploy"], "invalid choice: 'deploy'"),
    ],
)
def test_bad_options_name_the_option_and_value(args, expected, capsys):
    assert expected in _parse_error(args, capsys)


def test_missing_storage_and_mlflow_are_clear_errors(capsys, monkeypatch):
    monkeypatch.delenv("S3_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    code, _, err = _run(["features", "--dataset", "ml-1m"], capsys)
    assert code == 1 and "ssept features: error: no storage configured" in err
    code, _, err = _run(["register", "--dataset", "ml-1m", "--run-id", "abc"], capsys)
    assert code == 1 and "register needs MLflow" in err


def test_missing_input_data_is_a_clear_error(tmp_path, capsys):
    code, _, err = _run(["clean", "--dataset", "wikipedia", "--storage-root", str(tmp_path)], capsys)
    assert code == 1 and "nothing under" in err and "wikipedia.csv" in err
    code, _, err = _run(["export", "--model", "ml-1m/missing-run", "--storage-root", str(tmp_path)], capsys)
    assert code == 1 and "no objects under" in err and "models/ml-1m/missing-run" in err
    (tmp_path / "models/ml-1m/not-a-bundle").mkdir(parents=True)
    (tmp_path / "models/ml-1m/not-a-bundle/notes.txt").write_text("x")
    code, _, err = _run(["evaluate", "--model", "ml-1m/not-a-bundle", "--storage-root", str(tmp_path)], capsys)
    assert code == 1 and "ml-1m/not-a-bundle is not a model bundle" in err


def test_environment_supplies_defaults(monkeypatch):
    monkeypatch.setenv("BUCKET_MODELS", "models-prod")
    monkeypatch.setenv("S3_ENDPOINT_URL", "http://rgw:7480")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://mlflow:5000")
    monkeypatch.setenv("GIT_COMMIT", "abc123")
    args = build_parser().parse_args(["train", "--dataset", "wikipedia"])
    assert args.bucket_models == "models-prod" and args.s3_endpoint_url == "http://rgw:7480"
    assert args.mlflow_tracking_uri == "http://mlflow:5000" and args.git_commit == "abc123"
    assert (args.lr, args.beta2, args.batch_size, args.dropout) == (0.001, 0.98, 128, 0.2)
    assert (args.sse_user_keep, args.sse_item_keep, args.item_dim, args.user_dim, args.num_blocks) == (0.08, 0.9, 50, 50, 2)


def test_every_stage_end_to_end_on_local_storage(tmp_path, capsys):
    zip_path = tmp_path / "ml-1m.zip"
    zip_path.write_bytes(movielens_zip(movielens_ratings_dat(generate_sequences(60, 50, 12, 6, seed=9))))
    common = ["--storage-root", str(tmp_path / "store"), "--git-commit", "test-sha"]

    def stage(*args):
        code, out, err = _run([*args, *common], capsys)
        assert code == 0, err
        return json.loads(out)

    ingest = stage("ingest", "--dataset", "ml-1m", "--date", "2025-01-31", "--source-url", zip_path.as_uri(),
                   "--expected-md5", "", "--expected-rows", "0")
    assert ingest["git_commit"] == "test-sha"
    clean = stage("clean", "--dataset", "ml-1m")
    assert clean["version"] == "2025-01-31" and clean["num_users"] == 60
    features = stage("features", "--dataset", "ml-1m", "--maxlen", "12")
    assert features["online"]["users_written"] == 60
    train = stage("train", "--dataset", "ml-1m", "--run-name", "smoke", "--epochs", "2", "--item-dim", "8",
                  "--user-dim", "8", "--batch-size", "16", "--tracking", "none")
    assert train["model_key"] == "ml-1m/smoke" and train["epochs"] == 2
    assert {"test_hr10", "test_ndcg10", "test_full_hr10", "popularity_test_ndcg10"} <= set(train["metrics"])
    evaluation = stage("evaluate", "--model", "ml-1m/smoke", "--split", "valid")
    assert evaluation["metrics"]["valid_users"] == 60 and evaluation["data_version"] == "2025-01-31"
    export = stage("export", "--model", "ml-1m/smoke", "--top-k", "10", "--instance-kind", "cpu")
    assert export["parity"]["passed"] and export["triton_model"] == "ssept-ml-1m" and export["triton_version"] == 1
    store = tmp_path / "store"
    assert (store / "models/triton/ssept-ml-1m/1/model.onnx").is_file()
    assert "KIND_CPU" in (store / "models/triton/ssept-ml-1m/config.pbtxt").read_text()
    assert stage("export", "--model", "ml-1m/smoke", "--top-k", "10")["triton_version"] == 2
    assert sorted(p.name for p in (store / "ray-checkpoints/ml-1m/smoke").iterdir()) == ["epoch-000002"]
    assert len(list((store / "logs/stages").rglob("*.json"))) == 7


def test_python_dash_m_entrypoint():
    result = subprocess.run([sys.executable, "-m", "ssept", "--help"], cwd=PACKAGE_ROOT, capture_output=True, text=True)
    assert result.returncode == 0
    for stage in ("ingest", "clean", "features", "train", "tune", "evaluate", "export", "register"):
        assert stage in result.stdout
