// args_fuzz.cpp: a libFuzzer target for the command line of one stage.
//
// Purpose: the command line is what users type first, and each stage reads
// it with its own parse_args() (getopt_long, then the operands: PORT,
// ADDRESS, HOST, -w SECONDS, a URL, -m MAX). The input is split on NUL bytes into
// argv words, as the shell would hand them over, and given to that
// function; for a listener, listen_address() then reads ADDRESS. Checked,
// on top of the sanitizers' memory and undefined-behaviour checks:
//   - the outcome is Options or a UsageError that says why; nothing else
//     escapes (anything else would be a crash with exit status 1, not 2);
//   - "unknown option X" names X as it was typed: a whole --word, or -c
//     with c inside a group of short options;
//   - Options that parse are usable: a port other than 0 unless listening,
//     a family of AF_UNSPEC, AF_INET or AF_INET6, -w within its bounds.
// A broken promise aborts, which libFuzzer reports as a crash with the input.
//
// The stage's main.cpp is included whole, its main() renamed, so the stage
// code is fuzzed exactly as it is, anonymous namespace and all: run.sh
// compiles this file once per stage, with STAGE_MAIN naming its main.cpp
// and STAGE its number.
//
// Usage: fuzz/run.sh [BUILD_DIR] [SECONDS] args_stage1 ... args_stage6
//
// See also: getopt_long(3) ("optind = 0" restarts it), url_fuzz.cpp.
#include <getopt.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <string_view>
#include <vector>

#define main stage_main  // libFuzzer brings its own main()
#include STAGE_MAIN
#undef main

namespace {

void check(bool promise_kept, const char* promise) {
  if (promise_kept) return;
  std::fprintf(stderr, "broken promise: %s\n", promise);
  std::abort();
}

// Whether `name` is how one of `words` spelled an option: the whole word
// ("--bogus", "--help=1"), or "-c" with c in a word such as "-vc".
bool typed(std::string_view name, const std::vector<std::string>& words) {
  for (const std::string& word : words) {
    if (word == name) return true;
    const bool short_group = word.size() > 1 && word[0] == '-' && word[1] != '-';
    if (name.size() == 2 && name[0] == '-' && short_group &&
        word.find(name[1], 1) != std::string::npos) {
      return true;
    }
  }
  return false;
}

void check_usage_error(const UsageError& e, const std::vector<std::string>& words) {
  const std::string_view why = e.what();
  check(!why.empty(), "a usage error says why");
  const std::string_view unknown = "unknown option ";
  if (why.rfind(unknown, 0) == 0) {
    check(typed(why.substr(unknown.size()), words), "an unknown option is named as it was typed");
  }
}

void check_options(const Options& options) {
  if (options.help) return;
  check(options.listen || options.port != 0, "port 0 is for listening only");
  check(options.family == AF_UNSPEC || options.family == AF_INET || options.family == AF_INET6,
        "the family is one of AF_UNSPEC, AF_INET, AF_INET6");
#if STAGE == 3 || STAGE == 4
  check(options.timeout_ms == -1 || (options.timeout_ms >= 1000 && options.timeout_ms <= 86400000),
        "-w is 1 s to a day, or not given");
#endif
#if STAGE == 5 || STAGE == 6
  check(options.listen, "the room only listens");
  check(options.max_clients >= 1 &&
            (options.max_clients <= 1000000 || options.max_clients == SIZE_MAX),
        "-m is 1 to a million, or not given");
#endif
#if STAGE == 4
  if (options.url) {
    check(!options.listen && !options.crlf, "a URL goes with neither -l nor -C");
    check(options.host == options.url->host && options.port == options.url->port,
          "HOST and PORT come from the URL");
    check(options.timeout_ms > 0, "-w has a default with a URL");
  } else {
    check(!options.body_only, "--body goes with a URL");
  }
#endif
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* bytes, std::size_t size) {
  // argv: the program's name, then the input's words, each ended by a NUL
  // or by the end of the input ("" is no word, "\0" one empty word).
  std::vector<std::string> words{"stage"};
  const std::string_view input(reinterpret_cast<const char*>(bytes), size);
  for (std::size_t start = 0; start < input.size();) {
    const std::size_t end = std::min(input.find('\0', start), input.size());
    words.emplace_back(input.substr(start, end - start));
    start = end + 1;
  }
  std::vector<char*> argv;
  for (std::string& word : words)
    argv.push_back(word.data());
  argv.push_back(nullptr);
  const std::vector<std::string> typed_words(words.begin() + 1, words.end());

  optind = 0;  // glibc: start getopt over, forgetting the last run (the BSDs: optreset = 1)
  try {
    Options options = parse_args(static_cast<int>(words.size()), argv.data());
    check_options(options);
    if (!options.help && options.listen) listen_address(options);
  } catch (const UsageError& e) {
    check_usage_error(e, typed_words);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "unexpected exception: %s\n", e.what());
    check(false, "parse_args() throws UsageError and nothing else");
  }
  return 0;
}
