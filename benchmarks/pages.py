"""Page images: the documents worker's conversion against the bare tools on the same files.

- pages per second of a multi-page PDF through the converter child (documents.convert: pdfinfo,
  pdftotext, pdftoppm, three WebP widths) against bare `pdftoppm -png` at the widest width, and of a
  DOCX through the converter against bare LibreOffice `--convert-to pdf` + `pdftoppm`: paired rounds,
  the median of the rounds' ratios;
- bytes of a page image at each width;
- time from registration (POST /documents) to the first page ready (GET …/pages says `ready`), with
  the worker polling as in production on SQLite (DOCUMENTS_POLL_S, 1 s; PostgreSQL wakes it by NOTIFY).

    python benchmarks/pages.py        # BENCH_ROUNDS (5), BENCH_PAGES (8)
"""
from __future__ import annotations

import io
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script from anywhere in a checkout

from documents.convert import Limits  # noqa: E402
from documents.worker import run_converter  # noqa: E402
from tests.documents import samples  # noqa: E402
from tests.support.timing import paired  # noqa: E402

ROUNDS = int(os.environ.get("BENCH_ROUNDS", "5"))
PAGES = int(os.environ.get("BENCH_PAGES", "8"))
PARAGRAPH = ("Во исполнение постановления Правительства Республики Татарстан прошу представить сведения о ходе "
             "ремонта автомобильных дорог местного значения, мостов и водопроводов в срок до первого декабря. ")


