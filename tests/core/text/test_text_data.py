"""Text datasets: formats, the validation report, token lengths and length batching."""
import json

import pytest

from tlstudio.core.data import text as td
from tlstudio.core.data import text_batching as tb
from tlstudio.core.data import text_lengths as tl
from tlstudio.core.data.index import Sample, split_dataset
from tlstudio.core.data.modality import detect
from tlstudio.core.errors import DatasetError
from tlstudio.core.paths import resources_dir

DEMO = resources_dir() / "demo_text_data" / "wordnet_definitions.csv"


def _kinds(index):
    return {(i.kind, i.where) for i in index.issues}


def test_demo_text_data_is_real_and_balanced():
    index = td.scan_text(DEMO)
    assert index.classes == ["animal", "body", "feeling", "food", "location", "plant"]
    assert set(index.counts().values()) == {60} and not index.issues
    assert (index.text_column, index.label_column, index.source_format) == ("text", "label", "csv")
    assert index.samples[0].path == "wordnet_definitions.csv:2" and index.samples[0].text
    assert detect(DEMO) == "text" and detect(DEMO.parent) == "image"


def test_bad_rows_are_reported_and_good_rows_load(tmp_path):
    f = tmp_path / "data.csv"
    f.write_bytes(b"text,label\n"
                  b"hello there,a\n"          # 2
                  b"\"broken quote,a\n"       # 3 unterminated quote
                  b"nice day,b\n"             # 4
                  b"   ,a\n"                  # 5 empty
                  b"bad \xff byte,b\n"        # 6 not UTF-8
                  b"hello   there,a\n"        # 7 duplicate (white space differs)
                  b"hello there,b\n"          # 8 duplicate, other label
                  b"no label,\n"              # 9 empty label cell: the unlabeled pool
                  b"short row\n"              # 10
                  b"more text,b\n"            # 11
                  b"more a,a\n"               # 12
                  b"lonely,c\n")              # 13 class with one text
    index = td.scan_text(f)
    assert [(s.path, s.text, index.classes[s.label]) for s in index.samples] == [
        ("data.csv:2", "hello there", "a"), ("data.csv:4", "nice day", "b"),
        ("data.csv:11", "more text", "b"), ("data.csv:12", "more a", "a")]
    assert _kinds(index) == {("unterminated_quote", "data.csv:3"), ("empty", "data.csv:5"),
                             ("undecodable", "data.csv:6"), ("duplicate", "data.csv:7"),
                             ("duplicate", "data.csv:8"), ("missing_label", "data.csv:10"),
                             ("small_class", "c")}
    assert [(s.path, s.text, s.label) for s in index.pool] == [("data.csv:9", "no label", -1)]
    assert "0xff" in next(i.message for i in index.issues if i.kind == "undecodable")
    report = td.format_text_report(index)
    assert "1 unterminated quote" in report and "2 duplicate" in report
    assert index.to_report()["issue_counts"]["missing_label"] == 1 and index.to_report()["unlabeled"] == 1
    assert {s.path for s in index.skipped} >= {"data.csv:3", "data.csv:6"}


def test_a_real_multiline_quoted_text_is_kept(tmp_path):
    f = tmp_path / "m.csv"
    f.write_text('text,label\n"first line\nsecond line, still the text",a\nplain,a\nother,b\nmore,b\n',
                 encoding="utf-8")
    index = td.scan_text(f)
    assert not index.issues
    assert index.samples[0].text == "first line\nsecond line, still the text"


def test_unterminated_quote_in_the_middle_does_not_swallow_later_rows(tmp_path):
    f = tmp_path / "q.csv"
    rows = ["text,label", "one,a", '"runaway,a', "two,a", "three,b", 'closing" here,b', "four,b", "five,a"]
    f.write_text("\n".join(rows) + "\n", encoding="utf-8")
    index = td.scan_text(f)
    assert [s.text for s in index.samples] == ["one", "two", "three", 'closing" here', "four", "five"]
    assert _kinds(index) == {("unterminated_quote", "q.csv:3")}


def test_tsv_named_columns_and_headerless(tmp_path):
    tsv = tmp_path / "d.tsv"
    tsv.write_text("id\tReview\tsentiment\n1\tgreat film\tpos\n2\tawful plot\tneg\n3\tloved it\tpos\n"
                   "4\tboring\tneg\n", encoding="utf-8")
    index = td.scan_text(tsv)
    assert (index.text_column, index.label_column, index.classes) == ("Review", "sentiment", ["neg", "pos"])
    by_number = td.scan_text(tsv, text_column=1, label_column=2)
    assert len(by_number.samples) == 4 and not by_number.issues   # the header row is still a header
    with pytest.raises(DatasetError, match="no text column 'body'"):
        td.scan_text(tsv, text_column="body")
    plain = tmp_path / "p.csv"
    plain.write_text("pos,a long and happy sentence\nneg,another rather sad sentence\n"
                     "pos,third text that is long\nneg,fourth text here too\n", encoding="utf-8")
    index = td.scan_text(plain)
    assert index.classes == ["neg", "pos"] and len(index.samples) == 4 and index.notes
    assert {s.text for s in index.samples} >= {"a long and happy sentence"}
    half = tmp_path / "h.csv"
    half.write_text("sentence,y\nfirst text,a\nsecond text,a\nthird,b\nfourth,b\n", encoding="utf-8")
    index = td.scan_text(half)
    assert (index.text_column, index.label_column, len(index.samples)) == ("sentence", "y", 4)


