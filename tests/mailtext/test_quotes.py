from __future__ import annotations

import textwrap

import pytest

from mailtext.quotes import strip_quoted


def strip(text: str) -> str:
    return strip_quoted(textwrap.dedent(text).lstrip("\n"))


def test_lines_starting_with_a_quote_mark_are_removed() -> None:
    assert strip("Fine now.\n> old\n>> older\n") == "Fine now."


def test_english_attribution_and_its_quote_are_removed() -> None:
    text = """\
        Thanks, that fixed it.

        On Mon, 3 Jan 2026 at 10:00, Jane <j@x.example> wrote:
        > Please try again.
        """
    assert strip(text) == "Thanks, that fixed it."


def test_english_attribution_wrapped_over_two_lines_is_removed() -> None:
    text = """\
        Thanks.

        On Mon, 3 Jan 2026 at 10:00, Jane Doe from the PayHub support team
        <jane.doe@payhub.example> wrote:
        > Please try again.
        """
    assert strip(text) == "Thanks."


def test_german_attribution_wrapped_over_two_lines_is_removed() -> None:
    text = """\
        Danke, jetzt geht es.

        Am 03.01.2026 um 10:00 schrieb Jane Doe
        <j@x.example>:
        > Bitte erneut versuchen.
        """
    assert strip(text) == "Danke, jetzt geht es."


def test_french_attribution_wrapped_over_two_lines_is_removed() -> None:
    text = """\
        Merci, c'est réglé.

        Le 3 janv. 2026 à 10:00, Jane <j@x.example> a
        écrit :
        > Merci de réessayer.
        """
    assert strip(text) == "Merci, c'est réglé."


def test_attribution_above_unquoted_history_cuts_everything_after_it() -> None:
    text = """\
        Still not paid.

        On Mon, 3 Jan 2026 at 10:00, Jane <j@x.example> wrote:
        We are checking the payout with the bank.
        """
    assert strip(text) == "Still not paid."


@pytest.mark.parametrize(
    "separator",
    ["-----Original Message-----", "-----Ursprüngliche Nachricht-----", "-----Message d'origine-----"],
)
def test_outlook_separator_cuts_the_history(separator: str) -> None:
    text = f"New question about fees.\n\n{separator}\nsomething old\n"
    assert strip_quoted(text) == "New question about fees."


@pytest.mark.parametrize(
    "block",
    [
        "From: Jane <j@x.example>\nSent: Monday, March 2, 2026 9:00 AM\nTo: Support\nSubject: Payout",
        "Von: Jane <j@x.example>\nGesendet: Montag, 2. März 2026 09:00\nAn: Support\nBetreff: Auszahlung",
        "De : Jane <j@x.example>\nEnvoyé : lundi 2 mars 2026 09:00\nÀ : Support\nObjet : Virement",
        "*From:* Jane <j@x.example>\n*Sent:* Monday\n*To:* Support\n*Subject:* Payout",
    ],
)
def test_outlook_header_block_cuts_the_history(block: str) -> None:
    text = f"The new part.\n\n________________________________\n{block}\n\nThe old message.\n"
    assert strip_quoted(text) == "The new part."


def test_a_from_line_that_is_not_a_header_block_is_kept() -> None:
    text = "From: my accountant I heard the fee changed.\nIs that right?"
    assert strip_quoted(text) == text


def test_signature_after_the_delimiter_is_removed() -> None:
    assert strip("Please call me.\n\n-- \nJane Doe\nCFO, Bakery GmbH\n") == "Please call me."


def test_signature_delimiter_without_trailing_space_is_recognised() -> None:
    assert strip("Please call me.\n--\nJane\n") == "Please call me."


@pytest.mark.parametrize(
    "footer",
    ["Sent from my iPhone", "Von meinem iPhone gesendet", "Envoyé de mon iPhone", "Get Outlook for Android"],
)
def test_mobile_footers_are_removed(footer: str) -> None:
    assert strip_quoted(f"Card declined again.\n\n{footer}\n") == "Card declined again."


def test_interleaved_answers_between_quotes_are_kept() -> None:
    text = """\
        On Mon, 3 Jan 2026 at 10:00, Support <s@x.example> wrote:
        > What is the payment ID?
        pay_123
        > And the amount?
        EUR 40
        """
    assert strip(text) == "pay_123\nEUR 40"


def test_short_attribution_above_a_quote_is_removed() -> None:
    assert strip("Jane Doe <j@x.example> wrote:\n> hi\n\nMy answer.\n") == "My answer."


def test_text_that_would_be_stripped_to_nothing_is_kept() -> None:
    text = "> only a quote\n> nothing new"
    assert strip_quoted(text) == text


def test_sentence_starting_with_on_and_ending_in_wrote_is_not_an_attribution() -> None:
    text = "On Monday my colleague wrote:\nthe fee is wrong."
    assert strip_quoted(text) == text


def test_plain_text_without_history_is_returned_stripped() -> None:
    assert strip_quoted("\n  Refund please.  \n\n") == "Refund please."


def test_crlf_text_is_handled() -> None:
    assert strip_quoted("Yes.\r\n\r\n> no\r\n") == "Yes."


def test_blank_line_runs_left_by_removals_are_collapsed() -> None:
    assert strip_quoted("one\n\n> q\n\n\n> q\n\ntwo") == "one\n\ntwo"
