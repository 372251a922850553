from __future__ import annotations

import json
from pathlib import Path

import pytest

from classifiers.data import DataError, Example, fingerprint, load_examples, read_examples

TWO_AREAS = "text,label\nMy payout is late,payouts\nI was charged twice,billing\n"


def write(path: Path, content: str | bytes) -> Path:
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def test_csv_text_column_gives_examples(tmp_path: Path) -> None:
    examples = load_examples(write(tmp_path / "t.csv", TWO_AREAS))
    assert examples == [Example("My payout is late", "payouts"), Example("I was charged twice", "billing")]


def test_csv_without_text_column_composes_subject_and_body(tmp_path: Path) -> None:
    path = write(tmp_path / "t.csv", "subject,body,area\nRefund,Please refund order 7,billing\n,Payout late,payouts\n")
    examples = load_examples(path, label_col="area")
    assert examples == [
        Example("Refund\nPlease refund order 7", "billing"),
        Example("\nPayout late", "payouts"),
    ]


def test_named_text_column_is_used(tmp_path: Path) -> None:
    path = write(tmp_path / "t.csv", "message,label,text\nmy payout,payouts,x\nrefund me,billing,y\n")
    assert [e.text for e in load_examples(path, text_col="message")] == ["my payout", "refund me"]


def test_jsonl_subject_and_body_fields_are_composed(tmp_path: Path) -> None:
    lines = [
        {"subject": "Payout", "body": "late again", "label": "payouts"},
        {"body": "refund", "label": "billing"},
    ]
    path = write(tmp_path / "t.jsonl", "\n".join(json.dumps(line) for line in lines) + "\n\n")
    assert load_examples(path) == [Example("Payout\nlate again", "payouts"), Example("\nrefund", "billing")]


def test_jsonl_with_text_field_gives_examples(tmp_path: Path) -> None:
    lines = [{"text": "payout late", "label": "payouts"}, {"text": "refund", "label": "billing"}]
    path = write(tmp_path / "t.json", "\n".join(json.dumps(line) for line in lines))
    assert load_examples(path) == [Example("payout late", "payouts"), Example("refund", "billing")]


def test_missing_column_error_names_the_columns_found(tmp_path: Path) -> None:
    path = write(tmp_path / "t.csv", "text,category\nhello,a\nbye,b\n")
    with pytest.raises(DataError, match=r"no column 'label'; columns found: 'text', 'category'"):
        load_examples(path)


def test_missing_text_columns_error_names_the_columns_found(tmp_path: Path) -> None:
    path = write(tmp_path / "t.csv", "message,label\nhello,a\nbye,b\n")
    with pytest.raises(DataError, match=r"no text column.*columns found: 'message', 'label'"):
        load_examples(path)


def test_single_label_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path / "t.csv", "text,label\nhello,billing\nbye,billing\n")
    with pytest.raises(DataError, match=r"every example has the label 'billing'.*at least two areas"):
        load_examples(path)


@pytest.mark.parametrize("name", ["t.csv", "t.jsonl"])
def test_empty_file_is_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(DataError, match="the file is empty"):
        load_examples(write(tmp_path / name, ""))


def test_header_without_rows_is_refused(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="header but no rows"):
        load_examples(write(tmp_path / "t.csv", "text,label\n"))


def test_bad_jsonl_line_is_named(tmp_path: Path) -> None:
    path = write(tmp_path / "t.jsonl", '{"text": "a", "label": "x"}\n{"text": "b", "label": \n')
    with pytest.raises(DataError, match=r"line 2 is not valid JSON"):
        load_examples(path)


def test_jsonl_line_that_is_not_an_object_is_named(tmp_path: Path) -> None:
    path = write(tmp_path / "t.jsonl", '{"text": "a", "label": "x"}\n["b", "y"]\n')
    with pytest.raises(DataError, match=r"line 2 is a JSON list, expected an object"):
        load_examples(path)


def test_rows_with_empty_text_or_label_are_skipped_and_counted(tmp_path: Path) -> None:
    path = write(tmp_path / "t.csv", TWO_AREAS + '"  ",billing\n,payouts\norphan,\n')
    report = read_examples(path)
    assert len(report.examples) == 2
    assert (report.skipped_empty_text, report.skipped_no_label) == (2, 1)


def test_file_of_only_empty_texts_is_refused_with_the_count(tmp_path: Path) -> None:
    path = write(tmp_path / "t.csv", "text,label\n,a\n ,b\n")
    with pytest.raises(DataError, match=r"no usable examples \(2 rows with empty text"):
        load_examples(path)


