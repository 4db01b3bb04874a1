"""Titles that fit their figure: a long title (a verdict sentence, a long caption) is wrapped
onto more lines until it lies within the figure, instead of being cut off at its edges.

Works on bare matplotlib Figures (no pyplot); measures with the Agg renderer at the figure's
dpi, so the result holds for a PNG saved at any dpi (text and figure scale together). Figures
whose layout engine is constrained then make room for the extra lines when drawn or saved.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterator

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.text import Text

MIN_CHARACTERS = 12  # a title is never wrapped narrower than this many characters a line


def titles(figure: Figure) -> Iterator[Text]:
    """The figure's non-empty titles: its suptitle and every axes' left, centre and right
    title."""
    candidates = [figure._suptitle] if figure._suptitle is not None else []
    for axes in figure.axes:
        candidates += [axes.title, axes._left_title, axes._right_title]
    yield from (text for text in candidates if text.get_visible() and text.get_text())


def _renderer(figure: Figure):
    if not isinstance(figure.canvas, FigureCanvasAgg):
        FigureCanvasAgg(figure)
    return figure.canvas.get_renderer()


def overflowing(figure: Figure) -> list[str]:
    """The titles whose drawn extent leaves the figure (after its layout engine has run), as
    their text; empty when every title fits."""
    figure.draw_without_rendering()
    renderer = _renderer(figure)
    width, height = figure.bbox.width, figure.bbox.height
    out = []
    for text in titles(figure):
        box = text.get_window_extent(renderer)
        if box.x0 < -0.5 or box.y0 < -0.5 or box.x1 > width + 0.5 or box.y1 > height + 0.5:
            out.append(text.get_text())
    return out


def _rewrap(text: Text, original: str, characters: int) -> None:
    """The original text with each of its lines wrapped at `characters`: the lines the caller
    wrote stay line starts."""
    text.set_text(
        "\n".join(
            textwrap.fill(" ".join(line.split()), characters) for line in original.split("\n")
        )
    )


def fit_titles(figure: Figure, attempts: int = 12) -> Figure:
    """Wrap every title of `figure` (titles) that is wider than the room it has: the whole
    figure's width for the suptitle, a centred title within the figure about its centre, a
    left title from its start to the figure's right edge. Each try narrows the lines by 15%,
    down to MIN_CHARACTERS; the original line breaks are kept. Returns the figure."""
    renderer = _renderer(figure)
    for text in list(titles(figure)):
        original = text.get_text()
        for _ in range(attempts):
            figure.draw_without_rendering()
            box = text.get_window_extent(renderer)
            width = figure.bbox.width
            centre = (box.x0 + box.x1) / 2
            if text.get_horizontalalignment() == "left":
                room = width - box.x0
            elif text.get_horizontalalignment() == "right":
                room = box.x1
            else:
                room = 2 * min(centre, width - centre) if text is not figure._suptitle else width
            room *= 0.98
            if box.width <= room:
                break
            longest = max(len(line) for line in text.get_text().split("\n"))
            if longest <= MIN_CHARACTERS:
                break
            target = max(MIN_CHARACTERS, int(longest * min(0.85, room / box.width)))
            _rewrap(text, original, target)
    return figure
