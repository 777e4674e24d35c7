"""markers.py: the solution markers of a stage, parsed into parts and regions.

A reference stage marks each part's code on lines of their own:

    // BEGIN SOLUTION 3.1 poll loop
    // TASK: one short line: what to write, and the lesson (docs/...md#anchor)
    ...the reference code of part 3.1...
    // END SOLUTION

A region is a whole function body, a run of whole statements, or whole
functions. The student's copy has, in its place, the TASK line as a TODO and
a call `not_written("3.1", "poll loop");` (exercise.py). A region may still
carry `// STUB:` lines (code the copy has instead, verbatim) after its TASK
lines; the generator then uses those, not the derived call.

Imported by exercise.py and by the slides tooling. The interface:

    parse_parts(stage_dir) -> [Part]      the stage's own parts, in order
    parse_regions(stage_dir) -> [Region]  every region, earlier stages' too
    parse_file(path) -> ([line], [Region])
    MarkerError                           a wrong marker, naming file:line

Part(number="3.1", title="poll loop", stage=3, regions=(Region, ...))
Region(path, begin, body, end, indent, part, title, tasks, stubs): `begin` is
the BEGIN line, `body` the first line of code, `end` the END line (1-based),
`tasks` and `stubs` the text after `// TASK:` and `// STUB:`.
"""

import re
from dataclasses import dataclass
from pathlib import Path
from typing import List, Tuple

SOURCE_SUFFIXES = (".cpp", ".hpp")
BEGIN = re.compile(r"^(\s*)// BEGIN SOLUTION (\d+)\.(\d+) (\S.*?)\s*$")
END = re.compile(r"^\s*// END SOLUTION\s*$")
DIRECTIVE = re.compile(r"^\s*// (TASK|STUB):(?: (.*))?$")
MARKERISH = re.compile(r"//\s*(BEGIN|END) SOLUTION|//\s*(TASK|STUB):")
NOT_WRITTEN = re.compile(r'not_written\("([^"]*)", "([^"]*)"\)')
LESSON = re.compile(r"docs/([\w.-]+\.md)#([\w-]+)")


class MarkerError(Exception):
    """A marker that is wrong; the message names the file and line."""


@dataclass(frozen=True)
class Region:
    path: Path
    begin: int  # the BEGIN SOLUTION line, 1-based
    body: int  # the first line after the TASK and STUB lines
    end: int  # the END SOLUTION line
    indent: str
    part: str  # "3.1"
    title: str
    tasks: Tuple[str, ...]
    stubs: Tuple[str, ...]

    @property
    def stage(self) -> int:
        return int(self.part.split(".")[0])

    def stub_lines(self) -> List[str]:
        """What the copy has in place of the region's code."""
        if self.stubs:
            return list(self.stubs)
        return [f'not_written("{self.part}", "{self.title}");']


@dataclass(frozen=True)
class Part:
    number: str  # "3.1"
    title: str
    stage: int
    regions: Tuple[Region, ...]

    def sort_key(self):
        return [int(n) for n in self.number.split(".")]


def source_files(folder: Path) -> List[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix in SOURCE_SUFFIXES)


def stage_number(folder: Path) -> int:
    match = re.match(r"stage(\d+)-", folder.name)
    if not match:
        raise MarkerError(f"{folder}: not a stage folder (stageN-NAME)")
    return int(match.group(1))


def _where(path: Path, line: int) -> str:
    """stage3-duplex/duplex.cpp:115, as a maintainer finds it from the top."""
    return f"{path.parent.name}/{path.name}:{line}"


