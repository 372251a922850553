"""Labelled examples for the router: loading CSV, JSONL, mbox and maildir exports."""

from __future__ import annotations

import csv
import hashlib
import json
import mailbox
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import structlog

from mailtext.message import MessageParseError, parse_message
from mailtext.text import routing_text

log = structlog.get_logger(__name__)

CSV_SUFFIXES = frozenset({".csv"})
JSONL_SUFFIXES = frozenset({".jsonl", ".json", ".ndjson"})
MBOX_SUFFIXES = frozenset({".mbox", ".mbx"})


class DataError(ValueError):
    """A training file that cannot be used, with a message an admin can act on."""


@dataclass(frozen=True, slots=True)
class Example:
    text: str
    label: str


@dataclass(slots=True)
class LoadReport:
    """What load_examples kept and what it skipped, so an import can tell the admin."""

    source: str
    examples: list[Example] = field(default_factory=list)
    skipped_empty_text: int = 0
    skipped_no_label: int = 0

    @property
    def skipped(self) -> int:
        return self.skipped_empty_text + self.skipped_no_label


def fingerprint(examples: Iterable[Example]) -> str:
    """A digest of the training set that does not depend on row order."""
    digest = hashlib.sha256()
    # JSON-encoding each pair keeps the boundary between text and label unambiguous.
    for line in sorted(json.dumps([e.text, e.label], ensure_ascii=False) for e in examples):
        digest.update(line.encode("utf-8"))
        digest.update(b"\n")
    return digest.hexdigest()


def load_examples(
    path: Path,
    *,
    text_col: str | None = None,
    subject_col: str | None = None,
    body_col: str | None = None,
    label_col: str = "label",
    labels_file: Path | None = None,
) -> list[Example]:
    return read_examples(
        path,
        text_col=text_col,
        subject_col=subject_col,
        body_col=body_col,
        label_col=label_col,
        labels_file=labels_file,
    ).examples


