// every_address_test.cpp: every stage that connects (2, 3, 4) tries each
// address getaddrinfo returns, in order, until one connects, on any machine.
//
// Why a name of the test's own: "localhost" has two addresses (127.0.0.1
// and ::1) on some machines and one on others, so Stage2Connect.
// TriesEveryAddressInOrder skips where localhost is IPv4 only, and there a
// program that stops after the first failed address passes. Editing
// /etc/hosts needs root and changes the whole machine; a mount namespace
// with a hosts file of our own needs privileges many machines deny. So the
// program under test alone gets the name "fallback.test" (.test is reserved,
// RFC 2606: it never means a real host) from support/fake_hosts_shim.cpp
// (LD_PRELOAD), with the addresses in an order the test chooses.
//
// Why 127.0.0.2 and 127.0.0.3 as the addresses nobody listens on: Linux
// routes all of 127.0.0.0/8 to the loopback interface, so a connect there is
// refused at once (RST), never left to time out. The test's server listens on
// 127.0.0.1 at the same port, which keeps a wildcard listener off that port
// (it would conflict), so nothing answers on 127.0.0.2 or 127.0.0.3 either.
// A closed port on 127.0.0.1 instead would need the shim to rewrite ports,
// and a port free a moment ago may be taken meanwhile.
//
// The -v lines are compared after keeping only those about the attempts
// ("trying", "connect to ... failed", "connected to"): their order is the
// lesson here, and the other lines (the summary) are checked by each
// stage's own tests.
//
// See also: docs/design.md ("HOST PORT"), support/fake_hosts_shim.cpp,
// stage2_test.cpp (TriesEveryAddressInOrder, over localhost).

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <string>
#include <vector>

#include "data.hpp"
#include "fd.hpp"
#include "peers.hpp"
#include "process.hpp"
#include "stages.hpp"

namespace {

using namespace support;

const char kName[] = "fallback.test";

// The -v lines that tell the attempts, in order.
std::string attempts(const std::string& err) {
  std::string kept;
  for (const std::string& line : lines_of(err)) {
    for (const char* start_of_attempt : {"trying ", "connect to ", "connected to "})
      if (line.rfind(start_of_attempt, 0) == 0) kept += line + "\n";
  }
  return kept;
}

std::string trying(const std::string& address, const std::string& port) {
  return "trying " + address + " port " + port + "\n";
}

// An attempt refused, and another one to follow.
std::string refused(const std::string& address, const std::string& port) {
  return trying(address, port) + "connect to " + address + " port " + port +
         " failed: Connection refused\n";
}

std::string connected(const std::string& address, const std::string& port) {
  return trying(address, port) + "connected to " + address + " port " + port + "\n";
}

// True when a client waits in `server`'s listen queue.
bool waiting(const LoopbackServer& server) {
  pollfd slot{server.fd(), POLLIN, 0};
  return poll(&slot, 1, 0) == 1;
}

class EveryAddress : public ::testing::TestWithParam<const char*> {
 protected:
  // Alice runs `args` with `addresses` for fallback.test, sending `text`;
  // Bob (on 127.0.0.1) must receive it whole. Returns Alice's stderr.
  std::string connect_through(const std::vector<std::string>& addresses, bool verbose,
                              LoopbackServer& bob) {
    const std::vector<std::string> env = with_host(kName, addresses);
    TempDir dir;
    const std::string input = dir.file("input");
    write_file(input, "hello through the fallback\n");
    std::vector<std::string> args{kName, std::to_string(bob.port())};
    if (verbose) args.insert(args.begin(), "-v");
    Process alice =
        Process::start(stage_program(GetParam()), args, Stdin::file(input), Stdout::file(), env);
    if (!eventually([&] { return waiting(bob) || !alice.running(); }) || !waiting(bob)) {
      ADD_FAILURE() << GetParam() << " never connected to 127.0.0.1 (the only address of " << kName
                    << " that listens); " << alice.wait() << ", stderr:\n"
                    << alice.stderr_text();
      return alice.stderr_text();
    }
    Fd connection = bob.accept();
    EXPECT_EQ(receive_all(connection.get()), "hello through the fallback\n")
        << GetParam() << " sent that after connecting; stderr:\n"
        << alice.stderr_text();
    connection.reset();
    EXPECT_EQ(alice.wait(), Exit::code(0)) << alice.stderr_text();
    return alice.stderr_text();
  }
};

// Two addresses that refuse, then the one that listens: both failures are
// told in order, then the connection, and the text goes through.
TEST_P(EveryAddress, TriesEachAddressInOrderUntilOneConnects) {
  REQUIRE_SHIM(with_host(kName, {}));
  LoopbackServer bob(AF_INET);
  const std::string port = std::to_string(bob.port());
  const std::string err = connect_through({"127.0.0.2", "127.0.0.3", "127.0.0.1"}, true, bob);
  EXPECT_EQ(attempts(err),
            refused("127.0.0.2", port) + refused("127.0.0.3", port) + connected("127.0.0.1", port))
      << "fallback.test was 127.0.0.2, 127.0.0.3, 127.0.0.1 (only 127.0.0.1 listens); "
         "full stderr:\n"
      << err;
}

// It stops at the first address that connects: the one after is never
// tried. Without -v, nothing is said about the refused one.
TEST_P(EveryAddress, StopsAtTheFirstThatConnects) {
  REQUIRE_SHIM(with_host(kName, {}));
  LoopbackServer bob(AF_INET);
  const std::string port = std::to_string(bob.port());
  const std::string err = connect_through({"127.0.0.2", "127.0.0.1", "127.0.0.3"}, true, bob);
  EXPECT_EQ(attempts(err), refused("127.0.0.2", port) + connected("127.0.0.1", port))
      << "fallback.test was 127.0.0.2, 127.0.0.1, 127.0.0.3 (only 127.0.0.1 listens); "
         "full stderr:\n"
      << err;
  EXPECT_EQ(connect_through({"127.0.0.2", "127.0.0.1"}, false, bob), "");
}

// When every address refuses, each is tried, and the last failure is the
// error (said once, not also as a -v line), exit 1.
TEST_P(EveryAddress, AllRefusedReportsTheLast) {
  REQUIRE_SHIM(with_host(kName, {}));
  const std::string port = std::to_string(unused_port(AF_INET));
  Process alice = Process::start(stage_program(GetParam()), {"-v", kName, port}, Stdin::null(),
                                 Stdout::file(), with_host(kName, {"127.0.0.2", "127.0.0.3"}));
  EXPECT_EQ(alice.wait(), Exit::code(1));
  const std::string err = alice.stderr_text();
  EXPECT_EQ(attempts(err), refused("127.0.0.2", port) + trying("127.0.0.3", port)) << err;
  EXPECT_NE(err.find(std::string(GetParam()) + ": connect to 127.0.0.3 port " + port +
                     ": Connection refused\n"),
            std::string::npos)
      << err;
}

INSTANTIATE_TEST_SUITE_P(Stages, EveryAddress,
                         ::testing::Values("stage2-connect", "stage3-duplex", "stage4-http"),
                         stage_only);

}  // namespace
