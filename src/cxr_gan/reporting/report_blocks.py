"""The study report's building blocks and their two renderings: the page is built once as a list
of blocks (Heading, Text, Figure, Table, Markdown, Code, Marker), then rendered to one
self-contained HTML page (figures as base64 data URIs, style inside the page) and to Markdown
(figures linked as figures/<name>.png), so the two always hold the same content."""

from __future__ import annotations

import base64
import html
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
SMALL_FIGURE_PX = 200  # narrower figures (a 16 px GAN's grid) are shown enlarged, pixelated


@dataclass
class Heading:
    level: int
    text: str


@dataclass
class Text:
    text: str
    kind: str = ""  # "", "answer", "warning", "note"


@dataclass
class Figure:
    name: str  # file name stem in the Markdown's figures/ folder; unique in a report
    png: bytes
    caption: str


@dataclass
class Table:
    header: Sequence[str]
    rows: Sequence[Sequence[Any]]


@dataclass
class Markdown:
    text: str  # Markdown written by another pipeline, shown as it is


@dataclass
class Code:
    text: str


@dataclass
class Marker:
    html: str  # a comment marking the preview's part (HTML and Markdown alike)


def not_run(what: str, pipeline: str) -> Text:
    return Text(f"{what}: not run yet (`kedro run --pipelines {pipeline}` makes it).", "note")


def figure_or_note(name: str, png: bytes | None, caption: str, pipeline: str) -> list[Any]:
    return [Figure(name, png, caption)] if png else [not_run(caption, pipeline)]


def number(value: Any, form: str = ".3f") -> str:
    return "n/a" if value is None else format(value, form)


def range_text(bounds: Sequence[float | None] | None, form: str = ".1f") -> str:
    """'-520.1 to 656.5' from a [low, high] pair (e.g. a KID's x1000_ci95); 'n/a' if absent."""
    if not bounds or any(bound is None for bound in bounds):
        return "n/a"
    low, high = bounds
    return f"{format(low, form)} to {format(high, form)}"


def interval(metric: Mapping[str, Any] | None) -> str:
    """'0.812 [0.701, 0.905]' from a metric block {"value", "ci_low", "ci_high"}; 'n/a'."""
    if not metric or metric.get("value") is None:
        return "n/a"
    if metric.get("ci_low") is None or metric.get("ci_high") is None:
        return f"{metric['value']:.3f}"
    return f"{metric['value']:.3f} [{metric['ci_low']:.3f}, {metric['ci_high']:.3f}]"


def check_figures(blocks: Sequence[Any]) -> None:
    names = set()
    for block in blocks:
        if not isinstance(block, Figure):
            continue
        if not isinstance(block.png, bytes) or not block.png.startswith(PNG_SIGNATURE):
            raise ValueError(
                f"figure {block.name!r} is not PNG bytes ({type(block.png).__name__}); pass the "
                "saved PNG file's bytes"
            )
        if block.name in names:
            raise ValueError(f"two figures are called {block.name!r}")
        names.add(block.name)


_STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0 auto;
  max-width: 1100px; padding: 1.5em; color: #1b1f24; line-height: 1.45; }
