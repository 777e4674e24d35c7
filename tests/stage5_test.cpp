// stage5_test.cpp: the built stage5-chat hosting a room: the host typing on
// stdin beside OpenBSD nc and stage3-duplex as clients, and scripted clients
// by the thousand (support/chat_peers.hpp) that type one byte at a time,
// send a megabyte without a newline, NUL bytes and CRLF, reset mid-line,
// stop reading under a flood, fill the room (-m) or the server's descriptor
// table (EMFILE); and the signals that close it. Those tests are in
// room_tests.inc, which stage6_test.cpp runs against stage 6 too.
//
// The oracle is the stage 5 contract (what each party sees, word for word,
// and the -v lines). Only loopback is used, with ports the system chooses.
// No test asserts on elapsed time: where "no busy loop" must be shown, the
// server's CPU time is read from /proc instead. A server stopped with
// SIGSTOP (to let a storm pile up in its backlog) is always continued.
//
// See also: docs/design.md (stage 5), docs/stage5-chat.md; support/rooms.hpp;
// stage3_test.cpp.

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <regex>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "chat_peers.hpp"
#include "data.hpp"
#include "error.hpp"
#include "fd.hpp"
#include "peers.hpp"
#include "process.hpp"
#include "rooms.hpp"
#include "stages.hpp"

namespace {

using namespace support;
using Clock = std::chrono::steady_clock;

// What sets stage 5 apart in the tests both stages run (room_tests.inc).
const std::string kStage = "stage5-chat";
const bool kNicks = false;
const std::vector<std::string> kUnpaced;  // stage 5 has no pacing to turn off
const std::string kUsage = "usage: stage5-chat [-v] [-4|-6] [-m MAX] -l [ADDRESS] PORT";
const std::vector<std::string> kOptionsHelped{"-m MAX"};
const std::vector<RefusedCommandLine> kOwnUsageErrors;  // beyond those both stages share

// The welcome counts the others HERE; stage 6's names them too.
std::string welcome(const std::string& name, const Lines& here = {}) {
  return "* you are " + name + ", " + std::to_string(here.size()) +
         (here.size() == 1 ? " other" : " others") + " here";
}

#define STAGE_SUITE(name) Stage5##name
#include "room_tests.inc"

}  // namespace
