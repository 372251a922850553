from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest

from mailtext.headers import normalize_subject
from mailtext.message import ParsedMessage, parse_message
from mailtext.mime import ParsedAttachment
from tests.mailtext.helpers import REPLY, b64, eml

# --- the record ---------------------------------------------------------------------------------


def test_parsed_message_carries_the_agreed_fields() -> None:
    agreed = {
        "message_id",
        "in_reply_to",
        "references",
        "subject",
        "from_address",
        "from_name",
        "reply_to",
        "to",
        "cc",
        "date",
        "text",
        "html",
        "new_text",
        "attachments",
        "auto",
        "bounced_message_ids",
        "defects",
        "headers_text",
    }
    assert agreed <= {f.name for f in dataclasses.fields(ParsedMessage)}
    assert {f.name for f in dataclasses.fields(ParsedAttachment)} == {
        "filename",
        "content_type",
        "size",
        "content",
        "content_id",
        "inline",
    }


def test_added_fields_have_defaults_so_hand_built_records_still_work() -> None:
    required = [f.name for f in dataclasses.fields(ParsedMessage) if f.default is dataclasses.MISSING]
    assert len(required) == 18
    assert ParsedMessage(*[None] * 18).list_id is None  # type: ignore[arg-type]


def test_empty_input_is_an_empty_message() -> None:
    parsed = parse_message(b"")
    assert parsed.empty and (parsed.subject, parsed.text, parsed.from_address) == ("", "", None)
    assert parsed.defects == ["empty message"]


def test_whitespace_only_input_is_an_empty_message() -> None:
    assert parse_message(b" \r\n\r\n\t").empty


def test_bytearray_input_is_accepted() -> None:
    assert parse_message(bytearray(REPLY)).message_id == "reply-1@merchant.example"


# --- identifiers and addresses ------------------------------------------------------------------


def test_message_id_is_stripped_of_angle_brackets_and_whitespace() -> None:
    parsed = parse_message(eml("Message-ID:   < abc.123@mx.example >\n\nhi\n"))
    assert parsed.message_id == "abc.123@mx.example"


def test_empty_message_id_is_none() -> None:
    assert parse_message(eml("Message-ID: <>\nSubject: x\n\nhi\n")).message_id is None


def test_absent_message_id_is_none() -> None:
    assert parse_message(eml("Subject: x\n\nhi\n")).message_id is None


def test_references_are_kept_in_header_order() -> None:
    parsed = parse_message(eml("References: <c@x>\n <a@x>\n\t<b@x>\n\nhi\n"))
    assert parsed.references == ["c@x", "a@x", "b@x"]


def test_in_reply_to_is_normalised_like_message_id() -> None:
    assert parse_message(eml("In-Reply-To: <  p@x >\n\nhi\n")).in_reply_to == ["p@x"]


def test_in_reply_to_without_angle_brackets_is_read() -> None:
    assert parse_message(eml("In-Reply-To: p@x\n\nhi\n")).in_reply_to == ["p@x"]


def test_in_reply_to_with_a_trailing_comment_keeps_only_the_id() -> None:
    parsed = parse_message(eml('In-Reply-To: <p@x> (Jane\'s message of "Mon")\n\nhi\n'))
    assert parsed.in_reply_to == ["p@x"]


def test_from_address_is_lowercased_and_display_name_kept() -> None:
    parsed = parse_message(REPLY)
    assert (parsed.from_address, parsed.from_name) == ("jane.doe@merchant.example", "Jane Doe")


def test_encoded_display_name_is_decoded() -> None:
    parsed = parse_message(eml("From: =?utf-8?q?J=C3=BCrgen_M=C3=BCller?= <j@bakery.example>\n\nhi\n"))
    assert parsed.from_name == "Jürgen Müller"


def test_display_name_with_a_quoted_comma_stays_one_address() -> None:
    parsed = parse_message(eml('From: "Doe, Jane" <jane@x.example>\n\nhi\n'))
    assert (parsed.from_name, parsed.from_address) == ("Doe, Jane", "jane@x.example")


