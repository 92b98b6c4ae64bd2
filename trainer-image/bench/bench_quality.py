"""Quality benchmark: SSE-PT (ours) against a plain SASRec baseline of the same embedding width,
trained by the same Trainer and ranked by the same Evaluator, on the same data, seeds and device.

For every data set and seed both models train for up to --max-epochs, evaluated on the
validation split every --eval-every epochs, with early stopping (--patience evaluations without
a better validation NDCG@10). Two rows per model, each mean +- std over the seeds:

  - "epoch N": test metrics of the weights after exactly --epochs epochs (equal epochs);
  - "best-valid": test metrics of the weights of the best validation epoch (convergence).
    The test split is never used to choose anything.

Data: wikipedia.txt (`user item` lines; --wikipedia PATH) and a synthetic set shaped like
MovieLens-1M (6,040 users, 3,416 items, mean length 165; ssept.synthetic). Test metrics: HR@10
and NDCG@10 against 100 negatives the user never touched, <= 10,000 users, ties against the
target. Quality numbers do not depend on the machine; seconds do (and on its load).

    python trainer-image/bench/bench_quality.py --seeds 1,2,3 --epochs 20 --max-epochs 40 --eval-every 2 --patience 6 --maxlen 50
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch

PACKAGE_ROOT = Path(__file__).resolve().parents[1]
REPO_ROOT = PACKAGE_ROOT.parent
sys.path.insert(0, str(PACKAGE_ROOT))

from ssept.interactions import group_sequences, parse_user_item_lines  # noqa: E402
from ssept.model import ModelConfig  # noqa: E402
from ssept.presets import get_preset  # noqa: E402
from ssept.split import LeaveOneOutSplit, leave_one_out  # noqa: E402
from ssept.synthetic import generate_sequences  # noqa: E402
from ssept.training import TrainConfig, Trainer  # noqa: E402

MODELS = ("ssept", "sasrec")


@dataclass
class Workload:
    name: str
    preset: str
    split: LeaveOneOutSplit
    mask_seen: bool


def load_workloads(args: argparse.Namespace) -> list[Workload]:
    workloads = []
    if args.data in ("both", "wikipedia"):
        if not args.wikipedia.is_file():
            raise SystemExit(f"bench_quality: --wikipedia {args.wikipedia}: no such file")
        users, items = parse_user_item_lines(args.wikipedia.read_bytes(), str(args.wikipedia))
        split = leave_one_out(group_sequences(users, items, int(users.max())), int(items.max()))
        workloads.append(Workload("wikipedia.txt", args.presets.get("wikipedia", "wikipedia"), split, False))
    if args.data in ("both", "ml1m-shape"):
        sequences = generate_sequences(6040, 3416, mean_length=165, min_length=20, max_length=2314, seed=0)
        workloads.append(Workload("synthetic ML-1M shape", args.presets.get("ml1m-shape", "ml-1m-shape"), leave_one_out(sequences, 3416), True))
    return workloads


def configs(workload: Workload, model: str, seed: int, args: argparse.Namespace) -> tuple[ModelConfig, TrainConfig]:
    preset = get_preset(workload.preset)
    split = workload.split
    common = {"maxlen": args.maxlen} if args.maxlen else {}
    if model == "ssept":
        model_config = preset.model_config(split.num_users, split.num_items, **common)
        keep = {}
    else:  # same width budget: item_dim + user_dim of SSE-PT's preset, no user embedding, no SSE;
        # its latest window only (as the SASRec paper) unless --baseline-window-sample-prob says otherwise
        width = preset.model["item_dim"] + preset.model["user_dim"]
        model_config = preset.model_config(split.num_users, split.num_items, item_dim=width, user_dim=0,
                                           architecture="sasrec", **common)
        keep = {"sse_user_keep": 1.0, "sse_item_keep": 1.0, "window_sample_prob": args.baseline_window_sample_prob}
    train_config = preset.train_config(epochs=args.max_epochs, eval_every=args.eval_every, patience=args.patience,
                                       checkpoint_every=0, seed=seed, **keep)
    return model_config, train_config


def run_one(workload: Workload, model: str, seed: int, args: argparse.Namespace) -> dict:
    model_config, train_config = configs(workload, model, seed, args)
    trainer = Trainer(workload.split, model_config, train_config, "cpu", mask_seen=workload.mask_seen)
    at_equal: dict | None = None
    seconds: list[float] = []

    def on_epoch_end(trainer: Trainer, metrics: dict) -> None:
        nonlocal at_equal
        seconds.append(metrics["epoch_seconds"])
        if trainer.epoch == args.epochs:
            at_equal = trainer.evaluator.evaluate(trainer.model.eval(), "test", workload.mask_seen, seed=seed)
        print(f"  {workload.name} {model} seed {seed} epoch {trainer.epoch} loss {metrics['loss']:.4f} "
              f"{metrics['epoch_seconds']:.1f}s" + (f" valid_ndcg10 {metrics['valid_ndcg10']:.4f}" if "valid_ndcg10" in metrics else ""),
              file=sys.stderr, flush=True)

    trainer.fit(on_epoch_end)
    trainer.load_best_weights()
    started = time.perf_counter()
    best = trainer.evaluate("test")
    eval_seconds = time.perf_counter() - started
    stopped_before_equal = at_equal is None
    if stopped_before_equal:  # stopped early before --epochs: the equal-epoch row is the best-valid model's
        at_equal = best
    return {
        "equal_ndcg10": at_equal["test_ndcg10"], "equal_hr10": at_equal["test_hr10"],
        "best_ndcg10": best["test_ndcg10"], "best_hr10": best["test_hr10"],
        "best_epoch": trainer.best["epoch"] if trainer.best else trainer.epoch, "epochs_run": trainer.epoch,
        "epoch_s": statistics.mean(seconds[1:] or seconds), "eval_s": eval_seconds,
        "steps": trainer.batcher.batches_per_epoch(), "stopped_before_equal": stopped_before_equal,
    }


def mean_std(values: list[float], digits: int = 4) -> str:
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.{digits}f} ± {std:.{digits}f}"


def table(workload: Workload, results: dict[str, list[dict]], args: argparse.Namespace) -> str:
    preset = get_preset(workload.preset)
    ours = {**{k: preset.model[k] for k in ("item_dim", "user_dim")},
            **{k: preset.train.get(k, 0.0) for k in ("sse_user_keep", "sse_item_keep", "window_sample_prob")}}
    lines = [f"\n### {workload.name} ({workload.split.num_users} users, {workload.split.num_items} items), "
             f"seeds {args.seeds}, maxlen {args.maxlen or preset.model['maxlen']}",
             f"ours: preset {workload.preset} {ours}; baseline: SASRec width {ours['item_dim'] + ours['user_dim']}, "
             f"window_sample_prob {args.baseline_window_sample_prob}",
             "| model | row | NDCG@10 | HR@10 | best epoch | s/epoch | eval s | NDCG ratio ours/baseline |",
             "|---|---|---|---|---|---|---|---|"]
    for key, label in (("equal", f"epoch {args.epochs}"), ("best", "best-valid")):
        ratios = [o[f"{key}_ndcg10"] / b[f"{key}_ndcg10"] for o, b in zip(results["ssept"], results["sasrec"])]
        for model in MODELS:
            runs = results[model]
            name = "ours (SSE-PT)" if model == "ssept" else "SASRec baseline"
            best_epoch = mean_std([r["best_epoch"] for r in runs], 1) if key == "best" else str(args.epochs)
            lines.append(f"| {name} | {label} | {mean_std([r[f'{key}_ndcg10'] for r in runs])} | "
                         f"{mean_std([r[f'{key}_hr10'] for r in runs])} | {best_epoch} | "
                         f"{mean_std([r['epoch_s'] for r in runs], 1)} | {mean_std([r['eval_s'] for r in runs], 1)} | "
                         + (mean_std(ratios, 3) if model == "ssept" else "") + " |")
    early = sum(r["stopped_before_equal"] for runs in results.values() for r in runs)
    if early:
        lines.append(f"({early} run(s) stopped before epoch {args.epochs}: their epoch-{args.epochs} row is their best-valid model)")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--wikipedia", type=Path, default=REPO_ROOT.parent / "shared" / "data" / "wikipedia.txt")
    parser.add_argument("--data", choices=("both", "wikipedia", "ml1m-shape"), default="both")
    parser.add_argument("--seeds", default="1,2,3", help="comma list; at least 3 for a variance")
    parser.add_argument("--epochs", type=int, default=10, help="the equal-epochs row")
    parser.add_argument("--max-epochs", type=int, default=20, help="upper bound of the early-stopped run")
    parser.add_argument("--eval-every", type=int, default=2)
    parser.add_argument("--patience", type=int, default=3, help="validation evaluations without improvement")
    parser.add_argument("--maxlen", type=int, default=0, help="0 = the preset's (ML-1M 200, Wikipedia 50)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--baseline-window-sample-prob", type=float, default=0.0,
                        help="give the baseline SSE-PT++'s window sampling too (an ablation; 0 = plain SASRec)")
    parser.add_argument("--preset", action="append", default=[], metavar="DATA=PRESET",
                        help="another preset for ours on a data set, e.g. wikipedia=wikipedia-paper or ml1m-shape=ml-1m (repeatable)")
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",") if s]
    if not seeds or not 1 <= args.epochs <= args.max_epochs or args.eval_every < 1 or args.patience < 0:
        parser.error("need --seeds, 1 <= --epochs <= --max-epochs, --eval-every >= 1, --patience >= 0")
    if not 0.0 <= args.baseline_window_sample_prob <= 1.0:
        parser.error(f"--baseline-window-sample-prob must be in [0, 1], got {args.baseline_window_sample_prob}")
    try:
        args.presets = dict(p.split("=", 1) for p in args.preset)
        for name in args.presets.values():
            get_preset(name)
    except ValueError as exc:
        parser.error(f"--preset: {exc}")
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), CPU")
    print(torch.__config__.show())
    output = []
    for workload in load_workloads(args):
        results: dict[str, list[dict]] = {m: [] for m in MODELS}
        for seed in seeds:
            for model in MODELS:  # interleaved, so machine load hits both alike
                run = run_one(workload, model, seed, args)
                results[model].append(run)
                print(f"{workload.name} seed {seed} {model}: epoch {args.epochs} test NDCG@10 {run['equal_ndcg10']:.4f}, "
                      f"best-valid (epoch {run['best_epoch']}) test NDCG@10 {run['best_ndcg10']:.4f}", flush=True)
        output.append(table(workload, results, args))
        print(output[-1], flush=True)
    print("\n".join(output))


if __name__ == "__main__":
    main()
