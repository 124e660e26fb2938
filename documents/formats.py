"""What a file really is, from its first bytes (never from its name or declared type), and whether a
zipped office file may be opened at all."""
from __future__ import annotations

import os
import zipfile

# A zipped office file (DOCX, ODT) is refused before LibreOffice opens it when its entries would
# unpack to more than this, or to more than RATIO times the file once past RATIO_FROM bytes.
MAX_UNZIPPED = 300 * 1024 * 1024
MAX_ENTRIES = 10_000
RATIO, RATIO_FROM = 100, 20 * 1024 * 1024


class Refused(Exception):
    """The file must not or cannot be converted; trying again cannot help. `reason` is a key of
    domain.pages.REASONS, `params` what its words take."""

    def __init__(self, reason: str, **params) -> None:
        super().__init__(reason, params)
        self.reason, self.params = reason, params


def sniff(path: str) -> str:
    """pdf, docx, odt, rtf, jpeg, png, tiff, image (another picture), zip, txt or unknown."""
    with open(path, "rb") as f:
        head = f.read(8192)
    if head.startswith(b"%PDF-") or b"%PDF-" in head[:1024]:
        return "pdf"
    if head.startswith(b"PK\x03\x04"):
        return _zipped(path)
    if head.startswith(b"{\\rtf"):
        return "rtf"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return "tiff"
    if head[:6] in (b"GIF87a", b"GIF89a") or head[:2] == b"BM" or (head[:4] == b"RIFF" and head[8:12] == b"WEBP"):
        return "image"
    if _texty(head):
        return "txt"
    return "unknown"


def _texty(head: bytes) -> bool:
    if not head or b"\x00" in head:
        return not head
    for encoding in ("utf-8", "cp1251"):
        try:
            text = head.decode(encoding)
        except UnicodeDecodeError as exc:
            if encoding == "utf-8" and exc.start >= len(head) - 3:  # a character cut by the 8 KB read
                text = head[:exc.start].decode(encoding)
            else:
                continue
        controls = sum(1 for ch in text if ord(ch) < 32 and ch not in "\r\n\t\f")
        return controls <= len(text) // 100
    return False


def _zipped(path: str) -> str:
    try:
        with zipfile.ZipFile(path) as z:
            names = set(z.namelist())
            if "word/document.xml" in names:
                return "docx"
            if "mimetype" in names and z.getinfo("mimetype").file_size < 200:
                kind = z.read("mimetype").strip()
                if kind == b"application/vnd.oasis.opendocument.text":
                    return "odt"
            return "zip"
    except (zipfile.BadZipFile, OSError, KeyError, RuntimeError, NotImplementedError):
        return "unknown"


def check_zip(path: str) -> None:
    """Refuse a zipped office file that would unpack to too much (a zip bomb), before anything unpacks it."""
    packed = max(1, os.path.getsize(path))
    try:
        with zipfile.ZipFile(path) as z:
            infos = z.infolist()
    except (zipfile.BadZipFile, OSError) as exc:
        raise Refused("unreadable") from exc
    if len(infos) > MAX_ENTRIES:
        raise Refused("zip_bomb")
    total = sum(i.file_size for i in infos)
    if total > MAX_UNZIPPED or (total > RATIO_FROM and total > RATIO * packed):
        raise Refused("zip_bomb")
    for info in infos:  # one entry squeezed far beyond what deflate gives real text
        if info.file_size > RATIO_FROM and info.file_size > RATIO * max(1, info.compress_size):
            raise Refused("zip_bomb")
