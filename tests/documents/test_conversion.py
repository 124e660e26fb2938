"""Every format the phone shows, really converted by the converter child (poppler, LibreOffice, Pillow,
Tesseract): its pages at the phone widths and its text, from the text layer or read from the images."""
import re
import subprocess

import pytest
from PIL import Image

from documents.convert import Limits
from documents.formats import Refused
from documents.worker import run_converter

pytestmark = pytest.mark.slow  # LibreOffice, Tesseract and poppler, for real

WIDTHS = [480, 960, 1440]


def _convert(tmp_path, content: bytes, kind: str, **limits) -> tuple[dict, str]:
    tmp_path.mkdir(parents=True, exist_ok=True)
    source = tmp_path / f"in.{kind}"
    source.write_bytes(content)
    out = tmp_path / "out"
    out.mkdir()
    result = run_converter(str(source), kind, str(out), Limits(widths=WIDTHS, **limits))
    text = (out / result["text"]).read_text(encoding="utf-8") if "text" in result else ""
    if "pages" in result:
        for page in result["pages"]:  # every listed image exists at its width, in the page's proportions
            for width, name in page["files"].items():
                with Image.open(out / name) as image:
                    assert image.width == int(width)
                    assert abs(image.height - page["height"] * int(width) / page["width"]) <= 1
    return result, text


def _words(text: str) -> str:
    return " ".join(re.findall(r"\w+", text.lower()))


@pytest.mark.parametrize("kind", ["pdf", "docx", "odt", "rtf"])
def test_a_file_with_a_text_layer_gives_its_pages_and_its_own_words(sample_files, tmp_path, kind):
    result, text = _convert(tmp_path, sample_files[kind], kind)
    assert result["kind"] == kind and result["ocr_pages"] == 0
    assert [p["n"] for p in result["pages"]] == [1]
    page = result["pages"][0]
    assert sorted(map(int, page["files"])) == WIDTHS and page["width"] == 1440
    assert 1.3 < page["height"] / page["width"] < 1.5  # an A4 page, upright
    assert "ремонте водопровода в казани" in _words(text)


@pytest.mark.parametrize("kind", ["png", "jpeg", "scanned_pdf"])
def test_a_scan_is_read_by_ocr(sample_files, tmp_path, kind):
    declared = "pdf" if kind == "scanned_pdf" else kind
    result, text = _convert(tmp_path, sample_files[kind], declared)
    assert result["ocr_pages"] == 1 and len(result["pages"]) == 1
    words = _words(text)
    assert "распоряжение о благоустройстве набережной" in words
    assert "срок исполнения" in words


def test_every_page_of_a_tiff_is_a_page_and_tatar_is_read(sample_files, tmp_path):
    result, text = _convert(tmp_path, sample_files["tiff"], "tiff")
    assert [p["n"] for p in result["pages"]] == [1, 2] and result["ocr_pages"] == 2
    first, second = (_words(t) for t in text.split("\f"))
    assert "набережной" in first and "набережной" not in second
    assert "татарстан республикасы министрлыгы" in second


def test_a_text_file_gives_its_text_in_either_encoding(sample_files, tmp_path):
    result, text = _convert(tmp_path, sample_files["txt"], "txt")
    assert result["pages"] == [] and "ремонте водопровода" in text


def test_a_page_narrower_than_the_widths_keeps_its_own(tmp_path):
    small = Image.new("L", (300, 200), 255)
    from tests.documents.samples import image_bytes
    result, _ = _convert(tmp_path, image_bytes(small, "PNG"), "png")
    assert list(result["pages"][0]["files"]) == ["300"]  # never enlarged


@pytest.mark.parametrize(("kind", "declared", "reason"), [
    ("zip_bomb", "docx", "zip_bomb"),
    ("encrypted_pdf", "pdf", "encrypted"),
    ("jpeg", "pdf", "type_mismatch"),
    ("garbage", "pdf", "unreadable"),
    ("docx", "odt", "type_mismatch"),
])
def test_poison_is_refused_with_its_reason(sample_files, tmp_path, kind, declared, reason):
    result, _ = _convert(tmp_path, sample_files[kind], declared)
    assert result.get("refused") == reason, result


def test_limits_refuse_before_the_work(sample_files, tmp_path):
    assert _convert(tmp_path / "a", sample_files["pdf"], "pdf", max_bytes=1000)[0]["refused"] == "too_large"
    result = _convert(tmp_path / "b", sample_files["tiff"], "tiff", max_pages=1)[0]
    assert result == {"refused": "too_many_pages", "params": {"pages": 2, "limit": 1}}
    assert _convert(tmp_path / "c", sample_files["png"], "png", max_pixels=100_000)[0]["refused"] == "too_many_pixels"
    assert _convert(tmp_path / "d", sample_files["pdf"], "pdf", max_pixels=100_000)[0]["refused"] == "too_many_pixels"


def test_a_conversion_past_its_time_is_stopped_with_everything_it_started(sample_files, tmp_path):
    with pytest.raises(Refused) as refused:
        _convert(tmp_path, sample_files["docx"], "docx", timeout_s=1.5)  # LibreOffice is running by then
    assert refused.value.reason == "too_slow"
    left = subprocess.run(["pgrep", "-f", str(tmp_path)], capture_output=True, text=True).stdout.split()
    assert left == []  # neither the converter nor LibreOffice outlives its time
