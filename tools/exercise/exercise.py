#!/usr/bin/env python3
"""exercise.py: the students' side of the stages, made from the reference.

The reference stages carry solution markers (nbgrader's and CS61A's
convention), on lines of their own; tools/exercise/markers.py parses them:

    // BEGIN SOLUTION 3.1 poll loop
    // TASK: one short line: what to write, and where the lesson says how
    ...the reference code of part 3.1...
    // END SOLUTION

The copy has, for each region, a TODO with the TASK line and a call
not_written("3.1", "poll loop") (or a region's own `// STUB:` lines, where
it has some). Stage N's copy cuts only stage N's parts; the markers of
earlier stages are dropped and their code kept.

Commands (the Makefile's targets call them; docs/exercises.md):
  new N                  make exercise STAGE=N: exercises/stageN-NAME/
  check N                make check STAGE=N: build the copy, run its tests
  grade                  make grade: every stage, exercises/results.json
  honesty [N...]         make honesty (CI): every stage's copies with each part
                         cut alone, the skeleton, the alternatives and mistakes,
                         built and graded in build-honesty/: cut parts fail their
                         tests, the rest pass; each alternative scores full, each
                         mistake loses its part; then the points table is linted
  parts [STAGE...]       the parts the markers define
  variant STAGE CUT DIR  a copy with the parts CUT ("all", "none", "3.1,3.2") in DIR
  alternative STAGE NAME DIR
                         the copy of tools/exercise/alternatives/STAGE/NAME
  suggest STAGE BUILD [--missing]
                         rows for the table: each test to the last part whose cut
                         fails it (--missing: only tests the table lacks)
  lint BUILD             the points table against every test there is

One direction: this tool runs cmake and ctest (build-exercises/,
build-honesty/); CMake never runs it.

Environment: JOBS (build jobs), TEST_JOBS (tests at once; three times JOBS
unless set), ONLY (a regular expression: grade only the tests it matches).

The points table (tools/exercise/points.txt) gives each test of a stage's
label its part and points, or "ungraded"; it is checked against the real
test list every time, and a mismatch stops everything with a message. Only
graded tests run; a test labelled long (a minute and more) must be ungraded.
"""

import concurrent.futures
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional

sys.path.insert(0, str(Path(__file__).resolve().parent))
import markers  # noqa: E402  (beside this file)

ROOT = Path(__file__).resolve().parents[2]
POINTS = ROOT / "tools" / "exercise" / "points.txt"
ALTERNATIVES = ROOT / "tools" / "exercise" / "alternatives"
EXERCISES = ROOT / "exercises"
BUILD = ROOT / "build-exercises"
HONESTY_BUILD = ROOT / "build-honesty"
TEST_TIMEOUT = 120  # seconds per test, as ctest's TIMEOUT: a hung program fails its test only
# Tests of this label (ctest -L long) take a minute and more: ungraded, so
# check, grade and honesty never run them; CI's make test does.
LONG = "long"
STUB_TEXT = re.compile(r"exercise (\d+\.\d+) \(([^)]*)\) is not written yet")


class Failure(Exception):
    """A problem the user must fix; printed without a traceback, exit 2."""


# ---- stages and markers ---------------------------------------------------


def stage_dirs():
    return sorted(p for p in ROOT.glob("stage[0-9]*-*") if (p / "main.cpp").exists())


def stage_dir(number):
    for path in stage_dirs():
        if path.name.startswith(f"stage{number}-"):
            return path
    raise Failure(f"there is no stage {number} (stages: {', '.join(p.name for p in stage_dirs())})")


def stage_number(name):
    match = re.match(r"stage(\d+)-", name)
    if not match:
        raise Failure(f"{name} is not a stage (stageN-NAME)")
    return int(match.group(1))


def parts_of(folder):
    """{part: title} of the stage in `folder`, in order, its markers checked."""
    try:
        return {p.number: p.title for p in markers.parse_parts(folder)}
    except markers.MarkerError as wrong:
        raise Failure(f"a solution marker is wrong: {wrong}") from None


def render(path, cut):
    """The file's text with the regions of the parts in `cut` replaced by a
    TODO and the stub; every other region's code kept, its markers dropped."""
    lines, regions = markers.parse_file(path)
    out, number = [], 1
    starts = {r.begin: r for r in regions}
    while number <= len(lines):
        region = starts.get(number)
        if not region:
            out.append(lines[number - 1])
            number += 1
            continue
        if region.part in cut:
            pad = region.indent
            out.append(f"{pad}// TODO exercise {region.part} ({region.title}):\n")
            out.extend(f"{pad}// {task}\n".replace(" \n", "\n") for task in region.tasks)
            out.extend(f"{pad}{stub}\n" for stub in region.stub_lines())
        else:
            out.extend(lines[region.body - 1:region.end - 1])
        number = region.end + 1
    return "".join(out)


