"""One file to page images and text. Run as a child process: `python -m documents.convert JOB.json`.

The job names the input file, its declared kind, an output directory and the limits. The child first
limits itself (address space, CPU seconds, size of any file it writes; the tools it starts inherit
the limits), then converts and writes `result.json` in the output directory:
`{"kind", "pages": [{"n", "width", "height", "files": {width: file}}], "text": file, "ocr_pages"}`,
or `{"refused": reason, "params": {...}}` for a file that must not or cannot be converted. Any other
ending (a crash, a kill, a non-zero exit) is the worker's to count as a failed attempt.

- PDF: `pdfinfo` (pages, sizes, encryption), `pdftotext` (the text layer, page by page), `pdftoppm`
  (pages as PNG at the largest width). A page with no text layer is rendered again at 300 dpi in grey
  and read by Tesseract.
- DOCX, ODT (checked for zip bombs first), RTF: LibreOffice headless to PDF, with a profile directory
  of its own per run (two conversions at once never share one), then as a PDF.
- JPEG, PNG, TIFF (every frame a page): Pillow, the pixel count checked before any pixel is decoded;
  each page read by Tesseract.
- TXT: its text (UTF-8, else Windows-1251); no pages.
Page images: WebP (PNG when Pillow has no WebP) at each configured width not wider than the page,
lossless for text pages, lossy for photo-like ones.
"""
from __future__ import annotations

import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field

from .formats import Refused, check_zip, sniff

OFFICE = ("docx", "odt", "rtf")
IMAGES = ("jpeg", "png", "tiff")
KINDS = ("pdf", *OFFICE, *IMAGES, "txt")
OCR_DPI = 300
WORD_CHARS = re.compile(r"\w")
MIN_TEXT_CHARS = 16  # a page whose text layer holds fewer letters than this is read from its image


@dataclass
class Limits:
    max_bytes: int = 50 * 1024 * 1024
    max_pages: int = 200
    max_pixels: int = 60_000_000
    timeout_s: float = 600.0  # the whole conversion
    tool_timeout_s: float = 180.0  # one run of one tool
    memory_mb: int = 3072
    widths: list[int] = field(default_factory=lambda: [480, 960, 1440])
    languages: str = "rus+tat+eng"


def image_format() -> tuple[str, str]:
    """(Pillow format, extension) of page images: WebP when this Pillow writes it, else PNG."""
    from PIL import features
    return ("WEBP", "webp") if features.check("webp") else ("PNG", "png")


def die_with_parent() -> None:
    """Ask the kernel to SIGKILL this process when its parent dies (PR_SET_PDEATHSIG)."""
    try:
        import ctypes
        import signal
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)
    except OSError:
        pass


def tool(args: list[str], limits: Limits, timeout: float | None = None, **kw) -> subprocess.CompletedProcess:
    """Run a tool with a timeout, killed if the converter dies; a tool out of time refuses the file."""
    env = {**os.environ, "OMP_THREAD_LIMIT": "1", "LC_ALL": "C.UTF-8"}
    try:
        # preexec_fn is safe here: the converter child runs one thread.
        return subprocess.run(args, capture_output=True, timeout=timeout or limits.tool_timeout_s, env=env,
                              check=False, preexec_fn=die_with_parent, **kw)
    except subprocess.TimeoutExpired:
        raise Refused("too_slow", limit_s=int(timeout or limits.tool_timeout_s)) from None


def ocr(image_path: str, limits: Limits) -> str:
    """The text Tesseract reads in an image."""
    done = tool(["tesseract", image_path, "stdout", "-l", limits.languages, "--psm", "3"], limits)
    if done.returncode != 0:  # our image, made just now: the tool or its languages are at fault, not the file
        raise RuntimeError(f"tesseract: {done.stderr.decode('utf-8', 'replace').strip()[-300:]}")
    return done.stdout.decode("utf-8", "replace")


def _flat(image):
    """RGB or grey, transparency laid on white (a scan's PNG with an alpha channel reads as paper)."""
    from PIL import Image

    if image.mode in ("RGB", "L"):
        return image
    if image.mode in ("RGBA", "LA", "P", "PA") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        white = Image.new("RGB", rgba.size, (255, 255, 255))
        white.paste(rgba, mask=rgba.getchannel("A"))
        return white
    return image.convert("L" if image.mode in ("1", "I", "I;16", "F") else "RGB")


