"""`ssept <stage> [options]` - the one entrypoint of the trainer image.

Stages: ingest, clean, features, train, tune, evaluate, export, register. Platform settings
come from environment variables, which are the defaults of the matching options. Each stage
prints a JSON summary on stdout; a bad option or input exits non-zero with a message that
names it.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import sys
from typing import Callable, Sequence

from ssept.datasets import PROFILES, get_profile
from ssept.stage_env import StageEnv
from ssept.storage import Buckets, StorageError, open_storage
from ssept.tracking import ALIASES
from ssept.training import TrainConfig

STAGES = ("ingest", "clean", "features", "train", "tune", "evaluate", "export", "register")


class UsageError(ValueError):
    """Bad combination of options, found after parsing."""


def _number(kind: Callable[[str], float], check: Callable[[float], bool], requirement: str) -> Callable[[str], float]:
    def parse(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {'an integer' if kind is int else 'a number'}") from None
        if not check(value):
            raise argparse.ArgumentTypeError(f"{text!r} is invalid: must be {requirement}")
        return value

    return parse


positive_int = _number(int, lambda v: v >= 1, ">= 1")
non_negative_int = _number(int, lambda v: v >= 0, ">= 0")
positive_float = _number(float, lambda v: v > 0, "> 0")
non_negative_float = _number(float, lambda v: v >= 0, ">= 0")
probability = _number(float, lambda v: 0.0 <= v <= 1.0, "a probability in [0, 1]")
dropout_rate = _number(float, lambda v: 0.0 <= v < 1.0, "in [0, 1)")
adam_beta = _number(float, lambda v: 0.0 <= v < 1.0, "in [0, 1)")

DEFAULT_WORD = "default"


def or_default(parse: Callable[[str], float], default: float | None) -> Callable[[str], float | None]:
    """`parse`, but the word `default` gives the option's default, as if it were not given (so a
    preset still fills it). A pipeline with a fixed command line uses it for values it leaves
    to the data set's preset."""

    def parse_or_default(text: str) -> float | None:
        if text == DEFAULT_WORD:
            return default
        try:
            return parse(text)
        except argparse.ArgumentTypeError as exc:
            raise argparse.ArgumentTypeError(f"{exc} (or `{DEFAULT_WORD}`)") from None

    return parse_or_default


def iso_date(text: str) -> str:
    try:
        dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date in YYYY-MM-DD form") from None
    return text


def date_or_latest(text: str) -> str:
    return text if text == "latest" else iso_date(text)


def path_segment(text: str) -> str:
    if not text or "/" in text or text in (".", "..") or any(c.isspace() for c in text):
        raise argparse.ArgumentTypeError(f"{text!r} is invalid: must be one path segment without '/' or spaces")
    return text


def _env(name: str, default: str | None = None) -> str | None:
    return os.environ.get(name) or default


def _common(parser: argparse.ArgumentParser) -> None:
    buckets = Buckets.from_env()
    group = parser.add_argument_group("storage (defaults from the environment)")
    group.add_argument("--storage-root", help="local directory (or file:// URI) used instead of S3; buckets are sub-directories")
    group.add_argument("--s3-endpoint-url", default=_env("S3_ENDPOINT_URL"), help="S3 endpoint [S3_ENDPOINT_URL]")
    for option, field, env in (
        ("--raw-bucket", "raw", "BUCKET_RAW_DATA"),
        ("--processed-bucket", "processed", "BUCKET_PROCESSED_DATA"),
        ("--features-bucket", "features", "BUCKET_FEATURES"),
        ("--models-bucket", "models", "BUCKET_MODELS"),
        ("--logs-bucket", "logs", "BUCKET_LOGS"),
        ("--mlflow-artifacts-bucket", "mlflow_artifacts", "BUCKET_MLFLOW_ARTIFACTS"),
        ("--checkpoints-bucket", "ray_checkpoints", "BUCKET_RAY_CHECKPOINTS"),
    ):
        group.add_argument(option, dest=f"bucket_{field}", type=path_segment, default=getattr(buckets, field), help=f"[{env}]")
    group.add_argument("--git-commit", default=_env("GIT_COMMIT", "unknown"), help="code version recorded with outputs [GIT_COMMIT]")


