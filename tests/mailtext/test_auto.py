from __future__ import annotations

import pytest

from mailtext.message import parse_message
from tests.mailtext.helpers import REPLY, eml

ORIGINAL_ID = "out-42@payhub.example"


def dsn(original: str, *, report_type: str = "delivery-status") -> bytes:
    # the original part is put in after dedenting: its lines carry no indentation of their own
    template = eml(
        f"""\
        From: Mail Delivery System <MAILER-DAEMON@mx.bakery.example>
        To: support@payhub.example
        Subject: Undelivered Mail Returned to Sender
        Auto-Submitted: auto-replied
        Content-Type: multipart/report; report-type={report_type}; boundary="dsn"

        --dsn
        Content-Type: text/plain

        Your message could not be delivered.
        --dsn
        Content-Type: message/delivery-status

        Reporting-MTA: dns; mx.bakery.example

        Final-Recipient: rfc822; jane@bakery.example
        Action: failed
        Status: 5.1.1
        --dsn
        ORIGINAL
        --dsn--
        """
    )
    return template.replace(b"ORIGINAL", original.replace("\n", "\r\n").encode())


def test_delivery_status_report_is_a_bounce_naming_the_original_message() -> None:
    parsed = parse_message(
        dsn(f"Content-Type: message/rfc822\n\nMessage-ID: <{ORIGINAL_ID}>\nSubject: Your refund\n\nbody")
    )
    assert (parsed.auto, parsed.bounced_message_ids) == ("bounce", [ORIGINAL_ID])


def test_report_type_delivery_status_alone_marks_a_bounce() -> None:
    raw = (
        dsn("Content-Type: text/plain\n\nx")
        .replace(b"MAILER-DAEMON", b"relay")
        .replace(b"Undelivered Mail Returned to Sender", b"Notice")
        .replace(b"Auto-Submitted: auto-replied\r\n", b"")
        .replace(b"message/delivery-status", b"text/plain")
    )
    assert parse_message(raw).auto == "bounce"


def test_bounce_with_only_the_original_headers_names_the_original_message() -> None:
    headers = f"Content-Type: text/rfc822-headers\n\nMessage-ID: <{ORIGINAL_ID}>\nSubject: x"
    parsed = parse_message(dsn(headers))
    assert parsed.bounced_message_ids == [ORIGINAL_ID]


def test_bounce_text_is_the_human_readable_part() -> None:
    parsed = parse_message(dsn("Content-Type: text/rfc822-headers\n\nSubject: x"))
    assert parsed.text == "Your message could not be delivered."


def test_delivery_status_part_alone_marks_a_bounce() -> None:
    raw = eml(
        """\
        From: relay@mx.example
        Content-Type: multipart/mixed; boundary=b

        --b
        Content-Type: text/plain

        delayed
        --b
        Content-Type: message/delivery-status

        Action: delayed
        --b--
        """
    )
    assert parse_message(raw).auto == "bounce"


def test_mailer_daemon_sender_is_a_bounce() -> None:
    raw = eml("From: MAILER-DAEMON@mx.example\nSubject: failure notice\n\nSorry, it did not work.\n")
    assert parse_message(raw).auto == "bounce"


def test_postmaster_with_a_delivery_failure_subject_is_a_bounce() -> None:
    raw = eml("From: postmaster@outlook.example\nSubject: Undeliverable: Your refund\n\nNot delivered.\n")
    assert parse_message(raw).auto == "bounce"


def test_postmaster_writing_an_ordinary_message_is_not_a_bounce() -> None:
    raw = eml("From: postmaster@bakery.example\nSubject: Payout question\n\nWhere is our payout?\n")
    assert parse_message(raw).auto is None


def test_empty_return_path_with_a_dsn_subject_is_a_bounce() -> None:
    raw = eml("Return-Path: <>\nFrom: relay@mx.example\nSubject: Delivery Status Notification\n\nx\n")
    assert parse_message(raw).auto == "bounce"


def test_empty_return_path_alone_is_not_a_bounce() -> None:
    raw = eml("Return-Path: <>\nFrom: notifications@shop.example\nSubject: Your order\n\nx\n")
    assert parse_message(raw).auto is None


def test_failed_recipients_header_marks_a_bounce() -> None:
    raw = eml("From: relay@mx.example\nX-Failed-Recipients: jane@x.example\nSubject: x\n\nx\n")
    assert parse_message(raw).auto == "bounce"


@pytest.mark.parametrize("header", ["Original-Message-ID", "X-Original-Message-ID"])
def test_original_message_id_header_of_a_bounce_is_reported(header: str) -> None:
    raw = eml(f"From: MAILER-DAEMON@mx.example\n{header}: <{ORIGINAL_ID}>\nSubject: x\n\nx\n")
    assert parse_message(raw).bounced_message_ids == [ORIGINAL_ID]


