// no_ipv6_test.cpp: every stage that listens, on a system without IPv6.
//
// A system without IPv6 ("socket": socket(AF_INET6) fails with
// EAFNOSUPPORT) or one that keeps IPv6 sockets IPv6 only ("v6only":
// IPV6_V6ONLY cannot be cleared) is made for the program under test alone
// by support/no_ipv6_shim.cpp (LD_PRELOAD). The default listen falls back
// to 0.0.0.0, -v says why, and IPv4 clients get in; -6 and an explicit
// IPv6 address still fail, as they ask for IPv6 itself. The same code is
// in every stage's open_listener(), so the same tests run on each.
// Stages 5 and 6 keep listening: their fallback tests are in room_tests.inc.
//
// See also: docs/design.md ("-l [ADDRESS] PORT"), support/stages.hpp.

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <string>
#include <tuple>
#include <vector>

#include "fd.hpp"
#include "peers.hpp"
#include "process.hpp"
#include "stages.hpp"

namespace {

using namespace support;

// (program, shim mode)
using Case = std::tuple<std::string, std::string>;

class WithoutIPv6 : public ::testing::TestWithParam<Case> {
 protected:
  std::string program() const { return std::get<0>(GetParam()); }
  std::string mode() const { return std::get<1>(GetParam()); }
};

// Stages 3 and 4 also say, with -v, that the peer closed its end: stages 1
// and 2 only read until it does.
std::string peer_closed_line(const std::string& program) {
  const bool says = program == "stage3-duplex" || program == "stage4-http";
  return says ? "the peer closed its end of the connection\n" : "";
}

// Stages 1 to 4 serve one client: it sends a line over IPv4 and leaves,
// and each prints the line and exits 0.
using OneClient = WithoutIPv6;

TEST_P(OneClient, DefaultListenFallsBackToIPv4) {
  const std::vector<std::string> env = without_ipv6(mode());
  REQUIRE_SHIM(env);
  Process bob = Process::start(stage_program(program()), {"-v", "-l", "0"}, Stdin::null(),
                               Stdout::file(), env);
  const int port = bob.wait_for_listening_port();
  Fd alice = connect_to(AF_INET, port);
  const int alice_port = local_port(alice.get());
  send_all(alice.get(), "over IPv4\n");
  alice.reset();
  ASSERT_EQ(bob.wait(), Exit::code(0)) << bob.stderr_text();
  EXPECT_EQ(bob.stdout_text(), "over IPv4\n");
  EXPECT_EQ(bob.stderr_text(), ipv4_fallback_line(mode()) + "listening on 0.0.0.0 port " +
                                   std::to_string(port) + "\nconnection from 127.0.0.1 port " +
                                   std::to_string(alice_port) + "\n" + peer_closed_line(program()) +
                                   "sent 0 bytes, received 10 bytes\n");
}

INSTANTIATE_TEST_SUITE_P(Shim, OneClient,
                         ::testing::Combine(::testing::Values("stage1-listen", "stage2-connect",
                                                              "stage3-duplex", "stage4-http"),
                                            ::testing::Values("socket", "v6only")));

// -6 and an explicit address ask for IPv6 itself: no fallback, the failure
// is reported as before.
TEST_P(WithoutIPv6, MinusSixAndAnAddressStillFail) {
  const std::vector<std::string> env = without_ipv6(mode());
  REQUIRE_SHIM(env);
  const bool no_socket = mode() == "socket";
  const std::string error = no_socket ? "socket: Address family not supported by protocol"
                                      : "setsockopt IPV6_V6ONLY: Invalid argument";
  std::vector<std::vector<std::string>> cases{{"-l", "::", "0"}};
  if (no_socket) cases.push_back({"-6", "-l", "0"});  // -6 sets IPV6_V6ONLY, which "v6only" allows
  for (const auto& args : cases) {
    SCOPED_TRACE(args[0] + " " + args[1]);
    Process bob =
        Process::start(stage_program(program()), args, Stdin::null(), Stdout::file(), env);
    EXPECT_EQ(bob.wait(), Exit::code(1));
    EXPECT_EQ(bob.stderr_text(), program() + ": " + error + "\n");
  }
}

INSTANTIATE_TEST_SUITE_P(Shim, WithoutIPv6,
                         ::testing::Combine(::testing::Values("stage1-listen", "stage2-connect",
                                                              "stage3-duplex", "stage4-http",
                                                              "stage5-chat", "stage6-class"),
                                            ::testing::Values("socket", "v6only")));

}  // namespace
