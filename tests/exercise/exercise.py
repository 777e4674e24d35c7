#!/usr/bin/env python3
"""exercise.py: the students' side of the stages, made from the reference.

The reference stages carry solution markers (nbgrader's and CS61A's
convention), on lines of their own:

    // BEGIN SOLUTION 3.1 poll loop
    // TASK: what to write, the calls, the lesson section (docs/...md#anchor)
    // STUB: code the student's copy has instead
    ...the reference code of part 3.1...
    // END SOLUTION

A part may have several regions (in several files); each region is a whole
function body, a run of whole statements, or whole functions. Stage N's copy
cuts only stage N's parts; the markers of earlier stages, carried along
when a stage was copied, are dropped and their code kept.

Commands (the Makefile's targets call them; docs/exercises.md):
  new N                  make exercise STAGE=N: exercises/stageN-NAME/
  check N                make check STAGE=N: build the copy, run its tests
  grade                  make grade: every stage, exercises/results.json
  parts [STAGE]          the parts the markers define (CMake reads this)
  variant STAGE DIR CUT  a copy with the parts CUT ("all", "none", "3.1,3.2")
  suggest STAGE BUILD [--missing]
                         rows for the table: each test to the last part whose cut
                         fails it (--missing: only tests the table lacks)
  honesty STAGE BUILD    CI: cut parts fail their tests, the rest pass
  lint BUILD             CI: the points table against every test there is

The points table (tests/exercise/points.txt) gives each test of a stage's
label its part and points, or "ungraded"; it is checked against the real
test list every time, and a mismatch stops everything with a message.
"""

import concurrent.futures
import json
import os
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
POINTS = ROOT / "tests" / "exercise" / "points.txt"
EXERCISES = ROOT / "exercises"
BUILD = ROOT / "build-exercises"
SOURCE_SUFFIXES = (".cpp", ".hpp")
TEST_TIMEOUT = 120  # seconds per test, as ctest's TIMEOUT: a hung program fails its test only
SHOWN_FAILURES = 3  # failures printed in full; the rest are named

BEGIN = re.compile(r"^(\s*)// BEGIN SOLUTION (\d+)\.(\d+) (\S.*?)\s*$")
END = re.compile(r"^\s*// END SOLUTION\s*$")
DIRECTIVE = re.compile(r"^\s*// (TASK|STUB):(?: (.*))?$")
MARKERISH = re.compile(r"//\s*(BEGIN|END) SOLUTION|//\s*(TASK|STUB):")
NOT_WRITTEN = re.compile(r'not_written\("([^"]*)", "([^"]*)"\)')
LESSON = re.compile(r"docs/([\w.-]+\.md)#([\w-]+)")


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
    return int(re.match(r"stage(\d+)-", name).group(1))


def source_files(folder):
    return sorted(p for p in folder.iterdir() if p.suffix in SOURCE_SUFFIXES)


class Region:
    def __init__(self, path, line, indent, part, title):
        self.path, self.line, self.indent = path, line, indent
        self.part, self.title = part, title
        self.tasks, self.stubs = [], []


def parse(path):
    """The file's lines and its regions; raises Failure naming file:line."""
    lines = path.read_text().splitlines(keepends=True)
    regions, open_region, in_directives = [], None, False
    for number, text in enumerate(lines, 1):
        where = f"{path.relative_to(ROOT)}:{number}"
        begin, end, directive = BEGIN.match(text), END.match(text), DIRECTIVE.match(text)
        if begin:
            if open_region:
                raise Failure(f"{where}: BEGIN SOLUTION inside the region opened at line "
                              f"{open_region.line} (regions do not nest)")
            indent, major, minor, title = begin.groups()
            open_region = Region(path, number, indent, f"{major}.{minor}", title)
            in_directives = True
        elif end:
            if not open_region:
                raise Failure(f"{where}: END SOLUTION without a BEGIN SOLUTION before it")
            open_region.end = number
            regions.append(open_region)
            open_region = None
        elif directive:
            if not (open_region and in_directives):
                raise Failure(f"{where}: {directive.group(1)}: lines go right after BEGIN SOLUTION")
            kind, body = directive.group(1), directive.group(2) or ""
            (open_region.tasks if kind == "TASK" else open_region.stubs).append(body)
        elif MARKERISH.search(text):
            raise Failure(f"{where}: malformed marker {text.strip()!r} (expected "
                          "'// BEGIN SOLUTION N.k TITLE', '// END SOLUTION', '// TASK: ...' "
                          "or '// STUB: ...', alone on their line)")
        else:
            in_directives = False
    if open_region:
        raise Failure(f"{path.relative_to(ROOT)}:{open_region.line}: BEGIN SOLUTION "
                      f"{open_region.part} is never ended (END SOLUTION)")
    return lines, regions