def test_address_with_comment_is_read() -> None:
    parsed = parse_message(eml("From: jane@x.example (Jane Doe)\n\nhi\n"))
    assert (parsed.from_name, parsed.from_address) == ("Jane Doe", "jane@x.example")


def test_missing_from_falls_back_to_sender() -> None:
    parsed = parse_message(eml("Sender: Ops <ops@x.example>\nReturn-Path: <bounce@x.example>\n\nhi\n"))
    assert parsed.from_address == "ops@x.example"


def test_missing_from_and_sender_falls_back_to_return_path() -> None:
    assert parse_message(eml("Return-Path: <Bounce@X.example>\n\nhi\n")).from_address == "bounce@x.example"


def test_to_and_cc_are_lists_of_lowercased_addresses() -> None:
    parsed = parse_message(
        eml('To: "A" <A@x.example>, b@Y.example\nCc: undisclosed-recipients:;, <C@z.example>\n\nhi\n')
    )
    assert (parsed.to, parsed.cc) == (["a@x.example", "b@y.example"], ["c@z.example"])


def test_reply_to_is_read() -> None:
    assert parse_message(eml("Reply-To: Desk <Desk@x.example>\n\nhi\n")).reply_to == "desk@x.example"


# --- subject and other headers -------------------------------------------------------------------


def test_subject_is_decoded_and_whitespace_collapsed() -> None:
    parsed = parse_message(eml("Subject: Refund   for\n  =?iso-8859-1?q?caf=E9?=\t order\n\nhi\n"))
    assert parsed.subject == "Refund for café order"


def test_absent_subject_is_empty() -> None:
    assert parse_message(eml("From: a@x\n\nhi\n")).subject == ""


def test_adjacent_encoded_words_are_joined_without_the_space_between() -> None:
    parsed = parse_message(eml("Subject: =?utf-8?q?Pay?= =?utf-8?q?out?=\n\nhi\n"))
    assert parsed.subject == "Payout"


def test_multibyte_character_split_across_encoded_words_is_decoded() -> None:
    # "é" is C3 A9 in UTF-8; each byte travels in its own word
    parsed = parse_message(eml("Subject: =?utf-8?b?Y2Fmww==?= =?utf-8?b?qQ==?=\n\nhi\n"))
    assert parsed.subject == "café"


def test_plain_words_between_encoded_words_keep_their_spaces() -> None:
    raw = eml("Subject: Re: =?utf-8?q?Geb=C3=BChr?= zu hoch =?utf-8?q?(M=C3=A4rz)?=\n\nhi\n")
    parsed = parse_message(raw)
    assert parsed.subject == "Re: Gebühr zu hoch (März)"


def test_encoded_word_with_broken_base64_does_not_raise() -> None:
    parsed = parse_message(eml("Subject: =?utf-8?b?SGVsbG8gd29ybGQ?= x\n\nhi\n"))
    assert parsed.subject.startswith("Hello world")


def test_encoded_word_with_wrong_charset_label_falls_back_and_notes_it() -> None:
    # labelled UTF-8, but the byte is latin-1 "é"
    parsed = parse_message(eml("Subject: =?utf-8?q?caf=E9?=\n\nhi\n"))
    assert parsed.subject == "café"
    assert any("header" in d for d in parsed.defects)


def test_encoded_word_with_unknown_charset_is_still_decoded() -> None:
    parsed = parse_message(eml("Subject: =?x-no-such-charset?q?Payout_delayed?=\n\nhi\n"))
    assert parsed.subject == "Payout delayed"
    assert any("x-no-such-charset" in d for d in parsed.defects)


def test_raw_utf8_header_is_decoded() -> None:
    assert parse_message(eml("Subject: Rückerstattung\n\nhi\n")).subject == "Rückerstattung"


