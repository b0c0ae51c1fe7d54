// One log file per server, one line per event with a UTC timestamp. Only
// spdlog's forward declaration is here, to keep its headers out of the
// library's public ones.
#pragma once

#include "herd/fwd.hpp"

#include <filesystem>
#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>

namespace herd {

// <dir>/<server>.log, created with its directory if missing; appends.
// For one thread at a time, as a server's io_context runs on one: the
// sink takes no lock.
std::shared_ptr<spdlog::logger> make_server_log(const std::string& server, const std::filesystem::path& dir);

// Discards everything; for tests that do not read the log.
std::shared_ptr<spdlog::logger> make_null_log(const std::string& server);

// Client bytes as one printable log line: '\r', '\t', '\v', '\f', '\n', '\\'
// and other non-printable bytes are escaped, so no client can forge or
// split a log line.
std::string escape_for_log(std::string_view bytes);
void append_escaped(std::string& out, std::string_view bytes);

// Logs, at info, the `head` parts, then `bytes` escaped, then `tail`. The
// line is built in `scratch` (reused from call to call) and handed to
// spdlog as it is: the lines logged for every request parse no format
// string and allocate nothing, and cost nothing at log_level = "warn".
void log_info_bytes(spdlog::logger& log, std::string& scratch, std::initializer_list<std::string_view> head,
                    std::string_view bytes, std::string_view tail = {});

} // namespace herd
