#!/usr/bin/env python3
"""make_slides.py: lecture decks (reveal.js) made from the stages and their lessons.

  make_slides.py build [--out DIR] [--max-lines N] [--only STAGE]
      build-slides/: index.html, a deck per stage, a deck per lecture diff
  make_slides.py diff FROM TO PART
      make diff FROM=3 TO=5 PART=5.2: that part's regions alone, as a diff

Everything is found, nothing is listed here: the stages are the stage*/
folders, their parts the solution markers (parsed by tools/exercise/exercise.py,
the one parser the exercises use too), the stage a stage grows from the
lesson's "What is new since stage N" heading, and each part's lesson section
the link in its TASK lines. docs/lectures.md says how to present the decks.
"""

import difflib
import functools
import html
import json
import os
import re
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tools" / "exercise"))
import exercise  # noqa: E402  stages, parts and failures as the exercises see them
import markers  # noqa: E402  the markers, parsed in one place for exercises and slides

try:
    from pygments import highlight
    from pygments.formatters import HtmlFormatter
    from pygments.lexers import CppLexer
except ImportError:
    sys.exit("slides: the decks are highlighted with Pygments: apt-get install python3-pygments")

ROOT = exercise.ROOT
HERE = Path(__file__).resolve().parent
REVEAL = "npm/node_modules/reveal.js"  # inside build-slides/, installed by make slides
MERMAID = "npm/node_modules/mermaid/dist/mermaid.min.js"  # the lessons' diagrams, the same
MAX_LINES = 20  # code lines a slide: 20 px type at 1280x720 (docs/lectures.md)
MIN_LINES = 6  # a slide shorter than this is not worth a split
CONTEXT = 3  # lines of context around a change in the diffs
SHORT_TEXT = 320  # characters of lesson text on a slide; the whole section goes to the notes
CALLS_PER_SLIDE = 8


class Stage:
    def __init__(self, folder):
        self.folder, self.name = folder, folder.name
        self.number = exercise.stage_number(folder.name)
        self.lesson = ROOT / "docs" / f"{folder.name}.md"
        self.text = self.lesson.read_text() if self.lesson.exists() else ""
        self.parent = None  # the Stage it grows from, set by stages()


def stages():
    """Every stage folder, each with the stage it grows from."""
    found = [Stage(folder) for folder in exercise.stage_dirs()]
    by_number = {stage.number: stage for stage in found}
    for stage in found:
        named = re.search(r"^## What is new since stage (\d+)", stage.text, re.M)
        earlier = [n for n in by_number if n < stage.number]
        number = int(named.group(1)) if named else max(earlier, default=None)
        stage.parent = by_number.get(number)
    return found


# ---- the lessons ------------------------------------------------------------


def anchor(title):
    """GitHub's anchor for a heading, as exercise.heading_anchors makes them."""
    title = title.strip().lower()
    return re.sub(r"\s", "-", re.sub(r"[^\w\s-]", "", title))


def sections(text):
    """{anchor: (title, body lines)} for the ## and ### headings of a lesson."""
    found, title, body, fenced = {}, None, [], False
    for line in text.splitlines():
        fenced ^= line.startswith("```")
        heading = not fenced and re.match(r"(#{2,3}) (.*)", line)
        if heading:
            if title:
                found[anchor(title)] = (title, body)
            title, body = heading.group(2), []
        elif title:
            body.append(line)
    if title:
        found[anchor(title)] = (title, body)
    return found


def inline(text):
    """Markdown's inline marks as HTML: code, links (their text), bold, italics."""
    out = []
    for number, piece in enumerate(re.split(r"(`[^`]*`)", text)):
        if number % 2:
            out.append(f"<code>{html.escape(piece[1:-1])}</code>")
            continue
        piece = html.escape(piece, quote=False)
        piece = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", piece)
        piece = re.sub(r"\*\*([^*]+)\*\*", r"<strong>\1</strong>", piece)
        piece = re.sub(r"(?<![\w*])\*([^*]+)\*(?![\w*])", r"<em>\1</em>", piece)
        out.append(piece)
    return "".join(out)


