"""Object storage behind one small interface: S3 (Ceph RGW on Chameleon) or a local directory.

Every stage reads and writes through `ObjectStorage`, so the whole pipeline runs against a
directory in tests and on a laptop (`--storage-root DIR` or `file:///DIR`) and against the
platform's buckets in the cluster. Keys always use '/' separators.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Protocol


class StorageError(RuntimeError):
    pass


class ObjectNotFound(StorageError):
    pass


class ObjectStorage(Protocol):
    def put_bytes(self, bucket: str, key: str, data: bytes) -> None: ...

    def get_bytes(self, bucket: str, key: str) -> bytes: ...

    def put_file(self, bucket: str, key: str, path: Path) -> None: ...

    def get_file(self, bucket: str, key: str, path: Path) -> None: ...

    def exists(self, bucket: str, key: str) -> bool: ...

    def list_keys(self, bucket: str, prefix: str) -> list[str]: ...

    def uri(self, bucket: str, key: str) -> str: ...


def _checked_key(key: str) -> str:
    if not key or key.startswith("/"):
        raise StorageError(f"invalid object key {key!r}: must be a non-empty relative path")
    parts = PurePosixPath(key).parts
    if any(part in ("..", ".") for part in parts):
        raise StorageError(f"invalid object key {key!r}: '.' and '..' segments are not allowed")
    return key


def _checked_bucket(bucket: str) -> str:
    if not bucket or "/" in bucket or bucket in (".", ".."):
        raise StorageError(f"invalid bucket name {bucket!r}")
    return bucket


class LocalDirectoryStorage:
    """Buckets are sub-directories of `root`; objects are files under them."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root).resolve()

    def _path(self, bucket: str, key: str) -> Path:
        return self.root / _checked_bucket(bucket) / _checked_key(key)

    def put_bytes(self, bucket: str, key: str, data: bytes) -> None:
        path = self._path(bucket, key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".partial")
        tmp.write_bytes(data)
        os.replace(tmp, path)

    def get_bytes(self, bucket: str, key: str) -> bytes:
        path = self._path(bucket, key)
        if not path.is_file():
            raise ObjectNotFound(f"no object {self.uri(bucket, key)}")
        return path.read_bytes()

    def put_file(self, bucket: str, key: str, path: Path) -> None:
        target = self._path(bucket, key)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(target.name + ".partial")
        shutil.copyfile(path, tmp)
        os.replace(tmp, target)

    def get_file(self, bucket: str, key: str, path: Path) -> None:
        source = self._path(bucket, key)
        if not source.is_file():
            raise ObjectNotFound(f"no object {self.uri(bucket, key)}")
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, path)

    def exists(self, bucket: str, key: str) -> bool:
        return self._path(bucket, key).is_file()

    def list_keys(self, bucket: str, prefix: str) -> list[str]:
        base = self.root / _checked_bucket(bucket)
        if not base.is_dir():
            return []
        keys = []
        for path in base.rglob("*"):
            if path.is_file() and not path.name.endswith(".partial"):
                key = path.relative_to(base).as_posix()
                if key.startswith(prefix):
                    keys.append(key)
        return sorted(keys)

    def uri(self, bucket: str, key: str) -> str:
        return (self.root / bucket / key).as_uri()


class S3Storage:
    """S3 API client (boto3, imported on first use so the core never needs it).

    Credentials come from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY; boto3 itself honours
    AWS_REQUEST_CHECKSUM_CALCULATION / AWS_RESPONSE_CHECKSUM_VALIDATION=WHEN_REQUIRED, which Ceph
    RGW needs with boto3 >= 1.36.
    """

    def __init__(self, endpoint_url: str | None) -> None:
        self.endpoint_url = endpoint_url
        self._client = None

    @property
    def client(self):  # type: ignore[no-untyped-def]
        if self._client is None:
            try:
                import boto3
            except ImportError as exc:  # pragma: no cover - depends on the environment
                raise StorageError(
                    "S3 storage needs boto3 (pip install boto3), or pass --storage-root DIR "
                    "to use a local directory"
                ) from exc
            self._client = boto3.client("s3", endpoint_url=self.endpoint_url)
        return self._client

    def _not_found(self, exc: Exception) -> bool:
        response = getattr(exc, "response", None) or {}
        code = str(response.get("Error", {}).get("Code", ""))
        return code in ("404", "NoSuchKey", "NotFound")

    def put_bytes(self, bucket: str, key: str, data: bytes) -> None:
        self.client.put_object(Bucket=_checked_bucket(bucket), Key=_checked_key(key), Body=data)

    def get_bytes(self, bucket: str, key: str) -> bytes:
        try:
            response = self.client.get_object(Bucket=_checked_bucket(bucket), Key=_checked_key(key))
        except Exception as exc:
            if self._not_found(exc):
                raise ObjectNotFound(f"no object {self.uri(bucket, key)}") from exc
            raise
        return response["Body"].read()

    def put_file(self, bucket: str, key: str, path: Path) -> None:
        self.client.upload_file(str(path), _checked_bucket(bucket), _checked_key(key))

    def get_file(self, bucket: str, key: str, path: Path) -> None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        try:
            self.client.download_file(_checked_bucket(bucket), _checked_key(key), str(path))
        except Exception as exc:
            if self._not_found(exc):
                raise ObjectNotFound(f"no object {self.uri(bucket, key)}") from exc
            raise

    def exists(self, bucket: str, key: str) -> bool:
        try:
            self.client.head_object(Bucket=_checked_bucket(bucket), Key=_checked_key(key))
        except Exception as exc:
            if self._not_found(exc):
                return False
            raise
        return True

    def list_keys(self, bucket: str, prefix: str) -> list[str]:
        paginator = self.client.get_paginator("list_objects_v2")
        keys: list[str] = []
        for page in paginator.paginate(Bucket=_checked_bucket(bucket), Prefix=prefix):
            keys.extend(item["Key"] for item in page.get("Contents", []))
        return sorted(keys)

    def uri(self, bucket: str, key: str) -> str:
        return f"s3://{bucket}/{key}"


