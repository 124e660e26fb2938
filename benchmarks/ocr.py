"""OCR of scans: the documents worker's reading against bare Tesseract on the same images.

Scans are made here: Russian and Tatar text drawn in DejaVu Sans (12 pt) as a scanner at 150, 200 and
300 dpi sees it, then tilted, speckled or squeezed by JPEG. Each image is read by the converter child
(documents.convert, as the worker runs it: `-l rus+tat+eng`) and by bare `tesseract … -l rus+tat+eng`;
the character error rate (edit distance / reference length, whitespace collapsed) of both, and how
much each degradation costs against the clean 300 dpi page. Time: median of paired ratios.

    python benchmarks/ocr.py
"""
from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script from anywhere in a checkout

from documents.convert import Limits  # noqa: E402
from documents.worker import run_converter  # noqa: E402
from tests.documents import samples  # noqa: E402
from tests.support.timing import Paired  # noqa: E402

TEXTS = {
    "ru": ["Распоряжение о благоустройстве набережной реки",
           "Прошу обеспечить ремонт водопровода до первого",
           "декабря и представить отчёт о закупке картриджей.",
           "Исполнитель: заместитель министра строительства."],
    "tt": ["Татарстан Республикасы Министрлар Кабинеты",
           "Җирле үзидарә органнарына хат җибәрергә кирәк.",
           "Өченче кварталда эшләр тәмамланырга тиеш.",
           "Һәр районда мәктәпләр ремонтлана башлады."],
}
CONDITIONS = [  # name, dpi, options of samples.scan, JPEG quality (None: PNG)
    ("clean 300 dpi", 300, {}, None),
    ("clean 200 dpi", 200, {}, None),
    ("clean 150 dpi", 150, {}, None),
    ("skew 2°, 300 dpi", 300, {"skew": 2.0}, None),
    ("noise 2%, 300 dpi", 300, {"noise": 0.02}, None),
    ("blur + JPEG q30, 200 dpi", 200, {"blur": 0.8}, 30),
]


def distance(a: str, b: str) -> int:
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def cer(reference: str, read: str) -> float:
    ref, hyp = " ".join(reference.split()), " ".join(read.split())
    return distance(ref, hyp) / max(1, len(ref))


def ours(path: Path, kind: str) -> tuple[float, str]:
    out = tempfile.mkdtemp(prefix="bench-ocr-")
    try:
        started = time.perf_counter()
        result = run_converter(str(path), kind, out, Limits())
        seconds = time.perf_counter() - started
        return seconds, Path(out, result["text"]).read_text(encoding="utf-8")
    finally:
        shutil.rmtree(out, ignore_errors=True)


def bare(path: Path) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run(["tesseract", str(path), "stdout", "-l", "rus+tat+eng"], check=True, capture_output=True,
                          env={**os.environ, "OMP_THREAD_LIMIT": "1"})
    return time.perf_counter() - started, done.stdout.decode("utf-8", "replace")


def main() -> None:
    samples.ensure_converters()
    work = Path(tempfile.mkdtemp(prefix="bench-scans-"))
    rows, timing = [], Paired()
    total = len(TEXTS) * len(CONDITIONS)
    for language, lines in TEXTS.items():
        for name, dpi, options, quality in CONDITIONS:
            image = samples.scan(lines, dpi=dpi, **options)
            if quality:
                path, kind = work / f"{language}-{dpi}-{len(rows)}.jpg", "jpeg"
                image.convert("RGB").save(path, "JPEG", quality=quality)
            else:
                path, kind = work / f"{language}-{dpi}-{len(rows)}.png", "png"
                image.save(path, "PNG")
            reference = "\n".join(lines)
            if len(rows) % 2:
                (ours_s, ours_text), (bare_s, bare_text) = ours(path, kind), bare(path)
            else:
                (bare_s, bare_text), (ours_s, ours_text) = bare(path), ours(path, kind)
            timing.subject.append(ours_s)
            timing.baseline.append(bare_s)
            row = (language, name, cer(reference, ours_text), cer(reference, bare_text), ours_s, bare_s)
            rows.append(row)
            print(f"  [{len(rows)}/{total}] {language} {name:<26} CER ours {row[2]:6.2%}  bare {row[3]:6.2%}  "
                  f"({ours_s:.1f} s / {bare_s:.1f} s)", flush=True)
    shutil.rmtree(work, ignore_errors=True)

    print("\nCharacter error rate (ours | bare tesseract), and the cost of each degradation vs clean 300 dpi:")
    for language in TEXTS:
        clean = next(r for r in rows if r[0] == language and r[1] == "clean 300 dpi")
        for r in (r for r in rows if r[0] == language):
            print(f"  {language} {r[1]:<26} {r[2]:6.2%} | {r[3]:6.2%}   +{(r[2] - clean[2]) * 100:5.2f} points")
    same = sum(1 for r in rows if abs(r[2] - r[3]) < 1e-9)
    print(f"\nOurs equals bare tesseract on {same} of {len(rows)} images; mean CER ours "
          f"{statistics.mean(r[2] for r in rows):.2%}, bare {statistics.mean(r[3] for r in rows):.2%}")
    print(f"Time per image ours/bare (converter child: Python start, Pillow, page images, then tesseract), "
          f"median of paired ratios: {timing.ratio():.2f}x")


if __name__ == "__main__":
    main()