def blocks(lines):
    """A section's lines as (kind, lines) blocks: para, list, table, code, comment."""
    found, kind, current = [], None, []
    for line in lines + [""]:
        if kind == "code":
            current.append(line)
            if line.startswith("```") and len(current) > 1:
                found.append((kind, current))
                kind, current = None, []
            continue
        new = ("code" if line.startswith("```") else "table" if line.startswith("|")
               else "list" if re.match(r"\s*([-*]|\d+\.) ", line) or (kind == "list" and line.startswith(" "))
               else "comment" if line.startswith("<!--") else "para" if line.strip() else None)
        if new != kind or new in (None, "comment"):
            if current and kind:
                found.append((kind, current))
            kind, current = new, []
        if new:
            current.append(line)
    return found


def block_html(kind, lines):
    if kind == "para":
        return f"<p>{inline(' '.join(lines))}</p>"
    if kind == "list":
        items = re.split(r"\n(?=\s*(?:[-*]|\d+\.) )", "\n".join(lines))
        items = [re.sub(r"^\s*([-*]|\d+\.) ", "", item) for item in items]
        return "<ul>" + "".join(f"<li>{inline(item)}</li>" for item in items) + "</ul>"
    if kind == "table":
        rows = [cells(line) for line in lines if not re.match(r"\|[-:| ]+\|$", line)]
        return "<table>" + "".join("<tr>" + "".join(f"<td>{inline(c)}</td>" for c in row) + "</tr>"
                                   for row in rows) + "</table>"
    if kind == "code":
        return "<pre>" + html.escape("\n".join(lines[1:-1])) + "</pre>"
    return ""


def cells(line):
    return [c.strip() for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]]


def section_html(lines):
    return "\n".join(block_html(kind, body) for kind, body in blocks(lines))


def short_text(lines):
    """The section's first paragraphs, cut at a sentence near SHORT_TEXT characters."""
    text = ""
    for body in (body for kind, body in blocks(lines) if kind == "para"):
        text = f"{text} {' '.join(body)}".strip()
        if text.endswith(":"):  # what it introduces (a table, a list) is in the notes
            text = text[:-1] + "."
            break
        if len(text) >= SHORT_TEXT // 2:
            break
    if len(text) > SHORT_TEXT:
        cut = [m.end() for m in re.finditer(r"[.](?=\s)", text) if m.end() <= SHORT_TEXT]
        text = text[:cut[-1]] if cut else text[:SHORT_TEXT].rsplit(" ", 1)[0] + " ..."
        if text.count("`") % 2:
            text = text.rsplit("`", 1)[0] + "..."
    return inline(text)


def readme_row(stage):
    """The README's table row for the stage: {'stage', 'plays', 'adds'}."""
    text = (ROOT / "README.md").read_text()
    head = next((cells(line) for line in text.splitlines()
                 if line.startswith("| stage |")), ["stage", "plays", "adds"])
    for line in text.splitlines():
        if line.startswith(f"| `{stage.name}`"):
            return dict(zip(head, cells(line)))
    return {"stage": f"`{stage.name}`"}


# ---- code: the markers, the lines new since the parent, the slides ----------


class Line:
    """A source line as slides show it: markers left out, its region kept."""

    def __init__(self, number, text, region):
        self.number, self.text, self.region = number, text.rstrip("\n"), region


@functools.lru_cache(maxsize=None)
def clean_lines(path):
    """The file's lines without marker lines, each with the region it is in."""
    if not path.exists():
        return []
    lines, regions = markers.parse_file(path)
    out = []
    for number, text in enumerate(lines, 1):
        region = next((r for r in regions if r.begin <= number <= r.end), None)
        marker = region and (number == region.end or number < region.body)
        if not marker:
            out.append(Line(number, text, region))
    return out


def matcher(old, new):
    return difflib.SequenceMatcher(None, [l.text for l in old], [l.text for l in new],
                                   autojunk=False)


def new_numbers(stage, path):
    """Line numbers of `path` (in `stage`) that are not in the same file of its parent."""
    new = clean_lines(path)
    if not stage.parent:
        return set()
    old = clean_lines(stage.parent.folder / path.name)
    marked = set()
    for tag, _, _, j1, j2 in matcher(old, new).get_opcodes():
        if tag != "equal":
            marked.update(line.number for line in new[j1:j2])
    return marked


def brace_depth(text):
    code = re.sub(r'"(\\.|[^"\\])*"|\'(\\.|[^\'\\])*\'|//.*', "", text)
    return code.count("{") - code.count("}")


