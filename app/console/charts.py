"""Charts drawn on the server as SVG geometry that the templates turn into <svg> elements: no script,
no chart library in the browser, nothing for the CSP to allow. A chart is its plotted points in the
SVG's own coordinates plus the labels of its axes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

WIDTH, HEIGHT, PAD = 640, 220, 40


@dataclass(frozen=True, slots=True)
class Line:
    title: str
    points: str  # "x,y x,y ..." for <polyline>
    dots: list[tuple[float, float, str]]  # x, y, and the value as text (each point's <title>)
    y_labels: list[tuple[float, str]]  # y, label
    x_labels: list[tuple[float, str]]  # x, label
    empty: bool


def line(title: str, values: Sequence[tuple[str, float | None]], *, y_max: float | None = None) -> Line:
    """A line chart of (label, value) pairs; None values are gaps in the dots and skipped by the line."""
    present = [v for _label, v in values if v is not None]
    top = y_max if y_max is not None else max(present, default=0.0)
    top = top if top > 0 else 1.0
    n = max(len(values) - 1, 1)
    inner_w, inner_h = WIDTH - 2 * PAD, HEIGHT - 2 * PAD

    def x(i: int) -> float:
        return round(PAD + inner_w * i / n, 1)

    def y(v: float) -> float:
        return round(HEIGHT - PAD - inner_h * v / top, 1)

    dots = [(x(i), y(v), f"{label}: {_number(v)}") for i, (label, v) in enumerate(values) if v is not None]
    step = max(1, len(values) // 6)
    return Line(
        title=title,
        points=" ".join(f"{dx},{dy}" for dx, dy, _t in dots),
        dots=dots,
        y_labels=[(y(top * f), _number(top * f)) for f in (0.0, 0.5, 1.0)],
        x_labels=[(x(i), label) for i, (label, _v) in enumerate(values) if i % step == 0],
        empty=not present,
    )


@dataclass(frozen=True, slots=True)
class Cell:
    x: int
    y: int
    shade: int  # 0-100: how dark, by the share of its row
    count: int
    title: str


@dataclass(frozen=True, slots=True)
class Heatmap:
    labels: list[str]
    cells: list[Cell]
    size: int  # one cell's side in SVG units
    side: int  # the whole matrix's side


def confusion(labels: Sequence[str], matrix: Sequence[Sequence[int]], *, side: int = 480) -> Heatmap:
    """The confusion matrix as shaded squares: row = true area, column = predicted, shade = the cell's
    share of its row (its recall along the diagonal)."""
    size = max(4, side // max(len(labels), 1))
    cells = []
    for i, row in enumerate(matrix):
        total = sum(row) or 1
        for j, count in enumerate(row):
            cells.append(
                Cell(
                    x=j * size,
                    y=i * size,
                    shade=round(100 * count / total),
                    count=count,
                    title=f"true {labels[i]}, predicted {labels[j]}: {count}",
                )
            )
    return Heatmap(labels=list(labels), cells=cells, size=size, side=size * len(labels))


def _number(value: float) -> str:
    return f"{value:.0f}" if abs(value) >= 100 or value == int(value) else f"{value:.2f}"
