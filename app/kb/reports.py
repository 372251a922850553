"""The help centre's report (`GET /reports/articles`): deflection rate by area and by article, article
views and helpful votes, over a window of UTC days.

deflection rate = tickets deflected / tickets whose acknowledgement suggested articles, both counted by
the suggestions made in the window (a ticket suggested three articles counts once in its area; once for
each article in the article rows). Views and votes are the article_day rows of the window's days.
"""

from __future__ import annotations

import csv
import io

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from app.kb import repository
from app.reports.service import Window
from app.routing import service as routing


class DeflectionRow(BaseModel):
    area: str | None
    tickets_with_suggestions: int
    deflected: int
    deflection_rate: float | None  # None when no ticket got suggestions


class ArticleRow(BaseModel):
    article_id: int
    slug: str
    title: str
    area: str | None
    suggested: int  # tickets it was suggested to
    deflected: int
    deflection_rate: float | None
    views: int
    helpful: int
    unhelpful: int


class ArticlesReport(BaseModel):
    start: str
    end: str
    area: str | None
    tickets_with_suggestions: int
    deflected: int
    deflection_rate: float | None
    by_area: list[DeflectionRow]
    by_article: list[ArticleRow]


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


async def articles_report(session: AsyncSession, window: Window, *, area: str | None) -> ArticlesReport:
    area_id = (await routing.get_area(session, area)).id if area is not None else None
    names = {a.id: a.name for a in await routing.list_areas(session)}
    tickets = await repository.ticket_counts(session, start=window.since, end=window.until, area_id=area_id)
    by_area = sorted(
        (
            DeflectionRow(
                area=names.get(a) if a is not None else None,
                tickets_with_suggestions=n,
                deflected=d,
                deflection_rate=_rate(d, n),
            )
            for a, n, d in tickets
        ),
        key=lambda row: row.area or "",
    )
    per_article: dict[int, list[int]] = {}
    for _area, article_id, suggested, deflected in await repository.suggestion_counts(
        session, start=window.since, end=window.until, area_id=area_id
    ):
        counts = per_article.setdefault(article_id, [0, 0, 0, 0, 0])
        counts[0] += suggested
        counts[1] += deflected
    for article_id, views, helpful, unhelpful in await repository.article_days(
        session, first=window.start, last=window.end, area_id=area_id
    ):
        counts = per_article.setdefault(article_id, [0, 0, 0, 0, 0])
        counts[2:] = [views, helpful, unhelpful]
    articles = await repository.article_names(session, set(per_article))
    by_article = [
        ArticleRow(
            article_id=article_id,
            slug=articles[article_id][0],
            title=articles[article_id][1],
            area=names.get(articles[article_id][2]) if articles[article_id][2] is not None else None,  # type: ignore[arg-type]
            suggested=c[0],
            deflected=c[1],
            deflection_rate=_rate(c[1], c[0]),
            views=c[2],
            helpful=c[3],
            unhelpful=c[4],
        )
        for article_id, c in sorted(per_article.items())
        if article_id in articles
    ]
    total = sum(r.tickets_with_suggestions for r in by_area)
    deflected = sum(r.deflected for r in by_area)
    return ArticlesReport(
        start=window.start.isoformat(),
        end=window.end.isoformat(),
        area=area,
        tickets_with_suggestions=total,
        deflected=deflected,
        deflection_rate=_rate(deflected, total),
        by_area=by_area,
        by_article=by_article,
    )


CSV_COLUMNS = ("group", "name", "suggested", "deflected", "deflection_rate", "views", "helpful", "unhelpful")


def articles_csv(report: ArticlesReport) -> str:
    """One row for the whole window, one per area, one per article."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    writer.writerow(["all", "", report.tickets_with_suggestions, report.deflected, _cell(report.deflection_rate)])
    for row in report.by_area:
        writer.writerow(
            ["area", row.area or "", row.tickets_with_suggestions, row.deflected, _cell(row.deflection_rate)]
        )
    for article in report.by_article:
        writer.writerow(
            [
                "article",
                article.slug,
                article.suggested,
                article.deflected,
                _cell(article.deflection_rate),
                article.views,
                article.helpful,
                article.unhelpful,
            ]
        )
    return out.getvalue()


def _cell(value: float | None) -> str:
    return "" if value is None else f"{value:.4f}"
