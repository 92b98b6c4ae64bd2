import pytest
import torch

from ssept.batching import DeviceBatcher, UntouchedItems, apply_sse, right_aligned
from ssept.split import leave_one_out


def test_right_aligned_keeps_the_newest_items():
    out = right_aligned([[1, 2, 3, 4], [5], []], 3)
    assert out.tolist() == [[2, 3, 4], [0, 0, 5], [0, 0, 0]]


def test_sampler_never_returns_a_positive():
    num_items = 12
    histories = [[], [1, 2, 3], list(range(1, 12)), [5, 5, 7], [12]]  # user 2 touched all but item 12
    untouched = UntouchedItems(histories, num_items)
    users = torch.tensor([1, 2, 3, 4] * 50)
    generator = torch.Generator().manual_seed(0)
    draws = untouched.sample(users, (400,), generator)
    for row, user in enumerate(users.tolist()):
        assert not set(draws[row].tolist()) & set(histories[user])
    assert draws.min() >= 1 and draws.max() <= num_items
    assert set(draws[users == 2].unique().tolist()) == {12}
    # uniform over the untouched items: every one of them shows up
    assert set(draws[users == 1].unique().tolist()) == set(range(4, 13))


def test_user_who_touched_everything_is_reported():
    untouched = UntouchedItems([[], [1, 2, 3], [1]], 3)
    with pytest.raises(ValueError, match="user 1 has interacted with every item"):
        untouched.require_candidates(torch.tensor([2, 1]), "training")


def _split():
    sequences = [[], [1, 2, 3, 4, 5, 6], [7, 8, 9, 10], [2, 4], [3, 5, 7, 9, 11, 13, 15]]
    return leave_one_out(sequences, 20)


def test_batches_pair_each_input_with_the_next_item_and_a_true_negative():
    split = _split()
    batcher = DeviceBatcher(split, maxlen=4, batch_size=2, device="cpu")
    batches = list(batcher.epoch(torch.Generator().manual_seed(1)))
    users = torch.cat([b.users for b in batches])
    assert sorted(users.tolist()) == [1, 2, 3, 4]  # every trainable user once (user 3 has 2 train events)
    for batch in batches:
        for row, user in enumerate(batch.users.tolist()):
            train = split.train[user]
            seq, pos, neg = batch.seq[row].tolist(), batch.pos[row].tolist(), batch.neg[row].tolist()
            window = train[-5:]
            assert [x for x in seq if x] == window[:-1] and [x for x in pos if x] == window[1:]
            for s, p, n in zip(seq, pos, neg):
                assert (p == 0) == (s == 0) and (n == 0) == (p == 0)
                assert n == 0 or n not in train


def test_epoch_shards_cover_all_users_with_equal_step_counts():
    split = leave_one_out([[]] + [[1 + (u + t) % 15 for t in range(6)] for u in range(11)], 20)
    batcher = DeviceBatcher(split, maxlen=5, batch_size=2, device="cpu")
    shards = [list(batcher.epoch(torch.Generator().manual_seed(3), rank, 3)) for rank in range(3)]
    assert len({len(s) for s in shards}) == 1 == len({batcher.batches_per_epoch(3)})
    seen = {u for shard in shards for b in shard for u in b.users.tolist()}
    assert seen == set(range(1, 12))


def test_sse_keep_one_is_identity_and_keep_zero_replaces_every_real_position():
    users = torch.tensor([1, 2])
    seq = torch.tensor([[0, 0, 3, 4], [5, 6, 7, 8]])
    pos = torch.tensor([[0, 0, 4, 9], [6, 7, 8, 10]])
    g = torch.Generator().manual_seed(0)
    u, s, p = apply_sse(users, seq, pos, 50, 1000, 1.0, 1.0, g)
    assert torch.equal(u, users) and torch.equal(s, seq) and torch.equal(p, pos)
    u, s, p = apply_sse(users, seq, pos, 50, 1000, 0.0, 0.0, g)
    assert s[0, :2].tolist() == [0, 0] and p[0, :2].tolist() == [0, 0]  # padding stays padding
    assert (s[seq != 0] != seq[seq != 0]).float().mean() > 0.9  # 1000 ids: a redraw rarely repeats
    assert ((u >= 1) & (u <= 50)).all() and ((s[seq != 0] >= 1) & (s[seq != 0] <= 1000)).all()


def test_sse_carries_a_replaced_input_back_as_the_previous_target():
    """Reference semantics: replacing the event at position l changes the input at l, the target
    at l (independently), and the target at l - 1 (= the new input at l)."""
    torch.manual_seed(0)
    seq = torch.arange(1, 201).view(1, 200)
    pos = torch.arange(2, 202).view(1, 200)
    g = torch.Generator().manual_seed(5)
    _, s, p = apply_sse(torch.tensor([1]), seq, pos, 10, 10_000, 1.0, 0.5, g)
    swapped = (s != seq)[0]
    assert 60 < int(swapped.sum()) < 140
    for l in range(199):
        if swapped[l + 1] and not swapped[l]:
            assert p[0, l] == s[0, l + 1]
        if not swapped[l + 1] and not swapped[l]:
            assert p[0, l] == pos[0, l]
    assert not swapped[199] and p[0, 199] == 201 or swapped[199]


def _long_split():
    # training histories: user 1 1..30 (longer than a window of 9), user 2 40..44, user 3 50..52
    return leave_one_out([[], list(range(1, 33)), list(range(40, 47)), [50, 51, 52, 53, 54]], 60)


def _windows_seen(batcher, epochs=60):
    seen: dict[int, set[tuple[int, ...]]] = {}
    generator = torch.Generator().manual_seed(5)
    for _ in range(epochs):
        for batch in batcher.epoch(generator):
            for row, user in enumerate(batch.users.tolist()):
                seq, pos = batch.seq[row].tolist(), batch.pos[row].tolist()
                seen.setdefault(user, set()).add(tuple(seq))
                assert [p for p in pos if p] == [s + 1 for s in seq if s]  # each item's successor
    return seen


def test_window_sampling_draws_consecutive_windows_from_anywhere_in_long_histories_only():
    split = _long_split()
    seen = _windows_seen(DeviceBatcher(split, maxlen=8, batch_size=2, device="cpu", window_sample_prob=1.0), 300)
    # user 1's history 1..30: a window of 9 starts at 1..22 (22: the latest), each one drawn
    assert {s[0] for s in seen[1]} == set(range(1, 23))
    assert all(list(s) == list(range(s[0], s[0] + 8)) for s in seen[1])
    assert seen[2] == {(0, 0, 0, 0, 40, 41, 42, 43)}  # a short history (40..44) keeps its latest window
    never = _windows_seen(DeviceBatcher(split, maxlen=8, batch_size=2, device="cpu"), epochs=5)
    assert never[1] == {tuple(range(22, 30))}


def test_window_sampling_probability_is_checked():
    with pytest.raises(ValueError, match="window_sample_prob must be a probability in \\[0, 1\\], got 1.5"):
        DeviceBatcher(_long_split(), maxlen=8, batch_size=2, device="cpu", window_sample_prob=1.5)
