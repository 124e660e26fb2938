"""Content-addressed file storage: each distinct file is kept once, named by its SHA-256.

The interface (put / open / path / exists) is small so that an S3-backed store can fill it later.
"""
import hashlib
import os
import tempfile
from pathlib import Path
from typing import BinaryIO

from flask import current_app

CHUNK = 1024 * 1024


class BlobStore:
    def __init__(self, root: str | Path):
        self.root = Path(root)

    def path(self, sha256: str) -> Path:
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def exists(self, sha256: str) -> bool:
        return self.path(sha256).is_file()

    def put(self, stream: BinaryIO) -> tuple[str, int]:
        """Store a stream durably (fsynced) before returning its (sha256, size)."""
        self.root.mkdir(parents=True, exist_ok=True)
        digest, size = hashlib.sha256(), 0
        fd, tmp = tempfile.mkstemp(dir=self.root, prefix=".incoming-")
        try:
            with os.fdopen(fd, "wb") as out:
                while chunk := stream.read(CHUNK):
                    digest.update(chunk)
                    size += len(chunk)
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            sha = digest.hexdigest()
            final = self.path(sha)
            if final.exists():
                os.unlink(tmp)
            else:
                final.parent.mkdir(parents=True, exist_ok=True)
                os.replace(tmp, final)
                _fsync_dir(final.parent)
            return sha, size
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise

    def open(self, sha256: str) -> BinaryIO:
        return open(self.path(sha256), "rb")


def _fsync_dir(path: Path) -> None:
    # The rename is only durable once the directory entry itself is on disk.
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def blobs() -> BlobStore:
    """The app's blob store."""
    return current_app.extensions["blobstore"]
