from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.macros.render import FALLBACKS, PLACEHOLDERS, placeholder_values, render, validate_template

NAMES = sorted(PLACEHOLDERS)
FULL = {
    "customer_name": "Jane Doe",
    "customer_first_name": "Jane",
    "customer_email": "jane@merchant.example",
    "ticket_reference": "RD-7K2M9Q4T",
    "ticket_subject": "Refund missing",
    "agent_name": "Maya",
    "area_title": "Refunds",
    "company": "PayHub Support",
}


def test_every_allowed_placeholder_is_replaced_by_its_value() -> None:
    body = " | ".join("{" + name + "}" for name in NAMES)
    assert render(body, FULL) == " | ".join(FULL[name] for name in NAMES)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("values", [{}, {"x": "y"}], ids=["missing", "absent"])
def test_missing_value_renders_as_the_documented_fallback(name: str, values: dict[str, str]) -> None:
    assert render("{" + name + "}", values) == FALLBACKS[name]


def test_blank_value_renders_as_the_fallback() -> None:
    assert render("Hi {customer_first_name},", {"customer_first_name": "  "}) == "Hi there,"


def test_unknown_placeholder_stays_literal() -> None:
    assert render("Hi {customer_nmae}, {Customer_Name}", FULL) == "Hi {customer_nmae}, {Customer_Name}"


@pytest.mark.parametrize(
    "body",
    [
        "{0}",
        "{}",
        "{x.__class__}",
        "{customer_name.__class__.__mro__}",
        "{customer_name!r}",
        "{customer_name:>40}",
        "{customer_name[0]}",
        "{__import__('os').system('id')}",
        "{{customer_name}}",
        "{{ customer_name }}",
        "{{",
        "}}",
        "{{customer_name}",
        "{customer_name}}",
        "${customer_name}",
        "${7*7}",
        "{% if customer_name %}yes{% endif %}",
        "{{ config.items() }}",
        "{# comment #}",
        "%(customer_name)s",
        "$customer_name",
        "{ customer_name }",
    ],
)
def test_hostile_or_foreign_template_syntax_stays_literal(body: str) -> None:
    assert render(body, FULL) == body


def test_value_containing_a_placeholder_is_not_expanded_again() -> None:
    values = {**FULL, "customer_name": "{agent_name} {{company}} {0}"}
    rendered = render("Hi {customer_name}, I am {agent_name}", values)
    assert rendered == "Hi {agent_name} {{company}} {0}, I am Maya"


def test_regex_replacement_syntax_in_a_value_is_inserted_verbatim() -> None:
    value = r"\1 \g<0> \n %s $& "
    assert render("[{customer_name}]", {"customer_name": value}) == f"[{value}]"


def test_sql_looking_value_is_inserted_verbatim() -> None:
    value = "Robert'); DROP TABLE macro; --"
    assert render("Dear {customer_name}", {"customer_name": value}) == f"Dear {value}"


def test_placeholders_next_to_text_and_punctuation_are_replaced() -> None:
    assert render("({ticket_reference}).{agent_name}!", FULL) == "(RD-7K2M9Q4T).Maya!"


def test_validate_template_lists_each_unknown_name_once_in_order_of_appearance() -> None:
    body = "Hi {customer_nmae}, {agent_name} here about {order_id} for {customer_nmae}"
    assert validate_template(body) == ["customer_nmae", "order_id"]


def test_validate_template_accepts_allowed_names_and_braces_that_are_no_placeholder() -> None:
    body = 'Hi {customer_first_name}, send {"amount": 100} or {0} or {{x}} to {company}.'
    assert validate_template(body) == []


def test_placeholder_values_derive_the_first_name_from_the_name() -> None:
    assert placeholder_values(customer_name="Jane Doe")["customer_first_name"] == "Jane"
    assert placeholder_values(customer_name="Doe, Jane")["customer_first_name"] == "Jane"


def test_placeholder_values_take_the_first_name_from_inside_quotes() -> None:
    assert placeholder_values(customer_name="'Jane Doe'")["customer_first_name"] == "Jane"
    assert placeholder_values(customer_name='"Doe, Jane"')["customer_first_name"] == "Jane"


def test_placeholder_values_leave_out_blank_and_email_like_names() -> None:
    assert placeholder_values(customer_name="jane@merchant.example", agent_name=" ") == {
        "customer_name": "jane@merchant.example"
    }


values_strategy = st.dictionaries(st.sampled_from(NAMES) | st.text(max_size=20), st.text(max_size=50))


@given(body=st.text(max_size=300), values=values_strategy)
def test_render_never_raises_on_arbitrary_bodies_and_values(body: str, values: dict[str, str]) -> None:
    assert isinstance(render(body, values), str)


# Bodies made of the pieces template syntax is made of, so that tokens, near-tokens and escapes are common.
FRAGMENTS = [*"{}$%x0. ", "{{", "}}", "!r", ":>9", "__class__", "customer_nmae", *NAMES]
FRAGMENTS += ["{" + name + "}" for name in NAMES]
template_bodies = st.lists(st.sampled_from(FRAGMENTS), max_size=25).map("".join)


@given(body=template_bodies)
def test_rendering_each_placeholder_as_itself_leaves_any_body_unchanged(body: str) -> None:
    # Each token is replaced by exactly its value and nothing else changes: not even a value made of braces.
    assert render(body, {name: "{" + name + "}" for name in NAMES}) == body


@given(body=template_bodies, values=values_strategy)
def test_render_never_raises_on_template_like_bodies(body: str, values: dict[str, str]) -> None:
    assert isinstance(render(body, values), str)


@given(value=st.text(max_size=80), other=st.text(max_size=80))
def test_a_value_is_inserted_verbatim_whatever_braces_it_holds(value: str, other: str) -> None:
    rendered = render("<{customer_name}|{agent_name}>", {"customer_name": value, "agent_name": other})
    expected_value = value if value.strip() else FALLBACKS["customer_name"]
    expected_other = other if other.strip() else FALLBACKS["agent_name"]
    assert rendered == f"<{expected_value}|{expected_other}>"


@given(value=st.from_regex(r"\{[a-z_{}]{0,30}\}", fullmatch=True))
def test_a_brace_value_is_never_expanded(value: str) -> None:
    values = {**FULL, "customer_name": value}
    assert render("{customer_name}", values) == value