def split(texts, limit):
    """Cut a run of code lines into slides of at most `limit`, between statements:
    near an even share of the lines, after a line that ends a statement or a
    block at the shallowest depth, before a blank line if one is near."""
    pieces, start = [], 0
    while len(texts) - start > limit:
        left = len(texts) - start
        share = -(-left // -(-left // limit))  # an even share over the slides still needed
        depth, best, best_score = 0, None, None
        for end in range(start + 1, start + limit + 1):
            depth += brace_depth(texts[end - 1])
            text = texts[end - 1].strip()
            ends = text.endswith((";", "}", "{")) or not text or text.startswith("//")
            if end - start < max(MIN_LINES, share - 6) or not ends:
                continue
            following_blank = end < len(texts) and not texts[end].strip()
            score = (-max(depth, 0), not text or following_blank, -abs(end - start - share))
            if best_score is None or score > best_score:
                best, best_score = end, score
        end = best or start + limit
        pieces.append((start, end))
        start = end
        while start < len(texts) and not texts[start].strip():
            start += 1  # no slide starts with a blank line
    pieces.append((start, len(texts)))
    trimmed = []
    for a, b in pieces:
        while b > a + 1 and not texts[b - 1].strip():
            b -= 1  # nor ends with one
        trimmed.append((a, b))
    return [(a, b) for a, b in trimmed if a < b]


def dedent(texts):
    width = min((len(t) - len(t.lstrip()) for t in texts if t.strip()), default=0)
    return [t[width:] for t in texts]


FORMATTER = HtmlFormatter(nowrap=True)


def highlighted(texts):
    """Each line as highlighted HTML (Pygments closes its spans at each line's end)."""
    out = highlight("\n".join(texts) + "\n", CppLexer(stripnl=False, ensurenl=False), FORMATTER)
    lines = out.split("\n")
    return (lines + [""] * len(texts))[:len(texts)]


def code_html(texts, kinds):
    """<pre> of the lines, each with its kind: new, add, del, or plain."""
    rows = []
    for text, kind in zip(highlighted(texts), kinds):
        rows.append(f'<span class="line {kind}">{text or " "}</span>')
    return f'<pre class="code"><code>{chr(10).join(rows)}</code></pre>'


def function_of(path_lines, number):
    """The name of the function the line is in: the nearest definition above it."""
    for line in reversed(path_lines[:number - 1]):
        if re.match(r"[A-Za-z]", line) and "(" in line and not line.rstrip().endswith(";"):
            name = re.search(r"([\w:~]+)\(", line)
            return name.group(1) + "()" if name else None
        if line.startswith("}"):
            return None
    return None


# ---- slides -------------------------------------------------------------------


def section(body, cls="", notes="", data=None):
    attrs = "".join(f' data-{k}="{html.escape(str(v))}"' for k, v in (data or {}).items())
    aside = f'<aside class="notes">{notes}</aside>' if notes else ""
    return f'<section class="{cls}"{attrs}>\n{body}\n{aside}\n</section>'


def part_regions(stage):
    """{part: [(path, region)]} for the parts the stage adds, in order."""
    parts = exercise.parts_of(stage.folder)
    found = {part: [] for part in parts}
    for path in markers.source_files(stage.folder):
        for region in markers.parse_file(path)[1]:
            if region.part in found:
                found[region.part].append((path, region))
    return parts, found


def lesson_of(region):
    """(anchor, title, lines) of the lesson section the region's TASK lines link."""
    link = markers.LESSON.search(" ".join(region.tasks))
    if not link:
        return None, None, None
    doc = ROOT / "docs" / link.group(1)
    title, lines = sections(doc.read_text()).get(link.group(2), (None, None))
    return link.group(2), title, lines


def diagrams(stage):
    """[(anchor, title, Mermaid text)] for each diagram of the stage's lesson."""
    found = []
    for key, (title, lines) in sections(stage.text).items():
        for kind, body in blocks(lines):
            if kind == "code" and body[0].strip() == "```mermaid":
                found.append((key, title, "\n".join(body[1:-1])))
    return found


def diagram_slide(title, text):
    """Drawn by Mermaid in the browser (page()), scaled to fit the slide."""
    return section(f"<h3>{inline(title)}</h3><pre class='mermaid'>{html.escape(text)}</pre>",
                   "diagram-slide")


def title_slide(stage):
    row = readme_row(stage)
    rows = "".join(f"<tr><th>{html.escape(k)}</th><td>{inline(v)}</td></tr>"
                   for k, v in row.items() if k != "stage")
    grows = (f"<p class='small'>grows from <code>{stage.parent.name}</code>: "
             f"<code>make diff FROM={stage.parent.number} TO={stage.number}</code></p>"
             if stage.parent else "<p class='small'>the first stage</p>")
    heading = re.match(r"# (.*)", stage.text)
    title = inline(heading.group(1)) if heading else html.escape(stage.name)
    return section(f"<h2>{title}</h2><table class='row'>{rows}</table>{grows}", "title")


def calls_slides(stage):
    """The lesson's "The calls, in order" table: call and where, a few rows a slide."""
    title, lines = sections(stage.text).get("the-calls-in-order", (None, None))
    if not lines:
        return []
    table = next((body for kind, body in blocks(lines) if kind == "table"), [])
    rows = [cells(line) for line in table[2:]]
    intro = next((body for kind, body in blocks(lines) if kind == "para"), [])
    slides = []
    for first in range(0, len(rows), CALLS_PER_SLIDE):
        chunk = rows[first:first + CALLS_PER_SLIDE]
        items = "".join(f"<tr><td>{inline(r[0])}</td><td>{inline(r[1])}</td><td>{inline(r[2])}</td></tr>"
                        for r in chunk if len(r) >= 3)
        notes = "".join(f"<p>{inline(r[1])}: {inline(r[3] if len(r) > 3 else '')}</p>" for r in chunk)
        more = f" ({first // CALLS_PER_SLIDE + 1}/{-(-len(rows) // CALLS_PER_SLIDE)})" if len(rows) > CALLS_PER_SLIDE else ""
        slides.append(section(f"<h3>{inline(title)}{more}</h3><table class='calls'>{items}</table>",
                              "calls", notes + section_html(intro)))
    return slides


def part_slides(stage, part, title, regions, max_lines):
    """The part's lesson (short, whole in the notes) and its diagrams, then its regions' code."""
    slides = []
    key, lesson_title, lesson = lesson_of(regions[0][1]) if regions else (None, None, None)
    tasks = " ".join(t for _, r in regions[:1] for t in r.tasks)
    tasks = markers.LESSON.sub("", tasks).strip()
    body = f"<h2><span class='part'>{part}</span> {html.escape(title)}</h2>"
    body += f"<p class='task'><strong>You write:</strong> {inline(tasks)}</p>" if tasks else ""
    if lesson:
        body += f"<h4>{inline(lesson_title)}</h4><p class='lesson'>{short_text(lesson)}</p>"
    notes = section_html(lesson) if lesson else ""
    slides.append(section(body, "part", notes, {"part": part}))
    slides += [diagram_slide(t, text) for k, t, text in diagrams(stage) if k == key]
    for path, region in regions:
        slides += region_slides(stage, part, title, path, region, max_lines)
    return slides


def region_slides(stage, part, title, path, region, max_lines):
    lines = [l for l in clean_lines(path) if l.region and l.region.begin == region.begin]
    new = new_numbers(stage, path)
    texts = dedent([l.text for l in lines])
    raw = path.read_text().splitlines()
    where = function_of(raw, region.begin) if region.indent else None
    pieces = split(texts, max_lines)
    slides = []
    for index, (a, b) in enumerate(pieces, 1):
        kinds = ["new" if l.number in new else "" for l in lines[a:b]]
        count = f" · {index}/{len(pieces)}" if len(pieces) > 1 else ""
        caption = (f"{path.name}{' · ' + html.escape(where) if where else ''} · lines "
                   f"{lines[a].number}-{lines[b - 1].number}{count}")
        marked = " · <span class='new-key'>marked: new since stage " \
                 f"{stage.parent.number}</span>" if any(kinds) else ""
        body = (f"<h3><span class='part'>{part}</span> {html.escape(title)}</h3>"
                f"<p class='where'>{caption}{marked}</p>{code_html(texts[a:b], kinds)}")
        notes = inline(" ".join(region.tasks)) if index == 1 else ""
        slides.append(section(body, "code-slide", notes, {
            "part": part, "region": f"{path.relative_to(ROOT)}:{region.begin}"}))
    return slides


def your_turn(stage, parts):
    items = "".join(f"<li><span class='part'>{p}</span> {html.escape(t)}</li>" for p, t in parts.items())
    body = (f"<h2>Your turn</h2><pre class='command'><code>make exercise STAGE={stage.number}\n"
            f"make check STAGE={stage.number}</code></pre><ul class='parts'>{items}</ul>")
    return section(body, "your-turn")


def stage_deck(stage, max_lines):
    parts, regions = part_regions(stage)
    linked = {lesson_of(found[0][1])[0] for found in regions.values() if found}
    slides = [title_slide(stage)] + calls_slides(stage)
    slides += [diagram_slide(t, text) for k, t, text in diagrams(stage) if k not in linked]
    for part, title in parts.items():
        slides += part_slides(stage, part, title, regions[part], max_lines)
    slides.append(your_turn(stage, parts))
    return slides


# ---- the lecture diffs --------------------------------------------------------


def diff_rows(old, new):
    """Hunks of (kind, Line) with CONTEXT lines around each change."""
    hunks = []
    for group in matcher(old, new).get_grouped_opcodes(CONTEXT):
        rows = []
        for tag, i1, i2, j1, j2 in group:
            if tag == "equal":
                rows += [("ctx", line) for line in new[j1:j2]]
                continue
            rows += [("del", line) for line in old[i1:i2]]
            rows += [("add", line) for line in new[j1:j2]]
        hunks.append(rows)
    return hunks


def diff_slides(old_stage, new_stage, max_lines):
    names = sorted({p.name for s in (old_stage, new_stage) for p in markers.source_files(s.folder)},
                   key=lambda name: (name == "main.cpp", name))
    slides, summary = [], []
    for name in names:
        old, new = clean_lines(old_stage.folder / name), clean_lines(new_stage.folder / name)
        hunks = diff_rows(old, new)
        added = sum(kind == "add" for hunk in hunks for kind, _ in hunk)
        removed = sum(kind == "del" for hunk in hunks for kind, _ in hunk)
        state = "new" if not old else "gone" if not new else f"+{added} -{removed}"
        summary.append(f"<tr><td><code>{name}</code></td><td>{state if hunks else 'same'}</td></tr>")
        for number, hunk in enumerate(hunks, 1):
            slides += hunk_slides(name, hunk, f"{number} of {len(hunks)}", max_lines)
    return summary, slides


def hunk_slides(name, hunk, which, max_lines):
    texts = dedent([line.text for _, line in hunk])
    pieces = split(texts, max_lines)
    slides = []
    for index, (a, b) in enumerate(pieces, 1):
        rows = hunk[a:b]
        parts = sorted({f"{l.region.part} {l.region.title}" for _, l in rows if l.region})
        label = " · ".join(html.escape(p) for p in parts) or "outside the parts"
        new_lines = [l.number for kind, l in rows if kind != "del"]
        span = f"lines {new_lines[0]}-{new_lines[-1]}" if new_lines else "removed lines"
        more = f", slide {index} of {len(pieces)}" if len(pieces) > 1 else ""
        body = (f"<h3><code>{name}</code> <span class='label'>{label}</span></h3>"
                f"<p class='where'>change {which}{more} · {span}</p>"
                f"{code_html(texts[a:b], [kind for kind, _ in rows])}")
        slides.append(section(body, "code-slide diff", "", {"file": name}))
    return slides


def diff_deck(old_stage, new_stage, max_lines):
    summary, slides = diff_slides(old_stage, new_stage, max_lines)
    row = readme_row(new_stage)
    title = (f"<h2>{old_stage.name} &rarr; {new_stage.name}</h2>"
             f"<p>{inline(row.get('adds', ''))}</p><table class='files'>{''.join(summary)}</table>"
             f"<p class='small'><code>make diff FROM={old_stage.number} TO={new_stage.number}</code>"
             " in a terminal; marked: <span class='add-key'>added</span> "
             "<span class='del-key'>removed</span></p>")
    return [section(title, "title")] + slides


# ---- pages ----------------------------------------------------------------------


def page(title, slides):
    drawn = any("class='mermaid'" in slide for slide in slides)
    mermaid = f'<script src="{MERMAID}"></script>' if drawn else ""  # 2.7 MB: only where needed
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{html.escape(title)}</title>
<link rel="stylesheet" href="{REVEAL}/dist/reveal.css">
<link rel="stylesheet" href="{REVEAL}/dist/theme/white.css">
<link rel="stylesheet" href="pygments.css">
<link rel="stylesheet" href="slides.css">
</head>
<body>
<div class="reveal"><div class="slides">
{chr(10).join(slides)}
</div></div>
<script src="{REVEAL}/dist/reveal.js"></script>
<script src="{REVEAL}/plugin/notes/notes.js"></script>
{mermaid}
<script>
// The lessons' diagrams first: Mermaid draws each in a scratch element of
// its own (a slide not shown has no size to measure), then reveal.js starts.
async function drawDiagrams() {{
  if (!window.mermaid) return;
  // One font for measuring and drawing (a note's box is cut to the width
  // measured); no second row of actors at the bottom: room for the messages.
  mermaid.initialize({{startOnLoad: false, theme: "neutral",
    themeVariables: {{fontFamily: "DejaVu Sans, sans-serif"}},
    sequence: {{mirrorActors: false, messageFontSize: 18, noteFontSize: 18, actorFontSize: 18,
      messageFontFamily: "DejaVu Sans", noteFontFamily: "DejaVu Sans",
      actorFontFamily: "DejaVu Sans", messageMargin: 28, boxMargin: 6, wrap: true}}}});
  const blocks = [...document.querySelectorAll("pre.mermaid")];
  for (const [index, block] of blocks.entries()) {{
    const figure = document.createElement("div");
    figure.className = "diagram";
    try {{
      let svg = (await mermaid.render(`diagram${{index}}`, block.textContent)).svg;
      // Arrowheads are <marker>s found by id, the first in the page: one in a
      // slide not shown draws nothing. Each diagram gets ids of its own.
      for (const [, id] of svg.matchAll(/<marker[^>]* id="([^"]+)"/g)) {{
        svg = svg.split(`"${{id}}"`).join(`"d${{index}}-${{id}}"`).split(`#${{id}})`).join(`#d${{index}}-${{id}})`);
      }}
      figure.innerHTML = svg;
    }} catch (error) {{
      figure.textContent = `This diagram could not be drawn: ${{error.message}}`;
      console.error(`diagram ${{index}}: ${{error.message}}`);
    }}
    block.replaceWith(figure);
  }}
}}
// 1280x720 at scale 1, no margin: 20 px code is 20 CSS pixels on a 720p
// projector, 30 at 1080p (docs/lectures.md).
drawDiagrams().finally(() => Reveal.initialize({{width: 1280, height: 720, margin: 0,
  center: true, hash: true, slideNumber: 'c/t', transition: 'slide', pdfMaxPagesPerSlide: 1,
  plugins: [RevealNotes]}}));
