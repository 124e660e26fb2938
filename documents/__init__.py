"""Documents on the phone: the worker that turns stored files into page images and text.

- `formats`: what a file really is, read from its first bytes, and the zip bomb check.
- `convert`: one file to page images at phone widths and to text, with poppler (pdftotext, pdftoppm),
  LibreOffice (DOCX, ODT, RTF to PDF), Pillow and Tesseract (scans: rus+tat+eng). It runs as a child
  process of its own (`python -m documents.convert`) under memory, CPU and file-size limits, each tool
  under a timeout, so a file that hangs or crashes a tool costs that child, never the worker.
- `worker`: the leased-queue worker (workers/leased.py) that runs the child, stores what it made in
  the blob store and records it (domain.pages).
"""
