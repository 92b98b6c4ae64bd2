"""Per-data-set hyper-parameters: the model and training values a run starts from.

`ml-1m` is the SSE-PT paper's setting (Wu et al., RecSys 2020, and the authors' command line:
`--user_hidden_units=50 --item_hidden_units=50 --num_blocks=2 --maxlen=200 --dropout_rate=0.2
--num_head=1 --lr=0.001 --batch_size=128 --threshold_user=0.08 --threshold_item=0.9`, Adam
beta2 0.98, evaluation every 100 of 2001 epochs). Other data sets have their own SSE keep
probabilities: the paper's user keep of 0.08 suits ML-1M's few users with long histories, not
a data set whose users are many with short ones. Explicit options override a preset.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

from ssept.model import ModelConfig
from ssept.training import TrainConfig

_PAPER_MODEL = {"item_dim": 50, "user_dim": 50, "num_blocks": 2, "num_heads": 1, "dropout": 0.2}
_PAPER_TRAIN = {"lr": 0.001, "batch_size": 128, "beta1": 0.9, "beta2": 0.98, "l2_emb": 0.0}
# What validation chose on Wikipedia and on the ML-1M-shaped set alike (see PRESETS).
_THIN_USER_MODEL = {**_PAPER_MODEL, "item_dim": 90, "user_dim": 10}
_WINDOWS_NO_SSE_TRAIN = {**_PAPER_TRAIN, "sse_user_keep": 1.0, "sse_item_keep": 1.0, "window_sample_prob": 0.3,
                         "epochs": 200, "eval_every": 10}


@dataclass(frozen=True)
class Preset:
    name: str
    source: str
    model: dict = field(default_factory=dict)  # ModelConfig fields but num_users / num_items
    train: dict = field(default_factory=dict)  # TrainConfig fields

    def __post_init__(self) -> None:
        model_fields = {f.name for f in fields(ModelConfig)} - {"num_users", "num_items"}
        train_fields = {f.name for f in fields(TrainConfig)}
        for part, allowed, values in (("model", model_fields, self.model), ("train", train_fields, self.train)):
            unknown = sorted(set(values) - allowed)
            if unknown:
                raise ValueError(f"preset {self.name}: unknown {part} keys {unknown}")
        TrainConfig(**self.train)  # values are validated where they are declared
        ModelConfig(num_users=1, num_items=1, **self.model)

    def model_config(self, num_users: int, num_items: int, **overrides: object) -> ModelConfig:
        return ModelConfig(num_users=num_users, num_items=num_items, **{**self.model, **overrides})  # type: ignore[arg-type]

    def train_config(self, **overrides: object) -> TrainConfig:
        return TrainConfig(**{**self.train, **overrides})  # type: ignore[arg-type]


PRESETS: dict[str, Preset] = {
    preset.name: preset
    for preset in (
        Preset(
            "ml-1m",
            "SSE-PT paper, MovieLens-1M (authors' command line)",
            model={"maxlen": 200, **_PAPER_MODEL},
            train={**_PAPER_TRAIN, "sse_user_keep": 0.08, "sse_item_keep": 0.9, "epochs": 2001, "eval_every": 100},
        ),
        # Chosen on validation NDCG@10 (seed 1, maxlen 50, 20 epochs; README, Benchmark). At the
        # same width as a SASRec of 100, the paper's split (50 + 50) and SSE cost 1-2 points here:
        # only the item part ranks, and the users' vectors carry little the latest 50 items do
        # not. A thin user part and SSE-PT++'s windows from anywhere in long histories did best.
        Preset(
            "wikipedia",
            "chosen on wikipedia.txt validation with bench/bench_quality.py (README, Benchmark)",
            model={"maxlen": 50, **_THIN_USER_MODEL},
            train=dict(_WINDOWS_NO_SSE_TRAIN),
        ),
        Preset(
            "ml-1m-shape",
            "chosen on the synthetic ML-1M-shaped set's validation split (bench_quality.py); for real ML-1M, compare with ml-1m",
            model={"maxlen": 200, **_THIN_USER_MODEL},
            train=dict(_WINDOWS_NO_SSE_TRAIN),
        ),
        Preset(
            "wikipedia-paper",
            "the ML-1M paper setting at Wikipedia's maxlen, for comparison",
            model={"maxlen": 50, **_PAPER_MODEL},
            train={**_PAPER_TRAIN, "sse_user_keep": 0.08, "sse_item_keep": 0.9, "epochs": 200, "eval_every": 20},
        ),
    )
}


def get_preset(name: str) -> Preset:
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(f"unknown preset {name!r}; choose one of {', '.join(sorted(PRESETS))}") from None