def test_raw_latin1_header_is_read_as_windows_1252_with_a_defect() -> None:
    parsed = parse_message(b"Subject: R\xfcckerstattung \x80 5\r\n\r\nhi\r\n")
    assert parsed.subject == "Rückerstattung € 5"
    assert parsed.defects


def test_date_is_converted_to_utc() -> None:
    assert parse_message(REPLY).date == datetime(2026, 3, 3, 9, 15, tzinfo=UTC)


def test_date_without_zone_is_taken_as_utc() -> None:
    parsed = parse_message(eml("Date: 3 Mar 2026 10:15:00 -0000\n\nhi\n"))
    assert parsed.date == datetime(2026, 3, 3, 10, 15, tzinfo=UTC)


def test_unparseable_date_is_none_with_a_defect() -> None:
    parsed = parse_message(eml("Date: sometime last week\n\nhi\n"))
    assert parsed.date is None
    assert any("Date" in d for d in parsed.defects)


def test_absent_date_is_none_without_a_defect() -> None:
    parsed = parse_message(eml("Subject: x\n\nhi\n"))
    assert (parsed.date, parsed.defects) == (None, [])


def test_headers_text_lists_decoded_unfolded_headers() -> None:
    parsed = parse_message(eml("Subject: =?utf-8?q?Geb=C3=BChr?=\nX-Note: one\n two\n\nhi\n"))
    assert parsed.headers_text == "Subject: Gebühr\nX-Note: one two"


def test_mbox_envelope_line_is_not_a_header() -> None:
    parsed = parse_message(b"From jane@x.example Mon Mar  2 09:00:00 2026\nSubject: hi\n\nbody\n")
    assert (parsed.subject, parsed.headers_text) == ("hi", "Subject: hi")


# --- bodies --------------------------------------------------------------------------------------


def test_quoted_printable_body_is_decoded() -> None:
    parsed = parse_message(
        eml(
            """\
            Content-Type: text/plain; charset=utf-8
            Content-Transfer-Encoding: quoted-printable

            Die Geb=C3=BChr ist zu hoch und diese Zeile ist sehr lang, sie wurde umbro=
            chen.
            """
        )
    )
    assert parsed.text == "Die Gebühr ist zu hoch und diese Zeile ist sehr lang, sie wurde umbrochen."


def test_base64_body_is_decoded() -> None:
    body = b64("Rückerstattung bitte.\n".encode())
    parsed = parse_message(
        eml(f"Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: base64\n\n{body}\n")
    )
    assert parsed.text == "Rückerstattung bitte."


def test_crlf_line_ends_become_newlines() -> None:
    assert parse_message(b"Subject: x\r\n\r\none\r\ntwo\r\n").text == "one\ntwo"


def test_format_flowed_lines_are_joined() -> None:
    parsed = parse_message(
        eml(
            """\
            Content-Type: text/plain; charset=utf-8; format=flowed

            The payout of Monday has not arrived on our account, could you please\u0020
            check it?
            > quoted and\u0020
            > flowed
            """
        )
    )
    assert parsed.text == (
        "The payout of Monday has not arrived on our account, could you please check it?\n> quoted and flowed"
    )


ALTERNATIVE = eml(
    """\
    Subject: Card declined
    MIME-Version: 1.0
    Content-Type: multipart/alternative; boundary="alt"

    --alt
    Content-Type: text/plain; charset=utf-8

    Plain: every card payment is declined.
    --alt
    Content-Type: text/html; charset=utf-8

    <div>HTML: every card payment is <b>declined</b>.<script>steal()</script></div>
    <img src="cid:logo@x" onerror="steal()">
    --alt--
    """
)


def test_multipart_alternative_prefers_the_plain_part() -> None:
    assert parse_message(ALTERNATIVE).text == "Plain: every card payment is declined."


def test_html_alternative_is_kept_sanitised() -> None:
    html = parse_message(ALTERNATIVE).html
    assert html is not None
    assert "<b>declined</b>" in html
    assert "script" not in html
    assert "steal" not in html