@dataclass(frozen=True)
class Buckets:
    """Bucket names; defaults are the platform's names, overridden by BUCKET_* variables."""

    raw: str = "raw-data"
    processed: str = "processed-data"
    features: str = "features"
    models: str = "models"
    logs: str = "logs"
    mlflow_artifacts: str = "mlflow-artifacts"
    ray_checkpoints: str = "ray-checkpoints"

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> "Buckets":
        env = dict(os.environ) if env is None else env
        defaults = cls()
        return cls(
            raw=env.get("BUCKET_RAW_DATA") or defaults.raw,
            processed=env.get("BUCKET_PROCESSED_DATA") or defaults.processed,
            features=env.get("BUCKET_FEATURES") or defaults.features,
            models=env.get("BUCKET_MODELS") or defaults.models,
            logs=env.get("BUCKET_LOGS") or defaults.logs,
            mlflow_artifacts=env.get("BUCKET_MLFLOW_ARTIFACTS") or defaults.mlflow_artifacts,
            ray_checkpoints=env.get("BUCKET_RAY_CHECKPOINTS") or defaults.ray_checkpoints,
        )


def open_storage(storage_root: str | None, s3_endpoint_url: str | None) -> ObjectStorage:
    """A local directory when `storage_root` is given (plain path or file:// URI), else S3."""
    if storage_root:
        if storage_root.startswith("file://"):
            storage_root = storage_root[len("file://") :]
        elif "://" in storage_root:
            raise StorageError(
                f"--storage-root {storage_root!r}: only a directory or a file:// URI is allowed "
                "(S3 is selected with --s3-endpoint-url / S3_ENDPOINT_URL)"
            )
        return LocalDirectoryStorage(storage_root)
    if s3_endpoint_url:
        return S3Storage(s3_endpoint_url)
    raise StorageError(
        "no storage configured: pass --storage-root DIR (or file:///DIR) for a local directory, "
        "or set S3_ENDPOINT_URL / --s3-endpoint-url for S3"
    )


def latest_prefix(storage: ObjectStorage, bucket: str, parent: str, marker: str) -> str:
    """The greatest `<parent>/<name>` (lexicographic) that contains the object `marker`.

    Dates (YYYY-MM-DD) and zero-padded versions sort correctly; that is what "latest" means.
    """
    parent = parent.rstrip("/") + "/"
    names = sorted(
        {
            key[len(parent) :].split("/", 1)[0]
            for key in storage.list_keys(bucket, parent)
            if key.endswith("/" + marker)
        }
    )
    if not names:
        raise ObjectNotFound(f"nothing under {storage.uri(bucket, parent)} contains {marker!r}")
    return names[-1]


def download_prefix(storage: ObjectStorage, bucket: str, prefix: str, target: Path) -> list[Path]:
    prefix = prefix.rstrip("/") + "/"
    paths = []
    for key in storage.list_keys(bucket, prefix):
        path = target / key[len(prefix) :]
        storage.get_file(bucket, key, path)
        paths.append(path)
    if not paths:
        raise ObjectNotFound(f"no objects under {storage.uri(bucket, prefix)}")
    return paths


def upload_directory(storage: ObjectStorage, bucket: str, prefix: str, source: Path) -> list[str]:
    prefix = prefix.rstrip("/")
    keys = []
    for path in sorted(Path(source).rglob("*")):
        if path.is_file():
            key = f"{prefix}/{path.relative_to(source).as_posix()}"
            storage.put_file(bucket, key, path)
            keys.append(key)
    return keys
