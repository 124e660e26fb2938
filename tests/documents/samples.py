"""Files of every kind the documents worker takes, made on the spot: office files and PDFs by LibreOffice
from text, scans by drawing text with Pillow in DejaVu Sans (then blurred, tilted, speckled or
JPEG-compressed on request), and the files it must refuse. Shared by the tests and the benchmarks."""
from __future__ import annotations

import io
import os
import random
import shutil
import subprocess
import tempfile
import zipfile
from pathlib import Path

from tests.debian import apt_install

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
TOOLS = {"pdftoppm": "poppler-utils", "pdftotext": "poppler-utils", "tesseract": "tesseract-ocr",
         "soffice": "libreoffice-writer-nogui"}
LANGUAGES = ("rus", "tat", "eng")


def ensure_converters() -> None:
    """Install the converters' Debian packages when missing (a fresh machine has none)."""
    missing = {pkg for exe, pkg in TOOLS.items() if shutil.which(exe) is None}
    tessdata = [p for p in ("/usr/share/tesseract-ocr/5/tessdata", "/usr/share/tesseract-ocr/4.00/tessdata")
                if os.path.isdir(p)]
    for lang in LANGUAGES:
        if not any(os.path.exists(f"{d}/{lang}.traineddata") for d in tessdata):
            missing.add(f"tesseract-ocr-{lang}")
    if not os.path.exists(FONT):
        missing.add("fonts-dejavu-core")
    if missing:
        apt_install("--no-install-recommends", *sorted(missing))


def soffice(source: Path, target: str, out: Path) -> Path:
    """Convert `source` with LibreOffice to `target` (a format, optionally with filter options) in `out`."""
    # One profile per process, kept: making a new one costs LibreOffice a second or two each start.
    profile = Path(tempfile.gettempdir()) / f"samples-office-profile-{os.getpid()}"
    subprocess.run(["soffice", "--headless", "--norestore", f"-env:UserInstallation=file://{profile}",
                    "--convert-to", target, "--outdir", str(out), str(source)],
                   check=True, capture_output=True, timeout=180, env={**os.environ, "HOME": str(profile)})
    return out / f"{source.stem}.{target.split(':', 1)[0]}"


def office_files(text: str, out: Path, name: str = "letter") -> dict[str, Path]:
    """The text as ODT (LibreOffice from plain text), then DOCX, RTF and PDF from that ODT."""
    out.mkdir(parents=True, exist_ok=True)
    source = out / f"{name}.txt"
    source.write_text(text, encoding="utf-8")
    odt = soffice(source, "odt", out)
    return {"odt": odt, "docx": soffice(odt, "docx", out), "rtf": soffice(odt, "rtf", out),
            "pdf": soffice(odt, "pdf", out)}


def encrypted_pdf(source_odt: Path, out: Path) -> Path:
    """A PDF that opens only with a password."""
    out.mkdir(parents=True, exist_ok=True)
    options = ('pdf:writer_pdf_Export:{"EncryptFile":{"type":"boolean","value":"true"},'
               '"DocumentOpenPassword":{"type":"string","value":"secret"}}')
    return soffice(source_odt, options, out)


def scan(lines: list[str], dpi: int = 300, skew: float = 0.0, noise: float = 0.0, blur: float = 0.0,
         width_in: float = 8.27):
    """Text drawn as a scanner at `dpi` would see it, as a Pillow image (grey): 12 pt DejaVu Sans on a
    page `width_in` inches wide, tilted by `skew` degrees, with a share `noise` of pixels speckled."""
    from PIL import Image, ImageDraw, ImageFilter, ImageFont

    font = ImageFont.truetype(FONT, round(14 * dpi / 72))
    line_h = round(font.size * 1.6)
    margin = round(0.8 * dpi)
    width = round(width_in * dpi)
    image = Image.new("L", (width, margin * 2 + line_h * len(lines)), 255)
    draw = ImageDraw.Draw(image)
    for i, line in enumerate(lines):
        draw.text((margin, margin + i * line_h), line, font=font, fill=0)
    if blur:
        image = image.filter(ImageFilter.GaussianBlur(blur))
    if skew:
        image = image.rotate(skew, resample=Image.BICUBIC, expand=True, fillcolor=255)
    if noise:
        rng = random.Random(7)
        pixels = image.load()
        for _ in range(int(image.width * image.height * noise)):
            x, y = rng.randrange(image.width), rng.randrange(image.height)
            pixels[x, y] = 0 if pixels[x, y] > 127 else 255
    return image


def image_bytes(image, fmt: str, **options) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **options)
    return out.getvalue()


def tiff_pages(images: list) -> bytes:
    out = io.BytesIO()
    images[0].save(out, "TIFF", save_all=True, append_images=images[1:], compression="tiff_deflate")
    return out.getvalue()


def scanned_pdf(images: list, dpi: int = 300) -> bytes:
    """A PDF of page images and no text layer, as a scanner makes."""
    out = io.BytesIO()
    images[0].convert("RGB").save(out, "PDF", save_all=True, append_images=[i.convert("RGB") for i in images[1:]],
                                  resolution=dpi)
    return out.getvalue()


def zip_bomb(unpacked: int = 64 * 1024 * 1024) -> bytes:
    """A DOCX whose document part unpacks to `unpacked` bytes of zeros from a few tens of kilobytes."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        with z.open("word/document.xml", "w", force_zip64=True) as part:
            chunk = b"\0" * (1024 * 1024)
            for _ in range(unpacked // len(chunk)):
                part.write(chunk)
    return out.getvalue()