def heading_anchors(doc):
    """GitHub's anchors for the headings of a Markdown file."""
    anchors = set()
    for line in doc.read_text().splitlines():
        if line.startswith("#"):
            title = line.lstrip("#").strip().lower()
            anchors.add(re.sub(r"\s", "-", re.sub(r"[^\w\s-]", "", title)))
    return anchors


def parts_of(folder):
    """{part: title} for the stage in `folder`, its markers checked."""
    number = stage_number(folder.name)
    parts, seen = {}, {}
    for path in source_files(folder):
        for region in parse(path)[1]:
            where = f"{path.relative_to(ROOT)}:{region.line}"
            major = int(region.part.split(".")[0])
            if major > number:
                raise Failure(f"{where}: part {region.part} in stage {number}, which comes before it")
            if region.part in parts and parts[region.part] != region.title:
                raise Failure(f"{where}: part {region.part} is called {region.title!r} here and "
                              f"{parts[region.part]!r} at {seen[region.part]} (one title per part)")
            parts.setdefault(region.part, region.title)
            seen.setdefault(region.part, where)
            if major != number:
                continue
            if not region.tasks:
                raise Failure(f"{where}: part {region.part} has no '// TASK:' line saying what to write")
            for call in NOT_WRITTEN.finditer("\n".join(region.stubs)):
                if call.groups() != (region.part, region.title):
                    raise Failure(f"{where}: the stub calls not_written{call.groups()}, expected "
                                  f"not_written(\"{region.part}\", \"{region.title}\")")
            for doc, anchor in LESSON.findall(" ".join(region.tasks)):
                if not (ROOT / "docs" / doc).exists():
                    raise Failure(f"{where}: the TASK names docs/{doc}, which does not exist")
                if anchor not in heading_anchors(ROOT / "docs" / doc):
                    raise Failure(f"{where}: docs/{doc} has no section #{anchor}")
    own = {p: t for p, t in parts.items() if int(p.split(".")[0]) == number}
    for part in own:
        regions = [r for path in source_files(folder) for r in parse(path)[1] if r.part == part]
        if not any(NOT_WRITTEN.search(s) for r in regions for s in r.stubs):
            raise Failure(f"{folder.name}: part {part} has no stub calling not_written(), so a "
                          "copy without it would fail silently")
    return dict(sorted(own.items(), key=lambda item: [int(n) for n in item[0].split(".")]))


def render(path, cut):
    """The file's text with the parts in `cut` replaced by TODO and stub."""
    lines, regions = parse(path)
    starts = {r.line: r for r in regions}
    out, number = [], 1
    while number <= len(lines):
        region = starts.get(number)
        if not region:
            out.append(lines[number - 1])
            number += 1
            continue
        body_start = region.line + len(region.tasks) + len(region.stubs)
        if region.part in cut:
            pad = region.indent
            out.append(f"{pad}// TODO exercise {region.part} ({region.title}):\n")
            out.extend(f"{pad}// {task}\n".replace(" \n", "\n") for task in region.tasks)
            out.extend(f"{pad}{stub}\n" for stub in region.stubs)
        else:
            out.extend(lines[body_start:region.end - 1])
        number = region.end + 1
    return "".join(out)


def write_copy(folder, destination, cut):
    destination.mkdir(parents=True, exist_ok=True)
    for path in source_files(folder):
        text = render(path, cut)
        (destination / path.name).write_text(text)  # always: the build compares times


# ---- the points table -----------------------------------------------------


def read_points():
    """[(test, part or None, points, line)] from points.txt."""
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
            row = (graded.group(1), graded.group(2), int(graded.group(3)), where)
        elif ungraded:
            row = (ungraded.group(1), None, 0, where)
        else:
            raise Failure(f"{where}: expected 'TEST PART POINTS' or 'TEST ungraded', got {text!r}")
        if row[0] in names:
            raise Failure(f"{where}: {row[0]} is already in the table at {names[row[0]]}")
        names[row[0]] = where
        rows.append(row)
    return rows


