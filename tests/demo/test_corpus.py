from __future__ import annotations

import csv
import email
import random
import re
import statistics
import time
from collections import Counter
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from email.parser import BytesHeaderParser
from functools import cache
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest

from app.demo import corpus
from app.demo.corpus import (
    AREAS,
    TRAITS,
    SupportEmail,
    as_rows,
    demo_mailbox,
    generate_emails,
    labelled_examples,
    write_labelled_csv,
)

ATTRIBUTION = re.compile(r"^(On .*wrote:|Am .* schrieb .*:|Le .* a écrit :)$", re.MULTILINE)


@cache
def default_examples() -> tuple[SupportEmail, ...]:
    return tuple(labelled_examples())


@cache
def stream(n: int, **kwargs: Any) -> tuple[tuple[bytes, str | None], ...]:
    return tuple(generate_emails(n, **kwargs))


@cache
def parsed(n: int = 150, **kwargs: Any) -> tuple[tuple[EmailMessage, str | None, bytes], ...]:
    out = []
    for raw, label in stream(n, **kwargs):
        msg = email.message_from_bytes(raw, policy=policy.default)
        assert isinstance(msg, EmailMessage)
        out.append((msg, label, raw))
    return tuple(out)


def new_part(body: str) -> str:
    """What the sender wrote: the body without signature and quoted history."""
    body = body.split("\n-- \n", 1)[0]
    match = ATTRIBUTION.search(body)
    return body[: match.start()] if match else body


def all_defects(msg: EmailMessage) -> list[object]:
    found: list[object] = []
    for part in msg.walk():
        found.extend(part.defects)
        for _name, value in part.items():
            found.extend(getattr(value, "defects", ()))
    return found


def text_of(msg: EmailMessage) -> str:
    part = msg.get_body(preferencelist=("plain", "html"))
    assert part is not None
    content = part.get_content()
    assert isinstance(content, str)
    return content.replace("\r\n", "\n")


def addr_domain(address: str) -> str:
    return address.rsplit("@", 1)[1].rstrip(">").lower()


# -- labelled examples -----------------------------------------------------------------------------


def test_labelled_examples_are_the_same_for_the_same_seed_and_differ_for_another() -> None:
    assert labelled_examples(200, seed=5) == labelled_examples(200, seed=5)
    assert labelled_examples(200, seed=5) != labelled_examples(200, seed=6)


def test_default_labelled_set_has_at_least_1500_examples_over_every_area_roughly_balanced() -> None:
    examples = default_examples()
    counts = Counter(e.label for e in examples)
    assert len(examples) >= 1500
    assert set(counts) == set(AREAS)
    fair = len(examples) / len(AREAS)
    assert all(0.6 * fair <= c <= 1.5 * fair for c in counts.values()), counts
    assert len(set(counts.values())) > 1, "balanced but not uniform"


def test_labelled_examples_honour_n_and_keep_every_area_for_small_sets() -> None:
    examples = labelled_examples(40, seed=1)
    assert len(examples) == 40
    assert {e.label for e in examples} == set(AREAS)
    assert labelled_examples(0) == []


def test_every_example_has_subject_greeting_problem_and_sign_off() -> None:
    examples = default_examples()
    for e in examples:
        assert e.subject.strip()
        assert e.from_name and "@" in e.from_address and e.company
        written = new_part(e.body).strip()
        assert len(written.split("\n\n")) >= 2, e.body  # greeting/problem/sign-off paragraphs
        assert len(written) > 60
    short_first_lines = sum(len(new_part(e.body).split("\n", 1)[0]) <= 40 for e in examples)
    assert short_first_lines / len(examples) > 0.8  # a greeting line, most of the time


def test_wording_varies_within_each_area() -> None:
    examples = default_examples()
    for area in AREAS:
        firsts = {new_part(e.body).split("\n\n")[1][:40] for e in examples if e.label == area}
        subjects = {e.subject for e in examples if e.label == area}
        assert len(firsts) >= 30, area
        assert len(subjects) >= 20, area


