from __future__ import annotations

import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mailtext.message import MessageParseError, parse_message
from tests.mailtext.helpers import REPLY, assert_well_formed, b64, eml

SEEDS = [
    REPLY,
    eml(
        f"""\
        From: =?utf-8?q?J=C3=BCrgen?= <j@bakery.example>
        Subject: =?utf-8?b?UsO8Y2tlcnN0YXR0dW5n?= order 12
        Date: Tue, 3 Mar 2026 10:15:00 +0100
        MIME-Version: 1.0
        Content-Type: multipart/mixed; boundary="outer"

        preamble
        --outer
        Content-Type: multipart/alternative; boundary="alt"

        --alt
        Content-Type: text/plain; charset=iso-8859-1
        Content-Transfer-Encoding: quoted-printable

        Geb=FChr zur=FCck bitte.
        --alt
        Content-Type: text/html; charset=utf-8

        <p>Geb&uuml;hr <b>zur&uuml;ck</b> bitte.</p><blockquote>alt</blockquote>
        --alt--
        --outer
        Content-Type: application/pdf; name*=utf-8''Kontoauszug%20M%C3%A4rz.pdf
        Content-Disposition: attachment
        Content-Transfer-Encoding: base64

        {b64(b"%PDF-1.7 statement")}
        --outer
        Content-Type: message/rfc822

        Message-ID: <inner@x>
        Subject: inner

        inner body
        --outer--
        epilogue
        """
    ),
    eml(
        """\
        From: MAILER-DAEMON@mx.example
        Return-Path: <>
        Content-Type: multipart/report; report-type=delivery-status; boundary=r

        --r
        Content-Type: text/plain

        failed
        --r
        Content-Type: message/delivery-status

        Action: failed
        --r
        Content-Type: text/rfc822-headers

        Message-ID: <orig@x>
        --r--
        """
    ),
]

# Fragments that steer mutations into the parser's decisions rather than into plain text.
TOKENS = [
    b"\r\n",
    b"\n",
    b"\r\n\r\n",
    b"--",
    b"--outer",
    b"--outer--",
    b"--alt",
    b"=?",
    b"?=",
    b"=?utf-8?b?",
    b"=?x-no-such?q?",
    b":",
    b";",
    b'"',
    b"\\",
    b"<",
    b">",
    b"*0*=",
    b"''",
    b"%",
    b"=",
    b"\x00",
    b"\xff",
    b"\xc3",
    b"\x1b$B",
    b" ",
    b"\t",
    b"Content-Type: multipart/mixed; boundary=x\r\n",
    b"Content-Transfer-Encoding: base64\r\n",
    b"Content-Type: message/rfc822\r\n\r\n",
    b"begin 644 x\r\n",
    b"<blockquote>",
    b"<script",
    b"<!--",
    b"&#",
]

mutation = st.one_of(
    st.tuples(st.just("delete"), st.integers(0, 10_000), st.integers(1, 200)),
    st.tuples(st.just("insert"), st.integers(0, 10_000), st.sampled_from(TOKENS)),
    st.tuples(st.just("insert"), st.integers(0, 10_000), st.binary(min_size=1, max_size=20)),
    st.tuples(st.just("flip"), st.integers(0, 10_000), st.integers(0, 255)),
    st.tuples(st.just("duplicate"), st.integers(0, 10_000), st.integers(1, 400)),
    st.tuples(st.just("truncate"), st.integers(0, 10_000), st.just(0)),
)


def mutate(raw: bytes, steps: list[tuple[str, int, int | bytes]]) -> bytes:
    data = bytearray(raw)
    for kind, at, arg in steps:
        at = at % (len(data) + 1)
        if isinstance(arg, bytes):
            data[at:at] = arg
        elif kind == "delete":
            del data[at : at + arg]
        elif kind == "flip" and at < len(data):
            data[at] = arg
        elif kind == "duplicate":
            data[at:at] = data[at : at + arg]
        elif kind == "truncate":
            del data[at:]
    return bytes(data)


def parse_or_refuse(raw: bytes) -> None:
    try:
        parsed = parse_message(raw)
    except MessageParseError:
        assert not raw.strip()
        return
    assert_well_formed(parsed)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=3000))
def test_arbitrary_bytes_never_raise_anything_but_message_parse_error(raw: bytes) -> None:
    parse_or_refuse(raw)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(SEEDS), st.lists(mutation, min_size=1, max_size=8))
def test_mutated_messages_never_raise_anything_but_message_parse_error(
    seed: bytes, steps: list[tuple[str, int, int | bytes]]
) -> None:
    parse_or_refuse(mutate(seed, steps))


@pytest.mark.parametrize("seed", SEEDS, ids=["reply", "mixed", "bounce"])
def test_seed_messages_parse_without_defects(seed: bytes) -> None:
    parsed = parse_message(seed)
    assert_well_formed(parsed)
    assert parsed.defects == []


HOSTILE = {
    "long parameter token": b"Content-Type: text/plain; " + b"a" * 300_000 + b"\r\n\r\nx",
    "long address header": b"To: " + b" " * 100_000 + b"x\r\n\r\nx",
    "long quoted display name": b'From: "' + b" " * 100_000 + b"<a@b>\r\n\r\nx",
    "many encoded word starts": b"Subject: " + b"=?" * 100_000 + b"\r\n\r\nx",
    "long header line": b"X-A: " + b"a" * 1_000_000 + b"\r\n\r\nx",
    "many header lines": b"X-A: a\r\n" * 100_000 + b"\r\nx",
    "many boundary look-alikes": b"Content-Type: multipart/mixed; boundary=-\r\n\r\n" + b"---x\r\n" * 100_000,
    "many empty parts": b"Content-Type: multipart/mixed; boundary=b\r\n\r\n" + b"--b\r\n" * 100_000,
    "deep message nesting": b"Content-Type: message/rfc822\r\n\r\n" * 10_000 + b"x",
    "long body line": b"Subject: x\r\n\r\n" + b"x" * 5_000_000,
    "quote-heavy text": b"Subject: x\r\n\r\n" + b"> On 1 wrote:\r\n" * 50_000,
    "html without closing brackets": b"Content-Type: text/html\r\n\r\n" + b'<a "' * 100_000,
}


@pytest.mark.parametrize("raw", list(HOSTILE.values()), ids=list(HOSTILE))
def test_hostile_messages_are_parsed_in_bounded_time(raw: bytes) -> None:
    start = time.process_time()
    parse_or_refuse(raw)
    # each of these is quadratic or worse in a naive parser: minutes, not this
    assert time.process_time() - start < 5.0
