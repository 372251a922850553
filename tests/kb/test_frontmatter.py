from __future__ import annotations

import pytest

from app.kb.frontmatter import FrontMatterError, parse


def test_front_matter_gives_fields_their_lines_and_the_body() -> None:
    found = parse(
        '---\ntitle: "Refunds: how long"\n# a comment\nslug: refund-times\narea: refunds\n'
        "tags: [refunds, cards]\npublished: yes\n---\n\n# Refunds\n\nFive days.\n"
    )
    assert found.fields == {
        "title": "Refunds: how long",
        "slug": "refund-times",
        "area": "refunds",
        "tags": ["refunds", "cards"],
        "published": True,
    }
    assert found.lines == {"title": 2, "slug": 4, "area": 5, "tags": 6, "published": 7}
    assert found.body == "# Refunds\n\nFive days.\n"


def test_an_empty_area_or_slug_means_none_and_tags_may_be_a_plain_list() -> None:
    found = parse("---\ntitle: T\narea:\nslug: null\ntags: a, b ,\n---\nbody")
    assert found.fields == {"title": "T", "area": None, "slug": None, "tags": ["a", "b"]}


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("title: T\n---\nbody", 1, "must start with a front matter block"),
        ("---\ntitle: T\nauthor: me\n---\n", 3, "unknown key 'author'"),
        ("---\ntitle: T\ntitle: U\n---\n", 3, "title is given twice (first on line 2)"),
        ("---\ntitle: T\npublished: maybe\n---\n", 3, "published must be true or false"),
        ("---\ntitle T\n---\n", 2, "expected 'key: value'"),
        ('---\ntitle: "T\n---\n', 2, "an unclosed quote"),
        ("---\ntitle: T\nbody without end\n", 3, "expected 'key: value'"),
        ("---\ntitle: T\n", 2, "not closed"),
    ],
)
def test_bad_front_matter_names_its_line(text: str, line: int, message: str) -> None:
    with pytest.raises(FrontMatterError, match=f"line {line}: .*") as raised:
        parse(text)
    assert raised.value.line == line and message in str(raised.value)
