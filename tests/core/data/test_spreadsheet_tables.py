"""Text tables as spreadsheets save them: delimiters, encodings, multi-line cells, and detection that
explains itself (core.data.table_read, text_files, detect, modality.detect/scan)."""
import csv
import shutil

import pytest

from tlstudio.core.data.modality import detect, scan
from tlstudio.core.data.text import format_text_report, scan_text
from tlstudio.core.errors import DatasetError, UndecidedDataError
from tlstudio.core.paths import demo_data_dir

from .spreadsheet_samples import LANGUAGES, ROWS, VARIANTS, table_text, write_variant

ENCODING_SEEN = {"utf-8": "UTF-8", "utf-8-sig": "UTF-8 (BOM)", "utf-16": "UTF-16 (BOM)"}


@pytest.mark.parametrize("name, lang, delimiter, encoding, multiline", VARIANTS, ids=[v[0] for v in VARIANTS])
def test_each_real_language_table_is_detected_and_scanned_as_text(tmp_path, name, lang, delimiter, encoding,
                                                                   multiline):
    path = write_variant(tmp_path, name)
    assert detect(path) == "text"
    index = scan(path)
    samples, header = LANGUAGES[lang]
    assert (index.text_column, index.label_column) == header
    assert (index.delimiter, index.encoding) == (delimiter, ENCODING_SEEN[encoding])
    assert len(index.samples) == ROWS and not index.issues, format_text_report(index)
    assert sorted(index.classes) == sorted(samples)
    texts = {s.text for s in index.samples}
    first = next(iter(samples.values()))[0]
    if multiline:      # a quoted cell's line break stays inside the one text
        assert any(t.startswith(first) and "\n" in t for t in texts)
        assert sum("\n" in t for t in texts) == 10
    else:
        assert first in texts
    assert index.samples[1].path == f"{name}:{3 + (1 if multiline else 0)}"   # rows located by their first line