def write_copy(folder, destination, cut):
    destination.mkdir(parents=True, exist_ok=True)
    for path in markers.source_files(folder):
        text = render(path, cut)
        (destination / path.name).write_text(text)  # always: the build compares times


# ---- the points table -----------------------------------------------------


@dataclass(frozen=True)
class Row:
    test: str  # as ctest names it
    part: Optional[str]  # "3.1", or None: ungraded
    points: int
    where: str  # points.txt:LINE

    @property
    def stage(self) -> Optional[int]:
        return int(self.part.split(".")[0]) if self.part else None


def read_points():
    """[Row] of points.txt, in order."""
    rows, names = [], {}
    for number, text in enumerate(POINTS.read_text().splitlines(), 1):
        if not text.strip() or text.lstrip().startswith("#"):
            continue
        # A test's name may hold spaces and '#' (a parameterized test's
        # "  # GetParam() = ..."): the part and points are the last words.
        where = f"{POINTS.relative_to(ROOT)}:{number}"
        graded = re.fullmatch(r"(.*?)\s+(\d+\.\d+)\s+(\d+)\s*", text)
        ungraded = re.fullmatch(r"(.*?)\s+ungraded\s*", text)
        if graded:
            row = Row(graded.group(1), graded.group(2), int(graded.group(3)), where)
        elif ungraded:
            row = Row(ungraded.group(1), None, 0, where)
        else:
            raise Failure(f"{where}: expected 'TEST PART POINTS' or 'TEST ungraded', got {text!r}")
        if row.test in names:
            raise Failure(f"{where}: {row.test} is already in the table at {names[row.test]}")
        names[row.test] = where
        rows.append(row)
    return rows


def rows_of(number):
    return [r for r in read_points() if r.stage == number]


def check_table(rows, number, parts, tests):
    """Loud when the table and the tests of stage `number` disagree."""
    problems = []
    known = {row.test for row in rows}
    for name in sorted(set(tests) - known):
        problems.append(f"test {name} (label stage{number}) has no row: give it a part and "
                        "points, or 'ungraded'")
    for row in rows:
        if row.stage == number:
            if row.test not in tests:
                problems.append(f"{row.where}: {row.test} is not a test of stage {number} "
                                "(renamed or removed?)")
            if row.part not in parts:
                problems.append(f"{row.where}: part {row.part} has no markers in stage {number}")
            if row.test in tests and LONG in tests[row.test][1].get("LABELS", []):
                problems.append(f"{row.where}: {row.test} has label {LONG} (a minute and more): "
                                "check and grade run no such test; make it 'ungraded'")
    for part in parts:
        if not any(row.part == part for row in rows):
            problems.append(f"part {part} has no test in the table: it could not be graded")
    if problems:
        raise Failure("the points table does not match the tests:\n  " + "\n  ".join(problems) +
                      f"\n(fix {POINTS.relative_to(ROOT)}; docs/exercises.md says how)")


# ---- alternative solutions and typical mistakes ----------------------------


@dataclass(frozen=True)
class Alternative:
    """tools/exercise/alternatives/STAGE/NAME: the reference's copy with
    NAME's *.patch applied and its other files put in (new or replacing).
    `expect` says what it scores: "full", or "loses PART TEXT": it fails
    tests of PART and of no part before it, and TEXT is in a failed test's
    name or output."""
    stage: str  # stage3-duplex
    name: str
    folder: Path
    loses: Optional[str]  # the part it must lose points in; None: full score
    text: str  # what a failure must say

    @property
    def variant(self):
        return f"{self.stage}.alt-{self.name}"


def read_alternative(folder):
    where = f"{folder.relative_to(ROOT)}/expect"
    if not (folder / "expect").exists():
        raise Failure(f"{where} is missing: 'full', or 'loses PART TEXT'")
    words = [l for l in (folder / "expect").read_text().splitlines()
             if l.strip() and not l.startswith("#")]
    first = words[0].split(None, 2) if words else []
    if first == ["full"]:
        return Alternative(folder.parent.name, folder.name, folder, None, "")
    if len(first) == 3 and first[0] == "loses" and re.fullmatch(r"\d+\.\d+", first[1]):
        return Alternative(folder.parent.name, folder.name, folder, first[1], first[2])
    raise Failure(f"{where}: expected 'full' or 'loses PART TEXT', got {words[:1]}")


def alternatives(stage=None):
    if not ALTERNATIVES.exists():
        return []
    found = []
    for folder in sorted(ALTERNATIVES.glob("stage*-*/*")):
        if folder.is_dir() and (stage is None or folder.parent.name == stage):
            if not (ROOT / folder.parent.name).exists():
                raise Failure(f"{folder.relative_to(ROOT)}: there is no stage {folder.parent.name}")
            found.append(read_alternative(folder))
    return found