h1 { border-bottom: 2px solid #444; } h2 { border-bottom: 1px solid #bbb; margin-top: 2em; }
table { border-collapse: collapse; margin: 0.8em 0; font-size: 0.92em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; vertical-align: top;
  overflow-wrap: anywhere; }
th { background: #f0f2f4; }
figure { margin: 1em 0; } figure img { max-width: 100%; border: 1px solid #ddd; }
figure img.small { width: 320px; image-rendering: pixelated; }
figcaption { color: #555; font-size: 0.9em; }
.answer { font-weight: 600; background: #eef6ee; border-left: 4px solid #2e7d32;
  padding: 0.5em 0.8em; }
.warning { background: #fff4e5; border-left: 4px solid #e65100; padding: 0.5em 0.8em; }
.note { color: #555; font-size: 0.92em; }
pre { background: #f6f8fa; padding: 0.8em; overflow-x: auto; font-size: 0.85em; }
code { background: #f0f2f4; padding: 0 0.2em; }
"""


def _inline(text: str) -> str:
    """Escaped text with `code` spans (the only inline markup the report's own text uses)."""
    parts = str(text).split("`")
    return "".join(
        f"<code>{html.escape(part)}</code>" if index % 2 else html.escape(part)
        for index, part in enumerate(parts)
    )


def _markdown_to_html(text: str) -> str:
    from markdown_it import MarkdownIt

    renderer = MarkdownIt("commonmark", {"html": False}).enable("table")
    return renderer.render(text)


def render_html(blocks: Sequence[Any], title: str) -> str:
    out = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{html.escape(title)}</title>",
        f"<style>{_STYLE}</style>",
        "</head>",
        "<body>",
    ]
    for block in blocks:
        if isinstance(block, Heading):
            out.append(f"<h{block.level}>{_inline(block.text)}</h{block.level}>")
        elif isinstance(block, Text):
            kind = f' class="{block.kind}"' if block.kind else ""
            out.append(f"<p{kind}>{_inline(block.text)}</p>")
        elif isinstance(block, Figure):
            data = base64.b64encode(block.png).decode("ascii")
            caption = html.escape(block.caption)
            small = ' class="small"' if _png_width(block.png) < SMALL_FIGURE_PX else ""
            out.append(
                f'<figure id="{html.escape(block.name)}"><img{small} '
                f'src="data:image/png;base64,{data}" alt="{caption}">'
                f"<figcaption>{caption}</figcaption></figure>"
            )
        elif isinstance(block, Table):
            header = "".join(f"<th>{_inline(cell)}</th>" for cell in block.header)
            rows = "".join(
                "<tr>" + "".join(f"<td>{_inline(cell)}</td>" for cell in row) + "</tr>"
                for row in block.rows
            )
            out.append(f"<table><thead><tr>{header}</tr></thead><tbody>{rows}</tbody></table>")
        elif isinstance(block, Markdown):
            out.append(f'<div class="markdown">{_markdown_to_html(block.text)}</div>')
        elif isinstance(block, Code):
            out.append(f"<pre>{html.escape(block.text)}</pre>")
        elif isinstance(block, Marker):
            out.append(block.html)
    out += ["</body>", "</html>", ""]
    return "\n".join(out)


def _png_width(png: bytes) -> int:
    """The width in the PNG's header (IHDR: bytes 16-20, big-endian)."""
    return int.from_bytes(png[16:20], "big")


# characters that start Markdown or HTML markup outside a code span: backslash-escaped in text
# that may come from data (file and folder names, reasons, paths), so a file called
# `<img src=x onerror=...>.png` or `[x](javascript:...)` stays text in every Markdown renderer
# (an underscore inside a word, as in img_001.png, starts no emphasis and is left as it is)
_MARKUP = re.compile(r"([\\`*\[\]<>#!|&~]|(?<![A-Za-z0-9])_|_(?![A-Za-z0-9]))")


def markdown_text(text: Any, in_table: bool = False) -> str:
    """str(text) as Markdown that renders as exactly that text, on one line: every character
    that could start markup (HTML tags, links and images, emphasis, entities, table pipes) is
    backslash-escaped, except inside `code` spans, the only inline markup the report's own text
    uses (split as the HTML page splits them: an odd backtick opens a span up to the next one).
    A code span's content is shown literally by every renderer, so it is kept (in a table cell
    its pipes are escaped, as GFM asks); a span left open at the end is closed, an empty one
    dropped. So a file called `<img src=x onerror=...>.png` stays text wherever the Markdown is
    rendered."""
    parts = str(text).replace("\r", " ").replace("\n", " ").split("`")
    out = []
    for index, part in enumerate(parts):
        if index % 2 == 0:
            out.append(_MARKUP.sub(r"\\\1", part))
        elif part:
            out.append("`" + (part.replace("|", "\\|") if in_table else part) + "`")
    return "".join(out)


def _fence(text: str) -> str:
    """A code fence longer than any run of backticks in text, so text cannot close it."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    return "`" * max(3, longest + 1)


def render_markdown(blocks: Sequence[Any]) -> str:
    """The blocks as CommonMark with GFM tables. Headings, text, table cells and figure
    captions go through markdown_text, so text taken from data (file and folder names, reasons,
    paths) renders as text, never as HTML or a link; Markdown blocks (written by another
    pipeline, which escapes its own data) are kept as they are; a Code block is fenced with more
    backticks than it holds."""
    out: list[str] = []
    for block in blocks:
        if isinstance(block, Heading):
            out += ["#" * block.level + " " + markdown_text(block.text), ""]
        elif isinstance(block, Text):
            text = markdown_text(block.text)
            if block.kind == "answer":
                text = f"**{text}**"
            elif block.kind == "warning":
                text = f"> **Warning:** {text}"
            elif block.kind == "note":
                text = f"_{text}_"
            out += [text, ""]
        elif isinstance(block, Figure):
            caption = markdown_text(block.caption)
            out += [f"![{caption}](figures/{block.name}.png)", "", f"*{caption}*", ""]
        elif isinstance(block, Table):
            out.append("| " + " | ".join(markdown_text(c, True) for c in block.header) + " |")
            out.append("| " + " | ".join("---" for _ in block.header) + " |")
            out += [
                "| " + " | ".join(markdown_text(c, True) for c in row) + " |" for row in block.rows
            ]
            out.append("")
        elif isinstance(block, Markdown):
            out += [block.text.rstrip("\n"), ""]
        elif isinstance(block, Code):
            fence = _fence(block.text)
            out += [f"{fence}yaml", block.text.rstrip("\n"), fence, ""]
        elif isinstance(block, Marker):
            out += [block.html, ""]
    return "\n".join(out)
