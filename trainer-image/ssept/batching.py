"""Training batches built on the device: sequences, SSE corruption and negative samples are
tensor operations on data that lives on the GPU, so no Python sampler sits in the step.

Negatives are exact: each user has a row listing the items they never touched (train history
for training negatives, as the reference sampler does; the full history for evaluation), and
a negative is a uniform draw from that row - no rejection loop, never a positive.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import torch

from ssept.split import LeaveOneOutSplit

# Untouched-item tables hold num_users x num_items int32 entries; refuse above ~4 GiB.
MAX_TABLE_ENTRIES = 1 << 30


def right_aligned(sequences: list[list[int]], width: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """[len(sequences), width] int64; each row ends with the sequence's last `width` items."""
    out = torch.zeros(len(sequences), width, dtype=torch.int64)
    for row, seq in enumerate(sequences):
        tail = seq[-width:]
        if tail:
            out[row, width - len(tail) :] = torch.tensor(tail, dtype=torch.int64)
    return out.to(device)


class UntouchedItems:
    """Per user, the items not in a given history, for exact uniform negative sampling."""

    def __init__(self, histories: list[list[int]], num_items: int, device: torch.device | str = "cpu") -> None:
        num_rows = len(histories)
        if num_rows * (num_items + 1) > MAX_TABLE_ENTRIES:
            raise ValueError(
                f"{num_rows} users x {num_items} items is too large for the dense untouched-item table "
                f"(limit {MAX_TABLE_ENTRIES} entries)"
            )
        touched = torch.zeros(num_rows, num_items + 1, dtype=torch.bool)
        rows = torch.repeat_interleave(torch.arange(num_rows), torch.tensor([len(h) for h in histories]))
        cols = torch.tensor([i for h in histories for i in h], dtype=torch.int64)
        touched[rows, cols] = True
        touched[:, 0] = True  # the padding id is never a candidate
        # A stable sort puts each row's untouched ids first, in increasing order.
        order = torch.sort(touched.to(torch.int8), dim=1, stable=True).indices
        self.table = order.to(torch.int32).to(device)
        self.counts = (~touched).sum(dim=1).to(device)
        self.touched = touched.to(device)
        self.num_items = num_items

    def require_candidates(self, users: torch.Tensor, purpose: str) -> None:
        empty = users[self.counts[users] == 0]
        if len(empty):
            raise ValueError(
                f"user {int(empty[0])} has interacted with every item, so no {purpose} negative exists"
            )

    def sample(self, users: torch.Tensor, shape: tuple[int, ...], generator: torch.Generator) -> torch.Tensor:
        """Uniform draws (with replacement) from each user's untouched items: [len(users), *shape]."""
        counts = self.counts[users].view(-1, *([1] * len(shape)))
        u = torch.rand((len(users), *shape), generator=generator, device=users.device)
        index = (u * counts).long().clamp_max(counts - 1)
        rows = users.view(-1, *([1] * len(shape))).expand(index.shape)
        return self.table[rows, index].long()


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


class DeviceBatcher:
    """Batches for one epoch: users in a seeded random order, sharded by rank."""

    def __init__(
        self,
        split: LeaveOneOutSplit,
        maxlen: int,
        batch_size: int,
        device: torch.device | str,
        sse_user_keep: float = 1.0,
        sse_item_keep: float = 1.0,
    ) -> None:
        self.num_users, self.num_items = split.num_users, split.num_items
        self.batch_size = batch_size
        self.sse_user_keep, self.sse_item_keep = sse_user_keep, sse_item_keep
        self.device = torch.device(device)
        # Row u: user u's last maxlen + 1 training items; inputs are [:-1], targets [1:].
        self.windows = right_aligned(split.train, maxlen + 1, self.device)
        self.users = torch.tensor(
            [u for u in range(1, split.num_users + 1) if len(split.train[u]) > 1], dtype=torch.int64, device=self.device
        )
        if len(self.users) == 0:
            raise ValueError("no user has at least 2 training events; nothing to train on")
        self.negatives = UntouchedItems(split.train, split.num_items, self.device)
        self.negatives.require_candidates(self.users, "training")

    def batches_per_epoch(self, world_size: int = 1) -> int:
        per_rank = -(-len(self.users) // world_size)
        return -(-per_rank // self.batch_size)

    def epoch(self, generator: torch.Generator, rank: int = 0, world_size: int = 1) -> Iterator[Batch]:
        order = self.users[torch.randperm(len(self.users), generator=generator, device=self.device)]
        per_rank = -(-len(order) // world_size)
        if per_rank * world_size > len(order):  # every rank gets the same number of steps
            order = torch.cat([order, order[: per_rank * world_size - len(order)]])
        mine = order[rank::world_size]
        for start in range(0, len(mine), self.batch_size):
            yield self.make_batch(mine[start : start + self.batch_size], generator)

    def make_batch(self, users: torch.Tensor, generator: torch.Generator) -> Batch:
        window = self.windows[users]
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
