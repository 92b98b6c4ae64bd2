"""Training batches built on the device: sequences, SSE corruption and negative samples are
tensor operations on data that lives on the GPU, so no Python sampler sits in the step.

Negatives are exact and memory is O(events): each user's distinct touched items (training
history for training negatives, as the reference sampler does; the full history for
evaluation) are kept sorted in one flat array, and a negative is a uniform draw from the
items outside it, found by one binary search - no users x items table, no rejection loop,
never a positive.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import chain
from typing import Iterator, Sequence

import numpy as np
import torch

from ssept.split import LeaveOneOutSplit


def flatten(sequences: Sequence[Sequence[int]]) -> tuple[np.ndarray, np.ndarray]:
    """(lengths [N], items [sum of lengths]) as int64 arrays, in one pass over the lists."""
    lengths = np.fromiter((len(s) for s in sequences), dtype=np.int64, count=len(sequences))
    items = np.fromiter(chain.from_iterable(sequences), dtype=np.int64, count=int(lengths.sum()))
    return lengths, items


def right_aligned_flat(lengths: np.ndarray, items: np.ndarray, width: int) -> np.ndarray:
    """[len(lengths), width] int64 from concatenated sequences; each row ends with its
    sequence's last `width` items, left-padded with 0."""
    rows = len(lengths)
    keep = np.minimum(lengths, width)
    ends = np.cumsum(lengths)
    total = int(keep.sum())
    offset = np.arange(total, dtype=np.int64) - np.repeat(np.cumsum(keep) - keep, keep)
    out = np.zeros((rows, width), dtype=np.int64)
    out[np.repeat(np.arange(rows), keep), np.repeat(width - keep, keep) + offset] = items[np.repeat(ends - keep, keep) + offset]
    return out


