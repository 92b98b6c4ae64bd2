"""Does the exported ONNX graph return the same top-k as PyTorch on a batch?

The graph is executed by ONNX Runtime (the engine Triton's onnxruntime backend uses), CPU
provider; the report names its version.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from ssept.onnx_export import INPUT_NAMES, TopKRecommender


def run_onnx(path: Path, feeds: dict[str, np.ndarray]) -> tuple[list[np.ndarray], str]:
    try:
        import onnxruntime
    except ImportError as exc:
        raise RuntimeError(
            "the export's parity check needs onnxruntime (pinned in trainer-image/requirements.lock; "
            "it is in the image and in .venv)"
        ) from exc
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, feeds), f"onnxruntime {onnxruntime.__version__}"


def parity_batch(num_users: int, num_items: int, maxlen: int, batch: int = 16, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Users and left-padded sequences of every length from empty to full."""
    rng = np.random.default_rng(seed)
    users = rng.integers(1, num_users + 1, size=batch).astype(np.int64)
    seqs = np.zeros((batch, maxlen), dtype=np.int64)
    lengths = np.linspace(0, maxlen, batch).round().astype(int)
    for row, length in enumerate(lengths):
        if length:
            seqs[row, maxlen - length :] = rng.choice(num_items, size=length, replace=length > num_items) + 1
    return users, seqs


@dataclass
class ParityReport:
    engine: str
    batch_size: int
    k: int
    max_abs_score_diff: float
    identical_items: bool
    items_agree_up_to_ties: bool
    passed: bool

    def as_dict(self) -> dict:
        return asdict(self)


def check_parity(
    recommender: TopKRecommender,
    onnx_path: Path,
    users: np.ndarray,
    seqs: np.ndarray,
    atol: float = 1e-4,
) -> ParityReport:
    with torch.no_grad():
        torch_items, torch_scores = recommender(torch.from_numpy(users), torch.from_numpy(seqs))
    torch_items, torch_scores = torch_items.numpy(), torch_scores.numpy()
    (onnx_items, onnx_scores), engine = run_onnx(onnx_path, dict(zip(INPUT_NAMES, (users, seqs))))
    finite = np.isfinite(torch_scores) & np.isfinite(onnx_scores)
    same_infinities = bool((np.isfinite(torch_scores) == np.isfinite(onnx_scores)).all())
    diff = float(np.abs(torch_scores[finite] - onnx_scores[finite]).max()) if finite.any() else 0.0
    scores_close = same_infinities and diff <= atol + 1e-4 * float(np.abs(torch_scores[finite]).max(initial=0.0))
    identical = bool(np.array_equal(torch_items, onnx_items))
    # Where two ranks' scores are within tolerance, either order is a correct top-k.
    ties_ok = identical or bool(np.all((torch_items == onnx_items) | _tied_positions(torch_scores, atol)))
    return ParityReport(
        engine=engine,
        batch_size=int(len(users)),
        k=int(torch_items.shape[1]),
        max_abs_score_diff=diff,
        identical_items=identical,
        items_agree_up_to_ties=ties_ok,
        passed=bool(scores_close and ties_ok),
    )


def _tied_positions(scores: np.ndarray, atol: float) -> np.ndarray:
    """True where a rank's score is within atol of a neighbouring rank's score."""
    close = np.abs(np.diff(scores, axis=1)) <= atol
    tied = np.zeros_like(scores, dtype=bool)
    tied[:, 1:] |= close
    tied[:, :-1] |= close
    return tied
