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

namespace support {

// What `program -h` prints on stdout (computed once per program).
std::string usage_text(const std::string& program);

// Runs `program args`: success when it exits 2 having printed nothing on
// stdout and exactly "NAME: reason\n" followed by usage_text() on stderr,
// NAME being the last part of the program's path.
::testing::AssertionResult is_usage_error(const std::string& program,
                                          const std::vector<std::string>& args,
                                          const std::string& reason);

// Success when the whole of `text` matches the ECMAScript regex `pattern`.
::testing::AssertionResult matches(const std::string& text, const std::string& pattern);

// `text` with every regex special character escaped, e.g. for addresses.
std::string quote(std::string_view text);

// What -v says when the first address tried connects, newline included:
// "trying WHERE\nconnected to WHERE\n", WHERE as "127.0.0.1 port 3000".
std::string connected_lines(const std::string& where);

// The environment for Process::start that makes a stage program see a system
// without IPv6 (support/no_ipv6_shim.cpp, LD_PRELOAD): with `mode` "socket",
// socket(AF_INET6) fails with EAFNOSUPPORT; with "v6only", IPV6_V6ONLY
// cannot be cleared (EINVAL). Empty where the shim is not built (not
// Linux): call GTEST_SKIP() then.
std::vector<std::string> without_ipv6(const std::string& mode = "socket");

// The environment for Process::start that gives a stage program the name
// `name`, resolved to `addresses` (numeric, IPv4 or IPv6) in that order,
// whatever the hosts file says (support/fake_hosts_shim.cpp, LD_PRELOAD).
// Empty where the shim is not built (not Linux): call GTEST_SKIP() then.
std::vector<std::string> with_host(const std::string& name,
                                   const std::vector<std::string>& addresses);

// The -v line a stage prints when its default listen falls back to 0.0.0.0
// under without_ipv6(mode), newline included.
std::string ipv4_fallback_line(const std::string& mode = "socket");

}  // namespace support
