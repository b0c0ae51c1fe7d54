#include "protocol/line_io.hpp"

#include "async/within.hpp"

#include <boost/asio/buffer.hpp>
#include <boost/asio/write.hpp>

#include <algorithm>

namespace herd::detail {

namespace asio = boost::asio;

asio::awaitable<std::optional<std::string>> read_line(peer::peer_stream& stream, line_reader& reader,
                                                      std::chrono::steady_clock::duration limit, std::size_t max_bytes)
{
    const auto deadline = std::chrono::steady_clock::now() + limit;
    for (;;) {
        if (auto line = reader.next_line()) {
            co_return std::string(*line);
        }
        const auto left = deadline - std::chrono::steady_clock::now();
        if (reader.pending() >= max_bytes || left <= left.zero()) {
            co_return std::nullopt;
        }
        auto space = reader.prepare(max_bytes);
        auto read = stream.async_read_some(asio::buffer(space.data(), space.size()), use_tuple);
        auto result = co_await within(std::move(read), left);
        if (!result) {
            reader.commit(0);
            co_return std::nullopt;
        }
        auto [ec, n] = *result;
        reader.commit(n);
        if (ec) {
            co_return std::nullopt;
        }
    }
}

asio::awaitable<bool> write_line(peer::peer_stream& stream, std::string line, std::chrono::steady_clock::duration limit)
{
    line += '\n';
    auto write = asio::async_write(stream, asio::buffer(line), use_tuple);
    auto result = co_await within(std::move(write), limit);
    co_return result && !std::get<0>(*result);
}

asio::awaitable<bool> write_bytes(peer::peer_stream& stream, const std::string& bytes,
                                  std::chrono::steady_clock::duration limit)
{
    // In pieces, each with the whole limit: a slow neighbour that keeps
    // reading is not cut off in the middle of a long message, a stalled one
    // is, within `limit`.
    constexpr std::size_t piece = std::size_t{64} * 1024;
    for (std::size_t at = 0; at < bytes.size(); at += piece) {
        const std::size_t n = std::min(piece, bytes.size() - at);
        auto write = asio::async_write(stream, asio::buffer(bytes.data() + at, n), use_tuple);
        auto result = co_await within(std::move(write), limit);
        if (!result || std::get<0>(*result)) {
            co_return false;
        }
    }
    co_return true;
}

} // namespace herd::detail