</script>
</body>
</html>
"""


def index_page(stage_list, pairs):
    decks = "".join(f"<li><a href='{s.name}.html'>{s.name}</a>: {inline(readme_row(s).get('adds', ''))}</li>"
                    for s in stage_list)
    diffs = "".join(f"<li><a href='diff-{a.number}-{b.number}.html'>{a.name} &rarr; {b.name}</a></li>"
                    for a, b in pairs)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Lecture decks</title>
<link rel="stylesheet" href="slides.css"></head>
<body class="index"><h1>netcat by hand: lecture decks</h1>
<p>F: full screen, S: speaker view with the notes, arrow keys or space: next slide.
docs/lectures.md says more.</p>
<h2>One deck per stage</h2><ul>{decks}</ul>
<h2>One deck per lecture diff</h2><ul>{diffs}</ul></body></html>
"""


def build(out, max_lines, only):
    out.mkdir(parents=True, exist_ok=True)
    installed = ROOT / "build-slides" / "npm"
    if not (out / "npm").exists() and installed.exists():
        (out / "npm").symlink_to(installed)  # decks built elsewhere share make slides' packages
    if not (out / REVEAL / "dist" / "reveal.js").exists():
        raise exercise.Failure(f"reveal.js is not in {out / REVEAL}: run make slides, which installs it")
    shutil.copy(HERE / "slides.css", out / "slides.css")
    (out / "pygments.css").write_text(FORMATTER.get_style_defs(".code"))
    found = [s for s in stages() if not only or s.name.startswith(f"stage{only}-")]
    pairs = [(s.parent, s) for s in found if s.parent]
    manifest = {"stages": [], "diffs": []}
    for stage in found:
        (out / f"{stage.name}.html").write_text(page(stage.name, stage_deck(stage, max_lines)))
        manifest["stages"].append({"deck": f"{stage.name}.html", "folder": stage.name,
                                   "number": stage.number})
    for old, new in pairs:
        deck = f"diff-{old.number}-{new.number}.html"
        (out / deck).write_text(page(f"{old.name} to {new.name}", diff_deck(old, new, max_lines)))
        manifest["diffs"].append({"deck": deck, "from": old.name, "to": new.name})
    (out / "index.html").write_text(index_page(found, pairs))
    (out / "decks.json").write_text(json.dumps(manifest, indent=1))
    where = out.relative_to(ROOT) if out.is_relative_to(ROOT) else out
    print(f"slides: {where}/index.html: decks for {len(found)} stages and {len(pairs)} diffs")