def test_the_issue_s_multiline_file_is_one_text_per_cell_and_a_quote_never_closed_is_reported(tmp_path):
    f = tmp_path / "ml.csv"
    with open(f, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        for i in range(12):
            w.writerow([f"line one {i}\nline two {'xy'[i % 2]}", "ab"[i % 2]])
    index = scan_text(f)
    assert len(index.samples) == 12 and not index.issues
    assert index.samples[0].text == "line one 0\nline two x" and index.samples[1].path == "ml.csv:3"
    with open(f, "a", encoding="utf-8") as fh:
        fh.write('"runaway text,a\nlast,b\n')        # opened on line 25, never closed
    index = scan_text(f)
    assert [(i.kind, i.where) for i in index.issues] == [("unterminated_quote", "ml.csv:25")]
    assert "never properly closed" in index.issues[0].message
    assert index.samples[-1].text == "last" and len(index.samples) == 13


def test_duplicate_column_names_are_an_error_naming_them_or_the_number_used_is_reported(tmp_path):
    f = tmp_path / "d.csv"
    f.write_text("text,text,label\n" + "".join(f"a{i},b{i},{'xy'[i % 2]}\n" for i in range(6)), encoding="utf-8")
    with pytest.raises(DatasetError, match=r"2 columns named 'text' \(numbers 0, 1"):
        scan_text(f)
    index = scan_text(f, text_column=1, label_column=2)
    assert index.samples[0].text == "b0" and any("column 1 was used" in n for n in index.notes)


def test_other_encodings_only_when_named_and_a_wrong_one_says_what_was_tried(tmp_path):
    f = tmp_path / "excel.csv"
    f.write_bytes(table_text("es", ";").encode("cp1252"))
    with pytest.raises(DatasetError) as caught:     # read as UTF-8: rows with accents are left out, never guessed
        scan_text(f)
    assert "19 row(s) hold bytes that are not UTF-8: the file was read as UTF-8" in str(caught.value)
    assert "--encoding NAME" in str(caught.value) and "excel.csv:2: bytes that are not UTF-8" in str(caught.value)
    named = scan_text(f, encoding="cp1252")
    assert len(named.samples) == ROWS and named.encoding == "cp1252" and not named.issues
    assert "Categoría" == named.label_column and "Adiós, nos vemos mañana." in {s.text for s in named.samples}
    with pytest.raises(DatasetError, match=r"cannot be read as ascii: byte 0xed on line 1 .*--encoding"):
        scan_text(f, encoding="ascii")
    with pytest.raises(DatasetError, match="not an encoding"):
        scan_text(f, encoding="klingon")
    no_bom = tmp_path / "u16.csv"
    no_bom.write_bytes(table_text("de", "\t").encode("utf-16-le"))
    with pytest.raises(DatasetError, match="--encoding utf-16-le"):
        scan_text(no_bom)
    assert len(scan_text(no_bom, encoding="utf-16-le").samples) == ROWS


def test_the_delimiter_follows_the_header_even_with_other_delimiters_quoted_inside(tmp_path):
    f = tmp_path / "pipe.txt"
    f.write_text('text|label\n"a, b; c|d"|x\nplain, with comma|y\nsemi; colon|x\ntab\there|y\n', encoding="utf-8")
    index = scan_text(f)
    assert index.delimiter == "|" and [s.text for s in index.samples][0] == "a, b; c|d"
    assert "pipe-separated" in format_text_report(index)


def test_a_table_that_is_neither_says_what_was_found(tmp_path):
    numbers = tmp_path / "numbers.csv"
    numbers.write_text("a;b;c\n1;2;3\n4;5;6\n", encoding="utf-8")
    with pytest.raises(UndecidedDataError) as caught:
        detect(numbers)
    err = caught.value
    assert err.choices == ["image", "text"] and "\n" not in str(err)
    assert "'numbers.csv' is a semicolon-separated table with 3 column(s) (a, b, c)" in err.found
    assert "no column holds paths of existing image files" in err.found
    with pytest.raises(UndecidedDataError):
        scan(numbers)


def test_an_image_manifest_is_told_by_its_existing_image_paths(tmp_path):
    for i, src in enumerate(sorted((demo_data_dir() / "bag").iterdir())[:2]):
        shutil.copy(src, tmp_path / f"img{i}.png")
    manifest = tmp_path / "m.csv"
    manifest.write_text("path;label\nimg0.png;bag\nimg1.png;bag\n", encoding="utf-8")
    assert detect(manifest) == "image"
    both = tmp_path / "both.csv"           # image paths and a text column: the user must say
    both.write_text("path,text,label\nimg0.png,a red bag,x\nimg1.png,a blue bag,y\n", encoding="utf-8")
    with pytest.raises(UndecidedDataError, match="named as text") as caught:
        detect(both)
    assert caught.value.choices == ["image", "text"]
    assert detect(demo_data_dir()) == "image"


def test_an_image_manifest_saved_by_a_spreadsheet_scans_as_images(tmp_path):
    names = []
    for label in ("bag", "trouser"):
        for i, src in enumerate(sorted((demo_data_dir() / label).iterdir())[:2]):
            names.append((f"bild_{label}_ü{i}.png", f"{label}-ä"))
            shutil.copy(src, tmp_path / names[-1][0])
    manifest = tmp_path / "liste.csv"
    manifest.write_bytes(("path;label\r\n" + "".join(f"{n};{c}\r\n" for n, c in names)).encode("utf-16"))
    assert detect(manifest) == "image"
    index = scan(manifest)
    assert index.classes == ["bag-ä", "trouser-ä"] and len(index.samples) == 4 and not index.skipped


def test_a_folder_of_text_files_reads_utf16_with_a_bom_and_a_named_encoding(tmp_path):
    for label, texts in LANGUAGES["de"][0].items():
        (tmp_path / label).mkdir()
        for i, text in enumerate(texts[:5]):
            (tmp_path / label / f"{i}.txt").write_bytes(text.encode("utf-16" if i < 2 else "cp1252"))
    assert detect(tmp_path) == "text"
    as_utf8 = scan(tmp_path)        # the cp1252 files with umlauts are reported, the UTF-16 ones read
    assert {s.text for s in as_utf8.samples} >= {"Heute regnet es den ganzen Tag.", "Die Brötchen schmecken süß und frisch."}
    assert as_utf8.issue_counts()["undecodable"] == 5 and len(as_utf8.samples) == 5
    named = scan_text(tmp_path, encoding="cp1252")
    assert "Der Käse ist würzig." in {s.text for s in named.samples} and len(named.samples) == 10   # BOMs still decide
