import pytest

from ssept.presets import PRESETS, Preset, get_preset
from ssept.ray_tune import SEARCH_SPACE, apply_trial_config
from ssept.training_job import TrainingJob


def test_ml1m_preset_is_the_papers_setting():
    preset = get_preset("ml-1m")
    config = preset.model_config(6040, 3416)
    assert (config.maxlen, config.item_dim, config.user_dim, config.num_blocks, config.num_heads, config.dropout) == (
        200, 50, 50, 2, 1, 0.2)
    train = preset.train_config()
    assert (train.lr, train.batch_size, train.beta2, train.sse_user_keep, train.sse_item_keep) == (0.001, 128, 0.98, 0.08, 0.9)


def test_every_dataset_has_a_preset_and_overrides_win():
    from ssept.datasets import PROFILES

    assert set(PROFILES) <= set(PRESETS)
    train = get_preset("wikipedia").train_config(sse_user_keep=0.5, epochs=3)
    assert (train.sse_user_keep, train.epochs) == (0.5, 3)
    assert get_preset("wikipedia").model_config(10, 20, maxlen=7).maxlen == 7


def test_bad_presets_are_named():
    with pytest.raises(ValueError, match="unknown preset 'ml-20m'; choose one of ml-1m, ml-1m-shape, wikipedia, wikipedia-paper"):
        get_preset("ml-20m")
    with pytest.raises(ValueError, match=r"preset x: unknown train keys \['threshold_user'\]"):
        Preset("x", "test", train={"threshold_user": 0.1})
    with pytest.raises(ValueError, match="sse_item_keep must be a probability"):
        Preset("x", "test", train={"sse_item_keep": 1.5})


def test_the_tune_search_space_covers_the_sse_probabilities_of_a_preset():
    preset = get_preset("ml-1m")
    job = TrainingJob(dataset="ml-1m", data_version="v", run_name="r", model=dict(preset.model),
                      train=preset.train_config().to_dict(), mask_seen=True)
    for key in ("sse_user_keep", "sse_item_keep", "lr", "dropout", "num_blocks", "width", "user_share", "window_sample_prob"):
        assert key in SEARCH_SPACE
    low, high = SEARCH_SPACE["sse_user_keep"][1]
    assert low <= preset.train["sse_user_keep"] <= high
    tuned = apply_trial_config(job, {"sse_user_keep": 0.3, "sse_item_keep": 0.95})
    assert (tuned.train["sse_user_keep"], tuned.train["sse_item_keep"]) == (0.3, 0.95)
    assert tuned.train["lr"] == preset.train["lr"]


def test_cli_fills_options_not_given_from_the_preset_and_keeps_the_given_ones():
    from ssept.cli import _apply_preset, build_parser

    args = build_parser().parse_args(["train", "--dataset", "ml-1m", "--sse-item-keep", "0.5", "--epochs", "3"])
    _apply_preset(args)
    assert (args.sse_item_keep, args.epochs) == (0.5, 3)
    assert (args.sse_user_keep, args.eval_every, args.item_dim) == (0.08, 100, 50)
    assert type(args.item_dim) is int and type(args.lr) is float and args.maxlen is None  # maxlen: the features'
    args = build_parser().parse_args(["train", "--dataset", "wikipedia"])
    _apply_preset(args)
    assert (args.item_dim, args.user_dim, args.window_sample_prob) == (90, 10, 0.3)
    args = build_parser().parse_args(["train", "--dataset", "wikipedia", "--window-sample-prob", "0"])
    _apply_preset(args)
    assert args.window_sample_prob == 0.0
    args = build_parser().parse_args(["train", "--dataset", "wikipedia", "--preset", "ml-1m"])
    _apply_preset(args)
    assert args.epochs == 2001
    args = build_parser().parse_args(["train", "--dataset", "wikipedia", "--preset", "nope"])
    with pytest.raises(ValueError, match="--preset: unknown preset 'nope'"):
        _apply_preset(args)
