// One log file per server, one line per event with a UTC timestamp. Only
// spdlog's forward declaration is here, to keep its headers out of the
// library's public ones.
#pragma once

#include "herd/fwd.hpp"

#include <cstdint>
#include <filesystem>
#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>

namespace herd {

// Size-based rotation of NAME.log (herd.log_max_bytes, herd.log_max_files).
struct log_rotation {
    std::uint64_t max_bytes = 0; // 0: never rotated (logrotate and SIGHUP may do it)
    std::size_t max_files = 5;   // NAME.log.1 (the newest) to NAME.log.N are kept
};

// now: the file is opened at once. later: lines wait in memory until
// open_server_log(), and are dropped if it is never called: herd-server
// opens its log only once its ports are bound, so a second server of the
// same name never writes into the running one's file.
enum class log_open { now, later };

// <dir>/<server>.log, created with its directory if missing; appends, on
// a writer thread of its own. For one thread at a time, as a server's
// io_context runs on one: the sink takes no lock, and open_server_log and
// reopen_server_log must be called on that thread too. Destroying the
// logger waits for the writer to write out what it holds.
std::shared_ptr<spdlog::logger> make_server_log(const std::string& server, const std::filesystem::path& dir,
                                                const log_rotation& rotation = {}, log_open when = log_open::now);

// Opens a log made with log_open::later and writes the lines that waited.
// Throws with the reason if the file cannot be opened.
void open_server_log(spdlog::logger& log);

// Writes out what is buffered, then opens the log's path again: after
// logrotate renamed the file, the lines go on in a new one at the old path.
void reopen_server_log(spdlog::logger& log);

// Lines a server log dropped because its writer thread fell behind the
// disk by more than 8 MiB (or a write failed): the loop never waits for
// the disk, so this is what a slow disk costs. 0 for a log with no file.
// The log says so too, in a warning line where the gap is.
std::uint64_t log_lines_dropped(const spdlog::logger& log);

// Returns once every line logged so far is in the file (what destroying
// the logger does too): before a process exits by other means, and for
// tests that read the file.
void drain_server_log(spdlog::logger& log);

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