def parse_file(path: Path):
    """The file's lines (ends kept) and its regions; MarkerError on a wrong marker."""
    lines = path.read_text().splitlines(keepends=True)
    regions, opened, in_directives = [], None, False
    tasks, stubs = [], []
    for number, text in enumerate(lines, 1):
        begin, end, directive = BEGIN.match(text), END.match(text), DIRECTIVE.match(text)
        if begin:
            if opened:
                raise MarkerError(f"{_where(path, number)}: BEGIN SOLUTION inside the region "
                                  f"opened at line {opened[0]} (regions do not nest)")
            indent, major, minor, title = begin.groups()
            opened, in_directives, tasks, stubs = (number, indent, f"{major}.{minor}", title), True, [], []
            body = number + 1
        elif end:
            if not opened:
                raise MarkerError(f"{_where(path, number)}: END SOLUTION without a BEGIN SOLUTION")
            line, indent, part, title = opened
            regions.append(Region(path, line, body, number, indent, part, title,
                                  tuple(tasks), tuple(stubs)))
            opened = None
        elif directive:
            if not (opened and in_directives):
                raise MarkerError(f"{_where(path, number)}: {directive.group(1)}: lines go right "
                                  "after BEGIN SOLUTION")
            (tasks if directive.group(1) == "TASK" else stubs).append(directive.group(2) or "")
            body = number + 1
        elif MARKERISH.search(text):
            raise MarkerError(f"{_where(path, number)}: malformed marker {text.strip()!r} "
                              "(expected '// BEGIN SOLUTION N.k TITLE', '// END SOLUTION' or "
                              "'// TASK: ...', alone on their line)")
        else:
            in_directives = False
    if opened:
        raise MarkerError(f"{_where(path, opened[0])}: BEGIN SOLUTION {opened[2]} is never ended "
                          "(END SOLUTION)")
    return lines, regions


def parse_regions(stage_dir: Path) -> List[Region]:
    """Every region of every file of the stage, earlier stages' included."""
    return [r for path in source_files(stage_dir) for r in parse_file(path)[1]]


def _anchors(doc: Path):
    """GitHub's anchors for the headings of a Markdown file."""
    anchors = set()
    for line in doc.read_text().splitlines():
        if line.startswith("#"):
            title = line.lstrip("#").strip().lower()
            anchors.add(re.sub(r"\s", "-", re.sub(r"[^\w\s-]", "", title)))
    return anchors


def _check_region(region: Region, docs: Path):
    where = _where(region.path, region.begin)
    if not region.tasks:
        raise MarkerError(f"{where}: part {region.part} has no '// TASK:' line saying what to write")
    for call in NOT_WRITTEN.finditer("\n".join(region.stubs)):
        if call.groups() != (region.part, region.title):
            raise MarkerError(f"{where}: the stub calls not_written{call.groups()}, expected "
                              f'not_written("{region.part}", "{region.title}")')
    for doc, anchor in LESSON.findall(" ".join(region.tasks)):
        if not (docs / doc).exists():
            raise MarkerError(f"{where}: the TASK names docs/{doc}, which does not exist")
        if anchor not in _anchors(docs / doc):
            raise MarkerError(f"{where}: docs/{doc} has no section #{anchor}")


def parse_parts(stage_dir: Path) -> List[Part]:
    """The stage's own parts (N.k of stage N), in order, their markers checked.

    Regions of earlier stages' parts (carried along when a stage was copied)
    are checked for their titles only; their code stays in the copy."""
    stage_dir = Path(stage_dir)
    number = stage_number(stage_dir)
    docs = stage_dir.parent / "docs"
    titles, regions = {}, {}
    for region in parse_regions(stage_dir):
        where = _where(region.path, region.begin)
        if region.stage > number:
            raise MarkerError(f"{where}: part {region.part} in stage {number}, which comes before it")
        first = titles.setdefault(region.part, (region.title, where))
        if first[0] != region.title:
            raise MarkerError(f"{where}: part {region.part} is called {region.title!r} here and "
                              f"{first[0]!r} at {first[1]} (one title per part)")
        if region.stage == number:
            _check_region(region, docs)
            regions.setdefault(region.part, []).append(region)
    for part, mine in regions.items():
        if all(r.stubs and not any(NOT_WRITTEN.search(s) for s in r.stubs) for r in mine):
            raise MarkerError(f"{stage_dir.name}: part {part}'s STUB lines call not_written() "
                              "nowhere, so a copy without it would fail silently")
    parts = [Part(p, titles[p][0], number, tuple(rs)) for p, rs in regions.items()]
    return sorted(parts, key=Part.sort_key)
