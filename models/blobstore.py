"""Content-addressed file storage: each distinct file is kept once, named by its SHA-256.

Two stores fill one small interface, chosen by BLOB_STORE:
- `LocalBlobStore` (the embedded default): files under DATA_DIR/blobs, fsynced before use.
- `S3BlobStore` (`BLOB_STORE=s3://bucket/prefix`): any S3-compatible object store, so that every
  web node and every worker sees every file.

The interface: `put(stream) -> (sha256, size)`, `open(sha256)` (a seekable binary stream with a
`size` attribute, for serving ranges), `exists(sha256)`, and `local_path(sha256)` for the one
caller that needs a file on disk (ffmpeg, in the transcription worker).
"""
import hashlib
import io
import os
import tempfile
import threading
import time
from pathlib import Path
from typing import BinaryIO
from urllib.parse import urlparse

from flask import current_app

CHUNK = 1024 * 1024


class BlobNotFound(FileNotFoundError):
    pass


def _shard(sha256: str) -> str:
    if len(sha256) != 64 or not all(c in "0123456789abcdef" for c in sha256):
        raise ValueError("not a SHA-256 hex digest")
    return f"{sha256[:2]}/{sha256[2:4]}/{sha256}"


def _spool(stream: BinaryIO, directory: Path) -> tuple[BinaryIO, str, int]:
    """Copy a stream to a fsynced temporary file in `directory`, hashing it on the way."""
    directory.mkdir(parents=True, exist_ok=True)
    digest, size = hashlib.sha256(), 0
    out = tempfile.NamedTemporaryFile(dir=directory, prefix=".incoming-", delete=False)
    try:
        while chunk := stream.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
            out.write(chunk)
        out.flush()
        os.fsync(out.fileno())
    except BaseException:
        out.close()
        os.unlink(out.name)
        raise
    return out, digest.hexdigest(), size


class LocalBlobStore:
    """Files under a directory; the embedded default."""

    def __init__(self, root: str | Path):
        self.root = Path(root)

    def _path(self, sha256: str) -> Path:
        return self.root / _shard(sha256)

    def exists(self, sha256: str) -> bool:
        return self._path(sha256).is_file()

    def put(self, stream: BinaryIO) -> tuple[str, int]:
        """Store a stream durably (fsynced) before returning its (sha256, size)."""
        spooled, sha, size = _spool(stream, self.root)
        spooled.close()
        try:
            final = self._path(sha)
            if not final.exists():
                final.parent.mkdir(parents=True, exist_ok=True)
                os.replace(spooled.name, final)
                _fsync_dir(final.parent)
        finally:
            if os.path.exists(spooled.name):
                os.unlink(spooled.name)
        return sha, size

    def open(self, sha256: str) -> BinaryIO:
        try:
            blob = open(self._path(sha256), "rb")
        except FileNotFoundError:
            raise BlobNotFound(sha256) from None
        blob.size = os.fstat(blob.fileno()).st_size
        return blob

    def local_path(self, sha256: str) -> Path:
        path = self._path(sha256)
        if not path.is_file():
            raise BlobNotFound(sha256)
        return path


# Kept for callers written before there was more than one store.
BlobStore = LocalBlobStore


class _S3Reader(io.RawIOBase):
    """A seekable view of one object: each run of sequential reads is one ranged GET."""

    def __init__(self, client, bucket: str, key: str, size: int):
        self._client, self._bucket, self._key, self.size = client, bucket, key, size
        self._pos, self._body = 0, None

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self.size}[whence]
        position = max(0, base + offset)
        if position != self._pos:
            self._drop_body()
            self._pos = position
        return self._pos

    def readinto(self, buffer) -> int:
        if self._pos >= self.size:
            return 0
        if self._body is None:
            answer = self._client.get_object(Bucket=self._bucket, Key=self._key, Range=f"bytes={self._pos}-")
            self._body = answer["Body"]
        data = self._body.read(len(buffer))
        buffer[:len(data)] = data
        self._pos += len(data)
        return len(data)

    def _drop_body(self) -> None:
        if self._body is not None:
            self._body.close()
            self._body = None

    def close(self) -> None:
        self._drop_body()
        super().close()


