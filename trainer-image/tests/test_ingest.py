import hashlib
import json

import pytest

from ssept.datasets import get_profile
from ssept.ingest import ChecksumMismatch, run_ingest
from ssept.raw_parsing import RawFormatError
from ssept.stage_env import StageEnv
from ssept.synthetic import generate_sequences, jodie_csv, movielens_ratings_dat, movielens_zip


def _zip(tmp_path, seed=0):
    data = movielens_zip(movielens_ratings_dat(generate_sequences(10, 30, 8, 5, seed=seed)))
    path = tmp_path / f"ml-1m-{seed}.zip"
    path.write_bytes(data)
    return path, data


def test_ingest_stores_the_file_unchanged_with_verified_checksums(tmp_path, storage):
    path, data = _zip(tmp_path)
    env = StageEnv(storage)
    md5 = hashlib.md5(data).hexdigest()
    manifest = run_ingest(env, get_profile("ml-1m"), "2025-05-01", source_url=path.as_uri(), expected_md5=md5,
                          expected_sha256=hashlib.sha256(data).hexdigest(), expected_rows=0)
    assert storage.get_bytes("raw-data", "ml-1m/2025-05-01/ml-1m.zip") == data
    assert manifest["checksums_verified"] == ["md5", "sha256"] and manifest["md5"] == md5
    assert manifest["data_rows"] == sum(len(s) for s in generate_sequences(10, 30, 8, 5, seed=0))
    assert json.loads(storage.get_bytes("raw-data", "ml-1m/2025-05-01/manifest.json")) == manifest
    again = run_ingest(env, get_profile("ml-1m"), "2025-05-01", source_url=path.as_uri(), expected_md5=md5, expected_rows=0)
    assert again["already_present"] is True


def test_ingest_rejects_a_checksum_mismatch_and_stores_nothing(tmp_path, storage):
    path, _ = _zip(tmp_path)
    with pytest.raises(ChecksumMismatch, match="md5 mismatch: expected c4d9eecfca2ab87c1945afe126590906"):
        run_ingest(StageEnv(storage), get_profile("ml-1m"), "2025-05-01", source_url=path.as_uri(), expected_rows=0)
    assert storage.list_keys("raw-data", "") == []


def test_ingest_refuses_to_overwrite_a_date_with_a_different_file(tmp_path, storage):
    env = StageEnv(storage)
    first, _ = _zip(tmp_path, seed=0)
    second, _ = _zip(tmp_path, seed=1)
    run_ingest(env, get_profile("ml-1m"), "2025-05-01", source_url=first.as_uri(), expected_md5="", expected_rows=0)
    with pytest.raises(ValueError, match="already holds a different file"):
        run_ingest(env, get_profile("ml-1m"), "2025-05-01", source_url=second.as_uri(), expected_md5="", expected_rows=0)
    later = run_ingest(env, get_profile("ml-1m"), "2025-06-01", source_url=second.as_uri(), expected_md5="", expected_rows=0)
    assert later["upstream_changed_since"] == "2025-05-01"


def test_ingest_checks_structure_and_row_count(tmp_path, storage):
    csv = tmp_path / "wikipedia.csv"
    csv.write_bytes(jodie_csv(generate_sequences(5, 10, 4, 2, unique_items=False, seed=2)))
    with pytest.raises(ValueError, match="data rows, expected 157474"):
        run_ingest(StageEnv(storage), get_profile("wikipedia"), "2025-05-01", source_url=csv.as_uri())
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b,c\n1,2,3\n")
    with pytest.raises(RawFormatError, match="unexpected header"):
        run_ingest(StageEnv(storage), get_profile("wikipedia"), "2025-05-01", source_url=bad.as_uri())
