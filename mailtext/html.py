from __future__ import annotations

import re
import secrets
import threading
from html import escape, unescape

import nh3

# A regex tokenizer rather than html.parser: about four times faster on the HTML parts of the
# benchmarks/parse.py corpus (~80 us against ~310 us for html.parser's bare tokenizing, same machine),
# and mail HTML needs no tree, only text in reading order with line breaks where blocks end.

# Content that is never text: dropped whole. An unclosed <script>/<style> swallows the rest of the
# document, as it does in a browser.
_DROP = re.compile(
    r"<!--.*?(?:-->|\Z)"
    r"|<(script|style|title|template|xml)\b[^>]*>.*?(?:</\1\s*>|\Z)"
    r"|<!\[CDATA\[.*?(?:\]\]>|\Z)"
    r"|<[!?][^>]*>",
    re.S | re.I,
)
# A tag ends at the first ">", even inside a quoted attribute value: a quote-aware pattern can be
# driven into quadratic time by hostile markup, this one cannot once text after the last ">" is kept
# out of the search (see html_to_text). A ">" in an attribute is rare in mail and costs only a stray
# fragment of text.
_TAG = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9:_-]*)([^>]*)>")
_HREF = re.compile(r"""\bhref\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))""", re.I)
_BREAK = "\x01"
_BLANK_RUNS = re.compile(r"\n{3,}")
_ALT = re.compile(r"""\balt\s*=\s*(?:"([^"]*)"|'([^']*)')""", re.I)

_PARAGRAPH = frozenset({"p", "h1", "h2", "h3", "h4", "h5", "h6", "table", "ul", "ol", "dl", "pre", "hr"})
# <pre> keeps its line breaks but not its indentation: white space is collapsed in one pass at the end.
_LINE = frozenset(
    {
        "div",
        "tr",
        "li",
        "dt",
        "dd",
        "address",
        "article",
        "section",
        "header",
        "footer",
        "nav",
        "aside",
        "form",
        "fieldset",
        "figure",
        "figcaption",
        "main",
        "center",
        "details",
        "summary",
        "caption",
        "tbody",
        "thead",
        "tfoot",
        "body",
        "html",
    }
)
_CELL = frozenset({"td", "th"})


def html_to_text(html: str) -> str:
    if _BREAK in html:
        html = html.replace(_BREAK, "")
    # Past the last ">" nothing can be a tag; searching there anyway is what makes regexes quadratic.
    end = html.rfind(">") + 1
    tail = html[end:]
    # re.split with the tag's three groups gives [text, closing, name, attributes, text, ...]
    pieces = _TAG.split(_DROP.sub("", html[:end]))
    pieces[-1] += tail
    out: list[str] = []
    # Line breaks are owed rather than written, so that nested blocks (</li></ul></div>) give one
    # break, not three. They are written as _BREAK and become "\n" only after white space in the text
    # has been collapsed in one pass; "> " per blockquote level lets strip_quoted see quoted history.
    owed = 0
    depth = 0
    pre = 0
    href: str | None = None
    link_start = 0
    for index in range(0, len(pieces), 4):
        chunk = pieces[index]
        if pre and "\n" in chunk:
            chunk = chunk.replace("\n", _BREAK)
        if chunk:
            if chunk.isspace():
                if out and not owed:
                    out.append(" ")
            else:
                if not out:
                    if depth:
                        out.append("> " * depth)
                elif owed:
                    out.append((_BREAK + "> " * depth) * owed)
                owed = 0
                out.append(chunk)
        if index + 1 == len(pieces):
            break
        closing = pieces[index + 1]
        name = pieces[index + 2].lower()
        if name == "br":
            # consecutive <br> are deliberate blank lines, unlike nested block ends
            owed += 1
        elif name in _PARAGRAPH:
            owed = max(owed, 2)
            if name == "pre":
                pre = max(pre - 1, 0) if closing else pre + 1
        elif name in _LINE:
            owed = max(owed, 1)
            if name == "li" and not closing:
                if out:
                    out.append((_BREAK + "> " * depth) * owed)
                owed = 0
                out.append("- ")
        elif name == "blockquote":
            depth = max(depth - 1, 0) if closing else depth + 1
            owed = max(owed, 1)
        elif name in _CELL:
            if not closing and out and not owed:
                out.append(" ")
        elif name == "a":
            if closing:
                if href is not None:
                    shown = "".join(out[link_start:])
                    if shown.strip() and href not in shown:
                        out.append(f" ({href})")
                href = None
            else:
                href = _link(pieces[index + 3])
                link_start = len(out)
        elif name == "img" and not closing:
            alt = _ALT.search(pieces[index + 3])
            label = (alt.group(1) or alt.group(2) or "").strip() if alt else ""
            if label:
                if owed and out:
                    out.append((_BREAK + "> " * depth) * owed)
                owed = 0
                out.append(f"[{label}]")

    # str.split() is many times faster than a regex for collapsing white space (it also folds
    # no-break spaces, which suits text meant for reading and routing).
    text = "".join(out)
    if "&" in text:
        text = unescape(text)
    text = " ".join(text.split()).replace(" " + _BREAK, _BREAK).replace(_BREAK + " ", _BREAK)
    return _BLANK_RUNS.sub("\n\n", text.replace(_BREAK, "\n")).strip("\n ")


