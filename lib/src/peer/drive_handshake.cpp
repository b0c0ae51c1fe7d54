#include "peer/drive_handshake.hpp"

#include "async/within.hpp"

#include <boost/asio/buffer.hpp>
#include <boost/asio/write.hpp>

namespace herd::peer {

namespace asio = boost::asio;
using detail::use_tuple;

asio::awaitable<read_step> read_step_line(peer_stream& stream, detail::line_reader& reader,
                                          handshake_clock::duration limit, std::size_t max_bytes)
{
    const auto deadline = handshake_clock::now() + limit;
    for (;;) {
        if (auto line = reader.next_line()) {
            co_return read_step{step_outcome::done, std::string(*line)};
        }
        if (reader.pending() >= max_bytes) {
            co_return read_step{step_outcome::closed, {}};
        }
        const auto left = deadline - handshake_clock::now();
        if (left <= left.zero()) {
            co_return read_step{step_outcome::timed_out, {}};
        }
        auto space = reader.prepare(max_bytes);
        auto read = stream.async_read_some(asio::buffer(space.data(), space.size()), use_tuple);
        auto result = co_await detail::within(std::move(read), left);
        if (!result) {
            reader.commit(0);
            co_return read_step{step_outcome::timed_out, {}};
        }
        auto [ec, n] = *result;
        reader.commit(n);
        if (ec) {
            co_return read_step{step_outcome::closed, {}};
        }
    }
}

asio::awaitable<step_outcome> send_step_line(peer_stream& stream, std::string line, handshake_clock::duration limit)
{
    line += '\n';
    auto write = asio::async_write(stream, asio::buffer(line), use_tuple);
    auto result = co_await detail::within(std::move(write), limit);
    if (!result) {
        co_return step_outcome::timed_out;
    }
    co_return std::get<0>(*result) ? step_outcome::closed : step_outcome::done;
}

} // namespace herd::peer
