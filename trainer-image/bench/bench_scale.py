"""Scale benchmark: memory and setup time of training and evaluation on synthetic sets of
31,000 users x 24,000 items x 290,000 events and 1,000,000 x 100,000 x 20,000,000.

Each set runs in its own process, so each peak RSS is that set's alone. Printed per set: RSS
after generating the data, peak RSS, setup seconds (the Trainer's device batches and negative
sampler plus the Evaluator: what the dense users x items tables used to cost), the sampler
structures' bytes next to what a dense users x items int32 table would need, seconds per
training step (and the projected epoch), and the seconds to evaluate 10,000 users (100 sampled
negatives and the full catalogue, batched).

    python trainer-image/bench/bench_scale.py                 # both sets
    python trainer-image/bench/bench_scale.py --sets small --steps 20
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

PACKAGE_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PACKAGE_ROOT))

SETS = {
    "small": {"users": 31_000, "items": 24_000, "events": 290_000, "limit_gb": 2},
    "large": {"users": 1_000_000, "items": 100_000, "events": 20_000_000, "limit_gb": 16},
}


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def run_set(name: str, args: argparse.Namespace) -> dict:
    import torch

    from ssept.model import ModelConfig, bce_loss
    from ssept.split import leave_one_out_flat
    from ssept.synthetic import random_event_arrays
    from ssept.training import TrainConfig, Trainer

    torch.set_num_threads(args.threads)
    spec = SETS[name]
    started = time.perf_counter()
    lengths, items = random_event_arrays(spec["users"], spec["items"], spec["events"], seed=args.seed)
    split = leave_one_out_flat(lengths, items, spec["items"])
    del lengths, items
    data_s = time.perf_counter() - started
    data_rss = rss_mb()
    # torch imports its compiler stack (seconds, once per process) on the first optimizer: not setup.
    torch.optim.Adam([torch.zeros(1, requires_grad=True)])

    started = time.perf_counter()
    model_config = ModelConfig(split.num_users, split.num_items, maxlen=args.maxlen)
    config = TrainConfig(epochs=1, eval_every=0, checkpoint_every=0, seed=args.seed, eval_users=10_000,
                         eval_batch_size=args.eval_batch_size)
    trainer = Trainer(split, model_config, config, "cpu", mask_seen=False)
    evaluator = trainer.evaluator
    setup_s = time.perf_counter() - started
    setup_rss = rss_mb()

    generator = torch.Generator().manual_seed(args.seed)
    trainer.model.train()
    batches = trainer.batcher.epoch(generator)
    step_seconds = []
    for _ in range(args.steps):
        batch = next(batches)
        tick = time.perf_counter()
        pos_logits, neg_logits = trainer.model(batch.users, batch.seq, batch.pos, batch.neg)
        loss = bce_loss(pos_logits, neg_logits, batch.pos != 0)
        trainer.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        trainer.optimizer.step()
        step_seconds.append(time.perf_counter() - tick)
    step_s = sorted(step_seconds)[len(step_seconds) // 2]
    train_rss = rss_mb()

    started = time.perf_counter()
    metrics = trainer.evaluate("valid")
    eval_s = time.perf_counter() - started
    sampler_bytes = trainer.batcher.negatives.nbytes + evaluator.untouched.nbytes
    dense_bytes = 2 * (split.num_users + 1) * (split.num_items + 1) * 4
    return {
        "set": name, "users": split.num_users, "items": split.num_items, "events": spec["events"],
        "data_s": data_s, "data_rss_mb": data_rss, "setup_rss_mb": setup_rss, "train_rss_mb": train_rss,
        "eval_rss_mb": rss_mb(), "setup_s": setup_s, "step_s": step_s,
        "epoch_s_projected": step_s * trainer.batcher.batches_per_epoch(), "steps_per_epoch": trainer.batcher.batches_per_epoch(),
        "eval_users": metrics["valid_users"], "eval_s": eval_s, "valid_ndcg10": metrics["valid_ndcg10"],
        "sampler_mb": sampler_bytes / 2**20, "dense_tables_mb": dense_bytes / 2**20,
        "peak_rss_mb": peak_rss_mb(), "limit_gb": spec["limit_gb"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sets", default="small,large", help="comma list of: " + ", ".join(SETS))
    parser.add_argument("--steps", type=int, default=20, help="training steps timed per set")
    parser.add_argument("--maxlen", type=int, default=50)
    parser.add_argument("--eval-batch-size", type=int, default=1024)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--one", choices=sorted(SETS), help=argparse.SUPPRESS)  # child process: one set, JSON out
    args = parser.parse_args()
    if args.steps < 1:
        parser.error("--steps must be >= 1")
    if args.one:
        print(json.dumps(run_set(args.one, args)))
        return
    names = [s for s in args.sets.split(",") if s]
    unknown = sorted(set(names) - set(SETS))
    if unknown:
        parser.error(f"--sets: unknown {unknown}; choose from {', '.join(SETS)}")
    import torch

    print(f"torch {torch.__version__}, {args.threads} thread(s), CPU, maxlen {args.maxlen}, SSE-PT 50+50, batch 128")
    print(torch.__config__.show())
    rows = []
    for name in names:
        argv = [sys.executable, __file__, "--one", name, "--steps", str(args.steps), "--maxlen", str(args.maxlen),
                "--eval-batch-size", str(args.eval_batch_size), "--threads", str(args.threads), "--seed", str(args.seed)]
        done = subprocess.run(argv, capture_output=True, text=True)
        if done.returncode != 0:
            raise SystemExit(f"bench_scale: set {name} failed:\n{done.stderr}")
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
        print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    print("| users × items × events | data RSS MB | peak RSS MB (limit) | setup s | sampler MB (dense tables MB) "
          "| s/step | steps/epoch | s/epoch (projected) | eval users | eval s |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['users']:,} × {r['items']:,} × {r['events']:,} | {r['data_rss_mb']:.0f} | {r['peak_rss_mb']:.0f} "
              f"(< {r['limit_gb'] * 1024}) | {r['setup_s']:.2f} | {r['sampler_mb']:.1f} ({r['dense_tables_mb']:,.0f}) | "
              f"{r['step_s']:.3f} | {r['steps_per_epoch']} | {r['epoch_s_projected']:.0f} | {r['eval_users']:,} | {r['eval_s']:.1f} |")


if __name__ == "__main__":
    main()