def test_every_variation_occurs_and_is_visible_in_the_text() -> None:
    examples = default_examples()
    traits = Counter(t for e in examples for t in e.traits)
    assert set(traits) == set(TRAITS)
    assert all(c >= 0.02 * len(examples) for c in traits.values()), traits
    for e in examples:
        if "quoted" in e.traits:
            assert ATTRIBUTION.search(e.body), e.body
            assert re.search(r"^> \S", e.body, re.MULTILINE), e.body
        if "signature" in e.traits:
            assert f"\n-- \n{e.from_name}\n" in e.body
            assert e.company in e.body.split("\n-- \n", 1)[1]
        if "lowercase" in e.traits:
            words = [w for w in new_part(e.body).split() if not re.search(r"[\d_@]", w)]
            assert all(w == w.lower() for w in words), e.body
        if "german" in e.traits or "french" in e.traits:
            bank = corpus._GREETINGS_DE if "german" in e.traits else corpus._GREETINGS_FR
            first_line = new_part(e.body).split("\n", 1)[0]
            assert corpus._casual(first_line) in {corpus._casual(g) for g in bank}, first_line


def test_about_a_tenth_is_ambiguous_between_two_areas_and_labelled_with_the_primary() -> None:
    examples = default_examples()
    ambiguous = [e for e in examples if "ambiguous" in e.traits]
    assert 0.06 <= len(ambiguous) / len(examples) <= 0.14
    assert {e.label for e in ambiguous} == set(AREAS)
    for e in ambiguous:
        assert e.secondary_label in AREAS and e.secondary_label != e.label
    assert all(e.secondary_label is None for e in examples if "ambiguous" not in e.traits)


def test_typo_injector_changes_words_but_leaves_ids_and_addresses_alone() -> None:
    text = "Please check payout po_Ab12Cd for anna@shop.example, the transaction txn_9f8E7d failed yesterday."
    for seed in range(30):
        out = corpus._add_typos(text, random.Random(seed))
        assert out != text
        for token in ("po_Ab12Cd", "anna@shop.example", "txn_9f8E7d"):
            assert token in out
        assert abs(len(out) - len(text)) <= 3
        assert len(out.split()) == len(text.split())


def test_rows_and_csv_carry_subject_body_label_and_text(tmp_path: Path) -> None:
    examples = labelled_examples(50, seed=2)
    rows = as_rows(examples)
    assert [r["label"] for r in rows] == [e.label for e in examples]
    assert all(r["text"] == f"{r['subject']}\n\n{r['body']}" for r in rows)
    path = tmp_path / "labelled.csv"
    assert write_labelled_csv(path, examples) == 50
    with path.open(encoding="utf-8", newline="") as fh:
        read = list(csv.DictReader(fh))
    assert [{k: r[k] for k in ("subject", "body", "label", "text")} for r in read] == rows


# -- raw message stream ----------------------------------------------------------------------------


def test_stream_is_the_same_for_the_same_seed_differs_for_another_and_is_prefix_stable() -> None:
    first = list(generate_emails(40, seed=4))
    assert first == list(generate_emails(40, seed=4))
    assert first != list(generate_emails(40, seed=5))
    assert list(generate_emails(90, seed=4))[:40] == first


def test_stream_messages_parse_without_defects_and_use_crlf() -> None:
    for msg, label, raw in parsed():
        assert not all_defects(msg), (all_defects(msg), raw[:2000])
        assert raw.count(b"\n") == raw.count(b"\r\n")
        assert max(len(line) for line in raw.split(b"\r\n")) <= 998
        for header in ("Message-ID", "Date", "From", "To", "Subject", "MIME-Version"):
            assert msg[header], header
        assert label in AREAS
        assert "support@support.example.com" in str(msg["To"])
        assert text_of(msg).strip()


def test_message_ids_are_unique_and_on_the_sender_domain() -> None:
    raws = [raw for raw, _ in stream(500)] + [raw for raw, _ in stream(200, seed=12, auto_share=0.15)]
    ids = [re.search(rb"\r\nMessage-ID: (\S+)\r\n", raw).group(1) for raw in raws]  # type: ignore[union-attr]
    assert len(set(ids)) == len(ids) == len(raws)
    for msg, _, _ in parsed():
        mid = str(msg["Message-ID"])
        assert re.fullmatch(r"<[^<>@\s]+@[^<>@\s]+>", mid)
        assert addr_domain(mid) == addr_domain(msg["From"].addresses[0].addr_spec)


