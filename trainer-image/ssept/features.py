"""features: leave-one-out split (offline) and each user's latest sequence (online)."""

from __future__ import annotations

import json
from typing import Literal

from ssept.clean import INTERACTIONS, STATS
from ssept.datasets import DatasetProfile
from ssept.interactions import group_sequences, parse_user_item_lines
from ssept.split import LeaveOneOutSplit, leave_one_out, split_from_files, split_to_files
from ssept.stage_env import StageEnv, utc_now
from ssept.storage import latest_prefix

ONLINE_FORMAT = "ssept-online-sequences/v1"
SPLIT_MANIFEST = "split/manifest.json"
OnlineHistory = Literal["full", "exclude-test"]


def online_sequences(split: LeaveOneOutSplit, maxlen: int, history: OnlineHistory) -> list[dict]:
    """Oldest -> newest, at most `maxlen` items. "exclude-test" leaves each user's held-out
    last event out, for a simulator that replays it as live traffic."""
    records = []
    for user in range(1, split.num_users + 1):
        items = split.history(user) if history == "full" else split.train[user] + (
            [int(split.valid[user])] if split.valid[user] else []
        )
        if items:
            records.append({"user": user, "items": items[-maxlen:]})
    return records


def run_features(
    env: StageEnv,
    profile: DatasetProfile,
    version: str = "latest",
    maxlen: int | None = None,
    online_history: OnlineHistory = "full",
) -> dict:
    src, dst = env.buckets.processed, env.buckets.features
    if version == "latest":
        version = latest_prefix(env.storage, src, profile.name, STATS)
    maxlen = maxlen or profile.default_maxlen
    prefix = f"{profile.name}/{version}"
    stats = env.get_json(src, f"{prefix}/{STATS}")
    users, items = parse_user_item_lines(env.storage.get_bytes(src, f"{prefix}/{INTERACTIONS}"), INTERACTIONS)
    sequences = group_sequences(users, items, stats["num_users"])
    split = leave_one_out(sequences, stats["num_items"])
    for name, body in split_to_files(split).items():
        env.storage.put_bytes(dst, f"{prefix}/split/{name}", body)
    counts = split.counts()
    split_manifest = {
        "dataset": profile.name,
        "version": version,
        "num_users": split.num_users,
        "num_items": split.num_items,
        "maxlen": maxlen,
        "mask_seen_items": profile.mask_seen_items,
        "counts": counts,
        "source": env.storage.uri(src, prefix),
        "kcore": stats.get("kcore"),
        "created_at": utc_now(),
        "git_commit": env.git_commit,
    }
    env.put_json(dst, f"{prefix}/{SPLIT_MANIFEST}", split_manifest)
    records = online_sequences(split, maxlen, online_history)
    body = "".join(json.dumps(r, separators=(",", ":")) + "\n" for r in records)
    env.storage.put_bytes(dst, f"{prefix}/online/sequences.jsonl", body.encode())
    online_manifest = {
        "format": ONLINE_FORMAT,
        "dataset": profile.name,
        "version": version,
        "maxlen": maxlen,
        "num_users": split.num_users,
        "num_items": split.num_items,
        "users_written": len(records),
        "items_written": sum(len(r["items"]) for r in records),
        "history": online_history,
        "mask_seen_items": profile.mask_seen_items,
        "padding_id": 0,
        "created_at": utc_now(),
        "git_commit": env.git_commit,
    }
    env.put_json(dst, f"{prefix}/online/manifest.json", online_manifest)
    return {"split": split_manifest, "online": online_manifest}


def load_split(env: StageEnv, dataset: str, version: str = "latest") -> tuple[LeaveOneOutSplit, dict]:
    bucket = env.buckets.features
    if version == "latest":
        version = latest_prefix(env.storage, bucket, dataset, SPLIT_MANIFEST.split("/")[-1])
    prefix = f"{dataset}/{version}"
    manifest = env.get_json(bucket, f"{prefix}/{SPLIT_MANIFEST}")
    files = {n: env.storage.get_bytes(bucket, f"{prefix}/split/{n}") for n in ("train.txt", "valid.txt", "test.txt")}
    return split_from_files(files, manifest["num_users"], manifest["num_items"]), manifest
