"""Training reads the text that serving routes on: the same message gives the same routing text whether
it is fetched and ingested, or read from an mbox or a maildir export by classifiers.data."""

from __future__ import annotations

import csv
import mailbox
from collections.abc import Sequence
from pathlib import Path

import pytest

from app.db import unit_of_work
from app.demo.corpus import generate_emails
from app.inbox import ingest
from app.inbox.parsing import parse, prepare
from app.routing.service import RouteDecision, Router, RouteRequest
from app.runtime import Runtime
from classifiers.data import read_examples
from mailtext.message import DEFAULT_MAX_ATTACHMENT_BYTES, parse_message
from mailtext.text import routing_text
from tests.conftest import datasets_dir

# From the public corpora: HTML-only (one declared 8-bit), a quoted reply, a reply with a signature
# under a quote, multipart/alternative, ISO-2022-JP, no Message-ID, no subject.
CORPUS_FILES = [
    "flanker_eml/long-links.eml",
    "rubymail_eml/error_emails/content_transfer_encoding_with_8bits.eml",
    "flanker_eml/from-encoding.eml",
    "flanker_eml/multi-received-headers.eml",
    "flanker_eml/relative.eml",
    "rubymail_eml/multi_charset/japanese.eml",
    "rubymail_eml/plain_emails/raw_email5.eml",
]


def corpus_messages() -> list[bytes]:
    root = datasets_dir()
    if not all((root / name).is_file() for name in CORPUS_FILES):
        pytest.skip(f"flanker_eml / rubymail_eml not found under {root} (set ROUTEDESK_DATASETS)")
    return [(root / name).read_bytes() for name in CORPUS_FILES]


def demo_messages() -> list[bytes]:
    # replies quote earlier mail under an attribution; some are HTML-only, some carry attachments
    stream = generate_emails(24, seed=5, reply_share=0.4, html_only_share=0.3, attachment_share=0.2)
    return [raw for raw, _label in stream]


def messages() -> list[bytes]:
    return demo_messages() + corpus_messages()


def serving_text(raw: bytes) -> str:
    parsed, error = parse(raw, DEFAULT_MAX_ATTACHMENT_BYTES)  # what ingest runs on each fetched message
    assert parsed is not None, error
    return routing_text(parsed.subject, parsed.new_text)


def labels_by_message_id(path: Path, raws: Sequence[bytes]) -> dict[str, str]:
    """A label per message that has a Message-ID: the message's position, so texts can be matched."""
    labels = {}
    for index, raw in enumerate(raws):
        message_id = parse_message(raw).message_id
        if message_id:
            labels[message_id] = f"m{index:02d}"
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["message_id", "label"])
        writer.writerows(labels.items())
    return labels


def test_the_chosen_messages_cover_html_only_quoted_replies_and_signatures() -> None:
    parsed = [parse_message(raw) for raw in messages()]
    assert any(p.text_from_html for p in parsed)
    assert any(p.new_text != p.text and "\n>" in "\n" + p.text for p in parsed)
    assert any("\n-- \n" in p.text or "\n--\n" in p.text for p in parsed)


def test_training_from_an_mbox_reads_what_serving_routes_on(tmp_path: Path) -> None:
    raws = messages()
    box = mailbox.mbox(tmp_path / "export.mbox")
    for raw in raws:
        box.add(raw)
    box.close()
    labels = labels_by_message_id(tmp_path / "labels.csv", raws)

    report = read_examples(tmp_path / "export.mbox", labels_file=tmp_path / "labels.csv")

    expected = {label: serving_text(raws[int(label[1:])]) for label in labels.values()}
    assert {e.label: e.text for e in report.examples} == expected
    assert len(report.examples) == len(labels) > 20


def write_maildir(path: Path, raws: Sequence[bytes], labels: Sequence[str]) -> Path:
    """A maildir of the messages and, next to it, its labels file (by file name)."""
    box = mailbox.Maildir(path)
    with path.with_suffix(".labels.csv").open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["filename", "label"])
        writer.writerows((box.add(raw), label) for raw, label in zip(raws, labels, strict=True))
    return path.with_suffix(".labels.csv")


def test_training_from_a_maildir_reads_what_serving_routes_on(tmp_path: Path) -> None:
    raws = messages()
    labels_file = write_maildir(tmp_path / "box", raws, [f"m{index:02d}" for index in range(len(raws))])

    report = read_examples(tmp_path / "box", labels_file=labels_file)

    assert sorted((e.label, e.text) for e in report.examples) == [
        (f"m{index:02d}", serving_text(raw)) for index, raw in enumerate(raws)
    ]


class RecordingRouter(Router):
    def __init__(self) -> None:
        super().__init__()
        self.texts: list[str] = []

    def decide(self, requests: Sequence[RouteRequest]) -> list[RouteDecision]:
        self.texts.extend(request.text for request in requests)
        return super().decide(requests)


async def test_ingest_routes_on_the_text_training_reads(runtime: Runtime, tmp_path: Path) -> None:
    raws = demo_messages()
    labels_file = write_maildir(tmp_path / "box", raws, ["payouts", "billing"] * (len(raws) // 2))
    trained_on = sorted(e.text for e in read_examples(tmp_path / "box", labels_file=labels_file).examples)

    router = RecordingRouter()
    batch = [prepare(raw, None, max_attachment_bytes=DEFAULT_MAX_ATTACHMENT_BYTES) for raw in raws]
    source = ingest.Source(mailbox_id=None, uidvalidity=None, own_addresses=frozenset({"support@support.example.com"}))
    async with unit_of_work(runtime.sessionmaker) as session:
        await ingest.ingest_batch(session, batch, source=source, settings=runtime.settings, router=router)

    assert len(trained_on) == len(raws)
    assert sorted(router.texts) == trained_on
