"""From parsed raw rows to the SASRec/SSE-PT form: implicit feedback, k-core, time order,
ids remapped to 1..N."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class KCoreResult:
    keep: np.ndarray  # bool mask over the input rows
    iterations: int


def kcore_filter(users: np.ndarray, items: np.ndarray, k: int) -> KCoreResult:
    """Keep rows whose user and item both have >= k kept rows, repeated until stable.

    Counts are of interactions (rows), as in the standard SASRec preprocessing. k <= 1 keeps all.
    """
    keep = np.ones(len(users), dtype=bool)
    if k <= 1 or len(users) == 0:
        return KCoreResult(keep, 0)
    _, user_idx = np.unique(users, return_inverse=True)
    _, item_idx = np.unique(items, return_inverse=True)
    iterations = 0
    while True:
        iterations += 1
        user_counts = np.bincount(user_idx[keep], minlength=user_idx.max() + 1)
        item_counts = np.bincount(item_idx[keep], minlength=item_idx.max() + 1)
        new_keep = keep & (user_counts[user_idx] >= k) & (item_counts[item_idx] >= k)
        if new_keep.sum() == keep.sum():
            return KCoreResult(new_keep, iterations)
        keep = new_keep


@dataclass
class CleanInteractions:
    users: np.ndarray  # int64 new ids 1..num_users, grouped by user, each user's rows in time order
    items: np.ndarray  # int64 new ids 1..num_items
    timestamps: np.ndarray
    user_ids: np.ndarray  # raw id of new user id i is user_ids[i - 1]
    item_ids: np.ndarray
    removed_by_kcore: int
    kcore_iterations: int

    @property
    def num_users(self) -> int:
        return len(self.user_ids)

    @property
    def num_items(self) -> int:
        return len(self.item_ids)


def clean_interactions(
    users: np.ndarray, items: np.ndarray, timestamps: np.ndarray, kcore: int
) -> CleanInteractions:
    """Every row is one implicit interaction (ratings are not thresholded).

    New ids follow the order of the raw ids. Events of a user with equal timestamps keep
    their order in the raw file (stable sort), so the output is deterministic.
    """
    core = kcore_filter(users, items, kcore)
    users, items, timestamps = users[core.keep], items[core.keep], timestamps[core.keep]
    user_ids, new_users = np.unique(users, return_inverse=True)
    item_ids, new_items = np.unique(items, return_inverse=True)
    new_users = new_users.astype(np.int64) + 1
    new_items = new_items.astype(np.int64) + 1
    row_order = np.arange(len(users))
    order = np.lexsort((row_order, timestamps, new_users))
    return CleanInteractions(
        users=new_users[order],
        items=new_items[order],
        timestamps=timestamps[order],
        user_ids=user_ids,
        item_ids=item_ids,
        removed_by_kcore=int((~core.keep).sum()),
        kcore_iterations=core.iterations,
    )


def format_user_item_lines(users: np.ndarray, items: np.ndarray) -> bytes:
    return "".join(f"{u} {i}\n" for u, i in zip(users.tolist(), items.tolist())).encode()


def parse_user_item_lines(data: bytes, source: str = "interactions") -> tuple[np.ndarray, np.ndarray]:
    """Read `user item` lines (the SASRec format); any malformed line is an error here because
    these files are produced by this pipeline, not by upstream."""
    text = data.decode("utf-8")
    if not text.strip():
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    try:
        flat = np.array(text.split(), dtype=np.int64)
    except ValueError as exc:
        raise ValueError(f"{source}: not a file of integer 'user item' pairs ({exc})") from None
    lines = [line for line in text.splitlines() if line.strip()]
    if flat.size != 2 * len(lines) or flat.size % 2:
        bad = next(n for n, line in enumerate(text.splitlines(), 1) if line.strip() and len(line.split()) != 2)
        raise ValueError(f"{source}: line {bad} does not have exactly two fields")
    pairs = flat.reshape(-1, 2)
    if (pairs <= 0).any():
        raise ValueError(f"{source}: ids must be >= 1")
    return pairs[:, 0], pairs[:, 1]


def group_sequences(users: np.ndarray, items: np.ndarray, num_users: int) -> list[list[int]]:
    """Index u holds user u's items in file order; index 0 is unused (ids are 1-based)."""
    sequences: list[list[int]] = [[] for _ in range(num_users + 1)]
    for u, i in zip(users.tolist(), items.tolist()):
        if u > num_users:
            raise ValueError(f"user id {u} exceeds the number of users {num_users}")
        sequences[u].append(i)
    return sequences
