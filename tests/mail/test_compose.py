from __future__ import annotations

from datetime import UTC, datetime
from email import message_from_bytes, policy

from app.mail.compose import compose

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