# ---- make diff PART=N.k --------------------------------------------------------


def part_diff(old_stage, new_stage, part):
    """Unified-diff text of the part's regions in new_stage, CONTEXT lines around each."""
    out, found = [], False
    for path in markers.source_files(new_stage.folder):
        new = clean_lines(path)
        old = clean_lines(old_stage.folder / path.name)
        rows = [row for hunk in diff_rows(old, new) for row in hunk] if old else []
        whole = {id(l): ("add" if not old else "ctx") for l in new}
        changed = {id(l): kind for kind, l in rows if kind == "add"}
        for region in sorted({l.region for l in new if l.region and l.region.part == part},
                             key=lambda r: r.begin):
            found = True
            inside = [i for i, l in enumerate(new) if l.region is region]
            first, last = max(inside[0] - CONTEXT, 0), min(inside[-1] + CONTEXT, len(new) - 1)
            dropped = deleted_before(old, new, first, last)
            before = f"{old_stage.name}/{path.name}" if old else "/dev/null"
            out.append(f"--- {before}\n+++ {new_stage.name}/{path.name}\n"
                       f"@@ part {part} {region.title}: lines {new[first].number}-{new[last].number} @@")
            for i in range(first, last + 1):
                for gone in dropped.get(i, []):
                    out.append(f"-{gone.text}")
                sign = "+" if changed.get(id(new[i]), whole[id(new[i])]) == "add" else " "
                out.append(f"{sign}{new[i].text}")
    if not found:
        parts = ", ".join(exercise.parts_of(new_stage.folder))
        raise exercise.Failure(f"{new_stage.name} has no part {part} (its own parts: {parts})")
    return "\n".join(out)


