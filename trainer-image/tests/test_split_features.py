import json

import numpy as np
import pytest

from ssept.clean import run_clean
from ssept.datasets import get_profile
from ssept.features import load_split, run_features
from ssept.split import leave_one_out, split_from_files, split_to_files
from ssept.stage_env import StageEnv
from ssept.synthetic import generate_sequences, movielens_ratings_dat, movielens_zip


def test_leave_one_out_split():
    sequences = [[], [1, 2, 3, 4], [5, 6], [7, 8, 9], [], [3]]
    split = leave_one_out(sequences, num_items=9)
    assert split.train[1] == [1, 2] and split.valid[1] == 3 and split.test[1] == 4
    assert split.train[2] == [5, 6] and split.valid[2] == 0 and split.test[2] == 0  # < 3 events: train only
    assert split.train[3] == [7] and split.valid[3] == 8 and split.test[3] == 9
    assert split.train[4] == [] and split.test[4] == 0
    assert split.train[5] == [3]
    assert split.history(1) == [1, 2, 3, 4] and split.history(2) == [5, 6]
    counts = split.counts()
    assert counts["valid_users"] == 2 and counts["test_users"] == 2 and counts["train_only_users"] == 3
    assert counts["train_interactions"] == 2 + 2 + 1 + 0 + 1


def test_split_files_round_trip():
    sequences = [[]] + generate_sequences(20, 30, mean_length=6, min_length=1, seed=2)[1:]
    split = leave_one_out(sequences, 30)
    again = split_from_files(split_to_files(split), 20, 30)
    assert again.train == split.train
    assert np.array_equal(again.valid, split.valid) and np.array_equal(again.test, split.test)
    with pytest.raises(ValueError, match="item id 30 exceeds the number of items 29"):
        split_from_files(split_to_files(split), 20, 29)


def _pipeline_to_processed(storage, num_users=30):
    sequences = generate_sequences(num_users, 80, mean_length=15, min_length=6, seed=7)
    storage.put_bytes("raw-data", "ml-1m/2025-01-01/ml-1m.zip", movielens_zip(movielens_ratings_dat(sequences)))
    env = StageEnv(storage)
    run_clean(env, get_profile("ml-1m"), kcore=1)
    return env, sequences


@pytest.mark.parametrize("history", ["full", "exclude-test"])
def test_online_sequences_format(storage, history):
    env, sequences = _pipeline_to_processed(storage)
    result = run_features(env, get_profile("ml-1m"), maxlen=10, online_history=history)
    lines = storage.get_bytes("features", "ml-1m/2025-01-01/online/sequences.jsonl").decode().splitlines()
    records = [json.loads(line) for line in lines]
    assert len(records) == 30 and [r["user"] for r in records] == list(range(1, 31))
    split, manifest = load_split(env, "ml-1m")
    for record in records:
        assert set(record) == {"user", "items"}
        assert all(isinstance(i, int) and i >= 1 for i in record["items"])
        full = split.history(record["user"])
        expected = full if history == "full" else full[:-1]  # every user here has >= 3 events
        assert record["items"] == expected[-10:]  # oldest -> newest, at most maxlen
    online = json.loads(storage.get_bytes("features", "ml-1m/2025-01-01/online/manifest.json"))
    assert online == result["online"]
    assert online["maxlen"] == 10 and online["users_written"] == 30 and online["dataset"] == "ml-1m"
    assert online["version"] == "2025-01-01" and online["history"] == history
    assert online["items_written"] == sum(len(r["items"]) for r in records)
    assert manifest["num_users"] == 30 and manifest["maxlen"] == 10 and manifest["mask_seen_items"] is True
