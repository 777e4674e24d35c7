#!/usr/bin/env python3
"""The decks' cutting and make diff PART=, without a browser (make test-slides runs it)."""

import sys
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import make_slides  # noqa: E402

exercise = make_slides.exercise
markers = make_slides.markers


def own_regions(stage):
    """(path, region) for each region of the stage's own parts."""
    parts = exercise.parts_of(stage.folder)
    return [(path, region) for path in markers.source_files(stage.folder)
            for region in markers.parse_file(path)[1] if region.part in parts]


class Split(unittest.TestCase):
    def test_every_region_fits_whole_and_in_order(self):
        for stage in make_slides.stages():
            for path, region in own_regions(stage):
                lines = [l for l in make_slides.clean_lines(path)
                         if l.region and l.region.begin == region.begin]
                texts = [l.text for l in lines]
                pieces = make_slides.split(texts, make_slides.MAX_LINES)
                with self.subTest(where=f"{path.name}:{region.begin}"):
                    shown = [texts[i] for a, b in pieces for i in range(a, b)]
                    self.assertEqual([t for t in shown if t.strip()], [t for t in texts if t.strip()])
                    self.assertTrue(all(b - a <= make_slides.MAX_LINES for a, b in pieces))

    def test_cuts_fall_between_blocks(self):
        block = ["if (ready) {", "  fill(up);", "  drain(up);", "}"]
        texts = block * 12
        for a, b in make_slides.split(texts, 20):
            self.assertLessEqual(b - a, 20)
            self.assertEqual(texts[b - 1], "}", (a, b))

    def test_a_long_statement_is_never_cut_inside_when_a_boundary_is_near(self):
        texts = ["int a = 1;"] * 12 + ["call(one,", "     two,", "     three);"] + ["int b = 2;"] * 12
        cuts = [b for a, b in make_slides.split(texts, 20)][:-1]
        self.assertFalse(any(texts[c - 1].endswith(",") for c in cuts), cuts)


class Stages(unittest.TestCase):
    def test_each_stage_grows_from_an_earlier_one(self):
        found = make_slides.stages()
        self.assertIsNone(found[0].parent)
        for stage in found[1:]:
            self.assertIsNotNone(stage.parent, stage.name)
            self.assertLess(stage.parent.number, stage.number)


class PartDiff(unittest.TestCase):
    def test_a_part_shows_all_its_lines_and_little_else(self):
        for stage in make_slides.stages():
            if not stage.parent:
                continue
            for part in exercise.parts_of(stage.folder):
                text = make_slides.part_diff(stage.parent, stage, part)
                shown = [line[1:] for line in text.splitlines()
                         if line[:1] in "+ " and not line.startswith("+++ ")]
                wanted = [l.text for path in markers.source_files(stage.folder)
                          for l in make_slides.clean_lines(path)
                          if l.region and l.region.part == part]
                with self.subTest(stage=stage.name, part=part):
                    self.assertTrue(all(w in shown for w in wanted))
                    regions = sum(1 for line in text.splitlines() if line.startswith("@@"))
                    extra = len(shown) - len(wanted)
                    self.assertLessEqual(extra, 2 * make_slides.CONTEXT * regions)

    def test_an_unknown_part_is_a_clear_error(self):
        stage = make_slides.stages()[1]
        with self.assertRaisesRegex(exercise.Failure, "has no part 9.9"):
            make_slides.part_diff(stage.parent, stage, "9.9")


if __name__ == "__main__":
    unittest.main()
