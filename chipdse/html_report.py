"""One self-contained HTML page for any run directory (estimate, sweep, simulate, search,
codesign, validate, study): its inputs and versions (config.json), its verdicts with their
bands, its tables and its figures, embedded so that the file opens offline and can be mailed.

Every text that comes from a file is escaped; nothing in a run directory can inject markup or
script into the page. The page's one script counts the figures that decoded (``data-figures``
on ``<body>``), which the browser test reads."""

from __future__ import annotations

import base64
import html
import json
import re
from pathlib import Path
from typing import Any

from chipdse.errors import UserError

__all__ = ["build_report", "MAX_TABLE_ROWS", "MAX_FILE_BYTES"]

MAX_TABLE_ROWS = 200
"""Rows of a table shown in the page (the CSV next to it has them all)."""
MAX_FILE_BYTES = 64 * 2**20
"""Largest figure or table file embedded; a larger one is linked by name, not embedded."""

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2em auto;
max-width:1200px;color:#222;line-height:1.45;padding:0 1em}
h1{font-size:1.5em;border-bottom:2px solid #444}h2{font-size:1.25em;margin-top:2em;
border-bottom:1px solid #bbb}h3{font-size:1.05em}
table{border-collapse:collapse;font-size:.82em;margin:.5em 0 1em}
th,td{border:1px solid #ccc;padding:2px 6px;text-align:right}th{background:#f0f0f0}
td.t{text-align:left}.scroll{overflow-x:auto;max-height:32em;overflow-y:auto}
img{max-width:100%;border:1px solid #ddd;margin:.5em 0}figure{margin:1em 0}
figcaption{font-size:.85em;color:#555}.supported{background:#d9f2d9}
.notsupported{background:#f7d6d6}.undetermined{background:#fbf0c9}
pre{background:#f6f6f6;padding:.6em;overflow-x:auto;font-size:.8em}
.note{color:#666;font-size:.85em}nav li{font-size:.9em}
"""

_SCRIPT = """
window.addEventListener('load', function () {
  var imgs = document.querySelectorAll('img');
  var ok = 0;
  imgs.forEach(function (i) { if (i.complete && i.naturalWidth > 0) { ok += 1; } });
  document.body.setAttribute('data-figures', String(ok) + '/' + String(imgs.length));
});
"""


def _e(x: Any) -> str:
    return html.escape(str(x), quote=True)


def _inline(text: str) -> str:
    """Escaped text with **bold** and `code` spans."""
    t = _e(text)
    t = re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", t)
    return re.sub(r"`(.+?)`", r"<code>\1</code>", t)


def _markdown(text: str) -> str:
    """The subset of Markdown chipdse writes (headings, paragraphs, lists, pipe tables)."""
    out: list[str] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if not line.strip():
            i += 1
            continue
        if line.startswith("#"):
            level = min(len(line) - len(line.lstrip("#")) + 2, 6)
            out.append(f"<h{level}>{_inline(line.lstrip('#').strip())}</h{level}>")
            i += 1
        elif line.lstrip().startswith(("- ", "* ")):
            items = []
            while i < len(lines) and lines[i].lstrip().startswith(("- ", "* ")):
                items.append(f"<li>{_inline(lines[i].lstrip()[2:])}</li>")
                i += 1
            out.append("<ul>" + "".join(items) + "</ul>")
        elif line.startswith("|"):
            rows = []
            while i < len(lines) and lines[i].startswith("|"):
                cells = [c.strip() for c in lines[i].strip().strip("|").split("|")]
                if not all(set(c) <= set("-: ") for c in cells):
                    rows.append(cells)
                i += 1
            if rows:
                head = "".join(f"<th>{_inline(c)}</th>" for c in rows[0])
                body = "".join("<tr>" + "".join(f'<td class="t">{_inline(c)}</td>' for c in r)
                               + "</tr>" for r in rows[1:])
                out.append(f"<table><tr>{head}</tr>{body}</table>")
        else:
            para = []
            while i < len(lines) and lines[i].strip() and not lines[i].startswith(
                    ("#", "|")) and not lines[i].lstrip().startswith(("- ", "* ")):
                para.append(lines[i].strip())
                i += 1
            out.append(f"<p>{_inline(' '.join(para))}</p>")
    return "\n".join(out)


def _cell(v: Any) -> str:
    if isinstance(v, float):
        return "" if v != v else f"{v:.4g}"
    return _e(v)


def _table(path: Path) -> str:
    import pandas as pd

    if path.stat().st_size > MAX_FILE_BYTES:
        return f'<p class="note">{_e(path.name)}: too large to show here (see the file).</p>'
    if path.suffix == ".parquet":
        t = pd.read_parquet(path)
    else:
        try:
            t = pd.read_csv(path)
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
            return f'<p class="note">{_e(path.name)}: not a readable table ({_e(exc)}).</p>'
    shown = t.head(MAX_TABLE_ROWS)
    verdict = "verdict" in t.columns
    head = "".join(f"<th>{_e(c)}</th>" for c in t.columns)
    rows = []
    for r in shown.itertuples(index=False):
        cls = ""
        if verdict:
            cls = " class=\"" + str(getattr(r, "verdict", "")).replace(" ", "") + "\""
        rows.append(f"<tr{cls}>" + "".join(
            f'<td class="t">{_cell(v)}</td>' if isinstance(v, str) else f"<td>{_cell(v)}</td>"
            for v in r) + "</tr>")
    more = (f'<p class="note">{len(shown)} of {len(t)} rows shown; all are in '
            f"{_e(path.name)}.</p>" if len(t) > len(shown) else "")
    return (f"<h3>{_e(path.name)}</h3><div class=\"scroll\"><table><tr>{head}</tr>"
            + "".join(rows) + f"</table></div>{more}")


def _figure(path: Path) -> str:
    if path.stat().st_size > MAX_FILE_BYTES:
        return f'<p class="note">{_e(path.name)}: too large to embed (see the file).</p>'
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    mime = "image/svg+xml" if path.suffix == ".svg" else "image/png"
    return (f'<figure><img alt="{_e(path.name)}" src="data:{mime};base64,{data}">'
            f"<figcaption>{_e(path.name)}</figcaption></figure>")


def _config(path: Path) -> tuple[str, str]:
    """(the command's name, the config section)."""
    try:
        cfg = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UserError(f"{path}: not a readable config.json ({exc})") from None
    if not isinstance(cfg, dict):
        raise UserError(f"{path}: config.json must hold an object")
    command = str(cfg.get("command", "run"))
    inputs = cfg.get("inputs", {})
    versions = cfg.get("versions", {})
    rows = "".join(f'<tr><td class="t">{_e(k)}</td><td class="t">'
                   f"{_e(json.dumps(v) if not isinstance(v, str) else v)}</td></tr>"
                   for k, v in (inputs.items() if isinstance(inputs, dict) else []))
    ver = ", ".join(f"{_e(k)} {_e(v)}" for k, v in (versions.items()
                                                    if isinstance(versions, dict) else []))
    body = (f"<h3>inputs</h3><table><tr><th>input</th><th>value</th></tr>{rows}</table>"
            f"<p class=\"note\">seed {_e(cfg.get('seed'))}; versions: {ver}</p>")
    return command, body


def _section(d: Path, root: Path, depth: int) -> tuple[str, str]:
    """(a run directory's section, its title)."""
    rel = d.relative_to(root).as_posix() if d != root else d.name
    parts: list[str] = []
    title = rel
    if (d / "config.json").is_file():
        command, cfg = _config(d / "config.json")
        title = f"{rel}: {command}"
    else:
        cfg = ""
    for md in sorted(d.glob("*.md")):
        parts.append(_markdown(md.read_text(encoding="utf-8", errors="replace")))
    figures = sorted(p for p in d.iterdir() if p.suffix in (".png", ".svg") and p.is_file())
    parts += [_figure(p) for p in figures]
    tables = sorted(p for p in d.iterdir() if p.suffix in (".csv", ".parquet") and p.is_file())
    first = [p for p in tables if p.stem in ("verdicts", "summary", "results")]
    parts += [_table(p) for p in first + [p for p in tables if p not in first]]
    for js in sorted(p for p in d.glob("*.json") if p.name != "config.json" and
                     p.stat().st_size <= 256 * 1024):
        parts.append(f"<h3>{_e(js.name)}</h3><pre>"
                     f"{_e(js.read_text(encoding='utf-8', errors='replace'))}</pre>")
    if cfg:
        parts.append(cfg)
    h = "h1" if depth == 0 else "h2"
    anchor = "run-" + re.sub(r"[^A-Za-z0-9_-]", "-", rel)
    return f'<section id="{anchor}"><{h}>{_e(title)}</{h}>' + "\n".join(parts) + \
        "</section>", anchor


def build_report(run_dir: str | Path, output: str | Path | None = None) -> Path:
    """Write one HTML page for ``run_dir`` (and the run directories inside it, one section
    each) to ``output`` (default ``run_dir/report.html``); returns its path."""
    from chipdse import io

    root = Path(run_dir)
    if not root.is_dir():
        raise UserError(f"{run_dir}: no such run directory")
    dirs = [root] + sorted(p for p in root.rglob("*") if p.is_dir() and (
        (p / "config.json").is_file() or any(p.glob("*.csv"))))
    if not any((d / "config.json").is_file() or any(d.glob("*.csv")) or any(d.glob("*.png"))
               for d in dirs):
        raise UserError(f"{run_dir}: no run found (no config.json, CSV or figure in it)")
    sections, nav = [], []
    for i, d in enumerate(dirs):
        body, anchor = _section(d, root, 0 if i == 0 else 1)
        sections.append(body)
        if i:
            nav.append(f'<li><a href="#{anchor}">{_e(d.relative_to(root).as_posix())}</a></li>')
    toc = f"<nav><ul>{''.join(nav)}</ul></nav>" if nav else ""
    page = ("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>chipdse report: {_e(root.name)}</title><style>{_CSS}</style></head>"
            f"<body>{toc}{''.join(sections)}<script>{_SCRIPT}</script></body></html>")
    out = Path(output) if output is not None else root / "report.html"
    io.write_text(out, page)
    return out
