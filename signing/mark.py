"""A PDF of a signed document for people: its page images with the mark of each electronic signature.

The mark follows the visible representation of an electronic signature in ГОСТ Р 7.0.97 (a framed block:
«ДОКУМЕНТ ПОДПИСАН ЭЛЕКТРОННОЙ ПОДПИСЬЮ», the certificate's number, its owner and validity), one per
signature, with the time-stamp's time when there is one and, for a deputy, the principal too. The marks go
in the blank space at the foot of the last page when they all fit there, else on a signature sheet appended
after it. The mark is real text in an embedded DejaVu Sans (pdftotext and screen readers read it), not
pixels. The PDF is a human view: the signatures are over the signed content in the evidence, not over it.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from PIL import Image
from reportlab.lib.colors import Color
from reportlab.lib.utils import ImageReader
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen import canvas

FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")  # Debian: fonts-dejavu-core
REGULAR, BOLD = "DejaVuSans", "DejaVuSans-Bold"
PAGE_WIDTH = 595.28  # A4 width in points; a page image keeps its own proportions
A4_HEIGHT = 841.89
MARGIN = 28.0
MARK_WIDTH = 262.0
GAP = 14.0
SIZE, LEADING = 7.5, 9.6
INK = Color(0.05, 0.2, 0.55)  # the mark's blue, as marks are usually printed
# A pixel darker than this counts as content when looking for a blank foot on the last page.
INK_LEVEL = 200


@dataclass(frozen=True)
class Mark:
    """One signature as its mark shows it."""

    serial: str  # the certificate's serial number, hex
    owner: str  # the certificate subject's name
    valid_from: datetime
    valid_to: datetime
    signed_at: datetime  # the signing moment: the time-stamp's genTime, else the signing time
    timestamped: bool
    acting_for: str | None = None  # a deputy's principal
    what: str = ""  # what was signed, one short line
    file: str = ""  # the signature's file in the evidence


@dataclass(frozen=True)
class PageImage:
    """A page as an image (any format Pillow reads) and where it comes from."""

    image: bytes
    source: str


def _date(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%d.%m.%Y")


def _time(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%d.%m.%Y %H:%M:%S UTC")


def mark_lines(mark: Mark) -> list[tuple[str, str]]:
    """The mark's lines as (font, text), the Russian convention first, English after each line."""
    lines = [(BOLD, "ДОКУМЕНТ ПОДПИСАН"), (BOLD, "ЭЛЕКТРОННОЙ ПОДПИСЬЮ"),
             (REGULAR, "Signed with an electronic signature"),
             (REGULAR, f"Сертификат: {mark.serial}"),
             (REGULAR, f"Владелец / Owner: {mark.owner}")]
    if mark.acting_for:
        lines.append((REGULAR, f"Подписал за / Acting for: {mark.acting_for}"))
    lines.append((REGULAR, f"Действителен с {_date(mark.valid_from)} по {_date(mark.valid_to)}"))
    lines.append((REGULAR, f"Valid from {_date(mark.valid_from)} to {_date(mark.valid_to)}"))
    if mark.timestamped:
        lines.append((REGULAR, f"Метка времени / Time-stamp: {_time(mark.signed_at)}"))
    else:
        lines.append((REGULAR, f"Подписан / Signed: {_time(mark.signed_at)}"))
    if mark.what:
        lines.append((REGULAR, mark.what))
    if mark.file:
        lines.append((REGULAR, mark.file))
    return lines


def _fitted(text: str, font: str, width: float) -> list[str]:
    """The text broken into lines no wider than width (by words; a word too long is cut)."""
    out, line = [], ""
    for word in text.split(" "):
        candidate = f"{line} {word}" if line else word
        if pdfmetrics.stringWidth(candidate, font, SIZE) <= width:
            line = candidate
            continue
        if line:
            out.append(line)
        line = word
        while pdfmetrics.stringWidth(line, font, SIZE) > width:
            cut = len(line)
            while cut > 1 and pdfmetrics.stringWidth(line[:cut], font, SIZE) > width:
                cut -= 1
            out.append(line[:cut])
            line = line[cut:]
    out.append(line)
    return out


def _laid_out(mark: Mark) -> list[tuple[str, float, str]]:
    """(font, size, text) per printed line: the certificate's number kept on one line, smaller if need be (a
    serial is up to 40 hex digits); other lines broken by words."""
    out = []
    for font, text in mark_lines(mark):
        if text.startswith("Сертификат:"):
            size = SIZE
            while size > 5 and pdfmetrics.stringWidth(text, font, size) > MARK_WIDTH - 12:
                size -= 0.25
            out.append((font, size, text))
        else:
            out += [(font, SIZE, part) for part in _fitted(text, font, MARK_WIDTH - 12)]
    return out


def _height(mark: Mark) -> float:
    return len(_laid_out(mark)) * LEADING + 10