def write_alternative(alternative, destination):
    """The reference, nothing cut, with the alternative applied."""
    write_copy(ROOT / alternative.stage, destination, set())
    for path in sorted(alternative.folder.iterdir()):
        if path.suffix in markers.SOURCE_SUFFIXES:
            shutil.copyfile(path, destination / path.name)
    for patch in sorted(alternative.folder.glob("*.patch")):
        result = run_quiet(["patch", "-p1", "--no-backup-if-mismatch", "-d", str(destination),
                            "-i", str(patch)])
        if result.returncode != 0:
            raise Failure(f"{patch.relative_to(ROOT)} does not apply to {alternative.stage} any "
                          f"more (remake it against the reference):\n{result.stdout}")


# ---- building -------------------------------------------------------------


def run_quiet(command, **kwargs):
    return subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          **kwargs)


def first_errors(output, limit=25):
    """The compiler's or linker's first errors, with a little context, make's noise left out."""
    lines = [l for l in output.splitlines()
             if not re.match(r"(g?make|\[\s*\d+%\]|Consolidate|Scanning|Building|Linking|--)", l)]
    lines = [l for l in lines if not l.startswith("collect2:")]  # "ld returned 1": said below
    seen = set()  # the program and each unit test report the same error: once is enough
    lines = [l for l in lines if not (l in seen or seen.add(l))]
    start = next((i for i, l in enumerate(lines)
                  if re.search(r"error|undefined reference|multiple definition", l)), 0)
    if start > 0 and "in function" in lines[start - 1]:
        start -= 1  # the linker names the function that made the call first
    return "\n".join(lines[start:start + limit])


def configure(build, folders):
    dirs = ";".join(str(f) for f in folders)
    cache = build / "CMakeCache.txt"
    if cache.exists() and {f"EXERCISE_DIRS:STRING={dirs}", "TESTS_BUILD_EVERY_STAGE:BOOL=OFF"} <= \
            set(cache.read_text().splitlines()):
        return  # configured so already: the build itself configures again when CMake's inputs change
    command = ["cmake", "-S", str(ROOT), "-B", str(build), f"-DEXERCISE_DIRS={dirs}",
               "-DTESTS_BUILD_EVERY_STAGE=OFF"]
    if not (build / "CMakeCache.txt").exists():
        command.append("-DCMAKE_BUILD_TYPE=RelWithDebInfo")
    result = run_quiet(command)
    if result.returncode != 0:
        raise Failure("cmake could not configure " + str(build) + ":\n" + first_errors(result.stdout))


def build_targets(build, targets, jobs):
    return run_quiet(["cmake", "--build", str(build), "-j", str(jobs), "--target", *targets])


def stage_tests(build, number):
    """{ctest name: (command, properties)} for label stageN in `build`."""
    result = run_quiet(["ctest", "--test-dir", str(build), "-N", "-L", f"^stage{number}$",
                        "--show-only=json-v1"])
    if result.returncode != 0:
        raise Failure("ctest could not list the tests:\n" + result.stdout)
    tests = {}
    for test in json.loads(result.stdout)["tests"]:
        props = {p["name"]: p["value"] for p in test.get("properties", [])}
        if test["name"].endswith("_NOT_BUILT"):
            raise Failure(f"{test['name']}: a test program of stage {number} was not built")
        tests[test["name"]] = (test["command"], props)
    return tests


# ---- running tests --------------------------------------------------------


@dataclass
class Outcome:
    name: str
    passed: bool
    output: str
    seconds: float
    command: str  # to run it again, alone, as the student types it
    # Skipped: this machine lacks what the test needs (IPv6 on loopback,
    # nc, nginx); whatever the copy does. Not counted, either way.
    skipped: bool = False
    stubs: List[str] = field(default_factory=list)  # not_written() calls it met

    def reason(self):
        """One line: why it failed. The stub it met; else the first message
        a failure of the test gave (gtest prints it unindented, after the
        values compared); else its first failure's first line."""
        if self.stubs:
            return self.stubs[0]
        lines = [l[4:] for l in failure_text(self, 1000).splitlines()]
        blocks, block = [], []
        for line in lines:
            if re.search(r":\d+: Failure$", line):
                block = []
                blocks.append(block)
            else:
                block.append(line)
        for block in blocks:
            plain = [l for l in block if l.strip() and not l.startswith(
                (" ", "Expected", "Value of", "Actual", "Which is", "Failed"))]
            if plain:
                return plain[-1][:160]
        first = [l.strip() for l in (blocks[0] if blocks else lines) if l.strip()]
        return " ".join(first)[:200] or "failed (no message: see the log)"


