import math

import pytest
import torch

from ssept.baselines import PopularityScorer
from ssept.evaluation import Evaluator, mask_scores
from ssept.metrics import hit_rate_at_k, ndcg_at_k, ranks_from_scores
from ssept.split import leave_one_out


def test_hr_and_ndcg_on_hand_computed_ranks():
    ranks = torch.tensor([0, 1, 9, 10, 50])
    assert hit_rate_at_k(ranks, 10) == pytest.approx(3 / 5)
    expected = (1 / math.log2(2) + 1 / math.log2(3) + 1 / math.log2(11)) / 5
    assert ndcg_at_k(ranks, 10) == pytest.approx(expected)
    assert hit_rate_at_k(torch.tensor([0]), 1) == 1.0 and ndcg_at_k(torch.tensor([1]), 1) == 0.0
    with pytest.raises(ValueError):
        ndcg_at_k(torch.tensor([], dtype=torch.long), 10)


def test_ties_count_against_the_target():
    target = torch.tensor([0.5, 0.5])
    others = torch.tensor([[0.1, 0.5, 0.9], [0.5, 0.5, 0.5]])
    assert ranks_from_scores(target, others).tolist() == [2, 3]


class ByItemId:
    """Scores item i as -i: lower ids first, independent of the user."""

    def score_all(self, users, item_seq):
        return -torch.arange(7, dtype=torch.float32).expand(len(users), -1)


def _one_user_split():
    # items 1..6; user 1: train [3, 4], valid 5, test 6; user 2 is train-only
    return leave_one_out([[], [3, 4, 5, 6], [1, 2]], num_items=6)


def test_full_catalogue_rank_with_and_without_masking_seen_items():
    evaluator = Evaluator(_one_user_split(), maxlen=5)
    # test input [3, 4, 5] -> target 6. Masked: candidates {1, 2, 6}: target rank 2.
    masked = evaluator.full_catalog(ByItemId(), "test", mask_seen=True)
    assert masked.users == 1 and masked.hr10 == 1.0 and masked.ndcg10 == pytest.approx(1 / math.log2(4))
    # Unmasked: items 1..5 all score above 6: rank 5.
    unmasked = evaluator.full_catalog(ByItemId(), "test", mask_seen=False)
    assert unmasked.ndcg10 == pytest.approx(1 / math.log2(7))


def test_sampled_protocol_draws_only_untouched_negatives():
    # user 1 touched 3, 4, 5, 6; only items 1 and 2 are never touched, and both outrank 6.
    evaluator = Evaluator(_one_user_split(), maxlen=5, num_negatives=100)
    result = evaluator.sampled(ByItemId(), "test")
    assert result.users == 1 and result.hr10 == 0.0  # rank 100: every negative (1 or 2) beats 6
    valid = evaluator.sampled(ByItemId(), "valid")  # target 5 also loses to 1 and 2
    assert valid.hr10 == 0.0


def test_sampled_protocol_perfect_and_constant_scorers(small_split):
    class Oracle:
        def __init__(self, targets):
            self.targets = targets

        def score_all(self, users, item_seq):
            return torch.nn.functional.one_hot(self.targets[users], 121).float()

    evaluator = Evaluator(small_split, maxlen=20, max_users=50)
    targets = torch.as_tensor(small_split.test)
    perfect = evaluator.sampled(Oracle(targets), "test")
    assert perfect.users == 50 and perfect.hr10 == 1.0 and perfect.ndcg10 == 1.0

    class Constant:
        def score_all(self, users, item_seq):
            return torch.zeros(len(users), 121)

    assert evaluator.sampled(Constant(), "test").hr10 == 0.0


def test_popularity_scorer_counts_training_items():
    split = leave_one_out([[], [1, 2, 1, 3, 9], [1, 4, 4, 5]], num_items=9)
    scorer = PopularityScorer(split)
    assert scorer.counts.tolist()[:5] == [0, 3, 1, 0, 1]  # train parts: [1, 2, 1] and [1, 4]


def test_mask_scores_masks_padding_and_sequence_items():
    scores = torch.zeros(1, 6)
    out = mask_scores(scores, torch.tensor([[0, 2, 5]]))
    assert torch.isinf(out[0, [0, 2, 5]]).all() and (out[0, [1, 3, 4]] == 0).all()
    assert (scores == 0).all()