def test_sanitised_html_keeps_cid_images() -> None:
    assert 'src="cid:logo@x"' in (parse_message(ALTERNATIVE).html or "")


def test_empty_plain_alternative_falls_back_to_the_html() -> None:
    raw = eml(
        """\
        Content-Type: multipart/alternative; boundary=b

        --b
        Content-Type: text/plain; charset=utf-8

        \u0020\u0020
        --b
        Content-Type: text/html; charset=utf-8

        <p>Only the HTML has text.</p>
        --b--
        """
    )
    parsed = parse_message(raw)
    assert parsed.text == "Only the HTML has text."
    assert parsed.text_from_html


def test_html_only_mail_is_converted_to_readable_text() -> None:
    raw = eml(
        """\
        Content-Type: text/html; charset=utf-8

        <html><head><style>p {color: red}</style></head><body>
        <p>Hello&nbsp;team,</p><p>the refund for order <a href="https://shop.example/o/42">#42</a>
        is missing &amp; the customer is upset.</p><ul><li>Amount: 10&euro;</li><li>Card: Visa</li></ul>
        </body></html>
        """
    )
    assert parse_message(raw).text == (
        "Hello team,\n\nthe refund for order #42 (https://shop.example/o/42) is missing & the customer is "
        "upset.\n\n- Amount: 10€\n- Card: Visa"
    )


def test_html_charset_may_come_from_a_meta_tag() -> None:
    raw = (
        b"Content-Type: text/html\r\n\r\n"
        b'<html><head><meta charset="iso-8859-1"></head><body>Geb\xfchr</body></html>\r\n'
    )
    assert parse_message(raw).text == "Gebühr"


def test_text_parts_of_a_mixed_message_are_joined_in_order() -> None:
    raw = eml(
        """\
        Content-Type: multipart/mixed; boundary=m

        --m
        Content-Type: text/plain

        first
        --m
        Content-Type: image/png
        Content-Disposition: inline; filename=a.png
        Content-Transfer-Encoding: base64

        iVBORw0KGgo=
        --m
        Content-Type: text/plain

        second
        --m--
        """
    )
    assert parse_message(raw).text == "first\n\nsecond"


# --- charsets --------------------------------------------------------------------------------------


def test_latin1_body_declared_utf8_is_decoded() -> None:
    raw = b"Content-Type: text/plain; charset=utf-8\r\n\r\nGeb\xfchr f\xfcr R\xfccklastschrift\r\n"
    parsed = parse_message(raw)
    assert parsed.text == "Gebühr für Rücklastschrift"
    assert any("utf-8" in d.lower() for d in parsed.defects)


def test_latin1_body_without_charset_is_decoded() -> None:
    parsed = parse_message(b"Subject: x\r\n\r\nMontant d\xe9bit\xe9 deux fois\r\n")
    assert parsed.text == "Montant débité deux fois"
    assert parsed.defects


def test_undeclared_utf8_body_is_decoded() -> None:
    assert parse_message("Subject: x\r\n\r\nMontant débité\r\n".encode()).text == "Montant débité"


def test_windows_1252_body_is_decoded() -> None:
    raw = b"Content-Type: text/plain; charset=windows-1252\r\n\r\n\x93Fee\x94 of \x805 \x96 why?\r\n"
    assert parse_message(raw).text == "\u201cFee\u201d of \u20ac5 \u2013 why?"


def test_iso_8859_1_label_is_read_as_windows_1252() -> None:
    raw = b"Content-Type: text/plain; charset=iso-8859-1\r\n\r\nFee \x805\r\n"
    assert parse_message(raw).text == "Fee \u20ac5"


def test_iso_2022_jp_body_is_decoded() -> None:
    body = "返金をお願いします".encode("iso-2022-jp")
    raw = b"Content-Type: text/plain; charset=ISO-2022-JP\r\nContent-Transfer-Encoding: 7bit\r\n\r\n" + body
    assert parse_message(raw).text == "返金をお願いします"


