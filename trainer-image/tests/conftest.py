import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ssept.split import leave_one_out  # noqa: E402
from ssept.storage import LocalDirectoryStorage  # noqa: E402
from ssept.synthetic import generate_sequences  # noqa: E402


@pytest.fixture
def storage(tmp_path: Path) -> LocalDirectoryStorage:
    return LocalDirectoryStorage(tmp_path / "store")


@pytest.fixture(scope="session")
def small_split():
    """300 users, 120 items, mean length 30: big enough to learn, small enough for seconds."""
    sequences = generate_sequences(300, 120, mean_length=30, min_length=8, seed=3)
    return leave_one_out(sequences, 120)