def read_examples(
    path: Path,
    *,
    text_col: str | None = None,
    subject_col: str | None = None,
    body_col: str | None = None,
    label_col: str = "label",
    labels_file: Path | None = None,
) -> LoadReport:
    """load_examples, also returning how many rows were skipped and why."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such file or folder")
    if path.is_dir():
        if labels_file is None:
            raise DataError(f"{path} is a folder: a maildir needs labels_file (CSV: filename,label)")
        report = _read_maildir(path, Path(labels_file))
    else:
        suffix = path.suffix.lower()
        if suffix in CSV_SUFFIXES:
            rows = _csv_rows(path)
        elif suffix in JSONL_SUFFIXES:
            rows = _jsonl_rows(path)
        elif suffix in MBOX_SUFFIXES or labels_file is not None:
            if labels_file is None:
                raise DataError(f"{path}: an mbox needs labels_file (CSV: message_id,label)")
            report = _read_mbox(path, Path(labels_file))
            return _checked(report)
        else:
            raise DataError(
                f"{path}: unknown file type {suffix or '(none)'!r}; expected .csv, .jsonl, "
                "or an mbox file / maildir folder with labels_file"
            )
        report = _examples_from_rows(
            str(path),
            rows,
            text_col=text_col,
            subject_col=subject_col,
            body_col=body_col,
            label_col=label_col,
        )
    return _checked(report)


def _checked(report: LoadReport) -> LoadReport:
    if report.skipped:
        log.info(
            "training_rows_skipped",
            source=report.source,
            empty_text=report.skipped_empty_text,
            no_label=report.skipped_no_label,
        )
    if not report.examples:
        raise DataError(
            f"{report.source}: no usable examples "
            f"({report.skipped_empty_text} rows with empty text, {report.skipped_no_label} without a label)"
        )
    classes = Counter(e.label for e in report.examples)
    if len(classes) < 2:
        (only,) = classes
        raise DataError(f"{report.source}: every example has the label {only!r}; a router needs at least two areas")
    return report


# --- tabular files -------------------------------------------------------------------------------


def _read_text(path: Path) -> str:
    raw = path.read_bytes()
    try:
        # utf-8-sig drops the byte-order mark that spreadsheet exports add.
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise DataError(
            f"{path}: not valid UTF-8 (line {line}, byte {exc.start}); re-export the file as UTF-8"
        ) from None


def _csv_rows(path: Path) -> tuple[list[str], Iterator[dict[str, object]]]:
    text = _read_text(path)
    if not text.strip():
        raise DataError(f"{path}: the file is empty")
    reader = csv.DictReader(text.splitlines(keepends=True))
    try:
        columns = list(reader.fieldnames or [])
    except csv.Error as exc:
        raise DataError(f"{path}: unreadable CSV header: {exc}") from None

    def rows() -> Iterator[dict[str, object]]:
        try:
            yield from reader
        except csv.Error as exc:
            raise DataError(f"{path}: malformed CSV near line {reader.line_num}: {exc}") from None

    return columns, rows()


def _jsonl_rows(path: Path) -> tuple[list[str], Iterator[dict[str, object]]]:
    text = _read_text(path)
    records: list[dict[str, object]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(
                f"{path}: line {number} is not valid JSON ({exc.msg}, column {exc.colno}); "
                "expected one JSON object per line"
            ) from None
        if not isinstance(record, dict):
            raise DataError(f"{path}: line {number} is a JSON {type(record).__name__}, expected an object")
        records.append(record)
    if not records:
        raise DataError(f"{path}: the file is empty")
    columns: dict[str, None] = {}
    for record in records:
        columns.update(dict.fromkeys(record))
    return list(columns), iter(records)


def _examples_from_rows(
    source: str,
    table: tuple[list[str], Iterator[dict[str, object]]],
    *,
    text_col: str | None,
    subject_col: str | None,
    body_col: str | None,
    label_col: str,
) -> LoadReport:
    columns, rows = table
    found = ", ".join(repr(c) for c in columns) or "none"

    def require(name: str) -> None:
        if name not in columns:
            raise DataError(f"{source}: no column {name!r}; columns found: {found}")

    require(label_col)
    # Either one column that is the whole text, or a subject and/or a body column made into the
    # routing text as ingest makes it of a parsed message (the body taken as the new text).
    whole: str | None = None
    subject_key, body_key = subject_col or "subject", body_col or "body"
    if text_col is not None:
        require(text_col)
        whole = text_col
    elif subject_col is None and body_col is None and "text" in columns:
        whole = "text"
    elif subject_key not in columns and body_key not in columns:
        raise DataError(
            f"{source}: no text column: expected 'text', or 'subject' and/or 'body' "
            f"(or name them with text_col/subject_col/body_col); columns found: {found}"
        )

    report = LoadReport(source=source)
    for number, row in enumerate(rows, start=1):
        try:
            label = _cell(row.get(label_col)).strip()
            if whole is not None:
                text = _cell(row.get(whole)).strip()
            else:
                # stripped as a parsed message's subject and new text are
                text = routing_text(_cell(row.get(subject_key)).strip(), _cell(row.get(body_key)).strip())
        except DataError as exc:
            raise DataError(f"{source}: record {number}: {exc}") from None
        if not text.strip():
            report.skipped_empty_text += 1
        elif not label:
            report.skipped_no_label += 1
        else:
            report.examples.append(Example(text=text, label=label))
    if not report.examples and not report.skipped:
        raise DataError(f"{source}: the file has a header but no rows")
    return report


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool | int | float):
        return str(value)
    raise DataError(f"expected text in every cell, got a JSON {type(value).__name__}: {value!r:.60}")


# --- mail exports --------------------------------------------------------------------------------


def _labels(path: Path, key_columns: tuple[str, ...]) -> tuple[str, dict[str, str]]:
    columns, rows = _csv_rows(path)
    key = next((c for c in key_columns if c in columns), None)
    if key is None or "label" not in columns:
        wanted = " or ".join(f"{k},label" for k in key_columns)
        raise DataError(f"{path}: expected columns {wanted}; columns found: {', '.join(columns) or 'none'}")
    labels: dict[str, str] = {}
    for row in rows:
        name, label = _cell(row.get(key)).strip(), _cell(row.get("label")).strip()
        if name and label:
            labels[_normal_message_id(name) if key == "message_id" else name] = label
    if not labels:
        raise DataError(f"{path}: no labelled rows")
    return key, labels


def _normal_message_id(value: str) -> str:
    return value.strip().strip("<>").strip()


def _read_mbox(path: Path, labels_file: Path) -> LoadReport:
    _, labels = _labels(labels_file, ("message_id",))
    report = LoadReport(source=str(path))
    if path.stat().st_size == 0:
        raise DataError(f"{path}: the file is empty")
    box = mailbox.mbox(path, factory=None, create=False)
    try:
        for key in box.iterkeys():
            message_id, text = _mail_text(box.get_bytes(key))
            _add_message(report, text, labels.get(message_id or ""))
    finally:
        box.close()
    return report


def _read_maildir(path: Path, labels_file: Path) -> LoadReport:
    if not any((path / sub).is_dir() for sub in ("cur", "new")):
        raise DataError(f"{path}: not a maildir (no cur/ or new/ folder)")
    key, labels = _labels(labels_file, ("filename", "message_id"))
    report = LoadReport(source=str(path))
    for sub in ("new", "cur"):
        folder = path / sub
        if not folder.is_dir():
            continue
        for file in sorted(folder.iterdir()):
            if not file.is_file() or file.name.startswith("."):
                continue
            message_id, text = _mail_text(file.read_bytes())
            if key == "filename":
                # Delivery flags after ':2,' change as mail is read; the unique name before them does not.
                unique = file.name.split(":", 1)[0]
                label = labels.get(file.name) or labels.get(unique) or labels.get(f"{sub}/{file.name}")
            else:
                label = labels.get(message_id or "")
            _add_message(report, text, label)
    return report


def _mail_text(raw: bytes) -> tuple[str | None, str]:
    """(Message-ID, routing text) of a raw message, parsed and composed exactly as ingest does."""
    try:
        # Training needs no attachment bytes, and the text does not depend on keeping them.
        parsed = parse_message(raw, max_attachment_bytes=0)
    except MessageParseError:  # an empty message
        return None, ""
    return parsed.message_id, routing_text(parsed.subject, parsed.new_text)


def _add_message(report: LoadReport, text: str, label: str | None) -> None:
    if not label:
        report.skipped_no_label += 1
    elif not text.strip():
        report.skipped_empty_text += 1
    else:
        report.examples.append(Example(text=text, label=label))