def deleted_before(old, new, first, last):
    """{index in new: [old lines removed just before it]} within [first, last]."""
    dropped = {}
    if not old:
        return dropped
    for tag, i1, i2, j1, _ in matcher(old, new).get_opcodes():
        if tag in ("delete", "replace") and first <= j1 <= last:
            dropped.setdefault(j1, []).extend(old[i1:i2])
    return dropped


def stage_by_number(number):
    for stage in stages():
        if stage.number == number:
            return stage
    raise exercise.Failure(f"there is no stage {number} "
                           f"(stages: {', '.join(s.name for s in stages())})")


def main(argv):
    try:
        if argv[:1] == ["build"]:
            args, out, max_lines, only = argv[1:], ROOT / "build-slides", MAX_LINES, None
            while args:
                flag, value, args = args[0], args[1], args[2:]
                if flag == "--out":
                    out = Path(value).resolve()
                elif flag == "--max-lines":
                    max_lines = int(value)
                elif flag == "--only":
                    only = int(value)
                else:
                    raise ValueError(flag)
            build(out, max_lines, only)
            return 0
        if argv[:1] == ["diff"] and len(argv) == 4:
            print(part_diff(stage_by_number(int(argv[1])), stage_by_number(int(argv[2])), argv[3]))
            return 0
    except exercise.Failure as problem:
        print(f"slides: {problem}", file=sys.stderr)
        return 2
    except (ValueError, IndexError):
        pass
    except BrokenPipeError:  # a pager such as head stopped reading: not a failure
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