class S3BlobStore:
    """Objects in an S3-compatible bucket, keyed prefix/ab/cd/<sha256>; uploads are spooled and hashed
    first, so a file already stored is never uploaded again."""

    def __init__(self, bucket: str, prefix: str, spool_dir: str | Path, endpoint_url: str | None = None,
                 region: str | None = None, cache_seconds: int = 3600):
        self.bucket, self.prefix = bucket, prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.spool_dir = Path(spool_dir)
        self.cache_dir = self.spool_dir / "cache"
        self.endpoint_url, self.region, self.cache_seconds = endpoint_url, region, cache_seconds
        self._client, self._client_pid, self._lock = None, None, threading.Lock()
        self._pruned_at = 0.0

    @property
    def client(self):
        # One client per process (gunicorn forks after the app is built); boto3 clients are thread-safe.
        if self._client is None or self._client_pid != os.getpid():
            with self._lock:
                if self._client is None or self._client_pid != os.getpid():
                    import boto3
                    from botocore.config import Config
                    self._client = boto3.session.Session().client(
                        "s3", endpoint_url=self.endpoint_url, region_name=self.region,
                        config=Config(retries={"max_attempts": 3, "mode": "standard"}))
                    self._client_pid = os.getpid()
        return self._client

    def _key(self, sha256: str) -> str:
        return self.prefix + _shard(sha256)

    def _size(self, sha256: str) -> int | None:
        from botocore.exceptions import ClientError
        try:
            return self.client.head_object(Bucket=self.bucket, Key=self._key(sha256))["ContentLength"]
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return None
            raise

    def exists(self, sha256: str) -> bool:
        return self._size(sha256) is not None

    def put(self, stream: BinaryIO) -> tuple[str, int]:
        """Store a stream; returns once the object store has acknowledged it (or already had it)."""
        spooled, sha, size = _spool(stream, self.spool_dir)
        try:
            if self._size(sha) != size:
                spooled.seek(0)
                self.client.upload_fileobj(spooled, self.bucket, self._key(sha))
        finally:
            spooled.close()
            os.unlink(spooled.name)
        return sha, size

    def open(self, sha256: str) -> BinaryIO:
        size = self._size(sha256)
        if size is None:
            raise BlobNotFound(sha256)
        reader = io.BufferedReader(_S3Reader(self.client, self.bucket, self._key(sha256), size), CHUNK)
        reader.size = size
        return reader

    def local_path(self, sha256: str) -> Path:
        """A downloaded copy in a local cache; content-addressed, so a cached copy never goes stale."""
        path = self.cache_dir / _shard(sha256)
        if path.is_file():
            os.utime(path)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            with self.open(sha256) as source:
                spooled, sha, _ = _spool(source, path.parent)
            spooled.close()
            if sha != sha256:
                os.unlink(spooled.name)
                raise OSError(f"object {sha256} in the store has other content ({sha})")
            os.replace(spooled.name, path)
        self._prune_cache()
        return path

    def _prune_cache(self) -> None:
        now = time.time()
        if now - self._pruned_at < 60:
            return
        self._pruned_at = now
        for file in self.cache_dir.glob("*/*/*"):
            try:
                if now - file.stat().st_mtime > self.cache_seconds:
                    file.unlink()
            except FileNotFoundError:
                pass


def from_config(cfg: dict) -> LocalBlobStore | S3BlobStore:
    """The store BLOB_STORE names: empty for DATA_DIR/blobs, or s3://bucket[/prefix]."""
    url = cfg.get("BLOB_STORE") or ""
    if not url:
        return LocalBlobStore(Path(cfg["DATA_DIR"]) / "blobs")
    parsed = urlparse(url)
    if parsed.scheme != "s3" or not parsed.netloc:
        raise ValueError(f"BLOB_STORE must be empty or s3://bucket[/prefix], got {url!r}")
    return S3BlobStore(parsed.netloc, parsed.path, Path(cfg["DATA_DIR"]) / "blob-spool",
                       endpoint_url=cfg.get("S3_ENDPOINT_URL"), region=cfg.get("S3_REGION"))


def _fsync_dir(path: Path) -> None:
    # The rename is only durable once the directory entry itself is on disk.
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def blobs() -> LocalBlobStore | S3BlobStore:
    """The app's blob store."""
    return current_app.extensions["blobstore"]
