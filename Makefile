# Student entry point. `make` builds every stage into bin/ with one plain
# compiler command each, the same command the README gives for building a
# stage by hand. Everything else goes through CMake (see CMakeLists.txt).

CXX      := c++
CXXFLAGS := -std=c++17 -Wall -Wextra -O2
CMAKE    := cmake
JOBS     := 2

STAGES   := $(patsubst %/main.cpp,%,$(sort $(wildcard stage*/main.cpp)))
PROGRAMS := $(addprefix bin/,$(STAGES))

.PHONY: all test sanitize test-stage1 test-stage2 test-stage3 test-stage4 diff clean
all: $(PROGRAMS)

.SECONDEXPANSION:
bin/%: $$(wildcard %/*.cpp %/*.hpp) $(wildcard common/*.hpp)
	@mkdir -p bin
	$(CXX) $(CXXFLAGS) -I common $(filter %.cpp,$^) -o $@

# Configure, build and run every test with ctest.
test:
	$(CMAKE) -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo
	$(CMAKE) --build build -j $(JOBS)
	cd build && ctest --output-on-failure -j $(JOBS)

# The same tests, built with AddressSanitizer and UBSan, in their own folder.
sanitize:
	$(CMAKE) -S . -B build-sanitize -DCMAKE_BUILD_TYPE=Debug -DSANITIZE=ON
	$(CMAKE) --build build-sanitize -j $(JOBS)
	cd build-sanitize && ctest --output-on-failure -j $(JOBS)

# Only the tests a stage needs, e.g. `make test-stage1` (ctest -L stage1).
# A static pattern rule: make skips plain pattern rules for .PHONY targets.
test-stage1 test-stage2 test-stage3 test-stage4: test-stage%:
	$(CMAKE) -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo
	$(CMAKE) --build build -j $(JOBS)
	cd build && ctest --output-on-failure -L stage$*

# `make diff FROM=2 TO=3`: what stage 3 adds to stage 2, ready to project.
FROM := 1
TO   := 2
diff:
	@diff -ru $(wildcard stage$(FROM)-*) $(wildcard stage$(TO)-*); test $$? -le 1

clean:
	rm -rf bin build build-sanitize build-bench build-fuzz

# `make demo`: the whole exercise on this machine, offline, in seconds
# (demo/run.sh). `make demo URL=http://www.google.com/` also fetches that
# page, online; only a URL given on the command line is used.
.PHONY: demo
demo: all
	@bash demo/run.sh $(if $(filter command line,$(origin URL)),'$(URL)')
