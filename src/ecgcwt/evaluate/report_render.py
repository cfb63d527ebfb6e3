"""The report's blocks rendered to Markdown and to one self-contained HTML page.

A block is ``(kind, *args)``:

* ``("h1" | "h2" | "h3", title)``, ``("p", text)``; an ``h2`` gets the anchor :func:`anchor` of its title;
* ``("lead", text)``: the report's answer in a few sentences, set apart from the text around it;
* ``("toc", [title, ...])``: links to those ``h2`` sections;
* ``("banner", text)``: a warning that must not be missed (a synthetic run);
* ``("table", DataFrame[, "free"])``: headers are shown in words (``balanced_accuracy`` -> "balanced accuracy"),
  and a pivot's leftover column-index name is dropped (it rendered as an empty first column). Text cells
  may wrap after ``_`` only, so a model name never breaks inside a word; a ``"free"`` table (long hashes
  and setting values) may wrap anywhere instead;
* ``("img", path relative to the report folder, caption[, wide[, alt]])``: an empty caption shows
  none (a figure that carries its own title), ``alt`` defaults to the caption.

The HTML embeds every figure (base64), so the page can be mailed alone; wide tables scroll inside
their own box, so the page itself never scrolls sideways.
"""

from __future__ import annotations

import base64
import html
import re
from pathlib import Path

import pandas as pd

__all__ = ["to_markdown", "to_html", "header_words", "anchor"]


def anchor(title: str) -> str:
    """The id of a section heading, as GitHub makes it for Markdown: lower case, punctuation dropped, spaces -> '-'."""
    return re.sub(r"[^a-z0-9 _-]", "", title.lower()).replace(" ", "-")


def header_words(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` with headers in words and no column-index name (a copy)."""
    out = df.copy()
    out.columns = [str(c).replace("_", " ") for c in out.columns]
    out.columns.name = None
    return out


def _img(args: tuple) -> tuple[str, str, bool, str]:
    path, caption = args[0], args[1]
    wide = bool(args[2]) if len(args) > 2 else False
    alt = args[3] if len(args) > 3 and args[3] else (caption or Path(path).stem.replace("_", " "))
    return path, caption, wide, alt


def _md_table(df: pd.DataFrame) -> str:
    df = header_words(df)
    cols = [str(c) for c in df.columns]
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for row in df.itertuples(index=False):
        lines.append("| " + " | ".join(str(v).replace("|", "\\|") for v in row) + " |")
    return "\n".join(lines)


def to_markdown(blocks: list) -> str:
    out = []
    for kind, *args in blocks:
        if kind in ("h1", "h2", "h3"):
            out.append("#" * int(kind[1]) + " " + args[0])
        elif kind in ("p", "lead"):
            out.append(args[0])
        elif kind == "toc":
            out.append("Contents: " + " · ".join(f"[{t}](#{anchor(t)})" for t in args[0]))
        elif kind == "banner":
            out.append(f"> **{args[0]}**")
        elif kind == "table":
            out.append(_md_table(args[0]))
        elif kind == "img":
            path, caption, _, alt = _img(tuple(args))
            out.append(f"![{alt}]({path})" + (f"\n\n*{caption}*" if caption and caption != alt else ""))
    return "\n\n".join(out) + "\n"


STYLE = (
    "body{font-family:sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;line-height:1.45}"
    "div.tw{overflow-x:auto;max-width:100%}"
    "h2{margin:1.2em 0 0.5em}table.t{border-collapse:collapse;margin:0.5em 0 1em;font-size:0.9em}"
    "table.t td,table.t th{border:1px solid #ccc;padding:3px 8px;text-align:left;overflow-wrap:break-word}"
    "table.free td{overflow-wrap:anywhere}"
    "p.lead{font-size:1.1em;margin:0.8em 0}nav.toc{font-size:0.9em;margin:0.5em 0 1em}"
    "figure{display:inline-block;margin:0.5em;max-width:100%}img{max-width:480px;width:100%}"
    "figure.wide img{max-width:100%}"
    "div.banner{background:#fff3cd;border:2px solid #d39e00;padding:0.8em 1em;font-weight:bold;margin:1em 0}"
)


def _html_table(df: pd.DataFrame, free: bool) -> str:
    """``df`` as an HTML table; text cells get a line-break chance after each ``_`` unless ``free``."""
    df = header_words(df)
    if free:
        return df.to_html(index=False, escape=True, border=0, classes="t free")
    # numbers keep pandas' formatting; only text is escaped here (to_html then must not escape again)
    shown = df.copy().astype(object)
    for i, c in enumerate(df.columns):
        if any(isinstance(v, str) for v in df[c]):
            shown.isetitem(i, [html.escape(v).replace("_", "_<wbr>") if isinstance(v, str) else v for v in df[c]])
        else:
            shown.isetitem(i, df[c])
    headers = [html.escape(str(c)) for c in df.columns]
    shown.columns = headers
    return shown.to_html(index=False, escape=False, border=0, classes="t")


def to_html(blocks: list, out_dir: Path) -> str:
    body = []
    for kind, *args in blocks:
        if kind == "h2":
            body.append(f'<h2 id="{anchor(args[0])}">{html.escape(args[0])}</h2>')
        elif kind in ("h1", "h3"):
            body.append(f"<{kind}>{html.escape(args[0])}</{kind}>")
        elif kind in ("p", "lead"):
            text = html.escape(args[0])
            # the one piece of markdown emphasis used in the text
            text = text.replace("*subjects*", "<em>subjects</em>")
            body.append(f'<p class="lead">{text}</p>' if kind == "lead" else f"<p>{text}</p>")
        elif kind == "toc":
            links = " · ".join(f'<a href="#{anchor(t)}">{html.escape(t)}</a>' for t in args[0])
            body.append(f'<nav class="toc">Contents: {links}</nav>')
        elif kind == "banner":
            body.append(f'<div class="banner" role="alert">{html.escape(args[0])}</div>')
        elif kind == "table":
            body.append(f'<div class="tw">{_html_table(args[0], free=len(args) > 1 and args[1] == "free")}</div>')
        elif kind == "img":
            path, caption, wide, alt = _img(tuple(args))
            data = base64.b64encode((out_dir / path).read_bytes()).decode("ascii")
            cls = ' class="wide"' if wide else ""
            cap = f"<figcaption>{html.escape(caption)}</figcaption>" if caption else ""
            body.append(f'<figure{cls}><img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">{cap}</figure>')
    return (
        f"<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>ecgcwt evaluation report</title><style>{STYLE}</style></head><body>\n"
        + "\n".join(body)
        + "\n</body></html>\n"
    )
