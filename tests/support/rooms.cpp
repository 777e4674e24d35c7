// rooms.cpp: see rooms.hpp.
#include "rooms.hpp"

#include <signal.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <utility>

namespace support {

std::string summary(std::size_t clients, std::size_t lines) {
  return "served " + std::to_string(clients) + " clients, relayed " + std::to_string(lines) +
         " lines\n";
}

Lines said_by(const Lines& lines, const std::string& name) {
  Lines said;
  const std::string prefix = msg::said(name, "");
  for (const std::string& line : lines)
    if (line.rfind(prefix, 0) == 0) said.push_back(line.substr(prefix.size()));
  return said;
}

// The last whole line of `text` with its "\n", or "" if there is none.
std::string last_line(const std::string& text) {
  const Lines lines = lines_of(text);
  return lines.empty() ? "" : lines.back() + "\n";
}

bool has_line(const std::string& text, const std::string& line) {
  const std::string whole = "\n" + line + "\n";
  return text.compare(0, line.size() + 1, line + "\n") == 0 ||
         text.find(whole) != std::string::npos;
}

// The name in a welcome line, "* you are NAME, N others here; ...".
std::string name_in_welcome(const std::string& line) {
  const std::string prefix = "* you are ";
  if (line.compare(0, prefix.size(), prefix) != 0) return "";
  return line.substr(prefix.size(), line.find(',') - prefix.size());
}

// The port in a name, "127.0.0.1:PORT" or "[::1]:PORT".
std::string port_of(const std::string& name) {
  return name.substr(name.rfind(':') + 1);
}

Room open_room(const std::string& program, const std::vector<std::string>& options, Stdin in,
               const std::string& address, Stdout out, const std::vector<std::string>& env) {
  std::vector<std::string> args{"-v"};
  args.insert(args.end(), options.begin(), options.end());
  args.push_back("-l");
  if (!address.empty()) args.push_back(address);
  args.push_back("0");
  Process server = Process::start(program, args, std::move(in), std::move(out), env);
  const int port = server.wait_for_listening_port();
  return Room{std::move(server), port};
}

void RoomTest::open(const std::string& program, const std::vector<std::string>& options, Stdin in,
                    const std::string& address, Stdout out, const std::vector<std::string>& env) {
  room = open_room(program, options, std::move(in), address, std::move(out), env);
  peers = ChatPeers(AF_INET, room.port, room.server);
}

// Connects one more client (over IPv4 unless `family` says otherwise) and
// waits for its welcome; returns its index.
std::size_t join(ChatPeers& peers, int family, int receive_buffer) {
  const std::size_t i = peers.connect_over(family, 1, receive_buffer);
  // Without its welcome the test cannot go on: it ends here (gtest reports
  // the exception as the test's failure, and the room is stopped as ever).
  if (!peers.wait_for_lines(i, 1))
    throw std::runtime_error("no welcome for client " + std::to_string(i) +
                             ": does the room accept clients and greet them?");
  return i;
}

bool pump_until_all(ChatPeers& peers, std::size_t first,
                    const std::function<bool(std::size_t)>& done) {
  return peers.pump_until([&] {
    for (std::size_t i = first; i < peers.size(); ++i)
      if (!done(i)) return false;
    return true;
  });
}

// Pumps `peers` until client `i` has received `line`.
::testing::AssertionResult heard(ChatPeers& peers, std::size_t i, const std::string& line) {
  if (peers.pump_until([&] { return peers.has_line(i, line); }))
    return ::testing::AssertionSuccess();
  ::testing::AssertionResult failure = ::testing::AssertionFailure();
  failure << peers[i].name << " never got " << ::testing::PrintToString(line) << "; it got:";
  for (const std::string& got : peers[i].lines)
    failure << "\n  " << ::testing::PrintToString(got);
  return failure;
}

// Pumps `peers` until the host's screen (the server's stdout) shows `line`;
// on failure, says the screen's last lines (a flood's screen is megabytes).
::testing::AssertionResult on_screen(Process& server, ChatPeers& peers, const std::string& line,
                                     Millis timeout) {
  if (peers.pump_until([&] { return has_line(server.stdout_text(), line); }, timeout))
    return ::testing::AssertionSuccess();
  const std::string screen = server.stdout_text();
  std::size_t from = screen.size();
  for (int n = 0; n <= 20 && from != std::string::npos && from > 0; ++n)
    from = screen.rfind('\n', from - 1);
  from = from == std::string::npos ? 0 : from + 1;
  return ::testing::AssertionFailure()
         << "the host's screen never showed " << ::testing::PrintToString(line)
         << (from > 0 ? "; its last lines:\n" : "; it shows:\n") << screen.substr(from);
}

// Waits until a real client's stdout (a file) shows `line`.
::testing::AssertionResult shows(Process& program, const std::string& line) {
  if (eventually([&] { return has_line(program.stdout_text(), line); }))
    return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << program.program() << " never printed "
                                       << ::testing::PrintToString(line) << "; it printed:\n"
                                       << program.stdout_text();
}

// Ends the room with SIGTERM; true when it exits 0. Then reads what the
// clients that still read were sent last ("* server closing"), to the end.
::testing::AssertionResult closes(Process& server, ChatPeers& peers) {
  server.send_signal(SIGTERM);
  peers.pump_until([&] { return !server.running(); });
  const Exit exit = server.wait();
  peers.pump_until([&] {
    for (std::size_t i = 0; i < peers.size(); ++i)
      if (peers[i].fd && peers[i].reading && !peers[i].ended) return false;
    return true;
  });
  if (exit == Exit::code(0)) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << server.program() << ": " << exit << "; stderr:\n"
                                       << server.stderr_text();
}

// CPU time (user + system) a process has used, in clock ticks; -1 if gone.
long cpu_ticks(pid_t pid) {
  std::ifstream file("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  const std::size_t end_of_name = stat.rfind(')');
  if (end_of_name == std::string::npos) return -1;
  std::istringstream fields(stat.substr(end_of_name + 2));
  std::string field;
  long utime = 0, stime = 0;
  // After the name: state is field 3; utime and stime are fields 14 and 15.
  for (int number = 3; number <= 15 && fields >> field; ++number) {
    if (number == 14) utime = std::strtol(field.c_str(), nullptr, 10);
    if (number == 15) stime = std::strtol(field.c_str(), nullptr, 10);
  }
  return utime + stime;
}

// The clients an announcement line stands for: "* NAME joined" is one,
// "* K clients joined" is K; 0 for any other line. Likewise for "left".
std::size_t announced(const std::string& line, const std::string& verb) {
  if (line.rfind("* ", 0) != 0) return 0;
  const std::string storm = " clients " + verb;
  if (line.size() > storm.size() &&
      line.compare(line.size() - storm.size(), storm.size(), storm) == 0) {
    return std::strtoul(line.c_str() + 2, nullptr, 10);
  }
  const std::string one = " " + verb;
  if (line.size() > one.size() && line.compare(line.size() - one.size(), one.size(), one) == 0 &&
      line.find(' ', 2) == line.size() - one.size()) {
    return 1;
  }
  return 0;
}

// A conversation checked at scale, where `said` maps each client's name to
// the one line it sent: every client must have received each other
// client's line exactly once ("<NAME> TEXT"), and not its own; "* " lines
// are skipped. Returns "" or what went wrong, for the first few clients.
std::string missing_chat_lines(ChatPeers& peers, const std::map<std::string, std::string>& said) {
  std::string problems;
  int reported = 0;
  for (std::size_t i = 0; i < peers.size() && reported < 5; ++i) {
    std::map<std::string, int> seen;
    std::string trouble;
    for (const std::string& line : peers[i].lines) {
      if (line.rfind("* ", 0) == 0) continue;
      const std::size_t end = line.find("> ");
      const std::string sender =
          line.size() > 1 && end != std::string::npos ? line.substr(1, end - 1) : "";
      const auto expected = said.find(sender);
      if (expected == said.end() || line != "<" + sender + "> " + expected->second) {
        trouble = "unexpected line " + ::testing::PrintToString(line);
        if (expected != said.end() &&
            expected->second.find(line.substr(end + 2)) != std::string::npos)
          trouble += ": a line split, relayed before its LF came";
        break;
      }
      ++seen[sender];
    }
    if (trouble.empty() && seen.count(peers[i].name) != 0) trouble = "got its own line back";
    if (trouble.empty() && seen.size() != said.size() - 1) {
      trouble = "heard " + std::to_string(seen.size()) + " of " + std::to_string(said.size() - 1) +
                " other clients";
    }
    for (const auto& [sender, times] : seen) {
      if (trouble.empty() && times != 1)
        trouble = "heard " + sender + " " + std::to_string(times) + " times";
    }
    if (!trouble.empty()) {
      problems += peers[i].name + ": " + trouble + "\n";
      ++reported;
    }
  }
  return problems;
}

Paused::Paused(Process& server) : server_(server) {
  ::kill(server_.pid(), SIGSTOP);
  // A room that has already exited (Z, or gone) will not stop: no waiting.
  eventually([&] { return std::strchr("TZ?", state()) != nullptr; });
  EXPECT_EQ(state(), 'T') << "the room did not stop (SIGSTOP): has it exited?";
}

void Paused::resume() {
  if (!resumed_) ::kill(server_.pid(), SIGCONT);
  resumed_ = true;
}

char Paused::state() const {
  std::ifstream file("/proc/" + std::to_string(server_.pid()) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  const std::size_t end_of_name = stat.rfind(')');
  return end_of_name != std::string::npos && end_of_name + 2 < stat.size() ? stat[end_of_name + 2]
                                                                           : '?';
}

}  // namespace support
