// Reads and writes with a deadline, for the peer port.
#pragma once

#include "peer/peer_stream.hpp"
#include "protocol/line_reader.hpp"

#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <optional>
#include <string>

namespace herd::detail {

// One line without its '\n', or nothing on time-out, end of input, an error,
// or `max_bytes` with no '\n'. Bytes after the line stay in `reader`.
boost::asio::awaitable<std::optional<std::string>> read_line(peer::peer_stream& stream, line_reader& reader,
                                                             std::chrono::steady_clock::duration limit,
                                                             std::size_t max_bytes);

// Writes `line` and a '\n'; false on error or time-out.
boost::asio::awaitable<bool> write_line(peer::peer_stream& stream, std::string line,
                                        std::chrono::steady_clock::duration limit);

// Writes all of `bytes`, 64 KiB at a time, each piece within `limit`;
// false on error or time-out (a neighbour that takes nothing for `limit`
// is as good as gone, however long the whole write).
boost::asio::awaitable<bool> write_bytes(peer::peer_stream& stream, const std::string& bytes,
                                         std::chrono::steady_clock::duration limit);

} // namespace herd::detail
