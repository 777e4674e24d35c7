// pdf_slides.cjs: make slides-pdf. Each deck in DIR printed by headless
// Chromium with reveal.js's ?print-pdf layout: DIR/pdf/DECK.pdf, a page a
// slide, 1280x720. The page count is checked against the deck's slides.
//
// node tools/slides/pdf_slides.cjs DIR
"use strict";
const fs = require("fs");
const path = require("path");

const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
const dir = path.resolve(process.argv[2] || "build-slides");

// Pages of a PDF as Chromium (Skia) writes it: one "/Type /Page" object each.
function pageCount(file) {
  return (fs.readFileSync(file, "latin1").match(/\/Type\s*\/Page(?![a-z])/g) || []).length;
}

async function main() {
  if (!fs.existsSync(CHROMIUM)) {
    console.error(`slides-pdf: no Chromium at ${CHROMIUM}: install it (apt-get install chromium) or set CHROMIUM=/path/to/chromium`);
    process.exit(1);
  }
  const puppeteer = require(path.join(dir, "npm", "node_modules", "puppeteer-core"));
  const manifest = JSON.parse(fs.readFileSync(path.join(dir, "decks.json"), "utf8"));
  const decks = [...manifest.stages, ...manifest.diffs].map((d) => d.deck);
  fs.mkdirSync(path.join(dir, "pdf"), { recursive: true });
  const browser = await puppeteer.launch({ executablePath: CHROMIUM, headless: true, args: ["--no-sandbox", "--allow-file-access-from-files"] });
  let wrong = 0;
  try {
    const page = await browser.newPage();
    for (const deck of decks) {
      await page.goto(`file://${path.join(dir, deck)}?print-pdf`, { waitUntil: "load" });
      // Ready, and laid out for print: each slide in a .pdf-page of its own.
      await page.waitForFunction(() => window.Reveal && Reveal.isReady() && document.querySelector(".pdf-page"), { timeout: 20000 });
      const slides = await page.evaluate(() => document.querySelectorAll(".reveal .slides section").length);
      const file = path.join(dir, "pdf", deck.replace(/\.html$/, ".pdf"));
      await page.pdf({ path: file, width: "1280px", height: "720px", printBackground: true, preferCSSPageSize: true });
      const pages = pageCount(file);
      if (pages !== slides) wrong++;
      console.log(`${path.relative(process.cwd(), file)}: ${pages} pages for ${slides} slides${pages === slides ? "" : " (should be equal)"}`);
    }
  } finally {
    await browser.close();
  }
  process.exit(wrong ? 1 : 0);
}

main().catch((error) => {
  console.error(`slides-pdf: ${error.stack || error}`);
  process.exit(1);
});
