// stages.hpp: what every stage program has in common, as checks: the usage
// text, usage errors, and stderr lines matched whole.
//
// Purpose: docs/design.md fixes one convention for every stage: a usage error
// exits 2 with "PROGRAM: reason", then the usage text, on stderr, and -h
// prints that same usage text on stdout. These checks hold each stage to it
// and report the difference in full when a stage strays.
//
// Usage:
//   EXPECT_TRUE(is_usage_error(stage_program("stage1-listen"), {"-l"},
//                              "expected -l [ADDRESS] PORT"));
//   EXPECT_TRUE(matches(client.stderr_text(), "connected to " + quote("::1") + " port \\d+\n"));
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

#include "peers.hpp"  // SKIP_OR_FAIL_IN_CI
#include "process.hpp"

namespace support {

// What `program -h` prints on stdout (computed once per program).
std::string usage_text(const std::string& program);

// Runs `program args`: success when it exits 2 having printed nothing on
// stdout and exactly "NAME: reason\n" followed by usage_text() on stderr,
// NAME being the last part of the program's path.
::testing::AssertionResult is_usage_error(const std::string& program,
                                          const std::vector<std::string>& args,
                                          const std::string& reason);

// A command line a stage refuses, and the reason it must give.
struct RefusedCommandLine {
  std::vector<std::string> args;
  std::string reason;
};

// Found by fuzzing (fuzz/args_fuzz.cpp): for a long option given a value
// it does not take, getopt sets optopt to the option's own letter, and the
// message named -h (for --body, a NUL byte). Every stage names the word as
// typed: these command lines, refused so.
extern const std::vector<RefusedCommandLine> kLongOptionsGivenAValue;

// is_usage_error() for every one of `cases`: the failure tells each one
// that was not refused as it must be.
::testing::AssertionResult are_usage_errors(const std::string& program,
                                            const std::vector<RefusedCommandLine>& cases);

// Success when the whole of `text` matches the ECMAScript regex `pattern`.
::testing::AssertionResult matches(const std::string& text, const std::string& pattern);

// `text` with every regex special character escaped, e.g. for addresses.
std::string quote(std::string_view text);

// Success when `program` has said `text` on stderr and still runs (-v's
// "trying WHERE\n" while connect() waits, say); the failure shows stderr.
::testing::AssertionResult says_while_running(Process& program, const std::string& text);

// Success when `err`, a listener's -v, is "listening on WHERE port PORT\n"
// then "connection from CLIENT port N\n" (N: whatever port the client had),
// then `rest`, word for word.
::testing::AssertionResult served_one_client(const std::string& err, const std::string& where,
                                             const std::string& port, const std::string& client,
                                             const std::string& rest);

// What -v says when the first address tried connects, newline included:
// "trying WHERE\nconnected to WHERE\n", WHERE as "127.0.0.1 port 3000".
std::string connected_lines(const std::string& where);

// The -v summary of stages 1 to 4, newline included: "sent N bytes,
// received M bytes\n".
std::string bytes_summary(std::size_t sent, std::size_t received);

// The environment for Process::start that makes a stage program see a system
// without IPv6 (support/no_ipv6_shim.cpp, LD_PRELOAD): with `mode` "socket",
// socket(AF_INET6) fails with EAFNOSUPPORT; with "v6only", IPV6_V6ONLY
// cannot be cleared (EINVAL). Empty where the shim is not built (not
// Linux): REQUIRE_SHIM() then.
std::vector<std::string> without_ipv6(const std::string& mode = "socket");

// The environment for Process::start that gives a stage program the name
// `name`, resolved to `addresses` (numeric, IPv4 or IPv6) in that order,
// whatever the hosts file says (support/fake_hosts_shim.cpp, LD_PRELOAD).
// Empty where the shim is not built (not Linux): REQUIRE_SHIM() then.
std::vector<std::string> with_host(const std::string& name,
                                   const std::vector<std::string>& addresses);

// In a test body, after `env = without_ipv6()` or `with_host()`: skip the
// test where the shim is not built (not Linux), or fail it when CI=true.
#define REQUIRE_SHIM(env)                                                                  \
  do {                                                                                     \
    if ((env).empty()) SKIP_OR_FAIL_IN_CI("the LD_PRELOAD shims are built on Linux only"); \
  } while (false)

// two.test, resolved to 127.0.0.1 then 127.0.0.2 (with_host()), where
// 127.0.0.1 at `port` never answers (a SilentListener): what the tests of
// -w over several addresses connect to. In a test body, REQUIRE_SILENT(first)
// and REQUIRE_SHIM(env) first.
struct SilentFirstOfTwo {
  SilentListener first;
  std::vector<std::string> env = with_host("two.test", {"127.0.0.1", "127.0.0.2"});
  std::string port = std::to_string(first.port());
};

// "stage2" for "stage2-connect": test names (INSTANTIATE_TEST_SUITE_P's
// last argument) say which stage.
std::string stage_only(const ::testing::TestParamInfo<const char*>& program);

// The -v line a stage prints when its default listen falls back to 0.0.0.0
// under without_ipv6(mode), newline included.
std::string ipv4_fallback_line(const std::string& mode = "socket");

}  // namespace support