def test_iso_2022_jp_encoded_word_is_decoded() -> None:
    parsed = parse_message(eml("Subject: =?ISO-2022-JP?B?GyRCJUYlOSVIGyhC?=\n\nhi\n"))
    assert parsed.subject == "テスト"


def test_unknown_charset_falls_back_with_a_defect() -> None:
    raw = "Content-Type: text/plain; charset=x-no-such-charset\r\n\r\nRückerstattung\r\n".encode()
    parsed = parse_message(raw)
    assert parsed.text == "Rückerstattung"
    assert any("x-no-such-charset" in d for d in parsed.defects)


def test_utf8_body_declared_latin1_is_read_as_utf8() -> None:
    raw = "Content-Type: text/plain; charset=iso-8859-1\r\n\r\nRückerstattung\r\n".encode()
    assert parse_message(raw).text == "Rückerstattung"


def test_mostly_utf8_body_with_one_stray_byte_stays_utf8() -> None:
    raw = b"Content-Type: text/plain; charset=utf-8\r\n\r\nR\xc3\xbcckerstattung \xff ok\r\n"
    assert parse_message(raw).text == "Rückerstattung \ufffd ok"


def test_8bit_body_declared_us_ascii_is_noted() -> None:
    parsed = parse_message(b"Content-Type: text/plain; charset=us-ascii\r\n\r\nd\xe9bit\r\n")
    assert parsed.text == "débit"
    assert any("us-ascii" in d for d in parsed.defects)


def test_a_charset_that_is_not_a_text_encoding_is_refused() -> None:
    raw = b"Content-Type: text/plain; charset=zlib\r\n\r\nplain words\r\n"
    parsed = parse_message(raw)
    assert parsed.text == "plain words"
    assert any("zlib" in d for d in parsed.defects)


# --- attachments -----------------------------------------------------------------------------------


def _with_attachment(disposition: str, payload: bytes = b"%PDF-1.7 statement", ctype: str = "application/pdf") -> bytes:
    lines = [
        'Content-Type: multipart/mixed; boundary="mix"',
        "",
        "--mix",
        "Content-Type: text/plain",
        "",
        "See the statement attached.",
        "--mix",
        f"Content-Type: {ctype}",
        f"Content-Disposition: {disposition}",
        "Content-Transfer-Encoding: base64",
        "",
        b64(payload).replace("\n", "\r\n"),
        "--mix--",
        "",
    ]
    return "\r\n".join(lines).encode()


def test_attachment_is_kept_with_decoded_size_and_content() -> None:
    parsed = parse_message(_with_attachment('attachment; filename="statement.pdf"'))
    assert parsed.attachments == [
        ParsedAttachment(
            filename="statement.pdf",
            content_type="application/pdf",
            size=18,
            content=b"%PDF-1.7 statement",
            content_id=None,
            inline=False,
        )
    ]
    assert parsed.text == "See the statement attached."


def test_attachment_over_the_limit_keeps_metadata_without_content() -> None:
    raw = _with_attachment('attachment; filename="big.pdf"', b"x" * 5000)
    parsed = parse_message(raw, max_attachment_bytes=4096)
    (attachment,) = parsed.attachments
    assert (attachment.filename, attachment.size, attachment.content) == ("big.pdf", 5000, None)


def test_rfc2231_filename_is_decoded() -> None:
    parsed = parse_message(_with_attachment("attachment; filename*=utf-8''Kontoauszug%20M%C3%A4rz.pdf"))
    assert parsed.attachments[0].filename == "Kontoauszug März.pdf"


def test_rfc2231_filename_sections_are_joined() -> None:
    disposition = "attachment;\r\n filename*0*=iso-8859-1''r%E9sum%E9%20de;\r\n filename*1=\" paiement.pdf\""
    parsed = parse_message(_with_attachment(disposition))
    assert parsed.attachments[0].filename == "résumé de paiement.pdf"


