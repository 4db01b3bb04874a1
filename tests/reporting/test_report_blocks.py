"""The report's Markdown twin keeps text taken from data as text: rendered by a Markdown
renderer that lets HTML through (markdown-it with html on), a file name holding a tag, a link or
emphasis shows as the name itself and makes no element."""

from __future__ import annotations

import html

from markdown_it import MarkdownIt

from cxr_gan.reporting.report_blocks import Code, Heading, Table, Text, render_markdown

NAMES = [
    "covid/<img src=x onerror=alert(1)>.png",
    "normal/[click](javascript:alert(1)).png",
    "normal/*bold* _under_ img_001 &amp; a|b ~~x~~ #1 \\.png",
]


def _rendered(markdown: str) -> str:
    """HTML from a renderer that passes raw HTML through, as many Markdown viewers do."""
    return (
        MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"]).render(markdown)
    )


def test_a_file_name_with_html_is_text_in_the_rendered_markdown():
    blocks = [
        Heading(2, f"Problems in {NAMES[0]}"),
        Text(f"Left out: {NAMES[0]}, {NAMES[1]}", "warning"),
        Table(["file", "reason"], [[name, f"cannot decode {name}"] for name in NAMES]),
    ]
    rendered = _rendered(render_markdown(blocks))
    assert "<img" not in rendered and "<a " not in rendered
    assert "<em>" not in rendered and "<strong>bold" not in rendered and "<s>" not in rendered
    cells = rendered.split("<tbody>")[1]
    assert cells.count("<tr>") == len(NAMES)  # a pipe in a name does not split its cell
    for name in NAMES:
        assert f"<td>{html.escape(name, quote=False)}</td>" in cells
    assert html.escape(NAMES[0], quote=False) in rendered.split("</h2>")[0]


def test_code_spans_and_code_blocks_stay_literal():
    markdown = render_markdown(
        [
            Text("Run `kedro run --pipelines <name>` for snake_case_names."),
            Code("label: '```<b>x</b>'\n"),
        ]
    )
    rendered = _rendered(markdown)
    assert "<code>kedro run --pipelines &lt;name&gt;</code>" in rendered
    assert "snake_case_names" in markdown  # an underscore inside a word is left as it is
    assert "<b>" not in rendered and "&lt;b&gt;x&lt;/b&gt;" in rendered  # the fence holds
