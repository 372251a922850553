"""The one rule for which addresses get mail (acknowledgements, agents' replies, the sender)."""

from __future__ import annotations

import pytest

from app.mail.addresses import address_problem, envelope_address, first_name, is_valid_address

VALID = [
    "ana@merchant.example",
    "ana.silva+orders@merchant.example",
    "o'brien@shop.example",
    "x@sub.domain.example",
    "user@[192.0.2.1]",
    "user@[IPv6:2001:db8::1]",
    "jdöe@mächine.example",
    "ana@mächine.example",
    "a" * 64 + "@example.com",
]

# From lines seen in the corpus and in hostile mail, as the parser reads their address.
INVALID = {
    "a": "has no @",
    "@powerupdev.com": "nothing before the @",
    "=?utf-8?b?qmlniej1zw==?=": "has no @",
    "big bug bb@bug.com": "space",
    "ana@": "no domain",
    "ana@localhost": "without a dot",
    "ana@-shop.example": "no valid host name",
    "ana@shop..example": "no valid host name",
    "ana..silva@shop.example": "local part",
    ".ana@shop.example": "local part",
    '"ana silva"@shop.example': "space",
    '"ana"@shop.example': "local part",
    "ana@@shop.example": "local part",
    "ana@1.2.3.4": "numeric top-level domain",
    "ana@[300.1.1.1]": "no IP address",
    "ana\r\nRCPT TO:<x@y.example>@shop.example": "control character",
    "ana\x00@shop.example": "control character",
    "ana\ud800@shop.example": "control character",
    "a" * 65 + "@example.com": "longer than 64",
    "ana@" + ".".join(["a" * 60] * 5): "no valid host name",
    "": "empty",
}


@pytest.mark.parametrize("address", VALID)
def test_valid_addresses_are_accepted(address: str) -> None:
    assert address_problem(address) is None
    assert is_valid_address(address)


@pytest.mark.parametrize(("address", "why"), INVALID.items())
def test_junk_addresses_are_refused_with_a_reason(address: str, why: str) -> None:
    problem = address_problem(address)
    assert problem is not None and why in problem
    assert not is_valid_address(address)


def test_no_address_is_not_valid() -> None:
    assert address_problem(None) == "there is no address"


def test_international_domain_goes_on_the_wire_as_idna_and_only_a_non_ascii_local_part_needs_smtputf8() -> None:
    assert envelope_address("ana@mächine.example").address == "ana@xn--mchine-bua.example"
    assert not envelope_address("ana@mächine.example").needs_smtputf8
    utf8 = envelope_address("jdöe@mächine.example")
    assert (utf8.address, utf8.needs_smtputf8) == ("jdöe@xn--mchine-bua.example", True)
    assert envelope_address("ana@merchant.example").address == "ana@merchant.example"


def test_long_junk_is_shortened_in_the_reason() -> None:
    problem = address_problem("x " * 500)
    assert problem is not None and len(problem) < 200


@pytest.mark.parametrize(
    ("display_name", "expected"),
    [
        ("Jane Doe", "Jane"),
        ("Doe, Jane", "Jane"),
        ("Doe, Jane Mary", "Jane"),
        ("'Jane Doe'", "Jane"),
        ('"Doe, Jane"', "Jane"),
        ("Jane", "Jane"),
        ("jane@merchant.example", None),
        ("", None),
        ("  ", None),
        ("''", None),
        (None, None),
    ],
)
def test_first_name_is_the_given_name_whatever_order_the_name_is_in(display_name: str | None, expected: str) -> None:
    assert first_name(display_name) == expected