def _link(attributes: str) -> str | None:
    found = _HREF.search(attributes)
    if not found:
        return None
    url = unescape(found.group(1) or found.group(2) or found.group(3) or "").strip()
    # mailto: and anchors add nothing a reader needs; only web links are worth keeping visible.
    return url if url.lower().startswith(("http://", "https://")) else None


# ---------------------------------------------------------------------------------------------------
# sanitising
#
# Nothing in a sanitised message may fetch anything when an agent opens it: a remote image is how a
# sender learns that, when and from where a message was read (a tracking pixel), and a remote
# stylesheet or frame can do the same. What may load is what came in the message itself: cid: parts
# (the app serves them as attachments) and data: images of the raster types, which carry their bytes
# inline and which a browser decodes as an image, never as a document (no SVG: not needed, and it is
# the one image type with a grammar of its own). Links stay: they load nothing until clicked.
#
# nh3 is the boundary: its allow-list keeps no style, srcset, background, <link>, <video> and the
# like, and `_keep_attribute` lets an <img src> through only when it is inline. A remote <img src> is
# swapped there for a marker that the serialised output then trades for the text "[remote image
# blocked: URL]", so the agent sees that something was there, and what. The attributes nh3 drops
# unseen (srcset, style url(), background, a <video> poster...) are found before it, by a scan of the
# tags that puts each remote URL after its tag as "[remote content blocked: URL]". That scan is a
# regex tokenizer a browser may read differently; the worst it can do is miss a placeholder, never let
# a load through, because nh3 decides what is kept.

# Attributes that make a browser fetch as the page loads, on whichever element carries them.
_LOADING = frozenset({"src", "lowsrc", "dynsrc", "poster", "background"})
_SRCSETS = frozenset({"srcset", "imagesrcset"})
# href loads on these (a stylesheet, icon or prefetch; an SVG image or sprite), not on <a> or <area>.
_HREF_LOADS = frozenset({"link", "image", "use", "feimage"})
_ATTRIBUTE = re.compile(r"""([^\s"'<>/=]+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+)))?""")
_INLINE_IMAGE = re.compile(r"data:image/(?:png|gif|jpeg|jpg|webp|bmp|x-icon|avif)[;,]", re.I)
_URL_NOISE = re.compile(r"[\t\n\r]")
_CSS_COMMENT = re.compile(r"/\*.*?(?:\*/|\Z)", re.S)
_CSS_ESCAPE = re.compile(r"\\(?:([0-9a-fA-F]{1,6})[ \t\n\r\f]?|(\n)|(.))", re.S)
_CSS_STRING = re.compile(r""""([^"]*)"|'([^']*)'""")
_SHOWN_URL_LENGTH = 300


