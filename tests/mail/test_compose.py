from __future__ import annotations

from datetime import UTC, datetime
from email import message_from_bytes, policy

import pytest

from app.mail.compose import OutgoingFile, clean_filename, compose

WHEN = datetime(2026, 11, 22, 9, 30, tzinfo=UTC)


def build(**overrides: object) -> bytes:
    fields: dict[str, object] = dict(
        from_address="support@routedesk.example",
        from_name="Routedesk Support",
        to=["ana@merchant.example"],
        subject="Re: Payout missing [RD-7K2M9Q4T]",
        body="Hello Ana,\nthe payout left on Monday.\n",
        message_id="reply-1@routedesk.example",
        in_reply_to="customer-2@merchant.example",
        references=["customer-1@merchant.example", "customer-2@merchant.example"],
        date=WHEN,
        automatic=False,
    )
    fields.update(overrides)
    return compose(**fields)  # type: ignore[arg-type]


def parsed(raw: bytes):  # type: ignore[no-untyped-def]
    return message_from_bytes(raw, policy=policy.default)


def test_reply_carries_the_thread_headers_fixed_at_compose_time() -> None:
    msg = parsed(build())
    assert msg["Message-ID"] == "<reply-1@routedesk.example>"
    assert msg["In-Reply-To"] == "<customer-2@merchant.example>"
    assert msg["References"].split() == ["<customer-1@merchant.example>", "<customer-2@merchant.example>"]
    assert msg.defects == []


def test_same_inputs_compose_the_same_bytes() -> None:
    assert build() == build()


def test_line_breaks_in_a_subject_cannot_inject_headers() -> None:
    msg = parsed(build(subject="Refund\r\nBcc: attacker@evil.example"))
    assert msg["Bcc"] is None
    assert "attacker@evil.example" in msg["Subject"]


def test_non_ascii_subject_body_and_name_round_trip() -> None:
    msg = parsed(build(subject="Überweisung fehlt", from_name="Zoë Müller", body="Grüße aus Köln\n" + "é" * 1200))
    assert msg["Subject"] == "Überweisung fehlt"
    assert msg["From"].addresses[0].display_name == "Zoë Müller"
    assert msg.get_content().startswith("Grüße aus Köln")
    assert all(len(line) <= 998 for line in build(body="é" * 5000).split(b"\r\n"))


def test_automatic_mail_is_marked_so_responders_do_not_answer_it() -> None:
    msg = parsed(build(automatic=True))
    assert msg["Auto-Submitted"] == "auto-replied"
    assert msg["X-Auto-Response-Suppress"] == "All"
    assert parsed(build())["Auto-Submitted"] is None


def test_international_domain_is_sent_in_idna_form() -> None:
    assert b"To: jo@xn--bcher-kva.example\r\n" in build(to=["jo@bücher.example"])


def test_a_message_with_files_is_multipart_with_each_file_base64_encoded() -> None:
    pdf = bytes(range(256)) * 4
    files = [
        OutgoingFile(filename="statement.pdf", content_type="application/pdf", content=pdf),
        OutgoingFile(filename='Relevé "final".csv', content_type="text/csv; charset=latin-1", content=b"a;b\r\n"),
        OutgoingFile(filename="x.bin", content_type="not a type", content=b""),
    ]
    msg = parsed(build(files=files))
    assert msg.get_content_type() == "multipart/mixed"
    assert msg.defects == []
    body = msg.get_body(preferencelist=("plain",))
    assert body is not None and body.get_content().replace("\r\n", "\n") == "Hello Ana,\nthe payout left on Monday.\n"
    got = [(p.get_filename(), p.get_content_type(), p.get_payload(decode=True)) for p in msg.iter_attachments()]
    assert got == [
        ("statement.pdf", "application/pdf", pdf),
        ("Relevé _final_.csv", "text/csv", b"a;b\r\n"),
        ("x.bin", "application/octet-stream", b""),
    ]


def test_the_boundary_is_not_in_the_body() -> None:
    raw = build(body="--=_routedesk_ looks like a boundary", files=[OutgoingFile("a.txt", "text/plain", b"a")])
    boundary = parsed(raw).get_boundary()
    assert boundary is not None and boundary.startswith("=_routedesk_")
    assert raw.count(boundary.encode()) == 4  # the header, two delimiters, the close


@pytest.mark.parametrize(
    ("name", "cleaned"),
    [
        ("invoice.pdf", "invoice.pdf"),
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\ana\\report.docx", "report.docx"),
        ("a\r\nb\x00c.txt", "a b c.txt"),
        ("report\u202efdp.exe", "report fdp.exe"),
        ("...hidden", "hidden"),
        ('what?"*<>|:.txt', "what_______.txt"),
        ("trailing. ", "trailing"),
        ("", None),
        ("../", None),
        ("\u200b", None),
        ("x" * 300 + ".pdf", "x" * 251 + ".pdf"),
    ],
)
def test_clean_filename(name: str, cleaned: str | None) -> None:
    assert clean_filename(name) == cleaned


def _from(raw: bytes) -> tuple[str, str, list[bytes]]:
    msg = parsed(raw)
    [sender] = msg["From"].addresses
    return sender.display_name, sender.addr_spec, raw.split(b"\r\n\r\n", 1)[0].split(b"\r\n")


def test_display_names_with_quotes_commas_and_non_ascii_survive_intact() -> None:
    for name in (
        'Ana "the fixer" at Acme, Inc.',
        "Zoë at Señor Ünïcode Support",
        "Ana at <Acme> Support; (EU)",
        "Ana at Acme\\Support",
        "Анна at Поддержка, ltd",
    ):
        shown, address, _headers = _from(build(from_name=name))
        assert (shown, address) == (name, "support@routedesk.example"), name


def test_a_display_name_cannot_inject_a_header_or_change_the_address() -> None:
    raw = build(from_name="Ana\r\nBcc: victim@evil.example\r\nX-Evil: 1 <attacker@evil.example>")
    shown, address, headers = _from(raw)
    assert address == "support@routedesk.example"
    assert "\r" not in shown and "\n" not in shown
    assert not [h for h in headers if h.lower().startswith((b"bcc:", b"x-evil:"))]
    assert parsed(raw)["Bcc"] is None and parsed(raw).defects == []


def test_without_a_display_name_the_from_is_the_bare_address() -> None:
    raw = build(from_name=None)
    assert b"\r\nFrom: support@routedesk.example\r\n" in b"\r\n" + raw
