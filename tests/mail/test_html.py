from __future__ import annotations

import time

import pytest

from app.mail.html import sanitize_html
from app.mail.parse import html_to_text


def test_block_elements_end_lines() -> None:
    assert html_to_text("<div>one</div><div>two</div>three<br>four") == "one\ntwo\nthree\nfour"


def test_paragraphs_are_separated_by_a_blank_line() -> None:
    assert html_to_text("<p>one</p><p>two</p>") == "one\n\ntwo"


def test_nested_blocks_give_one_line_break_not_several() -> None:
    assert html_to_text("<div><div><p>one</p></div></div><div><div>two</div></div>") == "one\n\ntwo"


def test_consecutive_br_make_blank_lines() -> None:
    assert html_to_text("a<br><br>b") == "a\n\nb"


def test_entities_are_decoded() -> None:
    assert html_to_text("Fees &amp; charges: 5&nbsp;&euro; &lt;tax&gt; &#8364; &#x20AC;") == (
        "Fees & charges: 5 € <tax> € €"
    )


def test_escaped_markup_stays_text() -> None:
    assert html_to_text("&lt;script&gt;alert(1)&lt;/script&gt;") == "<script>alert(1)</script>"


def test_script_style_head_title_and_comments_are_dropped() -> None:
    html = (
        "<html><head><title>Newsletter</title><style>p{color:red}</style></head>"
        "<body><!-- tracking --><script>var a = '<p>x</p>';</script><p>Visible</p></body></html>"
    )
    assert html_to_text(html) == "Visible"


def test_outlook_conditional_comments_are_dropped() -> None:
    assert html_to_text("<!--[if gte mso 9]><xml><o:x>96</o:x></xml><![endif]--><p>Hello</p>") == "Hello"


def test_links_keep_their_text_and_show_the_address() -> None:
    assert html_to_text('See <a href="https://pay.example/r/1">the receipt</a>.') == (
        "See the receipt (https://pay.example/r/1)."
    )


def test_link_whose_text_is_its_address_is_not_repeated() -> None:
    assert html_to_text('<a href="https://pay.example">https://pay.example</a>') == "https://pay.example"


def test_mailto_links_keep_only_their_text() -> None:
    assert html_to_text('<a href="mailto:desk@pay.example">write to us</a>') == "write to us"


def test_list_items_become_dashed_lines() -> None:
    assert html_to_text("<ul><li>one</li><li>two</li></ul>") == "- one\n- two"


def test_table_cells_are_separated_and_rows_are_lines() -> None:
    assert html_to_text("<table><tr><td>Fee</td><td>5</td></tr><tr><td>Tax</td><td>1</td></tr></table>") == (
        "Fee 5\nTax 1"
    )


def test_blockquote_lines_are_marked_as_quoted() -> None:
    assert html_to_text("New<blockquote>old<blockquote>older</blockquote></blockquote>") == (
        "New\n> old\n> > older"
    )


def test_image_alt_text_is_kept() -> None:
    assert html_to_text('Logo: <img src="cid:x" alt="PayHub">') == "Logo: [PayHub]"


def test_whitespace_in_text_is_collapsed() -> None:
    assert html_to_text("<p>  lots\n   of \t space  </p>") == "lots of space"


def test_pre_keeps_its_line_breaks() -> None:
    assert html_to_text("<pre>line 1\nline 2</pre>") == "line 1\nline 2"


def test_unclosed_tags_and_stray_brackets_do_not_lose_text() -> None:
    assert html_to_text("a < b and <b>c > d") == "a < b and c > d"


def test_sanitize_removes_scripts_and_event_handlers() -> None:
    clean = sanitize_html('<p onclick="x()">Hi</p><script>x()</script><a href="javascript:x()">l</a>')
    assert "x()" not in clean
    assert "<p>Hi</p>" in clean


def test_sanitize_removes_the_title() -> None:
    assert "Secret" not in sanitize_html("<html><head><title>Secret</title></head><body>x</body></html>")


@pytest.mark.parametrize(
    "hostile",
    [
        '<a "' * 50_000,
        '<a "<a " ' * 30_000 + '"' + "x" * 300 + ">",
        "<script" * 50_000,
        "<!--" * 50_000,
        "<" * 200_000,
        "<a" * 100_000 + ">",
        "<p>" + "&amp;" * 100_000,
    ],
)
def test_hostile_markup_is_converted_in_linear_time(hostile: str) -> None:
    start = time.process_time()
    html_to_text(hostile)
    # quadratic behaviour on inputs this size would take minutes; linear takes milliseconds
    assert time.process_time() - start < 2.0
