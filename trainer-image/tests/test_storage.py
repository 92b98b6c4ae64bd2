import pytest

from ssept.storage import (
    Buckets,
    LocalDirectoryStorage,
    ObjectNotFound,
    S3Storage,
    StorageError,
    download_prefix,
    latest_prefix,
    open_storage,
    upload_directory,
)


def test_local_round_trip_and_listing(storage):
    storage.put_bytes("models", "a/b/c.txt", b"hello")
    storage.put_bytes("models", "a/d.txt", b"x")
    storage.put_bytes("other", "a/e.txt", b"y")
    assert storage.get_bytes("models", "a/b/c.txt") == b"hello"
    assert storage.exists("models", "a/d.txt") and not storage.exists("models", "a/zz")
    assert storage.list_keys("models", "a/") == ["a/b/c.txt", "a/d.txt"]
    assert storage.list_keys("models", "a/b") == ["a/b/c.txt"]
    assert storage.list_keys("missing-bucket", "") == []


def test_local_missing_object_and_bad_keys(storage):
    with pytest.raises(ObjectNotFound, match="no object .*/models/nope"):
        storage.get_bytes("models", "nope")
    for key in ("../escape", "/abs", "a/../../b", ""):
        with pytest.raises(StorageError, match="invalid object key"):
            storage.put_bytes("models", key, b"")
    with pytest.raises(StorageError, match="invalid bucket"):
        storage.put_bytes("a/b", "k", b"")


def test_directory_upload_download(storage, tmp_path):
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "one.txt").write_text("1")
    (src / "sub" / "two.txt").write_text("2")
    keys = upload_directory(storage, "models", "bundle/x", src)
    assert keys == ["bundle/x/one.txt", "bundle/x/sub/two.txt"]
    out = tmp_path / "out"
    download_prefix(storage, "models", "bundle/x", out)
    assert (out / "sub" / "two.txt").read_text() == "2"
    with pytest.raises(ObjectNotFound):
        download_prefix(storage, "models", "bundle/none", out)


def test_latest_prefix_picks_greatest_with_marker(storage):
    storage.put_bytes("raw-data", "ml-1m/2025-01-01/ml-1m.zip", b"")
    storage.put_bytes("raw-data", "ml-1m/2025-03-01/ml-1m.zip", b"")
    storage.put_bytes("raw-data", "ml-1m/2025-04-01/partial.txt", b"")  # no marker: ignored
    assert latest_prefix(storage, "raw-data", "ml-1m", "ml-1m.zip") == "2025-03-01"
    with pytest.raises(ObjectNotFound, match="wikipedia"):
        latest_prefix(storage, "raw-data", "wikipedia", "wikipedia.csv")


def test_open_storage_choices(tmp_path):
    assert isinstance(open_storage(str(tmp_path), None), LocalDirectoryStorage)
    local = open_storage(f"file://{tmp_path}", "http://ignored:7480")
    assert isinstance(local, LocalDirectoryStorage) and local.root == tmp_path.resolve()
    assert isinstance(open_storage(None, "http://rgw:7480"), S3Storage)
    with pytest.raises(StorageError, match="no storage configured"):
        open_storage(None, None)
    with pytest.raises(StorageError, match="only a directory or a file:// URI"):
        open_storage("s3://bucket", None)


def test_buckets_from_env():
    buckets = Buckets.from_env({"BUCKET_MODELS": "models-staging", "BUCKET_RAY_CHECKPOINTS": "ckpt"})
    assert buckets.models == "models-staging" and buckets.ray_checkpoints == "ckpt"
    assert buckets.raw == "raw-data" and buckets.features == "features"


def test_s3_storage_calls_with_stubbed_client():
    boto3 = pytest.importorskip("boto3")
    from botocore.stub import Stubber

    client = boto3.client("s3", endpoint_url="http://rgw.invalid:7480", region_name="us-east-1",
                          aws_access_key_id="k", aws_secret_access_key="s")
    s3 = S3Storage("http://rgw.invalid:7480")
    s3._client = client
    with Stubber(client) as stub:
        stub.add_response("put_object", {}, {"Bucket": "models", "Key": "a/b.txt", "Body": b"data"})
        stub.add_client_error("get_object", service_error_code="NoSuchKey", http_status_code=404,
                              expected_params={"Bucket": "models", "Key": "missing"})
        stub.add_response("list_objects_v2", {"Contents": [{"Key": "a/2"}, {"Key": "a/1"}], "IsTruncated": False},
                          {"Bucket": "models", "Prefix": "a/"})
        stub.add_client_error("head_object", service_error_code="404", http_status_code=404,
                              expected_params={"Bucket": "models", "Key": "gone"})
        s3.put_bytes("models", "a/b.txt", b"data")
        with pytest.raises(ObjectNotFound, match="s3://models/missing"):
            s3.get_bytes("models", "missing")
        assert s3.list_keys("models", "a/") == ["a/1", "a/2"]
        assert s3.exists("models", "gone") is False
        stub.assert_no_pending_responses()
