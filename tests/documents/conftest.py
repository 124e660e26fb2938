"""The documents worker's tests: the sample files are made once per run (LibreOffice starts slowly),
the converters installed first when the machine lacks them."""
import pytest

from . import samples

OFFICE_TEXT = ("Протокол совещания о ремонте водопровода в Казани.\n"
               "Решили заменить трубы на улице Баумана до весны.\n")
SCAN_LINES = ["Распоряжение о благоустройстве набережной", "Срок исполнения до первого декабря"]
SECOND_PAGE = ["Татарстан Республикасы Министрлыгы", "Отчёт о закупке картриджей"]


@pytest.fixture(scope="session")
def converters():
    samples.ensure_converters()


@pytest.fixture(scope="session")
def sample_files(converters, tmp_path_factory):
    """{kind: bytes} of every format the worker takes, and the poison it must refuse."""
    out = tmp_path_factory.mktemp("samples")
    office = samples.office_files(OFFICE_TEXT, out)
    page1, page2 = samples.scan(SCAN_LINES, dpi=200), samples.scan(SECOND_PAGE, dpi=200)
    files = {kind: path.read_bytes() for kind, path in office.items()}
    files.update(
        png=samples.image_bytes(page1, "PNG"),
        jpeg=samples.image_bytes(page1.convert("RGB"), "JPEG", quality=90),
        tiff=samples.tiff_pages([page1, page2]),
        scanned_pdf=samples.scanned_pdf([page1], dpi=200),
        txt=OFFICE_TEXT.encode("cp1251"),
        encrypted_pdf=samples.encrypted_pdf(office["odt"], out / "secret").read_bytes(),
        zip_bomb=samples.zip_bomb(),
        garbage=bytes(range(256)) * 64,
    )
    return files