def run_test(name, command, props, variant, build):
    """Runs one test as ctest would, with the variant's programs."""
    command = list(command)
    own = Path(command[0] + "-" + variant) if variant else None
    if own and own.exists():
        command[0] = str(own)  # a unit test linked with the variant's files
    env = dict(os.environ)
    for item in props.get("ENVIRONMENT", []):
        key, _, value = item.partition("=")
        env[key] = value
    if variant:
        env["EXERCISE_BIN_DIR"] = str(build / "exercise" / variant)
    timeout = float(props.get("TIMEOUT", TEST_TIMEOUT))
    start = time.monotonic()
    skipped = False
    with tempfile.NamedTemporaryFile("r", prefix="not-written-", suffix=".log") as log:
        # not_written() (common/error.hpp) notes itself here, in whichever
        # process of the test calls it, so a failure is told as the stub it met.
        env["EXERCISE_NOT_WRITTEN_LOG"] = log.name
        try:
            result = run_quiet(command, env=env, cwd=props.get("WORKING_DIRECTORY", str(build)),
                               timeout=timeout)
            output = result.stdout
            skipped = (result.returncode == 0 and "[  SKIPPED ]" in output) or \
                str(result.returncode) == str(props.get("SKIP_RETURN_CODE"))
            passed = result.returncode == 0 and not skipped
        except subprocess.TimeoutExpired as timed_out:
            text = timed_out.stdout or ""
            output = (text.decode(errors="replace") if isinstance(text, bytes) else text) + \
                f"\nno result after {timeout:.0f} s: the test was stopped (does the program hang?)"
            passed = False
        met = log.read() + output
    stubs = sorted(set(m.group(0) for m in STUB_TEXT.finditer(met)))
    shown = " ".join(shlex.quote(short(c)) for c in command if c != "--gtest_also_run_disabled_tests")
    if variant:
        shown = f"EXERCISE_BIN_DIR={shlex.quote(short(env['EXERCISE_BIN_DIR']))} {shown}"
    return Outcome(name, passed, output, time.monotonic() - start, shown, skipped, stubs)


def short(path):
    """A path inside the repository as the student types it, from its top."""
    return path[len(str(ROOT)) + 1:] if path.startswith(str(ROOT) + "/") else path


def run_tests(names, tests, variant, build, jobs):
    """Runs the tests, `jobs` at a time, the slowest of the last run first
    (so that no long test starts last); returns {name: Outcome}."""
    times_file = build / "test-times.json"
    try:
        times = json.loads(times_file.read_text()) if times_file.exists() else {}
    except json.JSONDecodeError:
        times = {}  # a file cut short by an interrupted run: start over
    order = sorted(names, key=lambda n: -times.get(n, 1.0))
    with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = [pool.submit(run_test, n, *tests[n], variant, build) for n in order]
        outcomes = {f.result().name: f.result() for f in futures}
    times.update({n: round(o.seconds, 2) for n, o in outcomes.items()})
    times_file.write_text(json.dumps(times, indent=0, sort_keys=True))
    return {n: outcomes[n] for n in names}


def failure_text(outcome, limit=30):
    """What a student needs of a gtest run: the failure lines, not the banner."""
    lines = [l for l in outcome.output.splitlines()
             if not re.match(r"(Running main\(\)|Note: Google Test filter|\[==========\]|"
                             r"\[----------\]|\[ RUN      \]|\[  PASSED  \]|\[  FAILED  \]|\s*$)", l)
             and not re.search(r"\d+ tests?, listed below|FAILED TESTS?|tests? from .* ran", l)]
    if len(lines) > limit:
        lines = lines[:limit] + [f"... ({len(lines) - limit} more lines: run the command below)"]
    return "\n".join("    " + l for l in lines)


def only_one(name):
    """The ONLY= pattern that selects this test and no other."""
    return shlex.quote("^" + re.escape(name) + "$")


# ---- grading --------------------------------------------------------------


@dataclass
class PartResult:
    number: str
    title: str
    score: int
    max_score: int
    failed: List[Outcome]
    output: str  # for results.json: the failures, as make check prints them

    @property
    def passed(self):
        return self.score == self.max_score

    def record(self):
        return {"name": f"exercise {self.number} {self.title}", "number": self.number,
                "score": self.score, "max_score": self.max_score,
                "status": "passed" if self.passed else "failed", "output": self.output}


def part_results(parts, rows, outcomes, broken=None, selected=None):
    """A result per part over the tests that ran (all of them, or `selected`)."""
    results = []
    for part, title in parts.items():
        mine = [r for r in rows if r.part == part and (selected is None or r.test in selected)
                and not (r.test in outcomes and outcomes[r.test].skipped)]
        if selected is not None and not mine:
            continue  # ONLY= chose none of this part's tests
        passed = [r for r in mine if r.test in outcomes and outcomes[r.test].passed]
        failed = [outcomes[r.test] for r in mine if r.test in outcomes and not outcomes[r.test].passed]
        output = broken or "\n\n".join(f"FAILED {o.name}\n{failure_text(o)}" for o in failed)
        results.append(PartResult(part, title, sum(r.points for r in passed),
                                  sum(r.points for r in mine), failed,
                                  output or f"{len(passed)} tests passed"))
    return results


