"""How fast pypdf turns a page's content stream into text, and what
``gather.documents.MAX_CONTENT_BYTES`` bounds with it (docs/performance.md,
"Limits set from a measurement").

    python benchmarks/pdf_text_rate.py                 # one page of ~1.6 MB of text operators
    python benchmarks/pdf_text_rate.py --runs 5000 --repeat 5

It writes a one-page PDF with fpdf (the receipt's library) holding RUNS short
lines of text, then times pypdf's ``extract_text`` of that page alone (the
rate) and dossierkit's ``extract_text`` of the file (open, the budget, the
text), best of --repeat. A page larger than what is left of the budget
ends the extraction: a second PDF whose first page is over it shows that
it costs nothing.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import tempfile
import time
from pathlib import Path


def _pdf(runs_per_page: list[int]) -> bytes:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_font("helvetica", size=6)
    for runs in runs_per_page:
        pdf.add_page()
        for i in range(runs):
            pdf.text(10 + (i % 50), 10 + (i % 250) * 1.1, f"Compte rendu anatomopathologique {i}")
    return bytes(pdf.output())


def _best(fn, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=25_000, help="text runs on the page (25 000 ≈ 1.6 MB of operators)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)

    import pypdf

    from dossierkit.gather import documents

    data = _pdf([args.runs])
    page = pypdf.PdfReader(io.BytesIO(data)).pages[0]
    content = len(page.get_contents().get_data())
    pypdf_s = _best(page.extract_text, args.repeat)
    with tempfile.TemporaryDirectory() as tmp:
        one = Path(tmp) / "one.pdf"
        one.write_bytes(data)
        dk_s = _best(lambda: documents.extract_text(one), args.repeat)
        over = Path(tmp) / "over.pdf"  # a first page past the budget, then a small one: neither is parsed
        big = max(args.runs, int(args.runs * (documents.MAX_CONTENT_BYTES * 1.2) / content))
        over.write_bytes(_pdf([big, 10]))
        over_s = _best(lambda: documents.extract_text(over), args.repeat)
    rate = content / pypdf_s / 1e6
    res = {"content_bytes": content, "pypdf_extract_seconds": round(pypdf_s, 3), "mb_per_s": round(rate, 2),
           "dossierkit_extract_seconds": round(dk_s, 3), "budget_bytes": documents.MAX_CONTENT_BYTES,
           "budget_seconds_at_this_rate": round(documents.MAX_CONTENT_BYTES / 1e6 / rate, 2),
           "page_over_budget_seconds": round(over_s, 3)}
    if args.json:
        json.dump(res, sys.stdout, indent=2)
        print()
    else:
        print(f"content stream {content / 1e6:.2f} MB: pypdf extract_text {pypdf_s:.2f} s ({rate:.2f} MB/s); "
              f"dossierkit extract_text of the file {dk_s:.2f} s")
        print(f"budget MAX_CONTENT_BYTES {documents.MAX_CONTENT_BYTES / 1e6:.2f} MB: "
              f"≈ {res['budget_seconds_at_this_rate']:.1f} s at this rate; "
              f"a first page over it ends the extraction: {over_s:.2f} s for that file")
    return 0


if __name__ == "__main__":
    sys.exit(main())