def _draw_mark(pdf: canvas.Canvas, mark: Mark, x: float, top: float) -> None:
    lines = _laid_out(mark)
    height = len(lines) * LEADING + 10
    pdf.setStrokeColor(INK)
    pdf.setFillColor(INK)
    pdf.setLineWidth(1.2)
    pdf.roundRect(x, top - height, MARK_WIDTH, height, 4, stroke=1, fill=0)
    y = top - 5 - SIZE
    for font, size, text in lines:
        pdf.setFont(font, size)
        if font == BOLD:
            pdf.drawCentredString(x + MARK_WIDTH / 2, y, text)
        else:
            pdf.drawString(x + 6, y, text)
        y -= LEADING


def _rows(marks: Sequence[Mark]) -> list[tuple[Sequence[Mark], float]]:
    """Marks two to a row, each row with its height."""
    rows = []
    for i in range(0, len(marks), 2):
        pair = marks[i:i + 2]
        rows.append((pair, max(_height(m) for m in pair)))
    return rows


def _blank_foot(image: Image.Image) -> float:
    """The share of the image's height that is blank at its foot."""
    grey = image.convert("L")
    content = grey.point(lambda v: 255 if v < INK_LEVEL else 0).getbbox()
    if content is None:
        return 1.0
    return (grey.height - content[3]) / grey.height


def _lossy(data: bytes) -> bool:
    """A photo-like page: a JPEG, or a WebP in its lossy (VP8) form, as the documents worker stores scans."""
    return data[:3] == b"\xff\xd8\xff" or (data[:4] == b"RIFF" and data[8:16] == b"WEBPVP8 ")


def _embeddable(data: bytes, image: Image.Image) -> ImageReader:
    """A photo-like page goes in as JPEG (DCT: far smaller than its deflated pixels), a text page as lossless pixels."""
    if not _lossy(data):
        return ImageReader(image)
    jpeg = io.BytesIO()
    image.save(jpeg, "JPEG", quality=85, optimize=True)
    jpeg.seek(0)
    return ImageReader(jpeg)


def _register_fonts() -> None:
    for name, file in ((REGULAR, "DejaVuSans.ttf"), (BOLD, "DejaVuSans-Bold.ttf")):
        if name not in pdfmetrics.getRegisteredFontNames():
            pdfmetrics.registerFont(TTFont(name, str(FONT_DIR / file)))


def _draw_rows(pdf: canvas.Canvas, rows, top: float) -> float:
    for pair, height in rows:
        for i, mark in enumerate(pair):
            _draw_mark(pdf, mark, MARGIN + i * (MARK_WIDTH + GAP), top)
        top -= height + GAP
    return top


def signed_pdf(title: str, pages: Sequence[PageImage], marks: Sequence[Mark]) -> tuple[bytes, int]:
    """The PDF and how many signature-sheet pages it appended after the document's pages. Deterministic: the
    same pages and marks give the same bytes."""
    _register_fonts()
    out = io.BytesIO()
    pdf = canvas.Canvas(out, pageCompression=1, invariant=1)
    pdf.setTitle(title)
    pdf.setSubject("Документ подписан электронной подписью / Signed with an electronic signature")
    pdf.setCreator("mobile office")
    rows = _rows(marks)
    needed = sum(height + GAP for _, height in rows) + MARGIN
    placed = False
    for i, page in enumerate(pages):
        image = Image.open(io.BytesIO(page.image))
        image.load()
        if image.mode not in ("RGB", "L"):
            image = image.convert("RGB")
        height = PAGE_WIDTH * image.height / image.width
        pdf.setPageSize((PAGE_WIDTH, height))
        pdf.drawImage(_embeddable(page.image, image), 0, 0, PAGE_WIDTH, height)
        last = i == len(pages) - 1
        if last and rows and _blank_foot(image) * height >= needed:
            _draw_rows(pdf, rows, needed - GAP)  # the last row ends MARGIN above the foot
            placed = True
        pdf.showPage()
    sheets = 0
    if rows and not placed:
        pending = list(rows)
        while pending:
            sheets += 1
            pdf.setPageSize((PAGE_WIDTH, A4_HEIGHT))
            pdf.setFillColor(INK)
            pdf.setFont(BOLD, 11)
            pdf.drawString(MARGIN, A4_HEIGHT - MARGIN - 11, "Лист электронных подписей / Electronic signatures")
            pdf.setFont(REGULAR, SIZE)
            pdf.drawString(MARGIN, A4_HEIGHT - MARGIN - 11 - 2 * LEADING, title)
            top = A4_HEIGHT - MARGIN - 11 - 4 * LEADING
            while pending and top - pending[0][1] >= MARGIN:
                top = _draw_rows(pdf, [pending.pop(0)], top)
            pdf.showPage()
    pdf.save()
    return out.getvalue(), sheets
