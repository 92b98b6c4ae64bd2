import numpy as np
import onnx
import pytest
import torch

from ssept.model import SSEPT, ModelConfig
from ssept.onnx_export import OUTPUT_NAMES, TopKRecommender, export_onnx
from ssept.onnx_parity import check_parity, parity_batch, run_onnx
from ssept.triton_repository import config_pbtxt, write_repository


def _model(seed=0, **overrides):
    torch.manual_seed(seed)
    config = dict(num_users=25, num_items=60, maxlen=10, item_dim=8, user_dim=8, num_blocks=2, num_heads=2)
    config.update(overrides)
    model = SSEPT(ModelConfig(**config))
    with torch.no_grad():  # distinct users, as after training (they start at 0), so the user path is checked
        model.user_emb.weight.normal_(0.0, 0.3)
    return model


@pytest.mark.parametrize("mask_seen", [True, False])
def test_onnx_and_pytorch_agree_on_top_k(tmp_path, mask_seen):
    path = tmp_path / "model.onnx"
    recommender = export_onnx(_model(), path, k=12, mask_seen=mask_seen)
    onnx.checker.check_model(onnx.load(str(path)))
    users, seqs = parity_batch(25, 60, 10, batch=16)
    report = check_parity(recommender, path, users, seqs)
    assert report.passed and report.items_agree_up_to_ties and report.max_abs_score_diff < 1e-4
    # only the empty-sequence row (every score equal) may order its top-k differently
    (items, _), _ = run_onnx(path, {"user_id": users, "item_seq": seqs})
    with torch.no_grad():
        torch_items, _ = recommender(torch.from_numpy(users), torch.from_numpy(seqs))
    differing = np.where((items != torch_items.numpy()).any(axis=1))[0].tolist()
    assert differing in ([], [0]) and not seqs[0].any()


def test_parity_runs_on_the_pinned_onnxruntime(tmp_path):
    import re
    from pathlib import Path

    pinned = re.search(r"^onnxruntime==(\S+)", (Path(__file__).resolve().parents[1] / "requirements.lock").read_text(),
                       re.MULTILINE).group(1)
    path = tmp_path / "model.onnx"
    recommender = export_onnx(_model(), path, k=5, mask_seen=True)
    report = check_parity(recommender, path, *parity_batch(25, 60, 10))
    assert report.passed and report.engine == f"onnxruntime {pinned}"


def test_parity_check_detects_a_different_graph(tmp_path):
    export_onnx(_model(seed=1), tmp_path / "other.onnx", k=12, mask_seen=True)
    recommender = TopKRecommender(_model(seed=0).eval(), 12, True)
    report = check_parity(recommender, tmp_path / "other.onnx", *parity_batch(25, 60, 10))
    assert not report.passed


def test_graph_has_dynamic_batch_masks_seen_items_and_types(tmp_path):
    path = tmp_path / "model.onnx"
    export_onnx(_model(), path, k=7, mask_seen=True)
    graph = onnx.load(str(path)).graph
    assert [i.name for i in graph.input] == ["user_id", "item_seq"] and [o.name for o in graph.output] == list(OUTPUT_NAMES)
    assert graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.INT64
    assert graph.output[1].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert graph.input[1].type.tensor_type.shape.dim[1].dim_value == 10
    for batch in (1, 5):
        users, seqs = parity_batch(25, 60, 10, batch=batch, seed=batch)
        (items, scores), _ = run_onnx(path, {"user_id": users, "item_seq": seqs})
        assert items.shape == scores.shape == (batch, 7) and items.dtype == np.int64 and scores.dtype == np.float32
        for row in range(batch):
            assert 0 not in items[row] and not set(items[row]) & set(seqs[row].tolist())
            assert np.all(np.diff(scores[row]) <= 0)


def test_top_k_limit_is_checked():
    with pytest.raises(ValueError, match="--top-k 55: must be in 1..50"):
        TopKRecommender(_model(), 55, mask_seen=True)
    TopKRecommender(_model(), 55, mask_seen=False)


def test_triton_repository_layout_and_config(tmp_path):
    onnx_file = tmp_path / "m.onnx"
    onnx_file.write_bytes(b"onnx")
    written = write_repository(tmp_path / "repo", "ssept-ml-1m", 3, onnx_file, maxlen=200, k=100, default_kind="gpu")
    rel = sorted(p.relative_to(tmp_path / "repo").as_posix() for p in written)
    assert rel == ["ssept-ml-1m/3/model.onnx", "ssept-ml-1m/config.pbtxt", "ssept-ml-1m/configs/cpu.pbtxt",
                   "ssept-ml-1m/configs/gpu.pbtxt"]
    default = (tmp_path / "repo/ssept-ml-1m/config.pbtxt").read_text()
    assert 'name: "ssept-ml-1m"' in default and 'backend: "onnxruntime"' in default
    assert "kind: KIND_GPU" in default and "dynamic_batching" in default
    for name in ("user_id", "item_seq", "top_items", "top_scores"):
        assert f'name: "{name}"' in default
    assert "dims: [ 200 ]" in default and "dims: [ 100 ]" in default and "reshape: { shape: [ ] }" in default
    assert "kind: KIND_CPU" in (tmp_path / "repo/ssept-ml-1m/configs/cpu.pbtxt").read_text()
    assert "kind: KIND_CPU" in config_pbtxt("m", 50, 10, "cpu")
    with pytest.raises(ValueError, match="--instance-kind 'tpu'"):
        config_pbtxt("m", 50, 10, "tpu")  # type: ignore[arg-type]