def build_copy(folder, build, jobs, also=()):
    """None when the copy builds, and the targets `also` with it; else what
    failed: compiling or linking. A target of `also` that fails is not the
    copy's: Failure."""
    variant = folder.name
    result = build_targets(build, [f"exercise-{variant}-compile"], jobs)
    if result.returncode != 0:
        test_side = re.search(r"/tests/[\w/]+\.cpp:\d+", first_errors(result.stdout, 3))
        return (f"{short(str(folder))} does not compile" +
                (" (a unit test does not compile against your header: keep the declarations "
                 "the tests call)" if test_side else "") +
                "; the compiler's first errors:\n\n" + first_errors(result.stdout))
    result = build_targets(build, [f"exercise-{variant}", *also], jobs)
    if result.returncode != 0 and also:
        alone = build_targets(build, [f"exercise-{variant}"], jobs)  # which one failed?
        if alone.returncode == 0:
            raise Failure(f"{', '.join(also)} do not build (not your code):\n" +
                          first_errors(result.stdout))
        result = alone
    if result.returncode != 0:
        return (f"{short(str(folder))} compiles, but does not link (a function declared and "
                "called, but defined nowhere, or defined twice; every .cpp of the folder is "
                "linked, main.cpp into the program only); the linker says:\n\n" +
                first_errors(result.stdout))
    return None


def write_log(log, number, outcomes):
    with open(log, "w") as out:
        for outcome in outcomes.values():
            verdict = "SKIPPED" if outcome.skipped else "PASSED" if outcome.passed else "FAILED"
            out.write(f"==== {verdict} {outcome.name} ({outcome.seconds:.1f} s)\n"
                      f"again, alone: {outcome.command}\n{outcome.output}\n")


def grade_stage(number, folder, build, jobs, only=None, say=print):
    """Builds `folder` as stage `number` and grades it; returns [PartResult]."""
    reference = stage_dir(number)
    parts = parts_of(reference)
    rows = rows_of(number)
    fresh = not (build / "bin" / f"stage{number}_test").exists()
    say(f"building {short(str(folder))} and stage {number}'s tests" +
        (" (the tests the first time only: a minute or two) ..." if fresh else " ..."))
    broken = build_copy(folder, build, jobs, also=[f"tests-stage{number}"])
    if broken:
        say(broken)
        say(f"\nScore: 0/{sum(r.points for r in rows)}")
        return part_results(parts, rows, {}, broken)
    tests = stage_tests(build, number)
    check_table(read_points(), number, parts, tests)
    try:
        names = [r.test for r in rows if not only or re.search(only, r.test)]
    except re.error as wrong:
        raise Failure(f"ONLY={only!r} is not a regular expression: {wrong}") from None
    if not names:
        raise Failure(f"ONLY={only!r} matches none of stage {number}'s graded tests")
    say(f"running {len(names)} tests" + (f" (those ONLY={only} matches)" if only else "") + " ...\n")
    # Most tests wait on peers and timers, not the CPU: three times as many
    # at once as the build's jobs (stage 5's finished copy: 21 s at four,
    # 16 s at six on an idle machine); TEST_JOBS says otherwise.
    test_jobs = test_jobs_of(jobs)
    outcomes = run_tests(names, tests, folder.name, build, test_jobs)
    log = build / f"check-stage{number}.log"
    write_log(log, number, outcomes)
    results = part_results(parts, rows, outcomes, selected=set(names) if only else None)
    report(number, results, outcomes, names, log, only, say)
    return results


def report(number, results, outcomes, names, log, only, say):
    for r in results:
        say(f"exercise {r.number} {r.title}: {r.score}/{r.max_score}")
        reasons = {}  # the failed tests under each reason, in order
        for outcome in r.failed:
            reasons.setdefault(outcome.reason(), []).append(outcome.name)
        for reason, failed_names in reasons.items():
            say(f"  {len(failed_names)} failed: {reason}")
            for name in failed_names:
                say(f"    {name}")
    skipped = [outcomes[n] for n in names if outcomes[n].skipped]
    if skipped:
        say(f"\n{len(skipped)} tests skipped on this machine, not counted: " +
            "; ".join(f"{o.name.split('  #')[0]} ({skip_reason(o.output)})" for o in skipped))
    failed = [o for r in results for o in r.failed]
    if failed:
        first = failed[0]
        say(f"\nThe first failure, {first.name}:\n{failure_text(first)}")
        say(f"  again, alone: {first.command}")
        say(f"  or: make check STAGE={number} ONLY={only_one(first.name)}")
    say(f"\nEvery test's output: {short(str(log))}")
    score, top = sum(r.score for r in results), sum(r.max_score for r in results)
    say(f"Score: {score}/{top}" + (f" (only the {len(names)} tests ONLY= chose)" if only else ""))


def skip_reason(output):
    """What a skipped gtest said of why, in a few words."""
    lines = [l.strip() for l in output.splitlines() if l.strip() and not l.startswith("[")
             and "Skipped" not in l and not l.startswith(("Running main", "Note:"))]
    return lines[-1][:100] if lines else "skipped"


