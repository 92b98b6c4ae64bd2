"""Leave-one-out split as in SASRec / SSE-PT: last event test, second-to-last validation,
users with fewer than 3 events train only."""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import chain

import numpy as np

MIN_EVENTS_FOR_HOLDOUT = 3


@dataclass
class LeaveOneOutSplit:
    """Per-user arrays indexed by user id (index 0 unused). 0 in valid/test means "none"."""

    train: list[list[int]]
    valid: np.ndarray
    test: np.ndarray
    num_users: int
    num_items: int
    _flat: tuple[np.ndarray, np.ndarray] | None = field(default=None, repr=False, compare=False)

    def flat_train(self) -> tuple[np.ndarray, np.ndarray]:
        """(lengths [num_users + 1], items) of the training sequences concatenated, computed once
        (the sampler, the batches and the evaluation all start from it)."""
        if self._flat is None:
            lengths = np.fromiter((len(s) for s in self.train), dtype=np.int64, count=len(self.train))
            items = np.fromiter(chain.from_iterable(self.train), dtype=np.int64, count=int(lengths.sum()))
            self._flat = (lengths, items)
        return self._flat

    def history(self, user: int) -> list[int]:
        extra = [int(x) for x in (self.valid[user], self.test[user]) if x]
        return self.train[user] + extra

    def counts(self) -> dict[str, int]:
        return {
            "users": self.num_users,
            "items": self.num_items,
            "train_interactions": sum(len(s) for s in self.train),
            "valid_users": int((self.valid > 0).sum()),
            "test_users": int((self.test > 0).sum()),
            "train_only_users": int(sum(1 for u in range(1, self.num_users + 1) if self.test[u] == 0)),
        }


def leave_one_out(sequences: list[list[int]], num_items: int) -> LeaveOneOutSplit:
    num_users = len(sequences) - 1
    train: list[list[int]] = [[]]
    valid = np.zeros(num_users + 1, dtype=np.int64)
    test = np.zeros(num_users + 1, dtype=np.int64)
    for user in range(1, num_users + 1):
        seq = sequences[user]
        if len(seq) < MIN_EVENTS_FOR_HOLDOUT:
            train.append(list(seq))
        else:
            train.append(list(seq[:-2]))
            valid[user] = seq[-2]
            test[user] = seq[-1]
    return LeaveOneOutSplit(train, valid, test, num_users, num_items)


def split_to_files(split: LeaveOneOutSplit) -> dict[str, bytes]:
    """train.txt / valid.txt / test.txt in the `user item` format."""
    train_lines = "".join(f"{u} {i}\n" for u in range(1, split.num_users + 1) for i in split.train[u])
    valid_lines = "".join(f"{u} {int(split.valid[u])}\n" for u in range(1, split.num_users + 1) if split.valid[u])
    test_lines = "".join(f"{u} {int(split.test[u])}\n" for u in range(1, split.num_users + 1) if split.test[u])
    return {"train.txt": train_lines.encode(), "valid.txt": valid_lines.encode(), "test.txt": test_lines.encode()}


def split_from_files(files: dict[str, bytes], num_users: int, num_items: int) -> LeaveOneOutSplit:
    from ssept.interactions import group_sequences, parse_user_item_lines

    users, items = parse_user_item_lines(files["train.txt"], "train.txt")
    train = group_sequences(users, items, num_users)
    valid = np.zeros(num_users + 1, dtype=np.int64)
    test = np.zeros(num_users + 1, dtype=np.int64)
    for name, target in (("valid.txt", valid), ("test.txt", test)):
        u, i = parse_user_item_lines(files[name], name)
        if len(u) and u.max() > num_users:
            raise ValueError(f"{name}: user id {int(u.max())} exceeds the number of users {num_users}")
        target[u] = i
    for name, arr in (("train.txt", items), ("valid.txt", valid), ("test.txt", test)):
        if len(arr) and int(np.max(arr)) > num_items:
            raise ValueError(f"{name}: item id {int(np.max(arr))} exceeds the number of items {num_items}")
    return LeaveOneOutSplit(train, valid, test, num_users, num_items)


def leave_one_out_flat(lengths: np.ndarray, items: np.ndarray, num_items: int) -> LeaveOneOutSplit:
    """`leave_one_out` from concatenated histories (user u = 1.. owns lengths[u - 1] items),
    without a per-event Python loop."""
    num_users = len(lengths)
    ends = np.cumsum(lengths)
    held = lengths >= MIN_EVENTS_FOR_HOLDOUT
    valid = np.zeros(num_users + 1, dtype=np.int64)
    test = np.zeros(num_users + 1, dtype=np.int64)
    valid[1:][held] = items[ends[held] - 2]
    test[1:][held] = items[ends[held] - 1]
    train_lengths = np.where(held, lengths - 2, lengths)
    keep = np.ones(len(items), dtype=bool)
    keep[ends[held] - 2] = False
    keep[ends[held] - 1] = False
    train_items = items[keep]
    pieces = np.split(train_items, np.cumsum(train_lengths)[:-1])
    flat = (np.concatenate([[0], train_lengths]).astype(np.int64), train_items.astype(np.int64))
    return LeaveOneOutSplit([[]] + [p.tolist() for p in pieces], valid, test, num_users, num_items, _flat=flat)
