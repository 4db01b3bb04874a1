"""The study report's building blocks and their two renderings: the page is built once as a list
of blocks (Heading, Text, Figure, Table, Markdown, Code, Marker, Contents), then rendered to one
self-contained HTML page (figures as base64 data URIs, style inside the page) and to Markdown
(figures linked as figures/<name>.png), so the two always hold the same content.

Every heading (a Heading block's, and those inside a Markdown block) gets an anchor: GitHub's
slug of its text (`slug`, "-1", "-2" after repeats), as the id of the HTML heading and the
target GitHub gives the Markdown one; a Contents block lists them as links."""

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


@dataclass
class Contents:
    """The table of contents: a nested list linking every heading of these levels."""

    levels: tuple[int, ...] = (2, 3)
    title: str = "Contents"


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


def device_text(device: Mapping[str, Any] | None) -> str:
    """'GPU:0 (NVIDIA H100 80GB HBM3), strategy default, 1 replica, float32' from the device
    record a training node keeps (cxr_gan.models.device.training_device); 'not recorded' for
    None (outputs saved before the record existed)."""
    if not device:
        return "not recorded"
    replicas = int(device.get("replicas") or 1)
    return (
        f"{', '.join(str(d) for d in device.get('devices') or ['?'])}, strategy "
        f"{device.get('strategy', '?')}, {replicas} replica{'' if replicas == 1 else 's'}, "
        f"{device.get('precision', '?')}"
    )


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
nav.contents ul { margin: 0.2em 0; } nav.contents li { margin: 0.1em 0; }
pre { background: #f6f8fa; padding: 0.8em; overflow-x: auto; font-size: 0.85em; }
code { background: #f0f2f4; padding: 0 0.2em; }
"""


def slug(text: str) -> str:
    """GitHub's anchor for a heading's text: lower case, code-span backticks and every
    character but letters, digits, "_", "-" and spaces dropped, spaces as "-". E.g.
    "Experiment `real_plus_synthetic`" -> "experiment-real_plus_synthetic"."""
    plain = re.sub(r"\\(.)", r"\1", str(text)).replace("`", "").strip().lower()
    return re.sub(r"[^\w\- ]", "", plain).replace(" ", "-")


def _markdown_headings(text: str) -> list[tuple[int, str]]:
    """(level, plain text) of every heading in a Markdown text, in order (markdown-it's
    parse: a "#" inside a code fence is no heading)."""
    from markdown_it import MarkdownIt

    tokens = MarkdownIt("commonmark").enable("table").parse(text)
    found = []
    for index, token in enumerate(tokens):
        if token.type == "heading_open":
            inline = tokens[index + 1]
            plain = "".join(
                child.content for child in inline.children or [] if child.type != "softbreak"
            )
            found.append((int(token.tag[1]), plain))
    return found


def headings(blocks: Sequence[Any]) -> list[tuple[int, str, str]]:
    """(level, text, anchor) of every heading of the page in order, Markdown blocks' included;
    anchors are slugs, made unique as GitHub does ("summary", "summary-1", ...)."""
    seen: dict[str, int] = {}
    out = []
    for block in blocks:
        if isinstance(block, Heading):
            found = [(block.level, block.text)]
        elif isinstance(block, Markdown):
            found = _markdown_headings(block.text)
        else:
            continue
        for level, text in found:
            anchor = slug(text)
            if anchor in seen:
                seen[anchor] += 1
                anchor = f"{anchor}-{seen[anchor]}"
            else:
                seen[anchor] = 0
            out.append((level, text, anchor))
    return out


def _contents_items(contents: Contents, found: Sequence[tuple[int, str, str]]) -> list[Any]:
    """(depth from 0, text, anchor) of the headings the contents list."""
    top = min(contents.levels)
    return [
        (level - top, text, anchor) for level, text, anchor in found if level in contents.levels
    ]


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
    anchors = iter(headings(blocks))
    found = headings(blocks)
    for block in blocks:
        if isinstance(block, Heading):
            anchor = next(anchors)[2]
            out.append(
                f'<h{block.level} id="{html.escape(anchor)}">{_inline(block.text)}</h{block.level}>'
            )
        elif isinstance(block, Contents):
            out.append(_contents_html(block, found))
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
            rendered = _markdown_to_html(block.text)
            for _ in _markdown_headings(block.text):  # each heading gets its anchor, in order
                anchor = html.escape(next(anchors)[2])
                rendered = re.sub(r"<h([1-6])>", rf'<h\1 id="{anchor}">', rendered, count=1)
            out.append(f'<div class="markdown">{rendered}</div>')
        elif isinstance(block, Code):
            out.append(f"<pre>{html.escape(block.text)}</pre>")
        elif isinstance(block, Marker):
            out.append(block.html)
    out += ["</body>", "</html>", ""]
    return "\n".join(out)


def _contents_html(contents: Contents, found: Sequence[tuple[int, str, str]]) -> str:
    """The contents as nested <ul> lists of links to the headings' ids."""
    out, depth = (
        [f'<nav class="contents"><p><strong>{html.escape(contents.title)}</strong></p>'],
        -1,
    )
    for level, text, anchor in _contents_items(contents, found):
        while depth < level:
            out.append("<ul>")
            depth += 1
        while depth > level:
            out.append("</ul>")
            depth -= 1
        out.append(f'<li><a href="#{html.escape(anchor)}">{_inline(text)}</a></li>')
    out += ["</ul>"] * (depth + 1) + ["</nav>"]
    return "".join(out)


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
    found = headings(blocks)
    for block in blocks:
        if isinstance(block, Heading):
            out += ["#" * block.level + " " + markdown_text(block.text), ""]
        elif isinstance(block, Contents):
            out += [f"**{markdown_text(block.title)}**", ""]
            out += [
                "  " * depth + f"- [{markdown_text(text)}](#{anchor})"
                for depth, text, anchor in _contents_items(block, found)
            ]
            out.append("")
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
