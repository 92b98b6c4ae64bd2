"""Leave-one-out evaluation as in the SSE-PT paper, plus full-catalogue ranking.

Sampled protocol: the held-out item is ranked against 100 items drawn uniformly (with
replacement) from items the user never touched (the whole history, held-out items included),
on at most 10,000 sampled users. Full catalogue: ranked against every item, with the items of
the input sequence masked when the dataset says a served model masks them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

import numpy as np
import torch

from ssept.batching import UntouchedItems, right_aligned_flat
from ssept.metrics import hit_rate_at_k, ndcg_at_k, ranks_from_scores
from ssept.split import LeaveOneOutSplit

Stage = Literal["valid", "test"]


class Scorer(Protocol):
    def score_all(self, users: torch.Tensor, item_seq: torch.Tensor) -> torch.Tensor: ...


@dataclass
class EvalCases:
    users: torch.Tensor  # [N]
    seqs: torch.Tensor  # [N, maxlen] input sequences, left-padded
    targets: torch.Tensor  # [N]


def eval_cases(split: LeaveOneOutSplit, stage: Stage, maxlen: int, device: torch.device | str = "cpu") -> EvalCases:
    """Validation: train -> valid item. Test: train + valid -> test item. Users with an empty
    training sequence or no held-out item are skipped, as in the reference code."""
    lengths, items = split.flat_train()
    targets = np.asarray(split.valid if stage == "valid" else split.test, dtype=np.int64)
    users = np.flatnonzero((targets > 0) & (lengths > 0))
    if not len(users):
        raise ValueError(f"no user has a {stage} item to evaluate")
    if stage == "valid":
        seqs = right_aligned_flat(lengths, items, maxlen)[users]
    else:  # the last maxlen - 1 training items, then the validation item
        seqs = right_aligned_flat(lengths, items, maxlen)[users]
        seqs = np.concatenate([seqs[:, 1:], np.asarray(split.valid, dtype=np.int64)[users, None]], axis=1)
    to = lambda a: torch.from_numpy(np.ascontiguousarray(a)).to(device)  # noqa: E731
    return EvalCases(to(users), to(seqs), to(targets[users]))


def history_arrays(split: LeaveOneOutSplit) -> tuple[np.ndarray, np.ndarray]:
    """(user, item) pairs of every user's whole history: training, validation and test items."""
    lengths, items = split.flat_train()
    held = [np.flatnonzero(np.asarray(a) > 0) for a in (split.valid, split.test)]
    users = np.concatenate([np.repeat(np.arange(len(lengths)), lengths), *held])
    return users, np.concatenate([items, np.asarray(split.valid)[held[0]], np.asarray(split.test)[held[1]]])


@dataclass(frozen=True)
class RankingResult:
    hr10: float
    ndcg10: float
    users: int

    def as_dict(self, prefix: str) -> dict[str, float]:
        return {f"{prefix}_hr10": self.hr10, f"{prefix}_ndcg10": self.ndcg10, f"{prefix}_users": self.users}


class Evaluator:
    def __init__(
        self,
        split: LeaveOneOutSplit,
        maxlen: int,
        device: torch.device | str = "cpu",
        num_negatives: int = 100,
        max_users: int = 10_000,
        batch_size: int = 1024,
        k: int = 10,
    ) -> None:
        self.split, self.maxlen, self.device = split, maxlen, torch.device(device)
        self.num_negatives, self.max_users, self.batch_size, self.k = num_negatives, max_users, batch_size, k
        users, items = history_arrays(split)
        self.untouched = UntouchedItems.from_arrays(users, items, split.num_users + 1, split.num_items, self.device)
        self.cases = {}
        for stage in ("valid", "test"):
            try:
                self.cases[stage] = eval_cases(split, stage, maxlen, self.device)
            except ValueError:
                pass  # asked for later, _cases names the missing stage

    def _cases(self, stage: Stage) -> EvalCases:
        if stage not in self.cases:
            raise ValueError(f"no user has a {stage} item to evaluate")
        return self.cases[stage]

    def _sample_users(self, cases: EvalCases, generator: torch.Generator) -> torch.Tensor:
        n = len(cases.users)
        if n <= self.max_users:
            return torch.arange(n, device=self.device)
        return torch.randperm(n, generator=generator, device=self.device)[: self.max_users]

    @torch.no_grad()
    def ranks(self, scorer: Scorer, stage: Stage, mask_seen: bool, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
        """(sampled-protocol ranks, full-catalogue ranks) of the same users from one forward pass
        per batch; candidate scores are read from the full score matrix."""
        cases = self._cases(stage)
        generator = torch.Generator(device=self.device).manual_seed(seed)
        rows = self._sample_users(cases, generator)
        self.untouched.require_candidates(cases.users[rows], "evaluation")
        sampled, full = [], []
        for start in range(0, len(rows), self.batch_size):
            idx = rows[start : start + self.batch_size]
            users, seqs, targets = cases.users[idx], cases.seqs[idx], cases.targets[idx]
            scores = scorer.score_all(users, seqs).float()
            negatives = self.untouched.sample(users, (self.num_negatives,), generator)
            candidates = scores.gather(1, torch.cat([targets.unsqueeze(1), negatives], dim=1))
            sampled.append(ranks_from_scores(candidates[:, 0], candidates[:, 1:]))
            masked = mask_scores(scores, seqs if mask_seen else None)
            target_scores = masked.gather(1, targets.unsqueeze(1)).squeeze(1)
            others = masked.scatter(1, targets.unsqueeze(1), float("-inf"))
            full.append(ranks_from_scores(target_scores, others))
        return torch.cat(sampled), torch.cat(full)

    def _result(self, ranks: torch.Tensor) -> RankingResult:
        return RankingResult(hit_rate_at_k(ranks, self.k), ndcg_at_k(ranks, self.k), len(ranks))

    def sampled(self, scorer: Scorer, stage: Stage, seed: int = 0) -> RankingResult:
        return self._result(self.ranks(scorer, stage, mask_seen=False, seed=seed)[0])

    def full_catalog(self, scorer: Scorer, stage: Stage, mask_seen: bool, seed: int = 0) -> RankingResult:
        return self._result(self.ranks(scorer, stage, mask_seen, seed)[1])

    def evaluate(self, scorer: Scorer, stage: Stage, mask_seen: bool, seed: int = 0) -> dict[str, float]:
        sampled, full = self.ranks(scorer, stage, mask_seen, seed)
        return {**self._result(sampled).as_dict(stage), **self._result(full).as_dict(f"{stage}_full")}


def mask_scores(scores: torch.Tensor, seqs: torch.Tensor | None) -> torch.Tensor:
    """-inf for the padding column and, when `seqs` is given, for items in each sequence."""
    scores = scores.clone()
    scores[:, 0] = float("-inf")
    if seqs is not None:
        scores.scatter_(1, seqs, float("-inf"))
    return scores
