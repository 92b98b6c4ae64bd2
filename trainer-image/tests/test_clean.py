import json

import numpy as np
import pytest

from ssept.clean import run_clean
from ssept.datasets import get_profile
from ssept.interactions import clean_interactions, kcore_filter, parse_user_item_lines
from ssept.stage_env import StageEnv
from ssept.synthetic import generate_sequences, jodie_csv, movielens_ratings_dat, movielens_zip


def test_kcore_is_iterated_until_stable():
    # u1 and u2 have 2 rows each; u3 has 3 rows but one of them is on item c, which only u3 has.
    users = np.array([1, 1, 2, 2, 3, 3, 3])
    items = np.array([10, 11, 10, 11, 10, 11, 12])  # item 12 = "c"
    keep = kcore_filter(users, items, 2).keep
    # first pass drops item c (1 row); u3 still has 2 rows, so it stays
    assert keep.tolist() == [True] * 6 + [False]
    keep3 = kcore_filter(users, items, 3)
    # k=3: every user but u3 is dropped, then items a and b fall to 1 row, then u3 goes too
    assert not keep3.keep.any() and keep3.iterations >= 2
    assert kcore_filter(users, items, 1).keep.all()


def test_clean_orders_by_time_stably_and_remaps_ids():
    users = np.array([50, 7, 50, 7, 50])
    items = np.array([900, 30, 30, 900, 31])
    times = np.array([5.0, 2.0, 1.0, 2.0, 5.0])
    clean = clean_interactions(users, items, times, kcore=1)
    assert clean.user_ids.tolist() == [7, 50] and clean.item_ids.tolist() == [30, 31, 900]
    # user 7 -> 1, user 50 -> 2; items 30 -> 1, 31 -> 2, 900 -> 3; equal times keep file order
    assert clean.users.tolist() == [1, 1, 2, 2, 2]
    assert clean.items.tolist() == [1, 3, 1, 3, 2]


def _store_raw(storage, dataset, date, data):
    profile = get_profile(dataset)
    storage.put_bytes("raw-data", f"{dataset}/{date}/{profile.raw_filename}", data)


def test_run_clean_movielens_quarantines_and_recovers_sequences(storage):
    sequences = generate_sequences(40, 60, mean_length=12, min_length=6, seed=1)
    ratings = movielens_ratings_dat(sequences, seed=2)
    ratings += b"garbage line\n1::2::9::100\n"
    _store_raw(storage, "ml-1m", "2025-01-01", movielens_zip(ratings))
    env = StageEnv(storage)
    stats = run_clean(env, get_profile("ml-1m"), kcore=1)
    assert stats["version"] == "2025-01-01" and stats["kcore"] == 1
    assert stats["quarantined_rows"] == 2 and stats["quarantine_reasons"] == {"fields": 1, "value": 1}
    assert stats["raw_rows"] == stats["valid_rows"] + stats["quarantined_rows"]
    quarantine = storage.get_bytes("processed-data", "ml-1m/2025-01-01/quarantine.jsonl").decode().splitlines()
    assert [json.loads(line)["raw"] for line in quarantine] == ["garbage line", "1::2::9::100"]
    users, items = parse_user_item_lines(storage.get_bytes("processed-data", "ml-1m/2025-01-01/interactions.txt"))
    item_map = storage.get_bytes("processed-data", "ml-1m/2025-01-01/item_map.csv").decode().splitlines()[1:]
    raw_of = {int(n): int(r) for n, r in (line.split(",") for line in item_map)}
    # the generator wrote movie ids as 3*i+7 and shuffled rows; cleaning restores each time order
    for user in range(1, 41):
        recovered = [(raw_of[i] - 7) // 3 for i in items[users == user].tolist()]
        assert recovered == sequences[user]
    assert stats["num_users"] == 40 and stats["num_interactions"] == sum(len(s) for s in sequences)


def test_run_clean_default_kcore_for_movielens_is_5(storage):
    sequences = generate_sequences(30, 80, mean_length=10, min_length=3, seed=4)
    _store_raw(storage, "ml-1m", "2025-02-01", movielens_zip(movielens_ratings_dat(sequences)))
    stats = run_clean(StageEnv(storage), get_profile("ml-1m"), version="v1")
    assert stats["kcore"] == 5 and stats["removed_by_kcore"] > 0
    users, items = parse_user_item_lines(storage.get_bytes("processed-data", "ml-1m/v1/interactions.txt"))
    assert np.bincount(users)[1:].min() >= 5 and np.bincount(items)[1:].min() >= 5
    assert users.max() == stats["num_users"] and items.max() == stats["num_items"]


def test_run_clean_wikipedia_keeps_repeats_and_all_users(storage):
    sequences = generate_sequences(25, 30, mean_length=8, min_length=2, repeat_prob=0.5, unique_items=False, seed=5)
    _store_raw(storage, "wikipedia", "2025-01-01", jodie_csv(sequences))
    stats = run_clean(StageEnv(storage), get_profile("wikipedia"))
    assert stats["kcore"] == 1 and stats["removed_by_kcore"] == 0
    assert stats["num_interactions"] == sum(len(s) for s in sequences) and stats["num_users"] == 25


def test_run_clean_with_no_valid_rows_fails_with_a_clear_message(storage):
    _store_raw(storage, "ml-1m", "2025-01-01", movielens_zip(b"bad\nworse\n"))
    with pytest.raises(ValueError, match="no valid rows \\(2 quarantined"):
        run_clean(StageEnv(storage), get_profile("ml-1m"))
    assert storage.exists("processed-data", "ml-1m/2025-01-01/quarantine.jsonl")