def encode(image, path: str, fmt: str) -> None:
    """A page image as small as it stays sharp: WebP lossless (a text page: sharp and a few KB), unless
    the page is photo-like (lossless past 0.1 byte a pixel), then lossy quality 80 when that is smaller."""
    if fmt != "WEBP":
        image.save(path, fmt, optimize=True)
        return
    image.save(path, fmt, lossless=True, method=2)
    size = os.path.getsize(path)
    if size > 0.1 * image.width * image.height:
        lossy = path + ".lossy"
        image.save(lossy, fmt, quality=80, method=4)
        if os.path.getsize(lossy) < size:
            os.replace(lossy, path)
        else:
            os.unlink(lossy)


def page_images(image, n: int, out: str, limits: Limits) -> dict:
    """Save a page (a Pillow image) at every width up to its own; the page's entry of the result."""
    from PIL import Image

    fmt, ext = image_format()
    image = _flat(image)
    widths = sorted({w for w in limits.widths if w <= image.width} or {image.width})
    files = {}
    for width in widths:
        height = max(1, round(image.height * width / image.width))
        scaled = image if width == image.width else image.resize((width, height), Image.LANCZOS)
        name = f"page-{n}-{width}.{ext}"
        encode(scaled, os.path.join(out, name), fmt)
        files[str(width)] = name
    top = widths[-1]
    return {"n": n, "width": top, "height": max(1, round(image.height * top / image.width)), "files": files}


def pdf_info(path: str, limits: Limits) -> dict:
    done = tool(["pdfinfo", path], limits, timeout=60)
    out = done.stdout.decode("utf-8", "replace")
    if done.returncode != 0:
        err = done.stderr.decode("utf-8", "replace").lower()
        if "incorrect password" in err or "encrypt" in err:
            raise Refused("encrypted")
        raise Refused("unreadable", declared="pdf")
    info = {}
    for line in out.splitlines():
        key, _, value = line.partition(":")
        info[key.strip()] = value.strip()
    if info.get("Encrypted", "no").lower().startswith("yes"):
        raise Refused("encrypted")
    try:
        info["pages"] = int(info.get("Pages", "0"))
    except ValueError:
        raise Refused("unreadable", declared="pdf") from None
    return info


def _page_sizes(path: str, pages: int, limits: Limits) -> list[tuple[float, float]]:
    """Each page's size in points (pdfinfo -f 1 -l N)."""
    done = tool(["pdfinfo", "-f", "1", "-l", str(pages), path], limits, timeout=60)
    sizes = []
    for m in re.finditer(r"Page\s+\d+\s+size:\s+([\d.]+)\s+x\s+([\d.]+)", done.stdout.decode("utf-8", "replace")):
        sizes.append((float(m.group(1)), float(m.group(2))))
    return sizes


