"""Labelled examples for the router: loading CSV, JSONL, mbox and maildir exports."""

from __future__ import annotations

import csv
import hashlib
import json
import mailbox
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from email import policy
from email.header import decode_header, make_header
from email.message import Message
from email.parser import BytesParser
from html.parser import HTMLParser
from pathlib import Path

import structlog

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


def compose_text(subject: str | None, body: str | None) -> str:
    """What the model reads: the subject line, then the body."""
    parts = [part.strip() for part in (subject, body) if part and part.strip()]
    return "\n".join(parts)


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
    text_cols: list[str]
    if text_col is not None:
        require(text_col)
        text_cols = [text_col]
    elif subject_col is None and body_col is None and "text" in columns:
        text_cols = ["text"]
    else:
        wanted = [subject_col or "subject", body_col or "body"]
        text_cols = [c for c in wanted if c in columns]
        if not text_cols:
            raise DataError(
                f"{source}: no text column: expected 'text', or 'subject' and/or 'body' "
                f"(or name them with text_col/subject_col/body_col); columns found: {found}"
            )

    report = LoadReport(source=source)
    for number, row in enumerate(rows, start=1):
        try:
            label = _cell(row.get(label_col)).strip()
            if len(text_cols) == 1:
                text = _cell(row.get(text_cols[0])).strip()
            else:
                text = compose_text(_cell(row.get(text_cols[0])), _cell(row.get(text_cols[1])))
        except DataError as exc:
            raise DataError(f"{source}: record {number}: {exc}") from None
        if not text:
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
            message = _parse(box.get_bytes(key))
            _add_message(report, message, labels.get(_normal_message_id(str(message.get("Message-ID", "")))))
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
            message = _parse(file.read_bytes())
            if key == "filename":
                # Delivery flags after ':2,' change as mail is read; the unique name before them does not.
                unique = file.name.split(":", 1)[0]
                label = labels.get(file.name) or labels.get(unique) or labels.get(f"{sub}/{file.name}")
            else:
                label = labels.get(_normal_message_id(str(message.get("Message-ID", ""))))
            _add_message(report, message, label)
    return report


def _add_message(report: LoadReport, message: Message, label: str | None) -> None:
    text = compose_text(_header_text(message.get("Subject")), plain_text_body(message))
    if not label:
        report.skipped_no_label += 1
    elif not text:
        report.skipped_empty_text += 1
    else:
        report.examples.append(Example(text=text, label=label))


def _parse(raw: bytes) -> Message:
    # compat32 is the tolerant policy: it never raises on malformed headers, it records defects.
    return BytesParser(policy=policy.compat32).parsebytes(raw)


def _header_text(value: object) -> str:
    if value is None:
        return ""
    try:
        return str(make_header(decode_header(str(value))))
    except (UnicodeError, LookupError, ValueError):
        return str(value)


def plain_text_body(message: Message) -> str:
    """The new text of a message: the first text/plain part (else HTML as text), without quotes."""
    html = None
    for part in message.walk():
        if part.is_multipart() or part.get_content_disposition() == "attachment":
            continue
        kind = part.get_content_type()
        if kind == "text/plain":
            return strip_quoted(_decoded(part))
        if kind == "text/html" and html is None:
            html = _decoded(part)
    return strip_quoted(_html_to_text(html)) if html is not None else ""


def _decoded(part: Message) -> str:
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return ""
    for charset in (part.get_content_charset(), "utf-8", "cp1252"):
        if not charset:
            continue
        try:
            return payload.decode(charset)
        except (LookupError, UnicodeDecodeError):
            continue
    return payload.decode("latin-1")


_REPLY_HEADER = re.compile(r"^(On .{0,200}wrote:|-{2,} ?Original Message ?-{2,})$", re.IGNORECASE)


def strip_quoted(text: str) -> str:
    """Drop quoted replies and the signature, as the live ingest does before classifying."""
    kept: list[str] = []
    for line in text.replace("\r\n", "\n").split("\n"):
        if line.rstrip() == "--" or _REPLY_HEADER.match(line.strip()):
            break
        if line.lstrip().startswith(">"):
            continue
        kept.append(line)
    return "\n".join(kept).strip()


class _TextExtractor(HTMLParser):
    # A blockquote in a reply is the quoted earlier message, not the customer's new text.
    _SKIP = frozenset({"script", "style", "head", "blockquote"})
    _BREAK = frozenset({"br", "p", "div", "li", "tr", "h1", "h2", "h3", "h4"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.chunks: list[str] = []
        self._skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._SKIP:
            self._skipping += 1
        elif tag in self._BREAK:
            self.chunks.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIP and self._skipping:
            self._skipping -= 1

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self.chunks.append(data)


def _html_to_text(html: str) -> str:
    extractor = _TextExtractor()
    extractor.feed(html)
    extractor.close()
    lines = (" ".join(line.split()) for line in "".join(extractor.chunks).split("\n"))
    return "\n".join(line for line in lines if line)