def test_rfc2047_encoded_filename_is_decoded() -> None:
    parsed = parse_message(_with_attachment('attachment; filename="=?utf-8?B?w6l2aWRlbmNlLnBkZg==?="'))
    assert parsed.attachments[0].filename == "évidence.pdf"


def test_filename_from_content_type_name_is_used() -> None:
    raw = _with_attachment("attachment", ctype='application/pdf; name="invoice 12.pdf"')
    assert parse_message(raw).attachments[0].filename == "invoice 12.pdf"


@pytest.mark.parametrize("name", ["../../etc/passwd", "C:\\Users\\jane\\passwd", "/tmp/x/passwd"])
def test_filename_path_components_are_stripped(name: str) -> None:
    quoted = name.replace("\\", "\\\\")
    (attachment,) = parse_message(_with_attachment(f'attachment; filename="{quoted}"')).attachments
    assert attachment.filename == "passwd"


def test_filename_that_is_only_a_path_is_none() -> None:
    assert parse_message(_with_attachment('attachment; filename="../"')).attachments[0].filename is None


def test_content_type_of_attachment_is_lowercased() -> None:
    raw = _with_attachment("attachment", ctype="Application/PDF")
    assert parse_message(raw).attachments[0].content_type == "application/pdf"


def test_inline_image_keeps_content_id_and_inline_flag() -> None:
    raw = eml(
        f"""\
        Content-Type: multipart/related; boundary=rel

        --rel
        Content-Type: text/html; charset=utf-8

        <p>Screenshot:</p><img src="cid:shot@x">
        --rel
        Content-Type: image/png
        Content-ID: <shot@x>
        Content-Transfer-Encoding: base64

        {b64(b"PNGDATA")}
        --rel--
        """
    )
    parsed = parse_message(raw)
    (image,) = parsed.attachments
    assert (image.content_id, image.inline, image.content) == ("shot@x", True, b"PNGDATA")
    assert parsed.text == "Screenshot:"


def test_named_text_part_after_the_body_is_an_attachment() -> None:
    raw = eml(
        """\
        Content-Type: multipart/mixed; boundary=m

        --m
        Content-Type: text/plain

        Log attached.
        --m
        Content-Type: text/plain; name="webhook.log"

        POST /hook 500
        --m--
        """
    )
    parsed = parse_message(raw)
    assert parsed.text == "Log attached."
    assert [a.filename for a in parsed.attachments] == ["webhook.log"]


def test_uuencoded_attachment_is_decoded() -> None:
    raw = eml(
        """\
        Content-Type: multipart/mixed; boundary=m

        --m
        Content-Type: text/plain

        see file
        --m
        Content-Type: application/octet-stream; name=a.txt
        Content-Transfer-Encoding: x-uuencode

        begin 644 a.txt
        %:&5L;&\\`
        `
        end
        --m--
        """
    )
    assert parse_message(raw).attachments[0].content == b"hello"


FORWARD = eml(
    """\
    Subject: Fwd: chargeback letter
    Content-Type: multipart/mixed; boundary=outer

    --outer
    Content-Type: text/plain

    Please see the bank's message below.
    --outer
    Content-Type: message/rfc822

    From: Bank <disputes@bank.example>
    Subject: Chargeback 4837
    Message-ID: <bank-1@bank.example>

    A chargeback was filed for payment 42.
    --outer--
    """
)


def test_nested_message_is_attached_whole_as_an_eml_file() -> None:
    (attachment,) = parse_message(FORWARD).attachments
    assert (attachment.filename, attachment.content_type) == ("forwarded-message.eml", "message/rfc822")
    assert attachment.content is not None
    assert attachment.content.startswith(b"From: Bank <disputes@bank.example>\r\n")


def test_nested_message_text_stays_out_of_the_senders_text() -> None:
    assert parse_message(FORWARD).text == "Please see the bank's message below."


