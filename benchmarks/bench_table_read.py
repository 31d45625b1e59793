"""Benchmark: reading a large spreadsheet text table, and detecting what it is.

A semicolon-separated UTF-8 table with a BOM (Spanish sentences, every fifth cell
holding a line break, as spreadsheets save it) of N rows is written to a temporary
folder; then, each timed alone (best of 3):

  (a) ``modality.detect``: the quick look that says "text" (first 256 KB only);
  (b) ``scan_text``: decode, sniff the delimiter, RFC 4180 records, validate every row;
  (c) Python's ``csv.reader`` over the same text: the floor for the parsing alone.

Target: (a) under 50 ms whatever N; (b) within 10x of (c): per row, validation (empty,
undecodable, duplicate, label checks) runs in Python while (c) is all C.

    python benchmarks/bench_table_read.py [--rows 100000]
"""
from __future__ import annotations

import argparse
import csv
import io
import tempfile
import time
from pathlib import Path


def _table(rows: int) -> str:
    words = ("hola adiós mañana señora corazón canción niño pequeño árbol camión música "
             "ciudad montaña río camino tarde noche día sol luna").split()
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    writer.writerow(["Texto", "Categoría"])
    for i in range(rows):
        text = " ".join(words[(i * k) % len(words)] for k in range(3, 12)) + f" {i}"
        if i % 5 == 0:
            text += "\nsegunda línea, con coma"
        writer.writerow([text, f"clase {'abcde'[i % 5]}"])
    return out.getvalue()


def _best(fn, repeats: int = 3) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    args = parser.parse_args()
    from tlstudio.core.data.modality import detect
    from tlstudio.core.data.text import scan_text

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "grande.csv"
        text = _table(args.rows)
        path.write_bytes(text.encode("utf-8-sig"))
        size_mb = path.stat().st_size / 1e6
        detect(path)                                             # imports, warm caches
        t_detect = _best(lambda: detect(path))
        index = scan_text(path)
        t_scan = _best(lambda: scan_text(path))
        t_csv = _best(lambda: sum(1 for _ in csv.reader(io.StringIO(path.read_bytes().decode("utf-8-sig"),
                                                                    newline=""), delimiter=";")))
    print(f"{args.rows:,} rows, {size_mb:.1f} MB; scan: {len(index.samples):,} texts in {len(index.classes)} classes, "
          f"delimiter {index.delimiter!r}, {index.encoding}")
    print(f"(a) detect                {t_detect * 1000:8.1f} ms")
    print(f"(b) scan_text             {t_scan * 1000:8.1f} ms")
    print(f"(c) csv.reader only       {t_csv * 1000:8.1f} ms   (b)/(c) = {t_scan / t_csv:.1f}x")


if __name__ == "__main__":
    main()
