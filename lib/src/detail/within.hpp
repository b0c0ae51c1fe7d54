// `asyncio.wait_for` for Asio: races an operation against a timer. Both
// sides complete with as_tuple, because with throwing completion tokens the
// || operator reports the operation's failure as if the timer had won.
#pragma once

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <chrono>
#include <optional>

namespace herd::detail {

inline constexpr auto use_tuple = boost::asio::as_tuple(boost::asio::use_awaitable);

// The operation's result, or nothing if `limit` passed first (the
// operation is then cancelled).
template <typename T>
boost::asio::awaitable<std::optional<T>> within(boost::asio::awaitable<T> op, std::chrono::steady_clock::duration limit)
{
    using namespace boost::asio::experimental::awaitable_operators;
    boost::asio::steady_timer timer(co_await boost::asio::this_coro::executor, limit);
    // Named variables, not temporaries inside co_await: g++ 12 mishandles those.
    auto wait = timer.async_wait(use_tuple);
    auto race = std::move(op) || std::move(wait);
    auto result = co_await std::move(race);
    if (result.index() == 0) {
        co_return std::get<0>(std::move(result));
    }
    co_return std::nullopt;
}

} // namespace herd::detail
