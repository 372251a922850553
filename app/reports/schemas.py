from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from pydantic import BaseModel, Field


class Interval(StrEnum):
    DAY = "day"
    WEEK = "week"


class Figures(BaseModel):
    """The figures of a set of tickets. "The window's tickets" are those created in the window; solved
    counts tickets solved in it, backlog those open at its end. Minutes are the SLA clocks' (resolution
    pauses while pending); percentiles are nearest-rank. A share is None when it has no denominator."""

    created: int = Field(description="tickets created in the window")
    solved: int = Field(description="tickets solved in the window (whenever created)")
    backlog: int = Field(description="tickets created before the window's end and not solved before it")
    first_reply_median_minutes: float | None = None
    first_reply_p90_minutes: float | None = None
    first_reply_median_business_minutes: float | None = None
    first_reply_p90_business_minutes: float | None = None
    resolution_median_minutes: float | None = None
    resolution_p90_minutes: float | None = None
    resolution_median_business_minutes: float | None = None
    resolution_p90_business_minutes: float | None = None
    first_reply_compliance: float | None = Field(None, description="achieved / (achieved + breached)")
    next_reply_compliance: float | None = Field(None, description="achieved / (achieved + breached), per reply cycle")
    resolution_compliance: float | None = Field(None, description="achieved / (achieved + breached)")
    one_touch_rate: float | None = Field(None, description="of the window's solved tickets, those with one reply")
    reopen_rate: float | None = Field(None, description="of the window's tickets ever solved, those reopened")
    routed_by_rule: float | None = Field(None, description="share of the window's tickets routed by a rule")
    routed_by_model: float | None = None
    routed_by_fallback: float | None = None
    rerouted_rate: float | None = Field(None, description="share of the window's tickets re-routed by an agent")
    # CSAT and contacts (app/csat/figures.py): ratings by the area and assignee when rated, surveys by
    # those when sent, contacts by the ticket's area and assignee.
    surveys_sent: int = Field(0, description="CSAT surveys sent in the window")
    survey_responses: int = Field(0, description="of those surveys, the ones rated (whenever)")
    csat_good: int = Field(0, description="good ratings given in the window")
    csat_bad: int = Field(0, description="bad ratings given in the window")
    csat: float | None = Field(None, description="good / (good + bad), ratings given in the window")
    response_rate: float | None = Field(None, description="survey_responses / surveys_sent")
    contacts: int = Field(0, description="tickets opened by customers in the window (gross contacts)")
    contacts_net: int = Field(0, description="distinct customers who opened them (net contacts)")
    repeat_contacts: int = Field(0, description="of those tickets, repeat contacts of a recently solved one")
    repeat_contact_rate: float | None = Field(None, description="repeat_contacts / contacts")


# What a time series may chart: any figure.
METRICS = tuple(Figures.model_fields)


class GroupFigures(Figures):
    name: str | None = Field(description="the area, or the agent (None: tickets nobody holds)")


class SummaryRead(BaseModel):
    start: date = Field(serialization_alias="from")
    end: date = Field(serialization_alias="to")
    area: str | None
    agent: str | None
    priority: str | None
    total: Figures
    by_area: list[GroupFigures]
    by_agent: list[GroupFigures]


class Point(BaseModel):
    start: datetime
    value: int | float | None


class TimeseriesRead(BaseModel):
    metric: str
    interval: Interval
    time_zone: str = "UTC"
    start: date = Field(serialization_alias="from")
    end: date = Field(serialization_alias="to")
    points: list[Point]


class TrustCounts(BaseModel):
    """Sender trust (issue 14) of a group's customer messages, on the tickets created in the window."""

    tickets: int = Field(description="tickets created in the window")
    verified: int = Field(description="their customer messages whose sender was verified")
    unverified: int
    failed: int
    possible_spoofs: int = Field(description="tickets opened by a message whose sender failed authentication")


class MailboxTrust(TrustCounts):
    mailbox_id: int | None
    mailbox: str | None


class DomainTrust(TrustCounts):
    sender_domain: str | None  # the From domain of the ticket's first customer message


class SenderTrustRead(BaseModel):
    start: date = Field(serialization_alias="from")
    end: date = Field(serialization_alias="to")
    total: TrustCounts
    by_mailbox: list[MailboxTrust]
    by_sender_domain: list[DomainTrust]  # the most unauthenticated mail first