def check_table(rows, number, parts, tests):
    """Loud when the table and the tests of stage `number` disagree."""
    problems = []
    known = {row[0] for row in rows}
    for name in sorted(set(tests) - known):
        problems.append(f"test {name} (label stage{number}) has no row: give it a part and "
                        "points, or 'ungraded'")
    for name, part, _, where in rows:
        if part and part.split(".")[0] == str(number):
            if name not in tests:
                problems.append(f"{where}: {name} is not a test of stage {number} (renamed or removed?)")
            if part not in parts:
                problems.append(f"{where}: part {part} has no markers in stage {number}")
    for part in parts:
        if not any(row[1] == part for row in rows):
            problems.append(f"part {part} has no test in the table: it could not be graded")
    if problems:
        raise Failure("the points table does not match the tests:\n  " + "\n  ".join(problems) +
                      f"\n(fix {POINTS.relative_to(ROOT)}; docs/exercises.md says how)")


# ---- building -------------------------------------------------------------


def run_quiet(command, **kwargs):
    return subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          **kwargs)


def first_errors(output, limit=25):
    """The compiler's first errors, with a little context, make's noise left out."""
    lines = [l for l in output.splitlines()
             if not re.match(r"(g?make|\[\s*\d+%\]|Consolidate|Scanning|Building|Linking|--)", l)]
    start = next((i for i, l in enumerate(lines) if "error" in l), 0)
    return "\n".join(lines[start:start + limit])


def configure(build, folders, honesty=False):
    dirs = ";".join(str(f) for f in folders)
    command = ["cmake", "-S", str(ROOT), "-B", str(build), f"-DEXERCISE_DIRS={dirs}",
               f"-DEXERCISE_HONESTY={'ON' if honesty else 'OFF'}"]
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


class Outcome:
    def __init__(self, name, passed, output, seconds, command, skipped=False):
        self.name, self.passed, self.output = name, passed, output
        self.seconds, self.command = seconds, command
        # Skipped: this machine lacks what the test needs (IPv6 on loopback,
        # nc, nginx); whatever the copy does. Not counted, either way.
        self.skipped = skipped


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
    shown = " ".join(shlex.quote(short(c)) for c in command if c != "--gtest_also_run_disabled_tests")
    if variant:
        shown = f"EXERCISE_BIN_DIR={shlex.quote(short(env['EXERCISE_BIN_DIR']))} {shown}"
    return Outcome(name, passed, output, time.monotonic() - start, shown, skipped)


def short(path):
    """A path inside the repository as the student types it, from its top."""
    return path[len(str(ROOT)) + 1:] if path.startswith(str(ROOT) + "/") else path


def run_tests(names, tests, variant, build, jobs):
    with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = [pool.submit(run_test, n, *tests[n], variant, build) for n in names]
        return {f.result().name: f.result() for f in futures}


def failure_text(outcome, limit=30):
    """What a student needs of a gtest run: the failure lines, not the banner."""
    lines = [l for l in outcome.output.splitlines()
             if not re.match(r"(Running main\(\)|Note: Google Test filter|\[==========\]|"
                             r"\[----------\]|\[ RUN      \]|\[  PASSED  \]|\[  FAILED  \]|\s*$)", l)
             and not re.search(r"\d+ tests?, listed below|FAILED TESTS?|tests? from .* ran", l)]
    if len(lines) > limit:
        lines = lines[:limit] + [f"... ({len(lines) - limit} more lines: run the command below)"]
    return "\n".join("    " + l for l in lines)


# ---- grading --------------------------------------------------------------