def exercise_folder(number):
    return EXERCISES / stage_dir(number).name


def prepare_build():
    folders = sorted(p for p in EXERCISES.glob("stage*-*") if p.is_dir()) if EXERCISES.exists() else []
    configure(BUILD, folders)
    return folders


# ---- commands -------------------------------------------------------------


def cmd_new(number):
    reference = stage_dir(number)
    parts = parts_of(reference)
    target = EXERCISES / reference.name
    if target.exists():
        print(f"{target.relative_to(ROOT)} exists already: it is your work, and it stays as it is.\n"
              f"To start over: rm -r {target.relative_to(ROOT)} && make exercise STAGE={number}")
        return 1
    write_copy(reference, target, set(parts))
    print(f"wrote {target.relative_to(ROOT)}/, with these parts to write:")
    for part, title in parts.items():
        print(f"  exercise {part} {title}")
    print(f"Look for 'TODO exercise' in its files; then: make check STAGE={number}")
    return 0


def cmd_check(number, jobs, only):
    folder = exercise_folder(number)
    if not folder.exists():
        print(f"{folder.relative_to(ROOT)} does not exist: run make exercise STAGE={number} first")
        return 1
    prepare_build()
    results = grade_stage(number, folder, BUILD, jobs, only, say=lambda *a: print(*a, flush=True))
    return 0 if all(r.passed for r in results) else 1


def cmd_grade(jobs):
    prepare_build()
    everything = []
    for reference in stage_dirs():
        number = stage_number(reference.name)
        folder = EXERCISES / reference.name
        print(f"== stage {number} ({reference.name})", flush=True)
        if folder.exists():
            results = grade_stage(number, folder, BUILD, jobs, say=lambda *a: print(*a, flush=True))
        else:
            results = part_results(parts_of(reference), rows_of(number), {},
                                   f"not started: make exercise STAGE={number}")
            print(f"not started (make exercise STAGE={number}): "
                  f"0/{sum(r.max_score for r in results)}")
        everything += results
        print()
    score, top = sum(r.score for r in everything), sum(r.max_score for r in everything)
    EXERCISES.mkdir(exist_ok=True)
    report = {"score": score, "output": f"Score: {score}/{top}",
              "tests": [r.record() for r in everything]}
    (EXERCISES / "results.json").write_text(json.dumps(report, indent=2) + "\n")
    print(f"Score: {score}/{top}   (exercises/results.json written)")
    return 0 if score == top else 1


def cmd_parts(names):
    for reference in stage_dirs():
        if names and reference.name not in names:
            continue
        for part, title in parts_of(reference).items():
            print(f"{reference.name}\t{part}\t{title}")
    return 0


def cmd_variant(name, cut, destination):
    reference = ROOT / name
    if not (reference / "main.cpp").exists():
        raise Failure(f"there is no stage {name}")
    parts = parts_of(reference)
    chosen = set(parts) if cut == "all" else set() if cut == "none" else set(cut.split(","))
    unknown = chosen - set(parts)
    if unknown:
        raise Failure(f"{name} has no part {', '.join(sorted(unknown))}")
    write_copy(reference, Path(destination), chosen)
    return 0


def cmd_alternative(stage, name, destination):
    found = [a for a in alternatives(stage) if a.name == name]
    if not found:
        raise Failure(f"there is no alternative {stage}/{name} in {ALTERNATIVES.relative_to(ROOT)}")
    write_alternative(found[0], Path(destination))
    return 0


def judge_cut(part, graded, outcomes, problems):
    for test, outcome in outcomes.items():
        if outcome.skipped:
            continue  # this machine cannot run it: it proves nothing either way
        if graded[test] == part and outcome.passed:
            problems.append(f"{test} (part {part}) passes with part {part} cut: its points "
                            "come free (give it to the part it checks, or 'ungraded')")
        if graded[test] != part and not outcome.passed:
            problems.append(f"{test} (part {graded[test]}) fails with only part {part} cut, "
                            f"which comes after it (it needs {part}: give it to {part}):\n"
                            + failure_text(outcome, 12))