def test_message_whose_only_content_is_an_attached_message_shows_that_text() -> None:
    raw = eml(
        """\
        Content-Type: multipart/mixed; boundary=outer

        --outer
        Content-Type: message/rfc822

        Subject: inner

        Inner text only.
        --outer--
        """
    )
    assert parse_message(raw).text == "Inner text only."


# --- broken structure ------------------------------------------------------------------------------


def test_missing_closing_boundary_keeps_the_last_part_and_notes_it() -> None:
    raw = eml(
        """\
        Content-Type: multipart/mixed; boundary=m

        --m
        Content-Type: text/plain

        The last part runs to the end.
        """
    )
    parsed = parse_message(raw)
    assert parsed.text == "The last part runs to the end."
    assert any("closing boundary" in d for d in parsed.defects)


def test_multipart_without_boundary_is_read_as_text() -> None:
    parsed = parse_message(eml("Content-Type: multipart/alternative\n\nJust text after all.\n"))
    assert parsed.text == "Just text after all."
    assert any("without boundary" in d for d in parsed.defects)


def test_multipart_whose_boundary_never_appears_is_read_as_text() -> None:
    parsed = parse_message(eml('Content-Type: multipart/mixed; boundary="nope"\n\nPlain words.\n'))
    assert parsed.text == "Plain words."
    assert any("boundary not found" in d for d in parsed.defects)


def test_boundary_that_prefixes_another_does_not_split_it() -> None:
    raw = eml(
        """\
        Content-Type: multipart/mixed; boundary="b"

        --b
        Content-Type: multipart/alternative; boundary="b_2"

        --b_2
        Content-Type: text/plain

        inner plain
        --b_2
        Content-Type: text/html

        <p>inner html</p>
        --b_2--
        --b
        Content-Type: application/pdf; name=x.pdf

        pdf
        --b--
        """
    )
    parsed = parse_message(raw)
    assert parsed.text == "inner plain"
    assert [a.filename for a in parsed.attachments] == ["x.pdf"]


def test_boundary_line_with_transport_padding_is_a_boundary() -> None:
    raw = b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b  \r\nContent-Type: text/plain\r\n\r\nok\r\n--b--\t\r\n"
    assert parse_message(raw).text == "ok"


def test_part_without_headers_is_plain_text() -> None:
    raw = b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\nno headers here\r\n--b--\r\n"
    assert parse_message(raw).text == "no headers here"


def test_invalid_content_type_is_read_as_plain_text() -> None:
    parsed = parse_message(eml("Content-Type: garbage\n\nstill text\n"))
    assert (parsed.text, parsed.content_type) == ("still text", "text/plain")
    assert parsed.defects


def test_missing_blank_line_after_headers_starts_the_body_at_the_first_non_header() -> None:
    parsed = parse_message(b"Subject: hello\r\nthis is the body\r\nsecond line\r\n")
    assert (parsed.subject, parsed.text) == ("hello", "this is the body\nsecond line")
    assert any("blank line" in d for d in parsed.defects)


def test_bytes_without_any_header_are_kept_as_text() -> None:
    parsed = parse_message(b"just some words\r\n")
    assert parsed.text == "just some words"
    assert any("no header" in d for d in parsed.defects)


def test_headers_only_message_has_empty_text() -> None:
    parsed = parse_message(b"Subject: only headers\r\n")
    assert (parsed.subject, parsed.text, parsed.new_text) == ("only headers", "", "")
    assert parsed.empty


def test_unknown_transfer_encoding_keeps_the_body() -> None:
    parsed = parse_message(eml("Content-Transfer-Encoding: x-gzip64\n\nreadable anyway\n"))
    assert parsed.text == "readable anyway"
    assert any("x-gzip64" in d for d in parsed.defects)


def test_broken_base64_is_repaired() -> None:
    raw = eml("Content-Type: text/plain\nContent-Transfer-Encoding: base64\n\naGVsbG8gd29y!!bGQ\n")
    assert parse_message(raw).text.startswith("hello wor")