def grade_stage(number, folder, build, jobs, only=None, quiet=False):
    """Builds `folder` as stage `number` and grades it; returns (parts, score)."""
    reference = stage_dir(number)
    parts = parts_of(reference)
    rows = [r for r in read_points() if r[1] and r[1].split(".")[0] == str(number)]
    total = sum(r[2] for r in rows)
    variant = folder.name
    say = (lambda *a: None) if quiet else (lambda *a: print(*a, flush=True))
    say(f"building {folder.relative_to(ROOT)} ...")
    result = build_targets(build, [f"exercise-{variant}"], jobs)
    if result.returncode != 0:
        say(f"{folder.relative_to(ROOT)} does not compile; the compiler's first errors:\n")
        say(first_errors(result.stdout))
        say(f"\nScore: 0/{total}")
        return part_results(parts, rows, {}, "does not compile:\n" + first_errors(result.stdout)), 0
    fresh = not (build / "bin" / f"stage{number}_test").exists()
    say(f"building stage {number}'s tests" + (" (the first time only: a few minutes) ..." if fresh else " ..."))
    result = build_targets(build, [f"tests-stage{number}"], jobs)
    if result.returncode != 0:
        raise Failure(f"the tests of stage {number} do not build (not your code):\n" +
                      first_errors(result.stdout))
    tests = stage_tests(build, number)
    check_table(read_points(), number, parts, tests)
    names = [r[0] for r in rows if not only or re.search(only, r[0])]
    say(f"running {len(names)} tests ...\n")
    outcomes = run_tests(names, tests, variant, build, jobs)
    results = part_results(parts, rows, outcomes, None)
    score = sum(r["score"] for r in results)
    total = sum(r["max_score"] for r in results)
    for r in results:
        say(f"exercise {r['number']} {r['title']}: {r['score']}/{r['max_score']}")
    skipped = [outcomes[n] for n in names if outcomes[n].skipped]
    if skipped:
        say(f"\n{len(skipped)} tests skipped on this machine, not counted: " +
            "; ".join(f"{o.name.split('  #')[0]} ({skip_reason(o.output)})" for o in skipped))
    failed = [outcomes[n] for n in names if not outcomes[n].passed and not outcomes[n].skipped]
    for outcome in failed[:SHOWN_FAILURES]:
        part = next(r[1] for r in rows if r[0] == outcome.name)
        say(f"\nFAILED {outcome.name} (exercise {part}):")
        say(failure_text(outcome))
        say(f"  again, alone: {outcome.command}")
    if len(failed) > SHOWN_FAILURES:
        rest = [o.name.split("  #")[0] for o in failed[SHOWN_FAILURES:]]
        listed = ", ".join(rest[:5]) + (", ..." if len(rest) > 5 else "")
        say(f"\n... and {len(rest)} more failed ({listed}); ONLY=NAME runs one: "
            f"make check STAGE={number} ONLY={rest[0].split('/')[-1].split('.')[-1]}")
    say(f"\nScore: {score}/{total}")
    return results, score


def skip_reason(output):
    """What a skipped gtest said of why, in a few words."""
    lines = [l.strip() for l in output.splitlines() if l.strip() and not l.startswith("[")
             and "Skipped" not in l and not l.startswith(("Running main", "Note:"))]
    return lines[-1][:100] if lines else "skipped"


def part_results(parts, rows, outcomes, broken):
    results = []
    for part, title in parts.items():
        mine = [r for r in rows if r[1] == part and not (r[0] in outcomes and outcomes[r[0]].skipped)]
        passed = [r for r in mine if r[0] in outcomes and outcomes[r[0]].passed]
        failed = [outcomes[r[0]] for r in mine if r[0] in outcomes and not outcomes[r[0]].passed]
        score, top = sum(r[2] for r in passed), sum(r[2] for r in mine)
        output = broken or "\n\n".join(f"FAILED {o.name}\n{failure_text(o)}" for o in failed)
        results.append({"name": f"exercise {part} {title}", "number": part, "title": title,
                        "score": score, "max_score": top,
                        "status": "passed" if score == top else "failed",
                        "output": output or f"{len(passed)} tests passed"})
    return results


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
    results, score = grade_stage(number, folder, BUILD, jobs, only)
    return 0 if all(r["status"] == "passed" for r in results) else 1


def cmd_grade(jobs):
    prepare_build()
    everything, total_score = [], 0
    for reference in stage_dirs():
        number = stage_number(reference.name)
        folder = EXERCISES / reference.name
        print(f"== stage {number} ({reference.name})")
        if folder.exists():
            results, score = grade_stage(number, folder, BUILD, jobs, quiet=False)
        else:
            parts = parts_of(reference)
            rows = [r for r in read_points() if r[1] and r[1].split(".")[0] == str(number)]
            results = part_results(parts, rows, {}, f"not started: make exercise STAGE={number}")
            score = 0
            print(f"not started (make exercise STAGE={number}): 0/{sum(r['max_score'] for r in results)}")
        everything += results
        total_score += score
        print()
    top = sum(r["max_score"] for r in everything)
    EXERCISES.mkdir(exist_ok=True)
    tests = [{k: r[k] for k in ("name", "number", "score", "max_score", "status", "output")}
             for r in everything]
    report = {"score": total_score, "output": f"Score: {total_score}/{top}", "tests": tests}
    (EXERCISES / "results.json").write_text(json.dumps(report, indent=2) + "\n")
    print(f"Score: {total_score}/{top}   (exercises/results.json written)")
    return 0 if total_score == top else 1


def cmd_parts(names):
    for reference in stage_dirs():
        if names and reference.name not in names:
            continue
        for part, title in parts_of(reference).items():
            print(f"{reference.name}\t{part}\t{title}")
    return 0