def judge_alternative(alt, graded, outcomes, problems):
    """Full score, or points lost in its own part only, with the words it names."""
    failed = [o for o in outcomes.values() if not o.passed and not o.skipped]
    what = f"alternative {alt.stage}/{alt.name}"
    if alt.loses is None:
        problems += [f"{what} should score full, yet fails {o.name} (part {graded[o.name]}):\n"
                     + failure_text(o, 12) for o in failed]
        return f"{len(outcomes) - len(failed)}/{len(outcomes)} pass"
    # Tests of later parts need the earlier ones working, as with a cut:
    # they may fail too; the parts before it may not.
    key = lambda part: [int(n) for n in part.split(".")]
    before = [o for o in failed if key(graded[o.name]) < key(alt.loses)]
    problems += [f"{what} is a mistake of part {alt.loses}, yet fails {o.name} of part "
                 f"{graded[o.name]}, before it:\n" + failure_text(o, 12) for o in before]
    mine = [o for o in failed if graded[o.name] == alt.loses]
    if not mine:
        problems.append(f"{what} is a mistake of part {alt.loses}, yet every test of that part passes")
    elif not any(alt.text.lower() in (o.name + o.output).lower() for o in mine):
        problems.append(f"{what}: no failed test of part {alt.loses} says {alt.text!r}; they say:\n"
                        + "\n".join(f"    {o.name}: {o.reason()}" for o in mine))
    later = len(failed) - len(mine) - len(before)
    return f"loses {len(mine)} tests of part {alt.loses}, {later} of later parts, {len(before)} before"


def honesty_copies(name):
    """{ID: a function writing that copy into a folder} of stage `name`:
    each part cut alone, the skeleton, each alternative and mistake."""
    reference = ROOT / name
    parts = parts_of(reference)
    copies = {f"{name}.cut-{p}": lambda d, p=p: write_copy(reference, d, {p}) for p in parts}
    copies[f"{name}.skeleton"] = lambda d: write_copy(reference, d, set(parts))
    for alt in alternatives(name):
        copies[alt.variant] = lambda d, alt=alt: write_alternative(alt, d)
    return copies


def sync_copy(write, destination):
    """The copy written into `destination`, touching only the files that
    changed, so that a second run builds only what changed."""
    destination.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as fresh:
        write(Path(fresh))
        names = {p.name for p in Path(fresh).iterdir()}
        for old in destination.iterdir():
            if old.name not in names:
                old.unlink()
        for new in Path(fresh).iterdir():
            old = destination / new.name
            if not old.exists() or old.read_bytes() != new.read_bytes():
                shutil.copyfile(new, old)


def cmd_honesty(numbers, jobs):
    """make honesty: CI's proof that grading is honest, in build-honesty/,
    for the stages given (all of them when none is)."""
    names = [stage_dir(n).name for n in numbers] or [p.name for p in stage_dirs()]
    folders = []
    for name in names:
        for variant, write in honesty_copies(name).items():
            folder = HONESTY_BUILD / "copies" / variant
            sync_copy(write, folder)
            folders.append(folder)
    print(f"building {len(folders)} copies of {len(names)} stages and their tests in "
          f"{short(str(HONESTY_BUILD))} ...")
    start = time.monotonic()
    configure(HONESTY_BUILD, folders)
    targets = [f"exercise-{f.name}" for f in folders]
    targets += [f"tests-stage{stage_number(n)}" for n in names]
    result = build_targets(HONESTY_BUILD, targets, jobs)
    if result.returncode != 0:
        raise Failure("a copy or a test does not build:\n" + first_errors(result.stdout))
    print(f"built in {time.monotonic() - start:.0f} s")
    # A cut copy's tests mostly wait for a program stopped at its stub
    # (stage 3: 2 min 5 s at six at once, 2 min 40 s at four).
    test_jobs = test_jobs_of(jobs)
    honest = []
    for name in names:
        start = time.monotonic()
        honest.append(honesty_of_stage(name, HONESTY_BUILD, test_jobs))
        print(f"{name}: checked in {time.monotonic() - start:.0f} s")
    if not numbers:
        cmd_lint(HONESTY_BUILD)
    return 0 if all(honest) else 1


def honesty_of_stage(name, build, jobs):
    """Each part cut alone fails its tests and passes those of the parts
    before it; the skeleton scores below full; each alternative solution
    scores full and each typical mistake loses points in its own part. The
    reference's own run (make test) is what proves it scores full."""
    number = stage_number(name)
    parts = parts_of(ROOT / name)
    tests = stage_tests(build, number)
    check_table(read_points(), number, parts, tests)
    graded = {r.test: r.part for r in rows_of(number)}
    problems, order, timings = [], list(parts), []
    for part in order:
        names = [t for t, p in graded.items() if p in order[:order.index(part) + 1]]
        outcomes = run_tests(names, tests, f"{name}.cut-{part}", build, jobs)
        timings += [(o.seconds, f"{o.name} (part {part} cut)") for o in outcomes.values()]
        judge_cut(part, graded, outcomes, problems)
        mine = [o for o in outcomes.values() if graded[o.name] == part and not o.passed]
        silent = [o.name for o in mine if not o.stubs]
        print(f"{name}: part {part} cut: {len(mine)}/{sum(graded[t] == part for t in names)} of "
              f"its tests fail ({len(mine) - len(silent)} naming the stub), "
              f"{sum(outcomes[t].passed for t in names if graded[t] != part)}"
              f"/{sum(graded[t] != part for t in names)} of the parts before pass")
        if silent:
            print(f"{name}: part {part} cut: failed without meeting its stub: {', '.join(silent)}")
    first = [t for t, p in graded.items() if p == order[0]]
    skeleton = run_tests(first, tests, f"{name}.skeleton", build, jobs)
    if all(o.passed for o in skeleton.values()):
        problems.append(f"the skeleton passes every test of part {order[0]}: it scores full there")
    print(f"{name}: skeleton: {sum(not o.passed for o in skeleton.values())}/{len(first)} "
          f"tests of part {order[0]} fail")
    for alt in alternatives(name):
        outcomes = run_tests(list(graded), tests, alt.variant, build, jobs)
        timings += [(o.seconds, f"{o.name} ({alt.name})") for o in outcomes.values()]
        print(f"{name}: alternative {alt.name}: {judge_alternative(alt, graded, outcomes, problems)}")
    slowest = sorted(timings, reverse=True)[:12]
    print(f"{name}: slowest: " + "; ".join(f"{t:.1f} s {what}" for t, what in slowest))
    if problems:
        print(f"\n{name} is NOT HONEST:\n  " + "\n  ".join(problems))
        return False
    print(f"{name}: honest")
    return True


