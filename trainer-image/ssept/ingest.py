"""ingest: download an upstream dataset file, verify it, store it unchanged under
raw-data/<dataset>/<date>/."""

from __future__ import annotations

import hashlib
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ssept.datasets import DatasetProfile
from ssept.raw_parsing import JODIE_HEADER_PREFIX, RawFormatError, read_movielens_zip
from ssept.stage_env import StageEnv, utc_now
from ssept.storage import latest_prefix, ObjectNotFound

MANIFEST = "manifest.json"


class ChecksumMismatch(ValueError):
    pass


@dataclass(frozen=True)
class Digests:
    md5: str
    sha256: str
    size: int


def download_to_file(url: str, target: Path, attempts: int = 3, timeout_s: float = 120.0) -> Digests:
    """Stream `url` to `target`, hashing on the way. Retries transient failures."""
    last_error: Exception | None = None
    for attempt in range(1, attempts + 1):
        md5, sha256, size = hashlib.md5(), hashlib.sha256(), 0
        try:
            with urllib.request.urlopen(url, timeout=timeout_s) as response, open(target, "wb") as out:
                while chunk := response.read(1 << 20):
                    md5.update(chunk)
                    sha256.update(chunk)
                    size += len(chunk)
                    out.write(chunk)
            return Digests(md5.hexdigest(), sha256.hexdigest(), size)
        except OSError as exc:  # URLError and socket errors are OSErrors
            last_error = exc
            if attempt < attempts:
                time.sleep(2**attempt)
    raise RuntimeError(f"download of {url} failed after {attempts} attempts: {last_error}")


def verify_digests(digests: Digests, expected_md5: str | None, expected_sha256: str | None) -> list[str]:
    checked = []
    if expected_md5:
        if digests.md5 != expected_md5.lower():
            raise ChecksumMismatch(f"md5 mismatch: expected {expected_md5}, got {digests.md5}")
        checked.append("md5")
    if expected_sha256:
        if digests.sha256 != expected_sha256.lower():
            raise ChecksumMismatch(f"sha256 mismatch: expected {expected_sha256}, got {digests.sha256}")
        checked.append("sha256")
    return checked


def count_data_rows(profile: DatasetProfile, path: Path) -> int:
    """Structural check of the downloaded file; returns its number of data rows."""
    if profile.raw_format == "movielens-ratings-zip":
        ratings = read_movielens_zip(path.read_bytes())
        return ratings.count(b"\n") + (0 if ratings.endswith(b"\n") or not ratings else 1)
    with open(path, "rb") as f:
        header = f.readline().decode("utf-8", "replace").strip().split(",")
        if tuple(h.strip() for h in header[:4]) != JODIE_HEADER_PREFIX:
            raise RawFormatError(f"unexpected header {','.join(header[:5])!r}")
        return sum(1 for line in f if line.strip())


def run_ingest(
    env: StageEnv,
    profile: DatasetProfile,
    date: str,
    source_url: str | None = None,
    expected_md5: str | None = None,
    expected_sha256: str | None = None,
    expected_rows: int | None = None,
    download: Callable[[str, Path], Digests] = download_to_file,
) -> dict:
    url = source_url or profile.source_url
    md5 = expected_md5 if expected_md5 is not None else profile.md5
    sha256 = expected_sha256 if expected_sha256 is not None else profile.sha256
    rows_expected = expected_rows if expected_rows is not None else profile.expected_rows
    prefix = f"{profile.name}/{date}"
    raw_key = f"{prefix}/{profile.raw_filename}"
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / profile.raw_filename
        digests = download(url, path)
        checked = verify_digests(digests, md5 or None, sha256 or None)
        rows = count_data_rows(profile, path)
        if rows_expected and rows != rows_expected:
            raise ValueError(
                f"{url}: {rows} data rows, expected {rows_expected} (pass --expected-rows 0 to accept a "
                "different file on purpose)"
            )
        previous = _previous_manifest(env, profile, date)
        manifest_key = f"{prefix}/{MANIFEST}"
        if env.storage.exists(env.buckets.raw, manifest_key):
            existing = env.get_json(env.buckets.raw, manifest_key)
            if existing.get("sha256") == digests.sha256:
                return {**existing, "already_present": True}
            raise ValueError(
                f"{env.storage.uri(env.buckets.raw, raw_key)} already holds a different file "
                f"(sha256 {existing.get('sha256')}); raw data is immutable, use another --date"
            )
        env.storage.put_file(env.buckets.raw, raw_key, path)
    manifest = {
        "dataset": profile.name,
        "date": date,
        "source_url": url,
        "object": env.storage.uri(env.buckets.raw, raw_key),
        "filename": profile.raw_filename,
        "size_bytes": digests.size,
        "md5": digests.md5,
        "sha256": digests.sha256,
        "checksums_verified": checked,
        "data_rows": rows,
        "fetched_at": utc_now(),
        "git_commit": env.git_commit,
    }
    if previous and previous.get("sha256") != digests.sha256:
        manifest["upstream_changed_since"] = previous.get("date")
    env.put_json(env.buckets.raw, manifest_key, manifest)
    return manifest


def _previous_manifest(env: StageEnv, profile: DatasetProfile, date: str) -> dict | None:
    try:
        latest = latest_prefix(env.storage, env.buckets.raw, profile.name, MANIFEST)
    except ObjectNotFound:
        return None
    if latest == date:
        return None
    return env.get_json(env.buckets.raw, f"{profile.name}/{latest}/{MANIFEST}")
