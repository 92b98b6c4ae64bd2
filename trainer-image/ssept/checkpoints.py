"""Training-state checkpoints in object storage (ray-checkpoints bucket) for the
single-process path; Ray Train keeps its own under the same bucket."""

from __future__ import annotations

import io
import re

import torch

from ssept.storage import ObjectStorage

STATE_FILE = "state.pt"
_EPOCH_DIR = re.compile(r"epoch-(\d+)/" + re.escape(STATE_FILE) + "$")


def state_to_bytes(state: dict) -> bytes:
    buffer = io.BytesIO()
    torch.save(state, buffer)
    return buffer.getvalue()


def state_from_bytes(data: bytes, device: torch.device | str = "cpu") -> dict:
    return torch.load(io.BytesIO(data), map_location=device)


class StorageCheckpointStore:
    def __init__(self, storage: ObjectStorage, bucket: str, prefix: str) -> None:
        self.storage, self.bucket, self.prefix = storage, bucket, prefix.rstrip("/")

    def epochs(self) -> list[int]:
        found = []
        for key in self.storage.list_keys(self.bucket, self.prefix + "/"):
            match = _EPOCH_DIR.search(key[len(self.prefix) + 1 :])
            if match:
                found.append(int(match.group(1)))
        return sorted(found)

    def save(self, epoch: int, state: dict) -> str:
        key = f"{self.prefix}/epoch-{epoch:06d}/{STATE_FILE}"
        self.storage.put_bytes(self.bucket, key, state_to_bytes(state))
        return self.storage.uri(self.bucket, key)

    def latest(self, device: torch.device | str = "cpu") -> dict | None:
        epochs = self.epochs()
        if not epochs:
            return None
        key = f"{self.prefix}/epoch-{epochs[-1]:06d}/{STATE_FILE}"
        return state_from_bytes(self.storage.get_bytes(self.bucket, key), device)
