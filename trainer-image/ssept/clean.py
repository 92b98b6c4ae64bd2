"""clean: raw file -> processed-data/<dataset>/<version>/ (interactions, id maps, quarantine,
stats)."""

from __future__ import annotations

import json

import numpy as np

from ssept.datasets import DatasetProfile
from ssept.interactions import clean_interactions, format_user_item_lines
from ssept.raw_parsing import ParsedInteractions, parse_jodie_csv, parse_movielens_ratings, read_movielens_zip
from ssept.stage_env import StageEnv, utc_now
from ssept.storage import latest_prefix

INTERACTIONS = "interactions.txt"
STATS = "stats.json"


def parse_raw(profile: DatasetProfile, data: bytes) -> ParsedInteractions:
    if profile.raw_format == "movielens-ratings-zip":
        return parse_movielens_ratings(read_movielens_zip(data))
    return parse_jodie_csv(data)


def sequence_length_stats(users: np.ndarray) -> dict[str, float]:
    if len(users) == 0:
        return {"min": 0, "max": 0, "mean": 0.0, "median": 0.0}
    lengths = np.bincount(users)[1:]
    lengths = lengths[lengths > 0]
    return {
        "min": int(lengths.min()),
        "max": int(lengths.max()),
        "mean": round(float(lengths.mean()), 4),
        "median": float(np.median(lengths)),
    }


def run_clean(
    env: StageEnv,
    profile: DatasetProfile,
    raw_date: str = "latest",
    version: str | None = None,
    kcore: int | None = None,
) -> dict:
    raw_bucket, out_bucket = env.buckets.raw, env.buckets.processed
    if raw_date == "latest":
        raw_date = latest_prefix(env.storage, raw_bucket, profile.name, profile.raw_filename)
    version = version or raw_date
    kcore = profile.default_kcore if kcore is None else kcore
    raw_key = f"{profile.name}/{raw_date}/{profile.raw_filename}"
    parsed = parse_raw(profile, env.storage.get_bytes(raw_bucket, raw_key))
    prefix = f"{profile.name}/{version}"
    quarantine = "".join(json.dumps(row.as_dict()) + "\n" for row in parsed.quarantined)
    env.storage.put_bytes(out_bucket, f"{prefix}/quarantine.jsonl", quarantine.encode())
    if len(parsed.users) == 0:
        raise ValueError(
            f"{env.storage.uri(raw_bucket, raw_key)}: no valid rows ({len(parsed.quarantined)} quarantined, "
            f"see {env.storage.uri(out_bucket, prefix + '/quarantine.jsonl')})"
        )
    clean = clean_interactions(parsed.users, parsed.items, parsed.timestamps, kcore)
    env.storage.put_bytes(out_bucket, f"{prefix}/{INTERACTIONS}", format_user_item_lines(clean.users, clean.items))
    events = "user,item,timestamp\n" + "".join(
        f"{u},{i},{t:.17g}\n" for u, i, t in zip(clean.users.tolist(), clean.items.tolist(), clean.timestamps.tolist())
    )
    env.storage.put_bytes(out_bucket, f"{prefix}/events.csv", events.encode())
    for name, ids in (("user_map.csv", clean.user_ids), ("item_map.csv", clean.item_ids)):
        body = "id,raw_id\n" + "".join(f"{n},{raw}\n" for n, raw in enumerate(ids.tolist(), start=1))
        env.storage.put_bytes(out_bucket, f"{prefix}/{name}", body.encode())
    stats = {
        "dataset": profile.name,
        "version": version,
        "raw_object": env.storage.uri(raw_bucket, raw_key),
        "raw_rows": parsed.total_rows,
        "valid_rows": int(len(parsed.users)),
        "quarantined_rows": len(parsed.quarantined),
        "quarantine_reasons": parsed.reason_counts,
        "implicit_feedback": "every rating is one interaction",
        "kcore": kcore,
        "kcore_iterations": clean.kcore_iterations,
        "removed_by_kcore": clean.removed_by_kcore,
        "raw_users": int(len(np.unique(parsed.users))),
        "raw_items": int(len(np.unique(parsed.items))),
        "num_users": clean.num_users,
        "num_items": clean.num_items,
        "num_interactions": int(len(clean.users)),
        "sequence_length": sequence_length_stats(clean.users),
        "created_at": utc_now(),
        "git_commit": env.git_commit,
    }
    env.put_json(out_bucket, f"{prefix}/{STATS}", stats)
    return stats