def test_jsonl_and_folder_formats(tmp_path):
    jl = tmp_path / "d.jsonl"
    lines = [json.dumps({"sentence": "good", "intent": "x"}), json.dumps({"sentence": "fine", "intent": "x"}),
             "{not json", json.dumps({"sentence": 5, "intent": "y"}), json.dumps({"sentence": "bad", "intent": "y"}),
             json.dumps({"sentence": "worse", "intent": "y"})]
    jl.write_bytes(("\n".join(lines) + "\n").encode() + b'{"sentence": "\xc3\x28", "intent": "y"}\n')
    index = td.scan_text(jl)
    assert len(index.samples) == 4 and index.text_column == "sentence"
    assert _kinds(index) == {("bad_row", "d.jsonl:3"), ("bad_row", "d.jsonl:4"), ("undecodable", "d.jsonl:7")}

    root = tmp_path / "folder"
    for cls, texts in {"ham": ["hi mum", "see you", ""], "spam": ["win money", "free prize"]}.items():
        (root / cls).mkdir(parents=True)
        for i, t in enumerate(texts):
            (root / cls / f"{i}.txt").write_text(t, encoding="utf-8")
    (root / "spam" / "bad.txt").write_bytes(b"caf\xe9")
    index = td.scan_text(root)
    assert index.classes == ["ham", "spam"] and len(index.samples) == 4 and index.source_format == "folder"
    assert {i.kind for i in index.issues} == {"empty", "undecodable"}
    assert detect(root) == "text"


def test_one_usable_class_is_a_clear_error(tmp_path):
    f = tmp_path / "one.csv"
    f.write_text("text,label\na,x\nb,x\nc,y\n", encoding="utf-8")
    with pytest.raises(DatasetError, match="at least two classes"):
        td.scan_text(f)


def test_split_keeps_the_texts():
    index = td.scan_text(DEMO)
    split = split_dataset(index, 0.25, 0.0, seed=1)
    assert len(split.val) == 6 * 15 and all(s.text for s in split.train + split.val)


class _SpaceTokenizer:
    """Counts words plus two special tokens, like a BERT tokenizer's [CLS] ... [SEP]."""

    def __call__(self, texts, **kw):
        return {"input_ids": [[0] + [1] * len(t.split()) + [0] for t in texts]}


def test_token_length_stats_and_truncation_count():
    samples = [Sample("a:1", 0, "one two three"), Sample("a:2", 0, "one"), Sample("a:3", 1, " ".join(["w"] * 10))]
    stats = tl.token_length_stats(samples, ["short", "long"], _SpaceTokenizer(), max_length=4, bins=4)
    assert stats.lengths == [5, 3, 12]
    short, long_ = stats.per_class
    assert (short.count, short.min, short.max, short.median, short.truncated) == (2, 3, 5, 4.0, 1)
    assert (long_.truncated, stats.truncated) == (1, 2)
    assert sum(short.histogram) == 2 and stats.bin_edges == [0, 3, 6, 9, 12]


def test_length_batches_pad_less_than_random_batches():
    lengths = [5, 50, 6, 48, 7, 52, 4, 49]
    batches = tb.length_batches(lengths, 4)
    assert batches == [[6, 0, 2, 4], [3, 7, 1, 5]]
    shuffled = tb.length_batches(lengths, 4, shuffle=True, seed=3)
    assert sorted(i for b in shuffled for i in b) == list(range(8))
    assert tb.padded_fraction(batches, lengths) < 0.1 < tb.padded_fraction([[0, 1, 2, 3], [4, 5, 6, 7]], lengths)


def test_collator_pads_to_the_longest_in_the_batch():
    from tlstudio.core.zoo.text_encoder import load_text_model

    tok = load_text_model().tokenizer
    collate = tb.TextCollator(tok, max_length=8)
    batch = collate([("a short one", 0), ("a somewhat longer text that goes on and on and on", 1)])
    assert batch["input_ids"].shape == (2, 8) and batch["labels"].tolist() == [0, 1]
    small = collate([("hi", 0), ("hello there", 1)])
    assert small["input_ids"].shape[1] < 8 and small["attention_mask"][0].sum() < small["attention_mask"][1].sum()
