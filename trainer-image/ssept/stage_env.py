"""What every stage needs from its surroundings: storage, bucket names, code version."""

from __future__ import annotations

import json
import os
import time
import uuid
from dataclasses import dataclass, field

from ssept.storage import Buckets, ObjectStorage


@dataclass
class StageEnv:
    storage: ObjectStorage
    buckets: Buckets = field(default_factory=Buckets)
    git_commit: str = field(default_factory=lambda: os.environ.get("GIT_COMMIT", "unknown"))

    def put_json(self, bucket: str, key: str, payload: object) -> None:
        self.storage.put_bytes(bucket, key, json_bytes(payload))

    def get_json(self, bucket: str, key: str) -> dict:
        return json.loads(self.storage.get_bytes(bucket, key))

    def log_run(self, stage: str, dataset: str, record: dict) -> str:
        """A JSON record of each stage run in the logs bucket, for audit and debugging."""
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        key = f"stages/{stage}/{dataset}/{stamp}-{uuid.uuid4().hex[:8]}.json"
        self.put_json(self.buckets.logs, key, {"stage": stage, "dataset": dataset, "git_commit": self.git_commit, **record})
        return key


def json_bytes(payload: object) -> bytes:
    return (json.dumps(payload, indent=2, sort_keys=True) + "\n").encode()


def utc_now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
