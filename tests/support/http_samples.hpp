// http_samples.hpp: sample HTTP responses shared by stage 4's tests.
//
// Purpose: the fetch() unit tests and the tests of the built program send
// the same canned responses, so they are defined once, here.
//
// See also: tests/http_client_test.cpp, tests/stage4_test.cpp.
#pragma once

#include <string>

namespace support {

inline const std::string kContentLength =
    "HTTP/1.1 200 OK\r\n"
    "Content-Type: text/plain\r\n"
    "Content-Length: 6\r\n"
    "\r\n"
    "hello\n";

// Extensions, a trailer, hex in both cases (0x1B = 27, 0x1a = 26), and a
// chunk whose data holds CR LF.
inline const std::string kChunked =
    "HTTP/1.1 200 OK\r\n"
    "Transfer-Encoding: chunked\r\n"
    "\r\n"
    "5;name=value\r\n"
    "Hello\r\n"
    "1B ; ext=\"x;y\"\r\n"
    ", abcdefghijklmnopqrstuvw\r\n\r\n"
    "1a\r\n"
    "ABCDEFGHIJKLMNOPQRSTUVWXYZ\r\n"
    "0\r\n"
    "X-Checksum: 42\r\n"
    "\r\n";
inline const std::string kChunkedBody =
    "Hello, abcdefghijklmnopqrstuvw\r\nABCDEFGHIJKLMNOPQRSTUVWXYZ";

}  // namespace support