def test_dates_advance_from_start() -> None:
    start = datetime(2024, 11, 4, 9, 0, tzinfo=UTC)
    parser = BytesHeaderParser(policy=policy.default)
    dates = [parser.parsebytes(raw)["Date"].datetime for raw, _ in stream(150, seed=3, start=start)]
    assert dates[0] >= start
    assert all(a <= b for a, b in pairwise(dates))
    assert dates[-1] > dates[0]


def test_replies_answer_an_earlier_message_of_the_stream_from_the_same_sender() -> None:
    seen: dict[str, EmailMessage] = {}
    replies = 0
    for msg, label, _ in parsed():
        parent_id = msg["In-Reply-To"]
        if parent_id:
            replies += 1
            parent = seen[str(parent_id)]  # an EARLIER message of this stream
            assert str(msg["References"]).split()[-1] == str(parent_id)
            assert all(ref in seen for ref in str(msg["References"]).split())
            assert msg["From"].addresses[0].addr_spec == parent["From"].addresses[0].addr_spec
            assert re.sub(r"^(Re|RE|AW): ", "", str(msg["Subject"])) == re.sub(
                r"^(Re|RE|AW): ", "", str(parent["Subject"])
            )
            assert re.match(r"(Re|RE|AW): ", str(msg["Subject"]))
            text = text_of(msg)
            assert ATTRIBUTION.search(text)
            parent_lines = [line for line in text_of(parent).splitlines() if len(line) > 20]
            assert any(f"> {line.rstrip()}" in text for line in parent_lines)
            assert label is not None
        seen[str(msg["Message-ID"])] = msg
    assert 0.1 <= replies / len(parsed()) <= 0.3


def test_sizes_average_4_to_9_kb_with_a_spread() -> None:
    sizes = [len(raw) for raw, _ in stream(500)]
    assert 4096 <= statistics.mean(sizes) <= 9 * 1024
    assert min(sizes) >= 900
    assert max(sizes) <= 70 * 1024
    assert sum(s < 2048 for s in sizes) > 0.2 * len(sizes)
    assert sum(s > 20 * 1024 for s in sizes) > 0.03 * len(sizes)


def test_html_and_attachment_shares_follow_the_parameters() -> None:
    messages = parsed()
    alternative = sum(any(p.get_content_type() == "multipart/alternative" for p in m.walk()) for m, _, _ in messages)
    with_attachments = [m for m, _, _ in messages if any(True for _ in m.iter_attachments())]
    assert 0.35 <= alternative / len(messages) <= 0.6
    assert 0.08 <= len(with_attachments) / len(messages) <= 0.22
    for m in with_attachments:
        attachments = list(m.iter_attachments())
        assert 1 <= len(attachments) <= 2
        for part in attachments:
            assert part["Content-Transfer-Encoding"] == "base64"
            data = part.get_payload(decode=True)
            assert isinstance(data, bytes) and 1024 <= len(data) <= 41 * 1024
            assert part.get_filename()
            kind = part.get_content_type()
            if kind == "application/pdf":
                assert data.startswith(b"%PDF-")
            elif kind == "image/png":
                assert data.startswith(b"\x89PNG\r\n\x1a\n")
            else:
                assert kind == "text/plain" and data.isascii()
    none = parsed(60, seed=8, html_share=0.0, attachment_share=0.0, reply_share=0.0)
    assert all(m.get_content_type() == "text/plain" for m, _, _ in none)


def test_non_ascii_names_are_encoded_and_round_trip() -> None:
    names = {n[0] for n in corpus._NON_ASCII_NAMES}
    for name in names:
        header = corpus._encode_address(name, "someone@shop.example")
        assert header.isascii() and "=?" in header
        msg = email.message_from_string(f"From: {header}\n\n", policy=policy.default)
        assert msg["From"].addresses[0].display_name == name
        assert msg["From"].addresses[0].addr_spec == "someone@shop.example"
    encoded = 0
    for msg, _, raw in parsed():
        from_line = raw.split(b"\r\nFrom: ", 1)[1].split(b"\r\n", 1)[0]
        if b"=?" in from_line:
            encoded += 1
            assert msg["From"].addresses[0].display_name in names
    assert 0.04 <= encoded / len(parsed()) <= 0.2