def _dataset(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dataset", required=True, choices=sorted(PROFILES))


def _mlflow(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--mlflow-tracking-uri", default=_env("MLFLOW_TRACKING_URI"), help="[MLFLOW_TRACKING_URI]")


class _DefaultInt(int):
    """An option value the user did not give, so a preset may replace it."""


class _DefaultFloat(float):
    """An option value the user did not give, so a preset may replace it."""


def _default(value: float) -> float:
    return _DefaultInt(value) if isinstance(value, int) else _DefaultFloat(value)


def _apply_preset(args: argparse.Namespace) -> None:
    """The preset's model and training values for every option left at its default."""
    from ssept.presets import get_preset

    name = args.dataset if args.preset == "dataset" else args.preset
    try:
        preset = get_preset(name)
    except ValueError as exc:
        raise UsageError(f"--preset: {exc}") from None
    for key, value in {**preset.model, **preset.train}.items():
        # maxlen stays the features version's: the online sequences were cut to it.
        if key != "maxlen" and isinstance(getattr(args, key, None), (_DefaultInt, _DefaultFloat)):
            setattr(args, key, value)
    for key, value in vars(args).items():
        if isinstance(value, (_DefaultInt, _DefaultFloat)):
            setattr(args, key, int(value) if isinstance(value, int) else float(value))


def _model_and_training(parser: argparse.ArgumentParser) -> None:
    defaults = TrainConfig()
    data = parser.add_argument_group("data")
    data.add_argument("--data-version", default="latest", type=lambda t: t if t == "latest" else path_segment(t))
    data.add_argument("--run-name", type=path_segment, help="names the models/ and ray-checkpoints/ prefixes; reuse it to resume")
    data.add_argument("--preset", default="dataset",
                      help="model and training values for options not given: a preset name (ml-1m = the SSE-PT paper's) "
                           "or 'dataset' (default: the preset named like --dataset)")
    model = parser.add_argument_group("model (SSE-PT paper defaults)")
    model.add_argument("--maxlen", type=or_default(positive_int, None),
                       help="default: the features version's maxlen (200 ML-1M, 50 Wikipedia)")

    def tunable(group: argparse._ArgumentGroup, flag: str, parse: Callable[[str], float], default: float, **kw: str) -> None:
        value = _default(default)
        group.add_argument(flag, type=or_default(parse, value), default=value, **kw)

    tunable(model, "--item-dim", positive_int, 50)
    tunable(model, "--user-dim", positive_int, 50)
    tunable(model, "--num-blocks", non_negative_int, 2)
    tunable(model, "--num-heads", positive_int, 1)
    tunable(model, "--dropout", dropout_rate, 0.2)
    train = parser.add_argument_group("training (each value may be `default`: the preset's)")
    tunable(train, "--epochs", positive_int, defaults.epochs)
    tunable(train, "--batch-size", positive_int, defaults.batch_size)
    tunable(train, "--lr", positive_float, defaults.lr)
    tunable(train, "--beta1", adam_beta, defaults.beta1)
    tunable(train, "--beta2", adam_beta, defaults.beta2)
    tunable(train, "--l2-emb", non_negative_float, defaults.l2_emb)
    tunable(train, "--sse-user-keep", probability, defaults.sse_user_keep, help="probability a user id is kept")
    tunable(train, "--sse-item-keep", probability, defaults.sse_item_keep, help="probability an item id is kept")
    tunable(train, "--window-sample-prob", probability, defaults.window_sample_prob,
            help="SSE-PT++: probability a history longer than maxlen + 1 trains on a window from anywhere in it")
    train.add_argument("--seed", type=int, default=defaults.seed)
    train.add_argument("--patience", type=non_negative_int, default=defaults.patience,
                       help="stop after this many validation evaluations without a better NDCG@10; 0 = never. "
                            "The best validation epoch's weights are stored either way")
    tunable(train, "--eval-every", non_negative_int, defaults.eval_every, help="epochs; 0 = only at the end")
    train.add_argument("--checkpoint-every", type=non_negative_int, default=defaults.checkpoint_every, help="epochs; 0 = only at the end")
    train.add_argument("--precision", choices=("auto", "fp32", "bf16"), default=defaults.precision)
    train.add_argument("--eval-users", type=positive_int, default=defaults.eval_users)
    train.add_argument("--num-negatives", type=positive_int, default=defaults.num_negatives)
    train.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    track = parser.add_argument_group("tracking")
    track.add_argument("--tracking", choices=("auto", "mlflow", "none"), default="auto", help="auto = MLflow when a tracking URI is set")
    _mlflow(track)  # type: ignore[arg-type]
    track.add_argument("--experiment", help="MLflow experiment (default ssept-<dataset>)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ssept", description="SSE-PT offline stages")
    stages = parser.add_subparsers(dest="stage", required=True, metavar="{" + ",".join(STAGES) + "}")

    p = stages.add_parser("ingest", help="download a dataset, verify it, store it unchanged in raw-data")
    _dataset(p)
    p.add_argument("--date", type=iso_date, default=dt.datetime.now(dt.timezone.utc).date().isoformat(), help="raw-data/<dataset>/<date>/ (default: today, UTC)")
    p.add_argument("--source-url", help="override the upstream URL (a mirror must serve the identical file)")
    p.add_argument("--expected-md5", help="override the pinned MD5 ('' to skip)")
    p.add_argument("--expected-sha256", help="require this SHA-256")
    p.add_argument("--expected-rows", type=non_negative_int, help="required number of data rows (0 = do not check)")
    _common(p)

    p = stages.add_parser("clean", help="parse, quarantine bad rows, k-core, time-order, remap ids")
    _dataset(p)
    p.add_argument("--raw-date", type=date_or_latest, default="latest")
    p.add_argument("--version", type=path_segment, help="processed-data version (default: the raw date)")
    p.add_argument("--kcore", type=non_negative_int, help="min interactions per user and item, iterated (default 5 ML-1M, 1 Wikipedia)")
    _common(p)

    p = stages.add_parser("features", help="leave-one-out split and online sequences")
    _dataset(p)
    p.add_argument("--version", default="latest", type=lambda t: t if t == "latest" else path_segment(t))
    p.add_argument("--maxlen", type=or_default(positive_int, None),
                   help="online sequence length (default, or `default`: 200 ML-1M, 50 Wikipedia)")
    p.add_argument("--online-history", choices=("full", "exclude-test"), default="full")
    _common(p)

    p = stages.add_parser("train", help="train SSE-PT (in-process or on Ray Train)")
    _dataset(p)
    _model_and_training(p)
    p.add_argument("--register", action="store_true", help="register the model as ssept-<dataset> in MLflow")
    p.add_argument("--no-resume", action="store_true", help="ignore checkpoints of an earlier run with this --run-name")
    ray = p.add_argument_group("Ray Train (0 workers = this process)")
    ray.add_argument("--ray-workers", type=non_negative_int, default=0)
    ray.add_argument("--ray-gpus-per-worker", type=non_negative_float, default=0.0)
    ray.add_argument("--ray-cpus-per-worker", type=positive_float, default=1.0)
    ray.add_argument("--ray-max-failures", type=non_negative_int, default=3, help="worker-group restarts from the latest checkpoint")
    ray.add_argument("--ray-address", default=_env("RAY_ADDRESS"), help="[RAY_ADDRESS]")
    _common(p)

    p = stages.add_parser("tune", help="Ray Tune ASHA search; the best trial is registered")
    _dataset(p)
    _model_and_training(p)
    p.add_argument("--num-samples", type=positive_int, default=16)
    p.add_argument("--grace-period", type=positive_int, default=20, help="epochs before ASHA may stop a trial")
    p.add_argument("--gpus-per-trial", type=non_negative_float, default=0.0)
    p.add_argument("--cpus-per-trial", type=positive_float, default=1.0)
    p.add_argument("--no-register", action="store_true")
    p.add_argument("--ray-address", default=_env("RAY_ADDRESS"), help="[RAY_ADDRESS]")
    _common(p)

    p = stages.add_parser("evaluate", help="HR@10 / NDCG@10 (sampled and full catalogue) of a stored model")
    p.add_argument("--model", required=True, help="models-bucket prefix (<dataset>/<run-name>) or models:/ / runs:/ URI")
    p.add_argument("--split", choices=("valid", "test"), default="test")
    p.add_argument("--data-version", type=path_segment, help="default: the version the model was trained on")
    p.add_argument("--num-negatives", type=positive_int, default=100)
    p.add_argument("--max-users", type=positive_int, default=10_000)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--device", default="auto")
    _mlflow(p)
    p.add_argument("--mlflow-run-id", help="also log the metrics to this MLflow run")
    _common(p)

    p = stages.add_parser("export", help="ONNX + Triton model repository, with a parity check")
    p.add_argument("--model", required=True, help="models-bucket prefix (<dataset>/<run-name>) or models:/ / runs:/ URI")
    p.add_argument("--top-k", type=positive_int, default=100)
    p.add_argument("--triton-model-name", type=path_segment, help="default ssept-<dataset>")
    p.add_argument("--triton-version", type=positive_int, help="default: one above the highest in the repository")
    p.add_argument("--instance-kind", choices=("gpu", "cpu"), default="gpu", help="instance group of the default config.pbtxt")
    p.add_argument("--max-batch-size", type=positive_int, default=256)
    p.add_argument("--repository-prefix", type=path_segment, default="triton", help="models-bucket prefix of the Triton repository")
    p.add_argument("--opset", type=_number(int, lambda v: 14 <= v <= 17, "between 14 and 17"), default=17)
    _mlflow(p)
    _common(p)

    p = stages.add_parser("register", help="register an MLflow run as ssept-<dataset> and/or set an alias")
    _dataset(p)
    p.add_argument("--run-id", help="MLflow run whose 'model' artifact becomes a version")
    p.add_argument("--run-name", type=path_segment, help="the same, by the run's name (the --run-name of train)")
    p.add_argument("--experiment", help="experiment searched for --run-name (default ssept-<dataset>)")
    p.add_argument("--model-version", help="existing version to move the alias to")
    p.add_argument("--alias", choices=ALIASES)
    _mlflow(p)
    return parser


def _env_from_args(args: argparse.Namespace) -> StageEnv:
    buckets = Buckets(**{k[len("bucket_") :]: v for k, v in vars(args).items() if k.startswith("bucket_")})
    return StageEnv(open_storage(args.storage_root, args.s3_endpoint_url), buckets, args.git_commit)


def _train_config(args: argparse.Namespace) -> TrainConfig:
    return TrainConfig(
        epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, beta1=args.beta1, beta2=args.beta2,
        l2_emb=args.l2_emb, sse_user_keep=args.sse_user_keep, sse_item_keep=args.sse_item_keep,
        window_sample_prob=args.window_sample_prob, seed=args.seed, eval_every=args.eval_every,
        checkpoint_every=args.checkpoint_every, precision=args.precision,
        eval_users=args.eval_users, num_negatives=args.num_negatives, patience=args.patience,
    )


def _tracking_uri(args: argparse.Namespace) -> str | None:
    if args.tracking == "none":
        return None
    if args.tracking == "mlflow" and not args.mlflow_tracking_uri:
        raise UsageError("--tracking mlflow needs --mlflow-tracking-uri or MLFLOW_TRACKING_URI")
    return args.mlflow_tracking_uri


def _job(args: argparse.Namespace, env: StageEnv):  # type: ignore[no-untyped-def]
    from ssept.train_stage import build_job

    _apply_preset(args)
    model = {"maxlen": args.maxlen, "item_dim": args.item_dim, "user_dim": args.user_dim,
             "num_blocks": args.num_blocks, "num_heads": args.num_heads, "dropout": args.dropout}
    return build_job(env, args.dataset, args.data_version, args.run_name, model, _train_config(args),
                     args.storage_root, args.s3_endpoint_url, args.device, _tracking_uri(args))


def run_stage(args: argparse.Namespace) -> dict:
    if args.stage == "register":
        from ssept.register_stage import run_register

        return run_register(args.mlflow_tracking_uri, args.dataset, args.run_id, args.model_version, args.alias,
                            run_name=args.run_name, experiment=args.experiment)
    env = _env_from_args(args)
    if args.stage == "ingest":
        from ssept.ingest import run_ingest

        result = run_ingest(env, get_profile(args.dataset), args.date, args.source_url, args.expected_md5,
                            args.expected_sha256, args.expected_rows)
    elif args.stage == "clean":
        from ssept.clean import run_clean

        result = run_clean(env, get_profile(args.dataset), args.raw_date, args.version, args.kcore)
    elif args.stage == "features":
        from ssept.features import run_features

        result = run_features(env, get_profile(args.dataset), args.version, args.maxlen, args.online_history)
    elif args.stage == "train":
        from ssept.train_stage import run_train

        if args.ray_gpus_per_worker and not args.ray_workers:
            raise UsageError("--ray-gpus-per-worker needs --ray-workers >= 1")
        job, split = _job(args, env)
        result = run_train(env, job, split, args.register, args.experiment, not args.no_resume, args.ray_workers,
                           args.ray_gpus_per_worker, args.ray_cpus_per_worker, args.ray_max_failures, args.ray_address)
    elif args.stage == "tune":
        from ssept.tune_stage import run_tune

        job, split = _job(args, env)
        result = run_tune(env, job, split, args.num_samples, args.grace_period, args.gpus_per_trial,
                          args.cpus_per_trial, not args.no_register, args.experiment, args.ray_address)
    elif args.stage == "evaluate":
        from ssept.evaluate_stage import run_evaluate

        result = run_evaluate(env, args.model, args.split, args.data_version, args.num_negatives, args.max_users,
                              args.seed, args.device, args.mlflow_tracking_uri, args.mlflow_run_id)
    elif args.stage == "export":
        from ssept.export_stage import run_export

        result = run_export(env, args.model, args.top_k, args.triton_model_name, args.triton_version,
                            args.instance_kind, args.max_batch_size, args.repository_prefix, args.opset,
                            args.mlflow_tracking_uri)
    else:  # pragma: no cover - argparse restricts the choices
        raise UsageError(f"unknown stage {args.stage!r}")
    env.log_run(args.stage, getattr(args, "dataset", None) or result.get("dataset", "unknown"), {"result": result})
    return result


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    stdout = sys.stdout
    try:
        # stdout carries only the JSON result: whatever a library prints there while the stage
        # runs (Ray's "View detailed results here", MLflow's run links) goes to stderr.
        with contextlib.redirect_stdout(sys.stderr):
            result = run_stage(args)
    except (ValueError, StorageError, RuntimeError, FileNotFoundError) as exc:
        print(f"ssept {args.stage}: error: {exc}", file=sys.stderr)
        return 2 if isinstance(exc, UsageError) else 1
    json.dump(result, stdout, indent=2, sort_keys=True, default=str)
    stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
