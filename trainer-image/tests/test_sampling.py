"""The O(events) negative sampler: exact uniform draws from the items a user never touched."""

import numpy as np
import pytest
import torch

from ssept.batching import DeviceBatcher, UntouchedItems, right_aligned, right_aligned_flat
from ssept.split import leave_one_out, leave_one_out_flat


def _random_histories(num_users, num_items, seed):
    rng = np.random.default_rng(seed)
    return [[]] + [rng.integers(1, num_items + 1, size=int(rng.integers(0, num_items))).tolist() for _ in range(num_users)]


def test_draws_equal_the_rank_th_untouched_item_computed_by_brute_force():
    """A draw is untouched[floor(u * count)] for a uniform u: recompute u with the same seed and
    compare with a brute-force sorted list of the untouched ids, for every user and draw."""
    num_items = 40
    histories = _random_histories(25, num_items, seed=1)
    histories[3] = list(range(1, num_items))  # only item 40 left
    untouched = UntouchedItems(histories, num_items)
    users = torch.arange(1, 26)
    draws = untouched.sample(users, (30,), torch.Generator().manual_seed(9))
    u = torch.rand((25, 30), generator=torch.Generator().manual_seed(9))
    for row, user in enumerate(users.tolist()):
        free = sorted(set(range(1, num_items + 1)) - set(histories[user]))
        expected = [free[min(int(x * len(free)), len(free) - 1)] for x in u[row].tolist()]
        assert draws[row].tolist() == expected, user
    assert set(draws[2].tolist()) == {40}


def test_never_a_touched_item_the_padding_id_or_the_target_and_uniform_over_the_rest():
    num_items = 30
    histories = _random_histories(12, num_items, seed=2)
    untouched = UntouchedItems(histories, num_items)
    users = torch.arange(1, 13).repeat_interleave(4)
    draws = untouched.sample(users, (2000,), torch.Generator().manual_seed(0))
    for user in range(1, 13):
        mine = draws[users == user].flatten()
        free = set(range(1, num_items + 1)) - set(histories[user])
        assert set(mine.tolist()) == free  # nothing else, and every free item shows up
        counts = torch.bincount(mine, minlength=num_items + 1)[sorted(free)].float()
        expected = len(mine) / len(free)
        assert ((counts - expected).abs() < 5 * expected**0.5 + 1).all(), user  # within ~5 sigma


def test_reproducible_by_seed_and_different_across_seeds():
    untouched = UntouchedItems(_random_histories(50, 200, seed=3), 200)
    users = torch.arange(1, 51)
    a = untouched.sample(users, (64,), torch.Generator().manual_seed(4))
    b = untouched.sample(users, (64,), torch.Generator().manual_seed(4))
    c = untouched.sample(users, (64,), torch.Generator().manual_seed(5))
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_memory_is_linear_in_events_not_users_times_items():
    """20,000 users x 50,000 items would be a 4 GB dense int32 table; 100,000 events take 8
    bytes each plus two 8-byte words per user."""
    num_users, num_items, events = 20_000, 50_000, 100_000
    rng = np.random.default_rng(0)
    users = rng.integers(1, num_users + 1, size=events)
    items = rng.integers(1, num_items + 1, size=events)
    untouched = UntouchedItems.from_arrays(users, items, num_users + 1, num_items)
    distinct = len(np.unique(users * (num_items + 1) + items))
    assert untouched.nbytes == 8 * distinct + 2 * 8 * (num_users + 1)
    assert untouched.nbytes < 2_000_000 < (num_users + 1) * (num_items + 1) * 4
    draws = untouched.sample(torch.from_numpy(users[:1000]), (5,), torch.Generator().manual_seed(0))
    touched = set((users * (num_items + 1) + items).tolist())
    assert not any(int(u) * (num_items + 1) + int(i) in touched for u, row in zip(users[:1000], draws) for i in row)


def test_duplicates_in_a_history_count_once():
    untouched = UntouchedItems([[], [2, 2, 2, 5, 5]], 6)
    assert untouched.counts.tolist() == [6, 4]
    draws = untouched.sample(torch.tensor([1]), (500,), torch.Generator().manual_seed(0))
    assert set(draws.flatten().tolist()) == {1, 3, 4, 6}