def convert_pdf(path: str, out: str, limits: Limits, declared: str = "pdf") -> dict:
    info = pdf_info(path, limits)
    count = info["pages"]
    if count < 1:
        raise Refused("unreadable", declared=declared)
    if count > limits.max_pages:
        raise Refused("too_many_pages", pages=count, limit=limits.max_pages)
    sizes = _page_sizes(path, count, limits)
    top = max(limits.widths)
    for w, h in sizes:
        if w <= 0 or h <= 0 or top * (top * h / w) > limits.max_pixels:
            raise Refused("too_many_pixels", limit_mp=limits.max_pixels // 1_000_000)
    text_file = os.path.join(out, "layer.txt")
    done = tool(["pdftotext", "-enc", "UTF-8", path, text_file], limits)
    if done.returncode != 0:
        raise Refused("unreadable", declared=declared)
    with open(text_file, encoding="utf-8", errors="replace") as f:
        layer = f.read().split("\f")
    os.unlink(text_file)
    prefix = os.path.join(out, "render")
    done = tool(["pdftoppm", "-png", "-scale-to-x", str(top), "-scale-to-y", "-1", path, prefix], limits)
    rendered = sorted(glob.glob(prefix + "-*.png"), key=lambda p: int(p.rsplit("-", 1)[1].split(".")[0]))
    if done.returncode != 0 or len(rendered) != count:
        raise Refused("unreadable", declared=declared)
    from PIL import Image

    pages, texts, ocr_pages = [], [], 0
    for n, png in enumerate(rendered, 1):
        with Image.open(png) as image:
            pages.append(page_images(image, n, out, limits))
        os.unlink(png)
        text = layer[n - 1] if n - 1 < len(layer) else ""
        if len(WORD_CHARS.findall(text)) < MIN_TEXT_CHARS:  # a scanned page: read its image
            w, h = sizes[n - 1] if n - 1 < len(sizes) else (595.0, 842.0)
            dpi = OCR_DPI
            while dpi > 72 and (w / 72 * dpi) * (h / 72 * dpi) > limits.max_pixels:
                dpi -= 50
            scan = os.path.join(out, "scan")
            done = tool(["pdftoppm", "-png", "-gray", "-r", str(dpi), "-f", str(n), "-l", str(n), "-singlefile",
                         path, scan], limits)
            if done.returncode != 0:
                raise Refused("unreadable", declared=declared)
            text = ocr(scan + ".png", limits)
            os.unlink(scan + ".png")
            ocr_pages += 1
        texts.append(text.strip())
    return {"pages": pages, "text": "\n\f\n".join(texts), "ocr_pages": ocr_pages}


def convert_office(path: str, kind: str, out: str, limits: Limits) -> dict:
    if kind in ("docx", "odt"):
        check_zip(path)
    work = tempfile.mkdtemp(prefix="office-", dir=out)
    try:
        source = os.path.join(work, f"in.{kind}")
        shutil.copyfile(path, source)
        done = _soffice(source, work, os.path.join(work, "profile"), limits)
        pdf = os.path.join(work, "in.pdf")
        if done.returncode != 0 or not os.path.exists(pdf):
            raise Refused("unreadable", declared=kind)
        return convert_pdf(pdf, out, limits, declared=kind)
    finally:
        shutil.rmtree(work, ignore_errors=True)


RESTART = 81  # soffice.bin's exit status asking its launcher for a restart


def _office_binary() -> str:
    """soffice.bin itself, not the `soffice` script: the script's launcher (oosplash) forks it, and a
    forked process does not inherit die_with_parent, so a killed converter would leave it running."""
    launcher = shutil.which("soffice")
    if launcher:
        binary = os.path.join(os.path.dirname(os.path.realpath(launcher)), "soffice.bin")
        if os.access(binary, os.X_OK):
            return binary
    return launcher or "soffice"


def _profile_template() -> str:
    return os.path.join(tempfile.gettempdir(), f"documents-office-profile-{os.getuid()}")


def _soffice(source: str, work: str, profile: str, limits: Limits) -> subprocess.CompletedProcess:
    """LibreOffice to PDF with a profile of this run's own (two runs never share one), copied from a
    template the first run leaves behind: a new profile costs LibreOffice a second or two to make."""
    template = _profile_template()
    if os.path.isdir(template):
        try:
            shutil.copytree(template, profile)
        except OSError:
            shutil.rmtree(profile, ignore_errors=True)
    fresh = not os.path.isdir(profile)
    env = {**os.environ, "HOME": work, "LC_ALL": "C.UTF-8", "SAL_USE_VCLPLUGIN": "svp"}
    args = [_office_binary(), "--headless", "--norestore", "--nolockcheck", "--nodefault", "--nologo",
            f"-env:UserInstallation=file://{profile}", "--convert-to", "pdf", "--outdir", work, source]
    deadline = time.monotonic() + limits.tool_timeout_s
    for _ in range(3):  # 81: LibreOffice made a new profile and asks to be started again
        try:
            done = subprocess.run(args, capture_output=True, timeout=max(1.0, deadline - time.monotonic()), env=env,
                                  check=False, preexec_fn=die_with_parent)
        except subprocess.TimeoutExpired:
            raise Refused("too_slow", limit_s=int(limits.tool_timeout_s)) from None
        if done.returncode != RESTART:
            break
    if fresh and done.returncode == 0 and os.path.isdir(profile):  # keep it for the next runs, whole or not at all
        staging = tempfile.mkdtemp(prefix=os.path.basename(template) + ".", dir=os.path.dirname(template))
        try:
            shutil.copytree(profile, os.path.join(staging, "p"))
            os.rename(os.path.join(staging, "p"), template)
        except OSError:
            pass
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return done


def convert_image(path: str, kind: str, out: str, limits: Limits) -> dict:
    from PIL import Image, ImageOps

    Image.MAX_IMAGE_PIXELS = limits.max_pixels  # Pillow's own bomb check, beside ours below
    try:
        image = Image.open(path)
    except Image.DecompressionBombError:
        raise Refused("too_many_pixels", limit_mp=limits.max_pixels // 1_000_000) from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise Refused("unreadable", declared=kind) from exc
    pages, texts = [], []
    with image:
        frames = getattr(image, "n_frames", 1)
        if frames > limits.max_pages:
            raise Refused("too_many_pages", pages=frames, limit=limits.max_pages)
        for i in range(frames):
            try:
                image.seek(i)
                if image.width * image.height > limits.max_pixels:  # before a pixel is decoded
                    raise Refused("too_many_pixels", limit_mp=limits.max_pixels // 1_000_000)
                frame = ImageOps.exif_transpose(image) if kind == "jpeg" else image.copy()
                frame.load()
            except Refused:
                raise
            except (Image.DecompressionBombError, Image.DecompressionBombWarning):
                raise Refused("too_many_pixels", limit_mp=limits.max_pixels // 1_000_000) from None
            except (OSError, SyntaxError, ValueError, EOFError) as exc:
                raise Refused("unreadable", declared=kind) from exc
            pages.append(page_images(frame, i + 1, out, limits))
            scan = os.path.join(out, "scan.png")
            frame.convert("L").save(scan, "PNG")
            texts.append(ocr(scan, limits).strip())
            os.unlink(scan)
    return {"pages": pages, "text": "\n\f\n".join(texts), "ocr_pages": len(pages)}


def convert_text(path: str) -> dict:
    with open(path, "rb") as f:
        raw = f.read()
    for encoding in ("utf-8", "cp1251"):
        try:
            return {"pages": [], "text": raw.decode(encoding), "ocr_pages": 0}
        except UnicodeDecodeError:
            continue
    return {"pages": [], "text": raw.decode("utf-8", "replace"), "ocr_pages": 0}


def convert(path: str, declared: str, out: str, limits: Limits) -> dict:
    """Convert one file into `out`; raises Refused."""
    size = os.path.getsize(path)
    if size > limits.max_bytes:
        raise Refused("too_large", limit_mb=limits.max_bytes // (1024 * 1024))
    actual = sniff(path)
    if actual != declared:  # the content decides, never the name or the declared type
        if actual in ("txt", "unknown") and declared != "txt":
            raise Refused("unreadable", declared=declared)
        raise Refused("type_mismatch", declared=declared, actual=actual)
    if declared == "pdf":
        result = convert_pdf(path, out, limits)
    elif declared in OFFICE:
        result = convert_office(path, declared, out, limits)
    elif declared in IMAGES:
        result = convert_image(path, declared, out, limits)
    else:
        result = convert_text(path)
    text_name = "text.txt"
    with open(os.path.join(out, text_name), "w", encoding="utf-8") as f:
        f.write(result["text"])
    return {"kind": declared, "pages": result["pages"], "text": text_name, "ocr_pages": result["ocr_pages"]}


def limit_self(limits: Limits) -> None:
    """Limit this process and every tool it starts: address space, CPU seconds, bytes of one written file."""
    import resource

    memory = limits.memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    cpu = int(limits.timeout_s) + 5
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 5))
    written = 2 * 1024 * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_FSIZE, (written, written))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    die_with_parent()  # a worker killed with SIGKILL leaves no converter behind (nor, in turn, its tools)


def main(argv: list[str]) -> int:
    with open(argv[1], encoding="utf-8") as f:
        job = json.load(f)
    limits = Limits(**job["limits"])
    limit_self(limits)
    out = job["out"]
    try:
        result = convert(job["input"], job["declared"], out, limits)
    except Refused as refused:
        result = {"refused": refused.reason, "params": refused.params}
    with open(os.path.join(out, "result.json"), "w", encoding="utf-8") as f:
        json.dump(result, f)
    return 0


def job_file(path: str, declared: str, out: str, limits: Limits) -> str:
    """Write the child's job description; returns its path."""
    name = os.path.join(out, "job.json")
    with open(name, "w", encoding="utf-8") as f:
        json.dump({"input": os.path.abspath(path), "declared": declared, "out": os.path.abspath(out),
                   "limits": asdict(limits)}, f)
    return name


if __name__ == "__main__":
    sys.exit(main(sys.argv))
