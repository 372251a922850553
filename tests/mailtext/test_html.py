from __future__ import annotations

import time
from html.parser import HTMLParser

import pytest

from mailtext.html import html_to_text, sanitize_html
from mailtext.message import parse_message


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
    assert html_to_text("New<blockquote>old<blockquote>older</blockquote></blockquote>") == ("New\n> old\n> > older")


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


# -- remote content: nothing in a sanitised message may load from outside it ---------------------------


class _Loads(HTMLParser):
    """Every URL the sanitised HTML would make a browser fetch as it opens, and its text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.urls: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if value is None:
                continue
            if (
                name in ("src", "srcset", "background", "poster", "lowsrc", "dynsrc", "imagesrcset", "xlink:href")
                or (name == "data" and tag == "object")
                or (name == "href" and tag in ("link", "image", "use"))
                or (name == "style" and "url" in value.lower())
                or (name == "style" and "\\" in value)
            ):
                self.urls.append(value)

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def loads(html: str) -> tuple[list[str], str]:
    parser = _Loads()
    parser.feed(html)
    parser.close()
    inline = ("cid:", "data:image/png", "data:image/gif", "data:image/jpeg", "data:image/webp")
    return [url for url in parser.urls if not url.strip().lower().startswith(inline)], "".join(parser.text)


def test_a_tracking_pixel_is_removed_and_its_address_shown_as_text() -> None:
    clean = sanitize_html('<p>Hi</p><img src="http://tracker.example/pixel.gif" width="1" height="1">')
    remote, text = loads(clean)
    assert remote == []
    assert "tracker.example" not in clean.replace("[remote image blocked: http://tracker.example/pixel.gif]", "")
    assert text == "Hi[remote image blocked: http://tracker.example/pixel.gif]"


@pytest.mark.parametrize(
    ("html", "shown"),
    [
        ('<IMG SRC="http://t.example/upper.gif">', "[remote image blocked: http://t.example/upper.gif]"),
        ('<img src="&#104;ttp&#x3a;//t.example/entity.gif">', "[remote image blocked: http://t.example/entity.gif]"),
        ('<img src="&#x68;&#x74;&#x74;&#x70;&colon;//t.example/hex.gif">', "http://t.example/hex.gif"),
        ("<img src=//t.example/protocol-relative.gif>", "[remote image blocked: //t.example/protocol-relative.gif]"),
        ('<img src="  HTTPS://t.example/padded.gif  ">', "HTTPS://t.example/padded.gif"),
        ('<img src="ht\ttp://t.example/tab.gif">', "t.example/tab.gif"),
        ('<img src="/pixel.gif?u=42">', "[remote image blocked: /pixel.gif?u=42]"),
        ("<img/src='http://t.example/slash.gif'>", "http://t.example/slash.gif"),
        ('<img src="cid:logo" srcset="http://t.example/a.png 1x, //t.example/b.png 2x">', "//t.example/b.png"),
        ('<picture><source srcset="https://t.example/s.webp"><img src="cid:x"></picture>', "https://t.example/s.webp"),
        ('<table background="http://t.example/bg.png"><tr><td>x</td></tr></table>', "http://t.example/bg.png"),
        ('<body background="http://t.example/body.png">x</body>', "http://t.example/body.png"),
        ('<td style="background: url(http://t.example/css.png)">x</td>', "http://t.example/css.png"),
        ("<div style=\"background-image:URL( 'https://t.example/q.png' )\">x</div>", "https://t.example/q.png"),
        (
            '<div style="background:\\75 \\72 \\6c (http://t.example/escaped.png)">x</div>',
            "http://t.example/escaped.png",
        ),
        ('<div style="background:u\\rl(http://t.example/esc2.png)">x</div>', "http://t.example/esc2.png"),
        ('<div style="background:url(&quot;http://t.example/ent.png&quot;)">x</div>', "http://t.example/ent.png"),
        ("<div style=\"background:image-set('http://t.example/set.png' 1x)\">x</div>", "http://t.example/set.png"),
        ('<link rel="stylesheet" href="https://t.example/style.css"><p>x</p>', "https://t.example/style.css"),
        ('<video src="http://t.example/v.mp4" poster="http://t.example/poster.png">x</video>', "poster.png"),
        ('<audio><source src="http://t.example/a.mp3"></audio>', "http://t.example/a.mp3"),
        ('<iframe src="https://t.example/frame"></iframe>', "https://t.example/frame"),
        ('<object data="https://t.example/o.swf"></object>', "https://t.example/o.swf"),
        ('<embed src="https://t.example/e.swf">', "https://t.example/e.swf"),
        ('<input type="image" src="https://t.example/button.png">', "https://t.example/button.png"),
        ('<svg><image xlink:href="https://t.example/svg.png"/></svg>', "https://t.example/svg.png"),
        ('<svg><image href="https://t.example/svg2.png"/></svg>', "https://t.example/svg2.png"),
    ],
)
def test_remote_resources_are_blocked_and_shown(html: str, shown: str) -> None:
    clean = sanitize_html(html)
    remote, text = loads(clean)
    assert remote == [], clean
    assert shown in text and "blocked:" in text


@pytest.mark.parametrize(
    "html",
    [
        '<img alt="a>b" src="http://t.example/gt.gif">',
        '<img src="http://t.example/a?b=1&c=<2>">',
        '<img src="data:image/svg+xml;base64,PHN2Zz48L3N2Zz4=">',
        "<img src=\"http://t.example/x\" <img src='http://t.example/y'>",
        '<img src="javascript:alert(1)">',
        '<img src="vbscript:x">',
        '<img src="file:///etc/passwd">',
    ],
)
def test_markup_that_confuses_the_tag_scan_still_loads_nothing(html: str) -> None:
    remote, _text = loads(sanitize_html(html))
    assert remote == []


def test_inline_images_are_kept() -> None:
    clean = sanitize_html('<img src="cid:logo@pay.example" alt="Logo"><img src="data:image/png;base64,iVBORw0KGgo=">')
    assert 'src="cid:logo@pay.example"' in clean
    assert 'src="data:image/png;base64,iVBORw0KGgo="' in clean


def test_links_are_kept_but_data_links_are_not() -> None:
    clean = sanitize_html('<a href="https://pay.example/r/1">receipt</a> <a href="data:text/html,<b>x</b>">x</a>')
    assert 'href="https://pay.example/r/1"' in clean
    assert "data:" not in clean


def test_a_blocked_address_is_text_and_cannot_add_markup() -> None:
    clean = sanitize_html('<img src="http://t.example/&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;">')
    assert "<script" not in clean
    assert "[remote image blocked: http://t.example/&quot;&gt;&lt;script&gt;" in clean.replace('"', "&quot;")


def test_a_marker_written_by_the_sender_places_no_placeholder() -> None:
    html = '<img src="cid:remote-blocked-0000000000000000-0"><img src="http://t.example/real.gif">'
    clean = sanitize_html(html)
    assert clean.count("blocked:") == 1 and "real.gif" in clean
    assert 'src="cid:remote-blocked-0000000000000000-0"' in clean


def test_a_parsed_message_keeps_no_tracking_pixel() -> None:
    raw = (
        b"From: Ana <ana@merchant.example>\r\nTo: support@routedesk.example\r\nSubject: Payout\r\n"
        b"MIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
        b'<p>Where is my payout?</p><img src="https://tracker.example/open?id=42" width=1 height=1>\r\n'
    )
    parsed = parse_message(raw)
    assert parsed.html is not None
    assert loads(parsed.html)[0] == []
    assert "[remote image blocked: https://tracker.example/open?id=42]" in parsed.html
    assert "blocked" not in parsed.text  # the text agents and the router read is the sender's