def test_non_ascii_subjects_round_trip() -> None:
    subject = "Vérification du compte – documents für März"  # noqa: RUF001
    header = corpus._encode_subject(subject)
    assert header.isascii()
    assert email.message_from_string(f"Subject: {header}\n\n", policy=policy.default)["Subject"] == subject
    assert any(not str(m["Subject"]).isascii() for m, _, _ in parsed())


def test_auto_share_adds_out_of_office_replies_and_bounces_without_labels() -> None:
    messages = parsed(150, seed=12, auto_share=0.15)
    auto = [(m, label) for m, label, _ in messages if m["Auto-Submitted"]]
    assert 0.08 <= len(auto) / len(messages) <= 0.24
    assert all(label is None for _, label in auto)
    assert all(label in AREAS for m, label, _ in messages if not m["Auto-Submitted"])
    bounces = [m for m, _ in auto if m.get_content_type() == "multipart/report"]
    out_of_office = [m for m, _ in auto if m.get_content_type() == "text/plain"]
    assert bounces and out_of_office
    for m in bounces:
        assert m.get_param("report-type") == "delivery-status"
        assert "MAILER-DAEMON" in str(m["From"])
        assert any(p.get_content_type() == "message/delivery-status" for p in m.walk())
    for m in out_of_office:
        assert str(m["Auto-Submitted"]) == "auto-replied"
        assert m["In-Reply-To"]
    for m, _, _ in messages:
        assert not all_defects(m)


def test_invalid_arguments_are_rejected() -> None:
    with pytest.raises(ValueError):
        list(generate_emails(5, reply_share=1.5))
    with pytest.raises(ValueError):
        list(generate_emails(-1))
    with pytest.raises(ValueError):
        labelled_examples(-1)


def test_generation_runs_well_over_1000_messages_per_second() -> None:
    start = time.process_time()
    count = sum(1 for _ in generate_emails(1000, seed=21))
    elapsed = time.process_time() - start
    assert count == 1000
    assert count / elapsed >= 1000, f"{count / elapsed:.0f} messages/s"


# -- demo mailbox ----------------------------------------------------------------------------------


def test_demo_mailbox_is_deterministic() -> None:
    assert demo_mailbox() == demo_mailbox()
    assert demo_mailbox(seed=4) != demo_mailbox()


def test_demo_mailbox_holds_the_promised_mix() -> None:
    box = [email.message_from_bytes(raw, policy=policy.default) for raw in demo_mailbox()]
    assert len(box) == 60
    ids: set[str] = set()
    replies = 0
    kinds: Counter[str] = Counter()
    for msg in box:
        assert isinstance(msg, EmailMessage)
        assert not all_defects(msg)
        if msg["Auto-Submitted"]:
            kinds["bounce" if msg.get_content_type() == "multipart/report" else "auto_reply"] += 1
        elif msg["In-Reply-To"]:
            assert str(msg["In-Reply-To"]) in ids
            replies += 1
        if msg.get_content_type() == "text/html":
            kinds["html_only"] += 1
        if any(True for _ in msg.iter_attachments()):
            kinds["attachment"] += 1
        ids.add(str(msg["Message-ID"]))
    assert len(ids) == len(box)
    assert replies >= 2
    assert kinds["auto_reply"] >= 1 and kinds["bounce"] >= 1
    assert kinds["html_only"] == 1 and kinds["attachment"] >= 1


@pytest.mark.parametrize("n", [0, 1, 5, 12])
def test_demo_mailbox_honours_small_sizes(n: int) -> None:
    box = demo_mailbox(n)
    assert len(box) == n
    if n >= 5:
        types = [email.message_from_bytes(raw, policy=policy.default).get_content_type() for raw in box]
        assert "multipart/report" in types and "text/html" in types