def test_bounce_quoting_the_original_headers_in_text_reports_its_message_id() -> None:
    raw = eml(
        f"""\
        From: Mail Delivery Subsystem <mailer-daemon@googlemail.example>
        Subject: Delivery Status Notification (Failure)

        Delivery to the following recipient failed permanently:

        ----- Original message -----

        Message-ID: <{ORIGINAL_ID}>
        Subject: Your refund
        """
    )
    assert parse_message(raw).bounced_message_ids == [ORIGINAL_ID]


def test_forwarded_message_id_is_not_reported_for_ordinary_mail() -> None:
    raw = eml(
        f"""\
        From: jane@bakery.example
        Content-Type: multipart/mixed; boundary=b

        --b
        Content-Type: message/rfc822

        Message-ID: <{ORIGINAL_ID}>

        forwarded
        --b--
        """
    )
    parsed = parse_message(raw)
    assert (parsed.auto, parsed.bounced_message_ids) == (None, [])


@pytest.mark.parametrize("value", ["auto-replied", "auto-generated", "auto-notified; owner-email=x@y"])
def test_auto_submitted_other_than_no_is_an_auto_reply(value: str) -> None:
    raw = eml(f"From: jane@bakery.example\nAuto-Submitted: {value}\nSubject: Thanks\n\nx\n")
    assert parse_message(raw).auto == "auto_reply"


def test_auto_submitted_no_is_a_person() -> None:
    raw = eml("From: jane@bakery.example\nAuto-Submitted: no\nSubject: Refund\n\nx\n")
    assert parse_message(raw).auto is None


@pytest.mark.parametrize(
    "header",
    [
        "X-Autoreply: yes",
        "X-Autorespond: Out of office",
        "X-Auto-Response-Suppress: All",
        "X-Auto-Response-Suppress: DR, OOF",
        "X-Auto-Response-Suppress: AutoReply",
    ],
)
def test_autoreply_headers_make_an_auto_reply(header: str) -> None:
    raw = eml(f"From: jane@bakery.example\n{header}\nSubject: Refund\n\nx\n")
    assert parse_message(raw).auto == "auto_reply"


def test_auto_response_suppress_for_delivery_reports_only_is_a_person() -> None:
    raw = eml("From: jane@bakery.example\nX-Auto-Response-Suppress: DR, RN, NRN\nSubject: Refund\n\nx\n")
    assert parse_message(raw).auto is None


@pytest.mark.parametrize(
    "subject",
    [
        "Out of Office: Refund request",
        "Automatic reply: Refund request",
        "Abwesenheitsnotiz: Ihre Anfrage",
        "Réponse automatique : Votre demande",
        "[Out of office] Refund",
        "Auto-Reply: Refund",
    ],
)
def test_auto_reply_subjects_make_an_auto_reply(subject: str) -> None:
    raw = eml(f"From: jane@bakery.example\nSubject: {subject}\n\nI am away until Monday.\n")
    assert parse_message(raw).auto == "auto_reply"


def test_read_receipt_report_is_an_auto_reply() -> None:
    parsed = parse_message(
        dsn("Content-Type: message/disposition-notification\n\nx", report_type="disposition-notification")
        .replace(b"MAILER-DAEMON", b"jane")
        .replace(b"Undelivered Mail Returned to Sender", b"Read: Refund")
        .replace(b"message/delivery-status", b"text/plain")
    )
    assert parsed.auto == "auto_reply"


@pytest.mark.parametrize(
    "header",
    [
        "Precedence: bulk",
        "Precedence: list",
        "Precedence: junk",
        "List-Id: <news.shop.example>",
        "List-Unsubscribe: <mailto:unsub@shop.example>",
    ],
)
def test_list_and_bulk_headers_make_bulk(header: str) -> None:
    raw = eml(f"From: news@shop.example\n{header}\nSubject: Spring sale\n\nx\n")
    assert parse_message(raw).auto == "bulk"


def test_list_id_is_reported_so_that_a_group_address_can_be_told_from_a_newsletter() -> None:
    raw = eml('From: jane@bakery.example\nList-Id: "PayHub Support" <Support.PayHub.example>\n\nx\n')
    assert parse_message(raw).list_id == "support.payhub.example"


def test_bounce_wins_over_auto_reply_and_bulk() -> None:
    raw = eml("From: MAILER-DAEMON@mx.example\nAuto-Submitted: auto-replied\nPrecedence: bulk\n\nx\n")
    assert parse_message(raw).auto == "bounce"


def test_ordinary_customer_mail_is_not_automatic() -> None:
    parsed = parse_message(REPLY)
    assert (parsed.auto, parsed.bounced_message_ids) == (None, [])