def test_non_utf8_file_is_refused_with_its_line(tmp_path: Path) -> None:
    path = write(tmp_path / "t.csv", b"text,label\nok,a\ncaf\xe9 payment,b\n")
    with pytest.raises(DataError, match=r"not valid UTF-8 \(line 3"):
        load_examples(path)


def test_byte_order_mark_is_ignored(tmp_path: Path) -> None:
    path = write(tmp_path / "t.csv", "\ufeff" + TWO_AREAS)
    assert len(load_examples(path)) == 2


def test_unknown_extension_is_refused(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"unknown file type '.xlsx'"):
        load_examples(write(tmp_path / "t.xlsx", TWO_AREAS))


MAIL_1 = (
    b"From: ann@example.com\r\nMessage-ID: <m1@example.com>\r\nSubject: =?utf-8?q?Payout_d=C3=A9lai?=\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n\r\n"
    b"My payout is late.\r\n\r\nOn Mon, Bob wrote:\r\n> old text\r\n"
)
MAIL_2 = (
    b"From: joe@example.com\r\nMessage-ID: <m2@example.com>\r\nSubject: Invoice\r\nMIME-Version: 1.0\r\n"
    b'Content-Type: multipart/alternative; boundary="b"\r\n\r\n--b\r\nContent-Type: text/html\r\n\r\n'
    b"<p>Wrong <b>invoice</b> amount</p><blockquote>quoted</blockquote>\r\n--b--\r\n"
)
MAIL_3 = b"From: x@example.com\r\nMessage-ID: <m3@example.com>\r\nSubject: unlabelled\r\n\r\nhello\r\n"


def test_mbox_with_labels_file_reads_subject_and_new_body_text(tmp_path: Path) -> None:
    mbox = b"".join(
        b"From MAILER-DAEMON Thu Jan  1 00:00:00 2025\n" + m.replace(b"\r\n", b"\n") + b"\n"
        for m in (MAIL_1, MAIL_2, MAIL_3)
    )
    path = write(tmp_path / "export.mbox", mbox)
    labels = write(tmp_path / "labels.csv", "message_id,label\n<m1@example.com>,payouts\nm2@example.com,billing\n")
    report = read_examples(path, labels_file=labels)
    assert report.examples == [
        Example("Payout délai\nMy payout is late.", "payouts"),
        Example("Invoice\nWrong invoice amount", "billing"),
    ]
    assert report.skipped_no_label == 1


def test_maildir_with_filename_labels_reads_messages(tmp_path: Path) -> None:
    for sub in ("cur", "new", "tmp"):
        (tmp_path / "box" / sub).mkdir(parents=True)
    write(tmp_path / "box" / "cur" / "1700000000.a1.host:2,S", MAIL_1)
    write(tmp_path / "box" / "new" / "1700000001.b2.host", MAIL_2)
    labels = write(tmp_path / "labels.csv", "filename,label\n1700000000.a1.host,payouts\n1700000001.b2.host,billing\n")
    examples = load_examples(tmp_path / "box", labels_file=labels)
    assert sorted(e.label for e in examples) == ["billing", "payouts"]


def test_maildir_without_labels_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "box" / "cur").mkdir(parents=True)
    with pytest.raises(DataError, match="needs labels_file"):
        load_examples(tmp_path / "box")


def test_subject_and_body_cells_are_stripped_and_joined_as_serving_joins_them(tmp_path: Path) -> None:
    path = write(tmp_path / "t.csv", 'subject,body,label\n" Refund ","please\n",billing\n,,payouts\nPayout,,payouts\n')
    report = read_examples(path)
    assert report.examples == [Example("Refund\nplease", "billing"), Example("Payout\n", "payouts")]
    assert report.skipped_empty_text == 1


def test_fingerprint_ignores_order_but_not_labels() -> None:
    a, b = Example("one", "x"), Example("two", "y")
    assert fingerprint([a, b]) == fingerprint([b, a])
    assert fingerprint([a, b]) != fingerprint([a, Example("two", "x")])


def test_jsonl_record_with_a_nested_value_is_named(tmp_path: Path) -> None:
    path = write(tmp_path / "t.jsonl", '{"text": "a", "label": "x"}\n{"text": {"html": "b"}, "label": "y"}\n')
    with pytest.raises(DataError, match=r"record 2: expected text in every cell, got a JSON dict"):
        load_examples(path)
