"""Training benchmark: seconds per epoch and HR@10 / NDCG@10 (paper protocol and full
catalogue), next to the popularity baseline, on

  - wikipedia.txt (JODIE Wikipedia in `user item` form), and
  - a synthetic set shaped like MovieLens-1M (6,040 users, 3,416 items, mean length 165),

on CPU and, when one is present, on a GPU; and, on the same data and device in the same run, a
straightforward PyTorch SASRec (bench/reference_sasrec.py: host-side sampling, nn.MultiheadAttention,
evaluation one user at a time) with the same width, so the speed ratio is measured, not quoted.
Prints one table and the ratios. A benchmark, not a test: the numbers depend on the machine and on
the number of epochs (--epochs).

    .venv/bin/python trainer-image/bench/bench_train.py --epochs 3 --devices cpu
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch

PACKAGE_ROOT = Path(__file__).resolve().parents[1]
REPO_ROOT = PACKAGE_ROOT.parent
sys.path.insert(0, str(PACKAGE_ROOT))

from ssept.baselines import PopularityScorer  # noqa: E402
from ssept.interactions import group_sequences, parse_user_item_lines  # noqa: E402
from ssept.model import ModelConfig  # noqa: E402
from ssept.split import LeaveOneOutSplit, leave_one_out  # noqa: E402
from ssept.synthetic import generate_sequences  # noqa: E402
from ssept.training import TrainConfig, Trainer  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from reference_sasrec import run_reference  # noqa: E402


@dataclass
class Workload:
    name: str
    split: LeaveOneOutSplit
    maxlen: int
    mask_seen: bool


def wikipedia(path: Path, maxlen: int) -> Workload:
    users, items = parse_user_item_lines(path.read_bytes(), str(path))
    num_users, num_items = int(users.max()), int(items.max())
    return Workload("wikipedia.txt", leave_one_out(group_sequences(users, items, num_users), num_items), maxlen, False)


def movielens_shaped(maxlen: int, seed: int) -> Workload:
    sequences = generate_sequences(6040, 3416, mean_length=165, min_length=20, max_length=2314, seed=seed)
    return Workload("synthetic ML-1M shape", leave_one_out(sequences, 3416), maxlen, True)


def run(workload: Workload, device: torch.device, args: argparse.Namespace) -> dict:
    split = workload.split
    model_config = ModelConfig(split.num_users, split.num_items, maxlen=workload.maxlen, item_dim=args.dim,
                               user_dim=args.dim, num_blocks=args.blocks, dropout=args.dropout)
    config = TrainConfig(epochs=args.epochs, batch_size=args.batch_size, eval_every=0, checkpoint_every=0,
                         precision=args.precision, seed=args.seed, eval_users=10_000)
    trainer = Trainer(split, model_config, config, device, mask_seen=workload.mask_seen)
    seconds = []
    for _ in range(args.epochs):
        if device.type == "cuda":
            torch.cuda.synchronize()
        seconds.append(trainer.train_epoch()["epoch_seconds"])
    steady = seconds[1:] or seconds  # the first epoch includes warm-up (allocations, kernels)
    started = time.perf_counter()
    metrics = trainer.evaluate("test")
    eval_seconds = time.perf_counter() - started
    popularity = trainer.evaluator.evaluate(PopularityScorer(split, device), "test", workload.mask_seen, seed=args.seed)
    return {
        "data": workload.name,
        "model": "ssept",
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "epochs": args.epochs,
        "first_s": seconds[0],
        "epoch_s": sum(steady) / len(steady),
        "eval_s": eval_seconds,
        "hr10": metrics["test_hr10"],
        "ndcg10": metrics["test_ndcg10"],
        "full_hr10": metrics["test_full_hr10"],
        "full_ndcg10": metrics["test_full_ndcg10"],
        "pop_hr10": popularity["test_hr10"],
        "pop_ndcg10": popularity["test_ndcg10"],
    }


def run_reference_row(workload: Workload, device: torch.device, args: argparse.Namespace) -> dict:
    result = run_reference(workload.split, workload.maxlen, 2 * args.dim, args.blocks, args.dropout, args.epochs,
                           args.batch_size, device, args.seed)
    return {"data": workload.name, "model": "reference-sasrec",
            "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu", "epochs": args.epochs,
            **result, "full_hr10": "-", "full_ndcg10": "-", "pop_hr10": "-", "pop_ndcg10": "-"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--wikipedia", type=Path, default=REPO_ROOT.parent / "shared" / "data" / "wikipedia.txt")
    parser.add_argument("--data", choices=("both", "wikipedia", "ml1m-shape"), default="both")
    parser.add_argument("--devices", default="auto", help="comma list of cpu,cuda; auto = cpu plus cuda when present")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--dim", type=int, default=50, help="item and user embedding width each")
    parser.add_argument("--blocks", type=int, default=2)
    parser.add_argument("--dropout", type=float, default=0.2)
    parser.add_argument("--maxlen-ml", type=int, default=200)
    parser.add_argument("--maxlen-wikipedia", type=int, default=50)
    parser.add_argument("--precision", choices=("auto", "fp32", "bf16"), default="auto")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = torch's default)")
    parser.add_argument("--no-reference", action="store_true", help="skip the reference SASRec rows")
    args = parser.parse_args()
    if args.epochs < 1:
        parser.error("--epochs must be >= 1")
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.devices == "auto":
        devices = [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])
    else:
        devices = [torch.device(d) for d in args.devices.split(",")]
    workloads = []
    if args.data in ("both", "wikipedia"):
        if not args.wikipedia.is_file():
            parser.error(f"--wikipedia {args.wikipedia}: no such file")
        workloads.append(wikipedia(args.wikipedia, args.maxlen_wikipedia))
    if args.data in ("both", "ml1m-shape"):
        workloads.append(movielens_shaped(args.maxlen_ml, args.seed))
    rows = []
    for workload in workloads:
        for device in devices:
            rows.append(run(workload, device, args))
            if not args.no_reference:
                rows.append(run_reference_row(workload, device, args))
    header = ("data", "model", "device", "epochs", "first_s", "epoch_s", "eval_s", "hr10", "ndcg10", "full_hr10", "full_ndcg10",
              "pop_hr10", "pop_ndcg10")
    widths = [max(len(h), *(len(_fmt(r[h])) for r in rows)) for h in header]
    blas = next((p.split("=", 1)[1] for p in torch.__config__.show().replace(",", " ").split() if p.startswith("BLAS_INFO=")), "?")
    print(f"torch {torch.__version__} (BLAS {blas}), threads {torch.get_num_threads()}, dim {args.dim}x2, blocks {args.blocks}, "
          f"batch {args.batch_size}, test split, 100 sampled negatives (hr10/ndcg10) and full catalogue (full_*)")
    print("  ".join(h.ljust(w) for h, w in zip(header, widths)))
    for row in rows:
        print("  ".join(_fmt(row[h]).ljust(w) for h, w in zip(header, widths)))
    for ours, ref in zip(rows, rows[1:]):
        if ours["model"] == "ssept" and ref["model"] == "reference-sasrec":
            print(f"{ours['data']} on {ours['device']}: reference / ours = {ref['epoch_s'] / ours['epoch_s']:.1f}x per "
                  f"epoch, {ref['eval_s'] / ours['eval_s']:.1f}x evaluation (NDCG@10 {ours['ndcg10']:.3f} vs {ref['ndcg10']:.3f})")


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.4f}" if value < 10 else f"{value:.1f}"
    return str(value)


if __name__ == "__main__":
    main()
