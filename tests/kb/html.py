"""Pages and fragments read with the standard library's HTML parser, so that tests assert on elements,
attributes and text rather than on substrings of markup."""

from __future__ import annotations

from html.parser import HTMLParser


class Elements(HTMLParser):
    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self._open: list[str] = []
        self._texts_in: dict[str, list[str]] = {}
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, dict(attrs)))
        if tag not in {"meta", "link", "input", "img", "br", "hr"}:
            self._open.append(tag)
            self._texts_in.setdefault(tag, []).append("")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._open:
            while self._open.pop() != tag:
                pass

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        for tag in set(self._open):
            self._texts_in[tag][-1] += data

    def tags(self) -> set[str]:
        return {tag for tag, _ in self.elements}

    def attributes(self, tag: str) -> list[dict[str, str | None]]:
        return [attrs for name, attrs in self.elements if name == tag]

    def texts(self, tag: str) -> list[str]:
        """The text of each `tag` element, whitespace collapsed, in document order."""
        return [" ".join(text.split()) for text in self._texts_in.get(tag, [])]

    def headings(self) -> list[str]:
        return [tag for tag, _ in self.elements if len(tag) == 2 and tag[0] == "h" and tag[1].isdigit()]