def right_aligned(sequences: Sequence[Sequence[int]], width: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """[len(sequences), width] int64; each row ends with the sequence's last `width` items."""
    lengths, items = flatten(sequences)
    return torch.from_numpy(right_aligned_flat(lengths, items, width)).to(device)


class UntouchedItems:
    """Per user, exact uniform draws from the items outside a given history, in O(events) memory.

    For a user whose distinct touched items sorted are s_0 < s_1 < ... < s_{m-1} (ids 1..N), the
    number of untouched ids below s_j is g_j = s_j - 1 - j, which never decreases with j. So the
    r-th untouched id (0-based) is r + 1 + #{j : g_j <= r}. Offsetting each user's g_j by
    user * (N + 1) makes one globally sorted int64 array (8 bytes per distinct (user, item)),
    and a batch of draws is one `torch.searchsorted` on the device. Row 0 is the padding user.
    """

    def __init__(self, histories: Sequence[Sequence[int]], num_items: int, device: torch.device | str = "cpu") -> None:
        lengths, items = flatten(histories)
        self._build(np.repeat(np.arange(len(histories), dtype=np.int64), lengths), items, len(histories), num_items, device)

    @classmethod
    def from_arrays(
        cls, users: np.ndarray, items: np.ndarray, num_rows: int, num_items: int, device: torch.device | str = "cpu"
    ) -> "UntouchedItems":
        """From parallel (user, item) arrays, user ids in 0..num_rows-1, in any order, repeats allowed."""
        self = cls.__new__(cls)
        self._build(np.asarray(users, dtype=np.int64), np.asarray(items, dtype=np.int64), num_rows, num_items, device)
        return self

    def _build(self, users: np.ndarray, items: np.ndarray, num_rows: int, num_items: int, device: torch.device | str) -> None:
        if num_items < 1:
            raise ValueError(f"num_items must be >= 1, got {num_items}")
        if len(items) and (items.min() < 1 or items.max() > num_items):
            bad = int(items[(items < 1) | (items > num_items)][0])
            raise ValueError(f"item id {bad} is outside 1..{num_items}")
        if len(users) and (users.min() < 0 or users.max() >= num_rows):
            raise ValueError(f"user id {int(users.max())} is outside 0..{num_rows - 1}")
        stride = num_items + 1
        touched = np.sort(users * stride + items)  # by (user, item); then duplicates dropped
        if len(touched):
            touched = touched[np.concatenate(([True], touched[1:] != touched[:-1]))]
        owner = touched // stride
        per_user = np.bincount(owner, minlength=num_rows)
        starts = np.cumsum(per_user) - per_user
        rank_in_user = np.arange(len(touched), dtype=np.int64) - starts[owner]
        below = touched - owner * stride - 1 - rank_in_user  # g_j
        self.device = torch.device(device)
        self.keys = torch.from_numpy(owner * stride + below).to(self.device)
        self.starts = torch.from_numpy(starts).to(self.device)
        self.counts = torch.from_numpy(num_items - per_user).to(self.device)
        self.num_items = num_items
        self.num_rows = num_rows

    @property
    def nbytes(self) -> int:
        return sum(t.element_size() * t.nelement() for t in (self.keys, self.starts, self.counts))

    def require_candidates(self, users: torch.Tensor, purpose: str) -> None:
        empty = users[self.counts[users] == 0]
        if len(empty):
            raise ValueError(
                f"user {int(empty[0])} has interacted with every item, so no {purpose} negative exists"
            )

    def sample(self, users: torch.Tensor, shape: tuple[int, ...], generator: torch.Generator) -> torch.Tensor:
        """Uniform draws (with replacement) from each user's untouched items: [len(users), *shape]."""
        view = (-1, *([1] * len(shape)))
        counts = self.counts[users].view(view)
        u = torch.rand((len(users), *shape), generator=generator, device=users.device)
        rank = (u * counts).long().clamp_max(counts - 1)
        query = users.view(view) * (self.num_items + 1) + rank
        below = torch.searchsorted(self.keys, query.reshape(-1), right=True).view(rank.shape) - self.starts[users].view(view)
        return rank + 1 + below


@dataclass
class Batch:
    users: torch.Tensor  # [B] after user SSE
    seq: torch.Tensor  # [B, L] after item SSE
    pos: torch.Tensor  # [B, L] next-item targets, 0 where none
    neg: torch.Tensor  # [B, L] one sampled negative per target, 0 where none


def apply_sse(
    users: torch.Tensor,
    seq: torch.Tensor,
    pos: torch.Tensor,
    num_users: int,
    num_items: int,
    user_keep: float,
    item_keep: float,
    generator: torch.Generator,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Stochastic Shared Embeddings as in the reference sampler.

    User: with probability 1 - user_keep the user id becomes a uniform id in 1..num_users.
    Item: at each real position, with probability 1 - item_keep, the input item and that
    position's target are replaced by independent uniform ids in 1..num_items; the replaced
    input is also the target of the previous position (the reference code carries it back).
    """
    device = seq.device
    swap_user = torch.rand(users.shape, generator=generator, device=device) >= user_keep
    random_users = torch.randint(1, num_users + 1, users.shape, generator=generator, device=device)
    users = torch.where(swap_user, random_users, users)
    valid = seq != 0
    swap = (torch.rand(seq.shape, generator=generator, device=device) >= item_keep) & valid
    random_inputs = torch.randint(1, num_items + 1, seq.shape, generator=generator, device=device)
    random_targets = torch.randint(1, num_items + 1, seq.shape, generator=generator, device=device)
    new_seq = torch.where(swap, random_inputs, seq)
    carried = torch.cat([new_seq[:, 1:], pos[:, -1:]], dim=1)
    new_pos = torch.where(swap, random_targets, carried)
    new_pos = torch.where(valid, new_pos, torch.zeros_like(new_pos))
    return users, new_seq, new_pos


def random_windows(
    flat_items: torch.Tensor, starts: torch.Tensor, lengths: torch.Tensor, width: int, generator: torch.Generator
) -> torch.Tensor:
    """[B, width]: for each history (starts[b], lengths[b] into flat_items) of at least `width`
    items, `width` consecutive items from a uniformly drawn start. Rows of shorter histories
    are meaningless (the caller keeps their latest window)."""
    span = (lengths - width).clamp_min(0)  # the last possible start
    offset = (torch.rand(lengths.shape, generator=generator, device=lengths.device) * (span + 1)).long()
    index = (starts + offset.minimum(span)).unsqueeze(1) + torch.arange(width, device=lengths.device)
    return flat_items[index.clamp(0, max(len(flat_items) - 1, 0))]


class DeviceBatcher:
    """Batches for one epoch: users in a seeded random order, sharded by rank.

    Each user's training sequence is their latest maxlen + 1 training items; with
    window_sample_prob > 0 (SSE-PT++, Wu et al. 2020), a user whose history is longer is given,
    with that probability, maxlen + 1 consecutive items from a uniformly drawn start instead,
    so training also sees the part of long histories the latest window leaves out.
    """

    def __init__(
        self,
        split: LeaveOneOutSplit,
        maxlen: int,
        batch_size: int,
        device: torch.device | str,
        sse_user_keep: float = 1.0,
        sse_item_keep: float = 1.0,
        samples_per_epoch: int | None = None,
        window_sample_prob: float = 0.0,
    ) -> None:
        if not 0.0 <= window_sample_prob <= 1.0:
            raise ValueError(f"window_sample_prob must be a probability in [0, 1], got {window_sample_prob}")
        self.num_users, self.num_items = split.num_users, split.num_items
        self.maxlen, self.window_sample_prob = maxlen, window_sample_prob
        self.batch_size = batch_size
        self.sse_user_keep, self.sse_item_keep = sse_user_keep, sse_item_keep
        self.device = torch.device(device)
        # Row u: user u's last maxlen + 1 training items; inputs are [:-1], targets [1:].
        lengths, items = split.flat_train()
        self.windows = torch.from_numpy(right_aligned_flat(lengths, items, maxlen + 1)).to(self.device)
        if window_sample_prob > 0:  # the histories themselves, O(events), for windows further back
            self.flat_items = torch.from_numpy(items).to(self.device)
            self.lengths = torch.from_numpy(lengths).to(self.device)
            self.starts = torch.from_numpy(np.cumsum(lengths) - lengths).to(self.device)
        self.users = torch.from_numpy(np.flatnonzero(lengths > 1)).to(self.device)
        if len(self.users) == 0:
            raise ValueError("no user has at least 2 training events; nothing to train on")
        # As the reference: an epoch is num_users / batch_size steps, whatever share of the
        # users can train (the others' slots go to trainable users drawn again).
        self.samples_per_epoch = max(split.num_users, len(self.users)) if samples_per_epoch is None else samples_per_epoch
        if self.samples_per_epoch < 1:
            raise ValueError(f"samples_per_epoch must be >= 1, got {self.samples_per_epoch}")
        owners = np.repeat(np.arange(len(lengths), dtype=np.int64), lengths)
        self.negatives = UntouchedItems.from_arrays(owners, items, len(lengths), split.num_items, self.device)
        self.negatives.require_candidates(self.users, "training")

    def batches_per_epoch(self, world_size: int = 1) -> int:
        per_rank = -(-self.samples_per_epoch // world_size)
        return -(-per_rank // self.batch_size)

    def epoch_order(self, generator: torch.Generator) -> torch.Tensor:
        """samples_per_epoch users: whole random permutations of the trainable users, the last
        one cut short, so each trainable user comes once before any comes twice."""
        m = len(self.users)
        rounds = -(-self.samples_per_epoch // m)
        perms = [self.users[torch.randperm(m, generator=generator, device=self.device)] for _ in range(rounds)]
        return torch.cat(perms)[: self.samples_per_epoch]

    def epoch(self, generator: torch.Generator, rank: int = 0, world_size: int = 1) -> Iterator[Batch]:
        order = self.epoch_order(generator)
        per_rank = -(-len(order) // world_size)
        if per_rank * world_size > len(order):  # every rank gets the same number of steps
            order = torch.cat([order, order[: per_rank * world_size - len(order)]])
        mine = order[rank::world_size]
        for start in range(0, len(mine), self.batch_size):
            yield self.make_batch(mine[start : start + self.batch_size], generator)

    def make_batch(self, users: torch.Tensor, generator: torch.Generator) -> Batch:
        window = self.windows[users]
        if self.window_sample_prob > 0:
            lengths = self.lengths[users]
            earlier = (torch.rand(users.shape, generator=generator, device=self.device) < self.window_sample_prob) & (
                lengths > self.maxlen + 1
            )
            drawn = random_windows(self.flat_items, self.starts[users], lengths, self.maxlen + 1, generator)
            window = torch.where(earlier.unsqueeze(1), drawn, window)
        seq = window[:, :-1]
        # A target only where there is an input: the first event of a short history is no target.
        pos = torch.where(seq != 0, window[:, 1:], torch.zeros_like(seq))
        if self.sse_user_keep < 1.0 or self.sse_item_keep < 1.0:
            sse_users, seq, pos = apply_sse(
                users, seq, pos, self.num_users, self.num_items, self.sse_user_keep, self.sse_item_keep, generator
            )
        else:
            sse_users = users
        neg = self.negatives.sample(users, (seq.shape[1],), generator)
        neg = torch.where(pos != 0, neg, torch.zeros_like(neg))
        return Batch(sse_users, seq, pos, neg)