def _is_inline(url: str) -> bool:
    url = _URL_NOISE.sub("", url).strip(" \x00\x0b\x0c")
    return url[:4].lower() == "cid:" or _INLINE_IMAGE.match(url) is not None


def _css_unescape(css: str) -> str:
    def one(found: re.Match[str]) -> str:
        if found.group(1):
            code = int(found.group(1), 16)
            return chr(code) if 0 < code <= 0x10FFFF and not 0xD800 <= code <= 0xDFFF else "\ufffd"
        return "" if found.group(2) else found.group(3)

    return _CSS_ESCAPE.sub(one, _CSS_COMMENT.sub("", css)) if "\\" in css or "/*" in css else css


def _css_urls(css: str) -> list[str]:
    # A scan with str.find that only moves forward, not a regex: "url(" repeated with nothing to close
    # it would cost a regex the rest of the text at every "url(".
    css = _css_unescape(css)
    lower = css.lower()
    urls: list[str] = []
    pos = 0
    next_url = lower.find("url(")
    next_set = lower.find("image")
    strings_until = 0  # image-set strings are read up to here already
    while next_url >= 0 or next_set >= 0:
        if next_url >= 0 and (next_set < 0 or next_url < next_set):
            start = next_url + 4
            while start < len(css) and css[start] in " \t\n\r\f":
                start += 1
            quoted = css[start : start + 1] in ("'", '"')
            end = css.find(css[start], start + 1) if quoted else css.find(")", start)
            if end < 0:
                break
            urls.append(css[start + 1 : end] if quoted else css[start:end])
            pos = end + 1
        else:
            # image-set("a.png" 1x, "b.png" 2x) and image("a.png"): the strings in it are URLs
            after = next_set + 5 + (4 if lower.startswith("-set", next_set + 5) else 0)
            pos = next_set + 5
            if lower.startswith("(", after) and after >= strings_until:
                end = css.find(")", after)
                if end < 0:
                    break
                urls.extend(f.group(1) or f.group(2) or "" for f in _CSS_STRING.finditer(css, after, end))
                strings_until = end
        if 0 <= next_url < pos:
            next_url = lower.find("url(", pos)
        if 0 <= next_set < pos:
            next_set = lower.find("image", pos)
    return [url.strip() for url in urls if url.strip()]


def _loaded_urls(name: str, attributes: str) -> list[str]:
    """Every URL the tag would load as the page opens, but an <img>'s src (see _keep_attribute)."""
    urls: list[str] = []
    for found in _ATTRIBUTE.finditer(attributes):
        attribute = found.group(1).lower()
        value = found.group(2) if found.group(2) is not None else found.group(3) or found.group(4)
        if value is None:
            continue
        if "&" in value:
            value = unescape(value)
        if attribute in _LOADING or (attribute == "data" and name == "object"):
            if not (attribute == "src" and name == "img"):
                urls.append(value.strip())
        elif attribute in _SRCSETS:
            # "a.png 1x, b.png 2x": each candidate is a URL and an optional descriptor
            urls.extend(candidate.split()[0] for candidate in value.split(",") if candidate.split())
        elif attribute in ("href", "xlink:href") and (name in _HREF_LOADS or attribute == "xlink:href"):
            urls.append(value.strip())
        elif attribute == "style":
            urls.extend(_css_urls(value))
    return urls


def _placeholder(kind: str, url: str) -> str:
    if url[:5].lower() == "data:":  # inline, but of a type not let through (SVG): its bytes say nothing
        return escape(f"[{kind} blocked: {url.partition(',')[0][:_SHOWN_URL_LENGTH]}]", quote=False)
    shown = url if len(url) <= _SHOWN_URL_LENGTH else url[: _SHOWN_URL_LENGTH - 1] + "\u2026"
    return escape(f"[remote {kind} blocked: {shown}]", quote=False)