def test_bad_ids_are_named():
    with pytest.raises(ValueError, match="item id 7 is outside 1..6"):
        UntouchedItems([[], [1, 7]], 6)
    with pytest.raises(ValueError, match="item id 0 is outside 1..6"):
        UntouchedItems([[], [0]], 6)
    with pytest.raises(ValueError, match="user id 5 is outside 0..2"):
        UntouchedItems.from_arrays(np.array([5]), np.array([1]), 3, 6)


def test_right_aligned_flat_matches_the_per_row_definition():
    sequences = _random_histories(40, 9, seed=5)
    out = right_aligned(sequences, 6)
    for row, seq in enumerate(sequences):
        tail = seq[-6:]
        assert out[row].tolist() == [0] * (6 - len(tail)) + tail
    assert right_aligned_flat(np.array([0, 0]), np.array([], dtype=np.int64), 3).tolist() == [[0, 0, 0], [0, 0, 0]]


def test_flat_leave_one_out_equals_the_list_version():
    sequences = _random_histories(30, 15, seed=6)
    lengths = np.array([len(s) for s in sequences[1:]])
    flat = np.array([i for s in sequences[1:] for i in s], dtype=np.int64)
    a, b = leave_one_out(sequences, 15), leave_one_out_flat(lengths, flat, 15)
    assert a.train == b.train and (a.valid == b.valid).all() and (a.test == b.test).all()


def test_an_epoch_is_num_users_slots_drawn_from_trainable_users():
    """As the reference: num_users / batch_size steps even when some users cannot train;
    every trainable user comes once before any comes twice."""
    sequences = [[]] + [[1, 2, 3, 4, 5]] * 3 + [[6]] * 5  # 3 trainable users of 8
    split = leave_one_out(sequences, 10)
    batcher = DeviceBatcher(split, maxlen=4, batch_size=3, device="cpu")
    assert batcher.samples_per_epoch == 8 and batcher.batches_per_epoch() == 3
    order = batcher.epoch_order(torch.Generator().manual_seed(0)).tolist()
    assert len(order) == 8 and set(order[:3]) == set(order[3:6]) == {1, 2, 3}
    users = [u for b in batcher.epoch(torch.Generator().manual_seed(0)) for u in b.users.tolist()]
    assert sorted(set(users)) == [1, 2, 3] and len(users) == 8


def test_eval_cases_and_history_arrays_match_their_per_user_definitions():
    from ssept.evaluation import eval_cases, history_arrays

    split = leave_one_out(_random_histories(30, 15, seed=7), 15)
    for stage in ("valid", "test"):
        cases = eval_cases(split, stage, 5)
        expected_users = [u for u in range(1, 31) if (split.valid if stage == "valid" else split.test)[u] and split.train[u]]
        assert cases.users.tolist() == expected_users
        for row, user in enumerate(expected_users):
            seq = split.train[user] if stage == "valid" else split.train[user] + [int(split.valid[user])]
            assert cases.seqs[row].tolist() == ([0] * 5 + seq)[-5:]
            assert int(cases.targets[row]) == int((split.valid if stage == "valid" else split.test)[user])
    users, items = history_arrays(split)
    pairs = sorted(zip(users.tolist(), items.tolist()))
    assert pairs == sorted((u, i) for u in range(1, 31) for i in split.history(u))


def test_flat_train_is_the_concatenated_training_sequences():
    sequences = _random_histories(20, 12, seed=8)
    split = leave_one_out(sequences, 12)
    lengths, items = split.flat_train()
    assert lengths.tolist() == [len(s) for s in split.train]
    assert items.tolist() == [i for s in split.train for i in s]
    flat_split = leave_one_out_flat(np.array([len(s) for s in sequences[1:]]), np.array([i for s in sequences[1:] for i in s]), 12)
    assert [a.tolist() for a in flat_split.flat_train()] == [lengths.tolist(), items.tolist()]