def children_cpu() -> float:
    """CPU seconds of the finished child processes (and theirs) so far: the converter and the tools."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def long_text(pages: int) -> str:
    return "\n".join(f"{i}. " + PARAGRAPH * 3 for i in range(1, pages * 6 + 1)) + "\n"


def ours(path: Path, kind: str) -> tuple[dict, dict]:
    out = tempfile.mkdtemp(prefix="bench-ours-")
    try:
        started, cpu = time.perf_counter(), children_cpu()
        result = run_converter(str(path), kind, out, Limits())
        seconds = {"wall": time.perf_counter() - started, "cpu": children_cpu() - cpu}
        sizes = {}
        for page in result["pages"]:
            for width, name in page["files"].items():
                sizes.setdefault(int(width), []).append(os.path.getsize(os.path.join(out, name)))
        return seconds, {"pages": len(result["pages"]), "sizes": sizes}
    finally:
        shutil.rmtree(out, ignore_errors=True)


def bare_pdf(path: Path) -> dict:
    out = tempfile.mkdtemp(prefix="bench-bare-")
    try:
        started, cpu = time.perf_counter(), children_cpu()
        subprocess.run(["pdftoppm", "-png", "-scale-to-x", "1440", "-scale-to-y", "-1", str(path), f"{out}/p"],
                       check=True, capture_output=True)
        return {"wall": time.perf_counter() - started, "cpu": children_cpu() - cpu}
    finally:
        shutil.rmtree(out, ignore_errors=True)


def bare_office(path: Path) -> dict:
    out = tempfile.mkdtemp(prefix="bench-bare-")
    try:
        started, cpu = time.perf_counter(), children_cpu()
        source = Path(out) / f"in{path.suffix}"
        shutil.copyfile(path, source)
        profile = Path(out) / "profile"
        subprocess.run(["soffice", "--headless", "--norestore", f"-env:UserInstallation=file://{profile}",
                        "--convert-to", "pdf", "--outdir", out, str(source)], check=True, capture_output=True,
                       env={**os.environ, "HOME": out})
        subprocess.run(["pdftoppm", "-png", "-scale-to-x", "1440", "-scale-to-y", "-1", f"{out}/in.pdf", f"{out}/p"],
                       check=True, capture_output=True)
        return {"wall": time.perf_counter() - started, "cpu": children_cpu() - cpu}
    finally:
        shutil.rmtree(out, ignore_errors=True)


def compare(name: str, path: Path, kind: str, baseline) -> dict:
    print(f"\n{name}: {ROUNDS} paired rounds (converter vs bare tools)", flush=True)
    seen: dict = {}

    def subject() -> dict:
        seconds, info = ours(path, kind)
        seen.update(info)
        return seconds

    def progress(i, result):
        ours_, bare_ = result.subject[-1], result.baseline[-1]
        print(f"  round {i + 1}/{ROUNDS}: ours {ours_['wall']:.2f} s ({ours_['cpu']:.2f} s CPU), bare "
              f"{bare_['wall']:.2f} s ({bare_['cpu']:.2f} s CPU)", flush=True)

    result = paired(subject, baseline, ROUNDS, progress)
    pages = seen["pages"]
    figures = {"pages": pages, "ours_pages_per_s": pages / result.median("subject", "wall"),
               "bare_pages_per_s": pages / result.median("baseline", "wall"), "ratio": result.ratio("wall"),
               "ours_cpu_per_page": result.median("subject", "cpu") / pages,
               "bare_cpu_per_page": result.median("baseline", "cpu") / pages, "cpu_ratio": result.ratio("cpu"),
               "sizes": {w: statistics.median(v) for w, v in sorted(seen["sizes"].items())}}
    print(f"  {pages} pages: ours {figures['ours_pages_per_s']:.2f} pages/s, bare {figures['bare_pages_per_s']:.2f} "
          f"pages/s; time ours/bare, median of paired ratios: {figures['ratio']:.2f}x", flush=True)
    print(f"  CPU per page: ours {figures['ours_cpu_per_page']:.2f} s, bare {figures['bare_cpu_per_page']:.2f} s; "
          f"median of paired ratios {figures['cpu_ratio']:.2f}x", flush=True)
    return figures


def registration_to_first_page(docx: bytes, rounds: int = 3) -> list[float]:
    """Seconds from POST /documents to GET …/pages answering ready, with the worker running in the background."""
    from flask_migrate import upgrade

    from documents.worker import Settings, Worker
    from mobile_api import create_app
    from mobile_api.demo import load
    from models import User, db

    data = tempfile.mkdtemp(prefix="bench-pages-")
    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{data}/bench.db", "DATA_DIR": data,
                      "SECRET_KEY": "bench-secret-key-that-is-long-enough-32", "DEMO_PASSWORD": "demo"})
    seconds = []
    with app.app_context():
        upgrade(revision="heads")
        load("demo")
        import sqlalchemy as sa
        unit = db.session.scalar(sa.select(User).where(User.username == "exec1")).units[0].id
        db.session.commit()
        worker = Worker(app, Settings.from_config(app.config), name="bench-documents")
        thread = threading.Thread(target=worker.run, daemon=True)
        thread.start()
        client = app.test_client()
        token = client.post("/api/v1/auth/login", json={"username": "clerk1", "password": "demo"}).get_json()
        headers = {"Authorization": f"Bearer {token['access_token']}"}
        time.sleep(3)  # the demo's own letters first
        for i in range(rounds):
            body = {"title": f"Протокол {i}", "correspondent": "Минстрой", "addressees": [str(unit)]}
            started = time.perf_counter()
            resp = client.post("/api/v1/documents", headers=headers, content_type="multipart/form-data",
                               data={"metadata": json.dumps(body, ensure_ascii=False),
                                     "file": (io.BytesIO(docx + b" " * i), f"Протокол-{i}.docx")})
            doc = resp.get_json()
            pages = f"/api/v1/documents/{doc['id']}/attachments/{doc['attachments'][0]['id']}/pages"
            while client.get(pages, headers=headers).get_json()["status"] == "processing":
                time.sleep(0.05)
            seconds.append(time.perf_counter() - started)
            print(f"  registration {i + 1}/{rounds}: first page ready after {seconds[-1]:.2f} s", flush=True)
        worker.stop()
        thread.join(30)
    shutil.rmtree(data, ignore_errors=True)
    return seconds


def main() -> None:
    samples.ensure_converters()
    work = Path(tempfile.mkdtemp(prefix="bench-samples-"))
    print(f"Making a {PAGES}-page document with LibreOffice…", flush=True)
    office = samples.office_files(long_text(PAGES), work, "report")
    pdf, docx = office["pdf"], office["docx"]
    pdf_figures = compare(f"PDF ({pdf.stat().st_size // 1024} KB)", pdf, "pdf", lambda: bare_pdf(pdf))
    docx_figures = compare(f"DOCX ({docx.stat().st_size // 1024} KB)", docx, "docx", lambda: bare_office(docx))
    print("\nBytes of a page image (median over the PDF's pages):")
    for width, size in pdf_figures["sizes"].items():
        print(f"  {width:>5} px: {size / 1024:.1f} KB")
    print("\nRegistration to first page ready (one-page DOCX, worker polling every 1 s on SQLite):", flush=True)
    one_page = samples.office_files(PARAGRAPH * 4, work / "one", "one")["docx"].read_bytes()
    times = registration_to_first_page(one_page)
    print(f"  median {statistics.median(times):.2f} s over {len(times)} registrations")
    shutil.rmtree(work, ignore_errors=True)
    print("\nSummary:")
    print(f"  PDF  {pdf_figures['pages']} pages: ours {pdf_figures['ours_pages_per_s']:.2f} pages/s vs bare pdftoppm "
          f"{pdf_figures['bare_pages_per_s']:.2f} pages/s, time ratio {pdf_figures['ratio']:.2f}x, "
          f"CPU ratio {pdf_figures['cpu_ratio']:.2f}x")
    print(f"  DOCX {docx_figures['pages']} pages: ours {docx_figures['ours_pages_per_s']:.2f} pages/s vs bare "
          f"LibreOffice+pdftoppm {docx_figures['bare_pages_per_s']:.2f} pages/s, "
          f"time ratio {docx_figures['ratio']:.2f}x, CPU ratio {docx_figures['cpu_ratio']:.2f}x")


if __name__ == "__main__":
    main()
