// test_slides.cjs: make test-slides. Every slide of every deck in headless
// Chromium, at 1280x720 and 1920x1080: nothing outside the slide, no scroll
// bar, code at least 20 CSS pixels; every solution region of a stage on some
// slide of that stage's deck; a PNG of each slide in DIR/screenshots/.
//
// node tools/slides/test_slides.cjs DIR [--expect-overflow]
//   --expect-overflow: the decks in DIR were made too long on purpose
//   (make_slides.py --max-lines 40): passes only if the test sees it.
// No Chromium: skipped, saying what to install; under CI=true that fails.
"use strict";
const fs = require("fs");
const path = require("path");

const ROOT = path.resolve(__dirname, "../..");
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
const SIZES = [[1280, 720], [1920, 1080]];
const MIN_CODE_PX = 20;
const SLIDE_LIMIT = 400; // slides a deck may have: bounds every loop below

const dir = path.resolve(process.argv[2] || path.join(ROOT, "build-slides"));
const expectOverflow = process.argv.includes("--expect-overflow");
const only = (process.argv.find((a) => a.startsWith("--only=")) || "").slice(7); // decks whose name has it
let passed = 0;
const failures = [];

function check(ok, what) {
  if (ok) passed++;
  else failures.push(what);
}

// The regions from the sources themselves, read here apart from the
// generator (which uses tools/exercise/exercise.py): the test's own oracle.
function regionsOf(folder, number) {
  const found = [];
  for (const name of fs.readdirSync(folder).sort()) {
    if (!/\.(cpp|hpp)$/.test(name)) continue;
    const lines = fs.readFileSync(path.join(folder, name), "utf8").split("\n");
    let open = null;
    lines.forEach((text, index) => {
      const begin = text.match(/^\s*\/\/ BEGIN SOLUTION (\d+)\.(\d+) (.*\S)/);
      if (begin) open = { part: `${begin[1]}.${begin[2]}`, title: begin[3], where: `${name}:${index + 1}`, lines: [] };
      else if (open && /^\s*\/\/ END SOLUTION\s*$/.test(text)) {
        if (Number(open.part.split(".")[0]) === number) found.push(open);
        open = null;
      } else if (open && !/^\s*\/\/ (TASK|STUB):/.test(text) && text.trim()) open.lines.push(text.trim());
    });
  }
  return found;
}

function containsRun(haystack, needle) {
  for (let start = 0; start + needle.length <= haystack.length; start++) {
    if (needle.every((line, i) => haystack[start + i] === line)) return true;
  }
  return false;
}

// Runs in the page: what on the current slide lies outside it, or scrolls,
// and the smallest code size in CSS pixels of the window.
function inspect(minPx) {
  const slide = Reveal.getCurrentSlide();
  const slides = document.querySelector(".reveal .slides");
  const box = slides.getBoundingClientRect();
  const scale = box.width / Reveal.getConfig().width;
  const problems = [];
  const name = (el) => el.tagName.toLowerCase() + (el.className && typeof el.className === "string" ? "." + el.className.split(" ")[0] : "");
  for (const el of [slide, ...slide.querySelectorAll("*")]) {
    if (el.closest("aside.notes")) continue;
    if (el.ownerSVGElement) continue; // an SVG clips what it draws: the <svg> itself is checked
    const r = el.getBoundingClientRect();
    if (r.width === 0 && r.height === 0) continue;
    if (r.left < box.left - 1 || r.right > box.right + 1 || r.top < box.top - 1 || r.bottom > box.bottom + 1) {
      problems.push(`${name(el)} "${(el.textContent || "").trim().slice(0, 40)}" outside the slide ` +
        `(${Math.round(r.left)},${Math.round(r.top)})-(${Math.round(r.right)},${Math.round(r.bottom)}) ` +
        `of (${Math.round(box.left)},${Math.round(box.top)})-(${Math.round(box.right)},${Math.round(box.bottom)})`);
      break;
    }
    const style = getComputedStyle(el);
    if ((el.scrollHeight > el.clientHeight + 1 && /auto|scroll/.test(style.overflowY)) ||
        (el.scrollWidth > el.clientWidth + 1 && /auto|scroll/.test(style.overflowX))) {
      problems.push(`${name(el)} scrolls`);
      break;
    }
  }
  if (document.scrollingElement.scrollHeight > innerHeight + 1) problems.push("the page scrolls");
  let smallest = null;
  for (const code of slide.querySelectorAll("pre code")) {
    const px = parseFloat(getComputedStyle(code).fontSize) * scale;
    smallest = smallest === null ? px : Math.min(smallest, px);
  }
  const code = [...slide.querySelectorAll("pre.code .line")].map((l) => l.textContent.trim()).filter(Boolean);
  const headings = [...slide.querySelectorAll("h2, h3")].map((h) => h.textContent.trim());
  return { problems, smallest, code, headings, region: slide.dataset.region || null };
}