def test_deep_nesting_is_bounded_and_noted() -> None:
    depth = 60
    head = "".join(f"Content-Type: multipart/mixed; boundary=b{i}\r\n\r\n--b{i}\r\n" for i in range(depth))
    raw = (head + "Content-Type: text/plain\r\n\r\ndeep\r\n").encode()
    parsed = parse_message(raw)
    assert any("deeper than" in d for d in parsed.defects)


def test_number_of_parts_is_bounded_and_noted() -> None:
    parts = "".join("--b\r\nContent-Type: text/plain\r\n\r\nx\r\n" for _ in range(3000))
    parsed = parse_message(f"Content-Type: multipart/mixed; boundary=b\r\n\r\n{parts}--b--\r\n".encode())
    assert any("too many parts" in d for d in parsed.defects)
    assert parsed.text.count("x") < 3000


def test_overlong_message_id_is_dropped_with_a_defect() -> None:
    parsed = parse_message(eml(f"Message-ID: <{'x' * 1200}@x>\n\nhi\n"))
    assert parsed.message_id is None
    assert any("Message-ID" in d for d in parsed.defects)


def test_overlong_filename_is_shortened_keeping_its_extension() -> None:
    (attachment,) = parse_message(_with_attachment(f'attachment; filename="{"a" * 400}.pdf"')).attachments
    assert attachment.filename == "a" * 251 + ".pdf"


def test_rfc2231_section_number_in_other_digits_is_not_a_section() -> None:
    (attachment,) = parse_message(_with_attachment("attachment; filename*\u00b2=x.pdf")).attachments
    assert attachment.filename is None


def test_nul_bytes_never_reach_the_text() -> None:
    parsed = parse_message(b"Subject: a\x00b\r\n\r\nc\x00d\r\n")
    assert (parsed.subject, parsed.text) == ("ab", "cd")


def test_new_text_of_a_reply_is_the_unquoted_part() -> None:
    expected = "Hi, the payout has still not arrived. Could you check again?\n\nJane"
    assert parse_message(REPLY).new_text == expected


def test_new_text_of_an_html_reply_drops_the_blockquote() -> None:
    raw = eml(
        """\
        Content-Type: text/html; charset=utf-8

        <div dir="ltr">Still waiting for the refund.</div><br><div class="gmail_quote">
        <div class="gmail_attr">On Mon, 2 Mar 2026 at 09:00, Support &lt;s@x&gt; wrote:<br></div>
        <blockquote class="gmail_quote">We refunded the payment.</blockquote></div>
        """
    )
    assert parse_message(raw).new_text == "Still waiting for the refund."


# --- subjects ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "subject",
    [
        "Re: Payout missing",
        "RE: Payout missing",
        "re : Payout missing",
        "AW: Payout missing",
        "WG: Payout missing",
        "Fwd: Payout missing",
        "FW: Payout missing",
        "Fw: Payout missing",
        "TR: Payout missing",
        "RV: Payout missing",
        "SV: Payout missing",
        "VS: Payout missing",
        "Antw: Payout missing",
        "Réf: Payout missing",
        "Re[2]: Payout missing",
        "Re: Fwd: AW: RE:  Payout   missing",
        "  Payout missing  ",
    ],
)
def test_normalize_subject_strips_reply_and_forward_prefixes(subject: str) -> None:
    assert normalize_subject(subject) == "payout missing"


def test_normalize_subject_keeps_bracket_tags() -> None:
    assert normalize_subject("[EXTERNAL] Re: Payout missing") == "[external] re: payout missing"


def test_normalize_subject_keeps_words_that_only_start_like_a_prefix() -> None:
    assert normalize_subject("Review: refund policy") == "review: refund policy"


def test_normalize_subject_casefolds() -> None:
    assert normalize_subject("Re: STRASSE Straße") == "strasse strasse"
