"""The PDF view of a signed document: the marks go in the blank foot of the last page when they fit there,
else on an appended signature sheet; their words are text (pdftotext reads them) and the bytes are the same
for the same input."""
import io
import os
import shutil
import subprocess
from datetime import datetime, timezone

import pytest
from PIL import Image, ImageDraw

from signing.mark import FONT_DIR, Mark, PageImage, signed_pdf
from tests.debian import apt_install

SIGNED = datetime(2026, 12, 7, 9, 30, 15, tzinfo=timezone.utc)
MARKS = [
    Mark("4D5C80DD2FD0BC0739A62FD2D22F2B903175CEB6", "Сидоров Сергей Сергеевич",
         datetime(2026, 1, 10, tzinfo=timezone.utc), datetime(2027, 1, 10, tzinfo=timezone.utc), SIGNED,
         True, acting_for="Петров Пётр Петрович"),
    Mark("0A1B", "Иванова Анна Ивановна", datetime(2025, 3, 1, tzinfo=timezone.utc),
         datetime(2026, 12, 31, tzinfo=timezone.utc), SIGNED, False),
]


@pytest.fixture(scope="module", autouse=True)
def tools():
    """poppler-utils reads the PDF as a person's tools would; the mark's font is DejaVu Sans."""
    missing = [package for package, present in (("poppler-utils", shutil.which("pdftotext")),
                                                ("fonts-dejavu-core", os.path.exists(FONT_DIR / "DejaVuSans.ttf")))
               if not present]
    if missing:
        apt_install("--no-install-recommends", *missing)


def _page(written_to: int) -> bytes:
    """A 1440 px wide page (WebP, as the documents worker stores them) with text-like bars down to a row."""
    image = Image.new("L", (1440, 2036), 255)
    draw = ImageDraw.Draw(image)
    for y in range(120, written_to, 40):
        draw.rectangle((120, y, 1320, y + 14), fill=0)
    out = io.BytesIO()
    image.save(out, "WEBP", lossless=True)
    return out.getvalue()


def _text(pdf: bytes, tmp_path, page: int) -> str:
    path = tmp_path / "view.pdf"
    path.write_bytes(pdf)
    return subprocess.run(["pdftotext", "-f", str(page), "-l", str(page), str(path), "-"], capture_output=True,
                          text=True, check=True).stdout


def _pages(pdf: bytes, tmp_path) -> int:
    path = tmp_path / "view.pdf"
    path.write_bytes(pdf)
    info = subprocess.run(["pdfinfo", str(path)], capture_output=True, text=True, check=True).stdout
    return int(next(line for line in info.splitlines() if line.startswith("Pages:")).split()[1])


def test_marks_fit_in_the_blank_foot_of_the_last_page(tmp_path):
    pages = [PageImage(_page(1900), "Письмо.pdf, 1"), PageImage(_page(700), "Письмо.pdf, 2")]
    pdf, sheets = signed_pdf("№ 12: О ремонте", pages, MARKS)
    assert sheets == 0 and _pages(pdf, tmp_path) == 2
    assert _text(pdf, tmp_path, 1).strip() == ""  # the first page is the image alone
    last = _text(pdf, tmp_path, 2)
    assert last.count("ДОКУМЕНТ ПОДПИСАН") == 2
    # A serial of 40 hex digits stays on one line (smaller), as it must to be read and compared
    assert "Сертификат: 4D5C80DD2FD0BC0739A62FD2D22F2B903175CEB6" in last and "Сертификат: 0A1B" in last
    assert "Владелец / Owner: Сидоров Сергей Сергеевич" in last
    assert "Подписал за / Acting for: Петров Пётр Петрович" in last
    assert "Действителен с 10.01.2026 по 10.01.2027" in last and "Действителен с 01.03.2025 по 31.12.2026" in last
    assert "Метка времени / Time-stamp: 07.12.2026 09:30:15 UTC" in last  # the time-stamped one
    assert "Подписан / Signed: 07.12.2026 09:30:15 UTC" in last  # the other: its signing time
    assert signed_pdf("№ 12: О ремонте", pages, MARKS)[0] == pdf


@pytest.mark.parametrize("count", [2, 30])
def test_a_full_last_page_gets_signature_sheets_after_it(tmp_path, count):
    marks = [MARKS[i % 2] for i in range(count)]
    pdf, sheets = signed_pdf("№ 12: О ремонте", [PageImage(_page(1990), "Письмо.pdf, 1")], marks)
    assert sheets == (1 if count == 2 else 3)  # six rows of two marks fit on a sheet
    assert _pages(pdf, tmp_path) == 1 + sheets
    assert _text(pdf, tmp_path, 1).strip() == ""  # the page's own writing is left uncovered
    found = sum(_text(pdf, tmp_path, n).count("ЭЛЕКТРОННОЙ ПОДПИСЬЮ") for n in range(2, 2 + sheets))
    assert found == count
    assert "Лист электронных подписей / Electronic signatures" in _text(pdf, tmp_path, 2)


def test_a_scanned_page_goes_in_as_jpeg_a_text_page_as_lossless_pixels(tmp_path):
    photo = Image.effect_noise((1440, 2036), 40).convert("RGB")
    lossy = io.BytesIO()
    photo.save(lossy, "WEBP", quality=80)  # as the documents worker stores a photo-like page
    pdf, _ = signed_pdf("Скан", [PageImage(_page(900), "a, 1"), PageImage(lossy.getvalue(), "b, 1")], MARKS)
    path = tmp_path / "view.pdf"
    path.write_bytes(pdf)
    listed = subprocess.run(["pdfimages", "-list", str(path)], capture_output=True, text=True, check=True).stdout
    encodings = [line.split()[8] for line in listed.splitlines()[2:]]
    assert encodings == ["image", "jpeg"]
    assert len(pdf) < len(lossy.getvalue()) * 3  # not the deflated pixels (3.5 times the WebP for this noise)
