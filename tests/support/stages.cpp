// stages.cpp: checks of the conventions every stage follows.

#include "stages.hpp"

#include <cstdlib>
#include <map>
#include <regex>

#include "process.hpp"

namespace support {

std::string usage_text(const std::string& program) {
  static std::map<std::string, std::string> known;
  const auto found = known.find(program);
  if (found != known.end()) return found->second;
  Result help = run(program, {"-h"});
  if (help.exit != Exit::code(0) || help.out.rfind("usage: ", 0) != 0) {
    throw std::runtime_error(program + " -h did not print a usage text");
  }
  return known[program] = help.out;
}

::testing::AssertionResult is_usage_error(const std::string& program,
                                          const std::vector<std::string>& args,
                                          const std::string& reason) {
  const std::string name = program.substr(program.find_last_of('/') + 1);
  const std::string expected = name + ": " + reason + "\n" + usage_text(program);
  Result result = run(program, args);
  std::string command = name;
  for (const std::string& arg : args)
    command += " '" + arg + "'";
  if (result.exit == Exit::code(2) && result.out.empty() && result.err == expected) {
    return ::testing::AssertionSuccess();
  }
  ::testing::AssertionResult failure = ::testing::AssertionFailure();
  failure << command << "\n  ended with: " << result.exit << " (expected exit status 2)";
  if (!result.out.empty()) failure << "\n  printed on stdout: " << result.out;
  if (result.err != expected) {
    failure << "\n  stderr:   " << ::testing::PrintToString(result.err)
            << "\n  expected: " << ::testing::PrintToString(expected);
  }
  return failure;
}

const std::vector<RefusedCommandLine> kLongOptionsGivenAValue = {
    {{"--help=1", "-l", "3000"}, "unknown option --help=1"},
    {{"--=1", "-l", "3000"}, "unknown option --=1"},
};

::testing::AssertionResult are_usage_errors(const std::string& program,
                                            const std::vector<RefusedCommandLine>& cases) {
  ::testing::AssertionResult failure = ::testing::AssertionFailure();
  bool failed = false;
  for (const RefusedCommandLine& test : cases) {
    const ::testing::AssertionResult refused = is_usage_error(program, test.args, test.reason);
    if (!refused) failure << (failed ? "\n" : "") << refused.message();
    failed = failed || !refused;
  }
  return failed ? failure : ::testing::AssertionSuccess();
}

::testing::AssertionResult says_while_running(Process& program, const std::string& text) {
  if (!program.wait_for_stderr(text)) {
    return ::testing::AssertionFailure() << "expected " << ::testing::PrintToString(text)
                                         << " on stderr while it runs; stderr was: "
                                         << ::testing::PrintToString(program.stderr_text());
  }
  if (program.running()) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << "it said " << ::testing::PrintToString(text) << ", then ended: " << program.wait()
         << "; stderr was: " << ::testing::PrintToString(program.stderr_text());
}

::testing::AssertionResult served_one_client(const std::string& err, const std::string& where,
                                             const std::string& port, const std::string& client,
                                             const std::string& rest) {
  return matches(err, "listening on " + quote(where) + " port " + quote(port) +
                          "\nconnection from " + quote(client) + " port \\d+\n" + quote(rest));
}

std::string stage_only(const ::testing::TestParamInfo<const char*>& program) {
  const std::string name = program.param;
  return name.substr(0, name.find('-'));
}

::testing::AssertionResult matches(const std::string& text, const std::string& pattern) {
  if (std::regex_match(text, std::regex(pattern))) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << ::testing::PrintToString(text) << "\n  does not match the pattern\n"
         << ::testing::PrintToString(pattern);
}

std::string quote(std::string_view text) {
  static const std::string special = R"(\^$.|?*+()[]{})";
  std::string quoted;
  for (char c : text) {
    if (special.find(c) != std::string::npos) quoted += '\\';
    quoted += c;
  }
  return quoted;
}

namespace {

// LD_PRELOAD=`shim`, plus the settings in `env`. Sanitizer builds: the ASan
// runtime wants to be the first library loaded and stops the program when a
// preloaded one comes before it; the shims only pass calls on, so that check
// is turned off. Options already set are kept.
[[maybe_unused]] std::vector<std::string> preload(const std::string& shim,
                                                  std::vector<std::string> env) {
  const char* asan = std::getenv("ASAN_OPTIONS");
  std::string asan_options = asan != nullptr && *asan != '\0' ? std::string(asan) + ":" : "";
  env.push_back("LD_PRELOAD=" + shim);
  env.push_back("ASAN_OPTIONS=" + asan_options + "verify_asan_link_order=0");
  return env;
}

}  // namespace

std::vector<std::string> without_ipv6(const std::string& mode) {
#ifdef NO_IPV6_SHIM
  return preload(NO_IPV6_SHIM, {"NO_IPV6_SHIM=" + mode});
#else
  (void)mode;
  return {};
#endif
}

std::vector<std::string> with_host(const std::string& name,
                                   const std::vector<std::string>& addresses) {
#ifdef FAKE_HOSTS_SHIM
  std::string list;
  for (const std::string& address : addresses)
    list += (list.empty() ? "" : ",") + address;
  return preload(FAKE_HOSTS_SHIM, {"FAKE_HOSTS_SHIM=" + name + "=" + list});
#else
  (void)name;
  (void)addresses;
  return {};
#endif
}

std::string ipv4_fallback_line(const std::string& mode) {
  const std::string why = mode == "v6only" ? "setsockopt IPV6_V6ONLY: Invalid argument"
                                           : "socket: Address family not supported by protocol";
  return "no dual-stack socket here (" + why + "): listening on IPv4 only\n";
}

std::string bytes_summary(std::size_t sent, std::size_t received) {
  return "sent " + std::to_string(sent) + " bytes, received " + std::to_string(received) +
         " bytes\n";
}

std::string connected_lines(const std::string& where) {
  return "trying " + where + "\nconnected to " + where + "\n";
}

}  // namespace support