def cmd_suggest(name, build, jobs, missing=False):
    """Table rows from the cut copies CI builds: a test goes to the last part
    whose cut alone fails it; a test no cut fails is ungraded."""
    build = Path(build).resolve()
    number = stage_number(name)
    tests = stage_tests(build, number)
    known = {row.test for row in read_points()} if missing else set()
    wanted = sorted(set(tests) - known)
    fails = {t: [] for t in wanted}
    for part in parts_of(ROOT / name):
        outcomes = run_tests(wanted, tests, f"{name}.cut-{part}", build, jobs)
        for test, outcome in outcomes.items():
            if not outcome.passed:
                fails[test].append(part)
    for test in wanted:
        print(f"{test:<70} {fails[test][-1]:<5} 1" if fails[test] else f"{test:<70} ungraded")
    return 0


def cmd_lint(build):
    """Every row of the table names a test of some stage."""
    build = Path(build).resolve()
    everything = {}
    for reference in stage_dirs():
        number = stage_number(reference.name)
        tests = stage_tests(build, number)
        check_table(read_points(), number, parts_of(reference), tests)
        everything.update(tests)
    stale = [f"{row.where}: {row.test} is no test of any stage" for row in read_points()
             if row.test not in everything]
    if stale:
        raise Failure("the points table names tests that do not exist:\n  " + "\n  ".join(stale))
    alternatives()  # each one's expect file is read
    print(f"points table: {len(read_points())} rows, every test of every stage listed")
    return 0


def test_jobs_of(jobs):
    """Tests at once: TEST_JOBS, else three times the build's jobs."""
    return positive_number("TEST_JOBS", os.environ.get("TEST_JOBS") or str(3 * jobs))


def positive_number(name, text):
    if not text.isdigit() or int(text) < 1:
        raise Failure(f"{name}={text!r}: expected a number, 1 or more")
    return int(text)


def stage_argument(text):
    if not text.isdigit():
        raise Failure(f"expected a stage's number, got {text!r}")
    return int(text)


COMMANDS = {
    # name: (number of arguments or None for any, function of (args, jobs, only))
    "new": (1, lambda a, j, o: cmd_new(stage_argument(a[0]))),
    "check": (1, lambda a, j, o: cmd_check(stage_argument(a[0]), j, o)),
    "grade": (0, lambda a, j, o: cmd_grade(j)),
    "parts": (None, lambda a, j, o: cmd_parts(a)),
    "variant": (3, lambda a, j, o: cmd_variant(*a)),
    "alternative": (3, lambda a, j, o: cmd_alternative(*a)),
    "honesty": (None, lambda a, j, o: cmd_honesty([stage_argument(n) for n in a], j)),
    "suggest": (None, lambda a, j, o: cmd_suggest(a[0], a[1], j, missing=a[2:] == ["--missing"])),
    "lint": (1, lambda a, j, o: cmd_lint(a[0])),
}


def main(argv):
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(__doc__)
        return 0 if argv else 2
    command, args = argv[0], argv[1:]
    if command not in COMMANDS:
        print(f"exercise: no command {command!r}; the commands:\n{__doc__}", file=sys.stderr)
        return 2
    count, run = COMMANDS[command]
    if command == "suggest" and not (len(args) == 2 or args[2:] == ["--missing"]):
        count = -1
    if count not in (None, len(args)):
        print(f"exercise: {command} takes {count if count >= 0 else '2 or 3'} arguments, "
              f"got {len(args)}; the commands:\n{__doc__}", file=sys.stderr)
        return 2
    sys.stdout.reconfigure(line_buffering=True)  # progress shows as it comes, in CI's log too
    try:
        jobs = positive_number("JOBS", os.environ.get("JOBS") or "2")
        return run(args, jobs, os.environ.get("ONLY") or None)
    except (Failure, markers.MarkerError) as problem:
        print(f"exercise: {problem}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
