"""Attachments and recordings in an S3-compatible object store (moto's server on 127.0.0.1, a real
HTTP S3 API): upload, download, Range, ETag, the same file stored once, the worker's local copy."""
import io
import time

import boto3
import pytest

from models import blobstore
from tests.support.live import moto_s3

BUCKET = "region-files"


@pytest.fixture(scope="module")
def s3_endpoint():
    with moto_s3() as url:
        yield url


@pytest.fixture
def s3(s3_endpoint, monkeypatch, tmp_path):
    """A fresh bucket and a store on it, configured as production would be (BLOB_STORE and env keys)."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test-key")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test-secret")
    client = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")
    bucket = f"{BUCKET}-{time.time_ns()}"
    client.create_bucket(Bucket=bucket)
    store = blobstore.from_config({"BLOB_STORE": f"s3://{bucket}/mobile", "S3_ENDPOINT_URL": s3_endpoint,
                                   "S3_REGION": "us-east-1", "DATA_DIR": str(tmp_path)})
    assert isinstance(store, blobstore.S3BlobStore)
    store.test_client, store.test_bucket = client, bucket
    return store


def _objects(store) -> list[str]:
    listed = store.test_client.list_objects_v2(Bucket=store.test_bucket)
    return [o["Key"] for o in listed.get("Contents", [])]


def test_put_open_seek_and_the_same_file_stored_once(s3):
    content = bytes(range(256)) * 8000  # 2 MB: several reads of the buffered stream
    sha, size = s3.put(io.BytesIO(content))
    again, _ = s3.put(io.BytesIO(content))
    assert (again, size) == (sha, len(content))
    assert _objects(s3) == [f"mobile/{sha[:2]}/{sha[2:4]}/{sha}"]
    assert s3.exists(sha) and not s3.exists("0" * 64)
    with s3.open(sha) as blob:
        assert blob.size == len(content)
        blob.seek(1_000_000)
        assert blob.read(5000) == content[1_000_000:1_005_000]
        blob.seek(10)
        assert blob.read(10) == content[10:20]
        blob.seek(0)
        assert blob.read() == content
    with pytest.raises(FileNotFoundError):
        s3.open("f" * 64)
    local = s3.local_path(sha)  # what the transcription worker hands to ffmpeg
    assert local.read_bytes() == content and s3.local_path(sha) == local


def test_documents_are_served_from_the_object_store_with_range_and_etag(app, login, demo, s3, tmp_path):
    app.extensions["blobstore"] = s3
    content = bytes(range(256)) * 40
    clerk = login("clerk1")
    metadata = ('{"title": "Отчёт", "correspondent": "Минфин", "addressees": ["%s"]}'
                % demo["exec1"].units[0].id)
    made = [clerk.post("/documents", content_type="multipart/form-data",
                       data={"metadata": metadata, "file": (io.BytesIO(content), name)}).get_json()
            for name in ("scan.bin", "copy.bin")]
    assert made[0]["attachments"][0]["sha256"] == made[1]["attachments"][0]["sha256"]
    assert len(_objects(s3)) == 1  # the same file, stored once
    sha = made[0]["attachments"][0]["sha256"]
    assert not list((tmp_path / "data").rglob(sha))  # nothing went to the local directory

    api = login("exec1")
    url = f"/documents/{made[0]['id']}/attachments/{made[0]['attachments'][0]['id']}"
    full = api.get(url)
    assert full.status_code == 200 and full.data == content
    assert full.headers["Content-Length"] == str(len(content)) and full.headers["Accept-Ranges"] == "bytes"
    part = api.get(url, headers={"Range": "bytes=100-199"})
    assert part.status_code == 206 and part.data == content[100:200]
    assert part.headers["Content-Range"] == f"bytes 100-199/{len(content)}"
    tail = api.get(url, headers={"Range": "bytes=-10"})
    assert tail.status_code == 206 and tail.data == content[-10:]
    assert api.get(url, headers={"If-None-Match": full.headers["ETag"]}).status_code == 304
    assert api.get(url, headers={"Range": "bytes=999999-"}).status_code == 416


def test_a_bad_blob_store_setting_stops_the_start(monkeypatch):
    from mobile_api import config
    monkeypatch.setenv("BLOB_STORE", "ftp://files")
    with pytest.raises(config.ConfigError, match="BLOB_STORE"):
        config.from_env()