def cmd_variant(name, destination, cut):
    reference = ROOT / name
    parts = parts_of(reference)
    chosen = set(parts) if cut == "all" else set() if cut == "none" else set(cut.split(","))
    unknown = chosen - set(parts)
    if unknown:
        raise Failure(f"{name} has no part {', '.join(sorted(unknown))}")
    write_copy(reference, Path(destination), chosen)
    return 0


def cmd_honesty(name, build, jobs):
    """Each part cut alone fails its tests and passes those of the parts
    before it; the skeleton scores below full; the reference's own run (the
    ordinary ctest run of these tests) is what proves it scores full."""
    build = Path(build).resolve()
    number = stage_number(name)
    parts = parts_of(ROOT / name)
    rows = read_points()
    tests = stage_tests(build, number)
    check_table(rows, number, parts, tests)
    graded = {r[0]: r[1] for r in rows if r[1] and r[1].split(".")[0] == str(number)}
    problems, order, timings = [], list(parts), []
    for part in order:
        earlier = order[:order.index(part)]
        names = [t for t, p in graded.items() if p in earlier + [part]]
        outcomes = run_tests(names, tests, f"{name}.cut-{part}", build, jobs)
        timings += [(o.seconds, f"{o.name} (part {part} cut)") for o in outcomes.values()]
        for test in names:
            outcome = outcomes[test]
            if outcome.skipped:
                continue  # this machine cannot run it: it proves nothing either way
            if graded[test] == part and outcome.passed:
                problems.append(f"{test} (part {part}) passes with part {part} cut: its points "
                                "come free (give it to the part it checks, or 'ungraded')")
            if graded[test] != part and not outcome.passed:
                problems.append(f"{test} (part {graded[test]}) fails with only part {part} cut, "
                                f"which comes after it (it needs {part}: give it to {part}):\n"
                                + failure_text(outcome, 12))
        print(f"{name}: part {part} cut: {sum(not outcomes[t].passed for t in names if graded[t] == part)}"
              f"/{sum(graded[t] == part for t in names)} of its tests fail, "
              f"{sum(outcomes[t].passed for t in names if graded[t] != part)}"
              f"/{sum(graded[t] != part for t in names)} of the parts before pass")
    first = [t for t, p in graded.items() if p == order[0]]
    skeleton = run_tests(first, tests, f"{name}.skeleton", build, jobs)
    if all(o.passed for o in skeleton.values()):
        problems.append(f"the skeleton passes every test of part {order[0]}: it scores full there")
    print(f"{name}: skeleton: {sum(not o.passed for o in skeleton.values())}/{len(first)} "
          f"tests of part {order[0]} fail")
    slowest = sorted(timings, reverse=True)[:12]
    print(f"{name}: slowest: " + "; ".join(f"{t:.1f} s {what}" for t, what in slowest))
    if problems:
        print("\nNOT HONEST:\n  " + "\n  ".join(problems))
        return 1
    return 0


def cmd_suggest(name, build, jobs, missing=False):
    """Table rows from the cut copies CI builds: a test goes to the last part
    whose cut alone fails it; a test no cut fails is ungraded."""
    build = Path(build).resolve()
    number = stage_number(name)
    tests = stage_tests(build, number)
    known = {row[0] for row in read_points()} if missing else set()
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
    stale = [f"{where}: {name} is no test of any stage" for name, _, _, where in read_points()
             if name not in everything]
    if stale:
        raise Failure("the points table names tests that do not exist:\n  " + "\n  ".join(stale))
    print(f"points table: {len(read_points())} rows, every test of every stage listed")
    return 0


def main(argv):
    jobs = int(os.environ.get("JOBS") or 2)
    only = os.environ.get("ONLY") or None
    if not argv:
        print(__doc__)
        return 2
    command, args = argv[0], argv[1:]
    try:
        if command == "new" and len(args) == 1:
            return cmd_new(int(args[0]))
        if command == "check" and len(args) == 1:
            return cmd_check(int(args[0]), jobs, only)
        if command == "grade" and not args:
            return cmd_grade(jobs)
        if command == "parts":
            return cmd_parts(args)
        if command == "variant" and len(args) == 3:
            return cmd_variant(*args)
        if command == "honesty" and len(args) == 2:
            return cmd_honesty(args[0], args[1], jobs)
        if command == "suggest" and len(args) in (2, 3) and args[2:] in ([], ["--missing"]):
            return cmd_suggest(args[0], args[1], jobs, missing=args[2:] == ["--missing"])
        if command == "lint" and len(args) == 1:
            return cmd_lint(args[0])
    except Failure as problem:
        print(f"exercise: {problem}", file=sys.stderr)
        return 2
    except ValueError:
        pass
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