def _block_remote(found: re.Match[str]) -> str:
    tag, closing, name, attributes = found.group(0), found.group(1), found.group(2).lower(), found.group(3)
    if closing or ("=" not in attributes and name not in _HREF_LOADS):
        return tag
    remote: list[str] = []
    for url in _loaded_urls(name, attributes):
        if url and not _is_inline(url) and url not in remote:
            remote.append(url)
    if not remote:
        return tag
    kind = "image" if name in ("img", "input", "image", "picture", "feimage") else "content"
    return tag + " ".join(_placeholder(kind, url) for url in remote)


_OPEN_TAG_ATTRIBUTES = re.compile(r"<[a-zA-Z][a-zA-Z0-9:_-]*([^>]*)>")
_LOADING_WORDS = ("src", "poster", "background", "data", "url", "image", "xlink", "\\")
_HREF_LOADING_TAG = re.compile(r"<(?:link|image|use|feimage)\b", re.I)


def _mark_remote(html: str) -> str:
    end = html.rfind(">") + 1  # as in html_to_text: no tag can start after the last ">"
    head = html[:end]
    # Most mail has no tag that could load anything: seen at C speed from all its attributes at once,
    # it is then left alone without a Python call per tag.
    attributes = "".join(_OPEN_TAG_ATTRIBUTES.findall(head)).lower()
    if not any(word in attributes for word in _LOADING_WORDS) and not _HREF_LOADING_TAG.search(head):
        return html
    return _TAG.sub(_block_remote, head) + html[end:]


class _Blocked(threading.local):
    """The remote <img> sources of the sanitising under way in this thread, and its marker."""

    def __init__(self) -> None:
        self.urls: list[str] = []
        self.marker = ""


_blocked = _Blocked()


def _keep_attribute(element: str, attribute: str, value: str) -> str | None:
    if attribute == "src":
        if _is_inline(value):
            return value
        if element != "img" or not value.strip():
            return None
        _blocked.urls.append(value.strip())
        return f"{_blocked.marker}{len(_blocked.urls) - 1}"
    if attribute in ("href", "cite") and _URL_NOISE.sub("", value).strip()[:5].lower() == "data:":
        return None  # data: is allowed for inline images only, never as a link to open
    return value


_CLEANER = nh3.Cleaner(
    url_schemes=nh3.ALLOWED_URL_SCHEMES | {"cid", "data"},
    clean_content_tags=nh3.CLEAN_CONTENT_TAGS | {"title"},
    attribute_filter=_keep_attribute,
)
# nh3's output quotes every attribute value and escapes "<", ">" and '"' in it: a tag ends at its ">".
_MARKED_IMG = re.compile(r"<img\b[^>]*>")


def sanitize_html(html: str) -> str:
    """HTML safe to show an agent: no script, no event handlers, no style, and nothing that loads from
    outside the message (each remote URL removed is shown as text where it was)."""
    # The marker is new each time, so a sender cannot write one into the message to place a placeholder.
    _blocked.urls, _blocked.marker = [], f"cid:remote-blocked-{secrets.token_hex(8)}-"
    try:
        clean = _CLEANER.clean(_mark_remote(html))
        urls, marker = _blocked.urls, _blocked.marker
    finally:
        _blocked.urls = []
    if not urls:
        return clean

    def placeholder(found: re.Match[str]) -> str:
        tag = found.group(0)
        at = tag.find(f'src="{marker}')
        if at < 0:
            return tag
        number = tag[at + 5 + len(marker) : tag.index('"', at + 5)]
        return _placeholder("image", urls[int(number)]) if number.isdigit() and int(number) < len(urls) else tag

    return _MARKED_IMG.sub(placeholder, clean)