// A PNG of every slide at the first size; at the others, of the stage decks
// only (screenshots are most of the test's time).
async function visit(page, deck, width, height, shoot) {
  await page.setViewport({ width, height });
  await page.goto("file://" + path.join(dir, deck), { waitUntil: "load" });
  await page.waitForFunction(() => window.Reveal && Reveal.isReady(), { timeout: 20000 });
  await page.evaluate(() => Reveal.configure({ transition: "none", backgroundTransition: "none" }));
  const count = await page.evaluate(() => Reveal.getTotalSlides());
  check(count > 0 && count <= SLIDE_LIMIT, `${deck}: ${count} slides (1 to ${SLIDE_LIMIT} are visited)`);
  const total = Math.min(count, SLIDE_LIMIT);
  const shots = path.join(dir, "screenshots", `${width}x${height}`, deck.replace(/\.html$/, ""));
  if (shoot) fs.mkdirSync(shots, { recursive: true });
  // Every slide inspected in one call (a slide's layout is done when asked
  // for), then a screenshot of each: round trips cost more than the checks.
  await page.evaluate(`window.inspect = ${inspect}`);
  const seen = await page.evaluate((count, minPx) => {
    const found = [];
    for (let i = 0; i < count; i++) {
      Reveal.slide(i);
      found.push(window.inspect(minPx));
    }
    return found;
  }, total, MIN_CODE_PX);
  seen.forEach((found, index) => {
    const where = `${deck} slide ${index + 1} at ${width}x${height}`;
    check(found.problems.length === 0, `${where}: ${found.problems.join("; ")}`);
    if (found.smallest !== null) {
      check(found.smallest >= MIN_CODE_PX - 0.01, `${where}: code is ${found.smallest.toFixed(1)} px, under ${MIN_CODE_PX}`);
    }
  });
  for (let index = 0; shoot && index < total; index++) {
    await page.evaluate((i) => Reveal.slide(i), index);
    const file = path.join(shots, `${String(index + 1).padStart(3, "0")}.png`);
    await page.screenshot({ path: file, optimizeForSpeed: true, captureBeyondViewport: false });
  }
  return seen;
}

function checkRegions(stage, seen) {
  const code = seen.flatMap((s) => s.code);
  const headings = seen.flatMap((s) => s.headings).join("\n");
  for (const region of regionsOf(path.join(ROOT, stage.folder), stage.number)) {
    const where = `${stage.deck}: region ${region.part} at ${stage.folder}/${region.where}`;
    check(containsRun(code, region.lines), `${where}: its code is on no slide, whole and in order`);
    check(headings.includes(`${region.part} ${region.title}`), `${where}: no slide is titled "${region.part} ${region.title}"`);
  }
}

async function main() {
  if (!fs.existsSync(CHROMIUM)) {
    const message = `test-slides: no Chromium at ${CHROMIUM}: install it (apt-get install chromium) or set CHROMIUM=/path/to/chromium`;
    if (process.env.CI === "true") {
      console.error(message + " (CI=true: a missing browser fails the test)");
      process.exit(1);
    }
    console.log(`${message}; skipped`);
    process.exit(0);
  }
  const puppeteer = require(path.join(dir, "npm", "node_modules", "puppeteer-core"));
  fs.rmSync(path.join(dir, "screenshots"), { recursive: true, force: true });
  const manifest = JSON.parse(fs.readFileSync(path.join(dir, "decks.json"), "utf8"));
  // Two browsers at once, one a core: each takes the next deck and size. (Two
  // pages of one browser would not do: the one behind is throttled.)
  const jobs = [];
  for (const [width, height] of SIZES) {
    for (const stage of manifest.stages.filter((s) => s.deck.includes(only))) jobs.push({ deck: stage.deck, stage, width, height });
    for (const diff of manifest.diffs.filter((d) => d.deck.includes(only))) jobs.push({ deck: diff.deck, width, height });
  }
  const worker = async () => {
    const browser = await puppeteer.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ["--no-sandbox", "--allow-file-access-from-files", "--font-render-hinting=none"],
    });
    try {
      const page = await browser.newPage();
      page.on("pageerror", (error) => failures.push(`page error: ${error.message}`));
      page.on("console", (message) => {
        if (message.type() === "error") failures.push(`console error: ${message.text()}`);
      });
      for (let job = jobs.shift(); job; job = jobs.shift()) {
        const shoot = !expectOverflow && (job.width === SIZES[0][0] || Boolean(job.stage));
        const seen = await visit(page, job.deck, job.width, job.height, shoot);
        if (job.stage && job.width === SIZES[0][0]) checkRegions(job.stage, seen);
      }
    } finally {
      await browser.close();
    }
  };
  await Promise.all([worker(), worker()]);
  const overflowing = failures.filter((f) => / outside the slide|scrolls/.test(f));
  if (expectOverflow) {
    // The decks were cut too long on purpose: the test must say so.
    console.log(`test-slides: the overlong decks in ${dir}: ${overflowing.length} slides seen overflowing, e.g.\n  ${overflowing.slice(0, 3).join("\n  ")}`);
    const ok = overflowing.length > 0;
    console.log(ok ? "overlong: 1 passed, 0 failed" : "overlong: 0 passed, 1 failed (no overflow seen in decks made to overflow)");
    process.exit(ok ? 0 : 1);
  }
  for (const failure of failures.slice(0, 30)) console.log(`FAIL ${failure}`);
  if (failures.length > 30) console.log(`... and ${failures.length - 30} more`);
  console.log(`screenshots: ${path.join(dir, "screenshots")}`);
  console.log(`slides: ${passed} passed, ${failures.length} failed`);
  process.exit(failures.length ? 1 : 0);
}

main().catch((error) => {
  console.error(`test-slides: ${error.stack || error}`);
  process.exit(1);
});
