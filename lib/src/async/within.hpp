// `asyncio.wait_for` for Asio, and its cousin for operations that ignore
// cancellation.
//
// Two traps of Asio 1.81 shape them. Cancellation makes a coroutine throw
// operation_aborted at its next co_await unless throw_if_cancelled is off
// (as_tuple does not stop it), so an operation cancelled by a time-out
// could throw past "errors are values". And the resolver ignores
// cancellation, so racing it against a timer waits as long as DNS does.
#pragma once

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/experimental/parallel_group.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <chrono>
#include <exception>
#include <memory>
#include <optional>

namespace herd::detail {

inline constexpr auto use_tuple = boost::asio::as_tuple(boost::asio::use_awaitable);

// Runs `op` in a coroutine thread that does not throw when cancelled: the
// operation sees cancellation as error codes and finishes its own way.
template <typename T> boost::asio::awaitable<T> without_cancel_throw(boost::asio::awaitable<T> op)
{
    co_await boost::asio::this_coro::throw_if_cancelled(false);
    co_return co_await std::move(op);
}

// True once the calling coroutine thread has been cancelled: an operation
// started now would not be told.
inline boost::asio::awaitable<bool> cancelled()
{
    const auto state = co_await boost::asio::this_coro::cancellation_state;
    co_return state.cancelled() != boost::asio::cancellation_type::none;
}

// The operation's result, or nothing if `limit` passed first. The operation
// is then cancelled and awaited: it must honour cancellation (a socket
// does; the 1.81 resolver does not, see `abandon_after`). Whatever the
// operation throws is rethrown at once, the limit not waited out.
template <typename T>
boost::asio::awaitable<std::optional<T>> within(boost::asio::awaitable<T> op, std::chrono::steady_clock::duration limit)
{
    namespace asio = boost::asio;
    const auto executor = co_await asio::this_coro::executor;
    asio::steady_timer timer(executor, limit);
    // Named variables, not temporaries inside co_await: g++ 12 mishandles those.
    auto quiet = without_cancel_throw(std::move(op));
    auto run = asio::co_spawn(executor, std::move(quiet), asio::deferred);
    auto wait = timer.async_wait(asio::deferred);
    auto group = asio::experimental::make_parallel_group(std::move(run), wait);
    auto race = group.async_wait(asio::experimental::wait_for_one(), asio::use_awaitable);
    auto [order, error, result, timer_ec] = co_await std::move(race);
    (void)timer_ec;
    if (order[0] == 0) {
        if (error) {
            std::rethrow_exception(error);
        }
        co_return std::optional<T>(std::move(result));
    }
    co_return std::nullopt;
}

// For an operation that may ignore cancellation (the 1.81 resolver) and owns
// everything it touches: it runs on its own, and the caller waits for it at
// most `limit`, or until the caller is cancelled. Nothing then: the late
// result is dropped when it comes. What the operation throws is rethrown.
template <typename T>
boost::asio::awaitable<std::optional<T>> abandon_after(boost::asio::awaitable<T> op,
                                                       std::chrono::steady_clock::duration limit)
{
    namespace asio = boost::asio;
    struct slot {
        slot(const asio::any_io_executor& executor, std::chrono::steady_clock::duration limit) : done(executor, limit)
        {
        }
        asio::steady_timer done; // cancelled when the operation finishes
        std::optional<T> result;
        std::exception_ptr error;
        bool finished = false;
    };
    const auto executor = co_await asio::this_coro::executor;
    auto shared = std::make_shared<slot>(executor, limit);
    auto quiet = without_cancel_throw(std::move(op));
    asio::co_spawn(executor, std::move(quiet), [shared](std::exception_ptr error, T result) {
        shared->finished = true;
        shared->error = std::move(error);
        if (!shared->error) {
            shared->result.emplace(std::move(result));
        }
        shared->done.cancel();
    });
    auto wait = shared->done.async_wait(use_tuple);
    co_await std::move(wait);
    if (!shared->finished) {
        co_return std::nullopt;
    }
    if (shared->error) {
        std::rethrow_exception(shared->error);
    }
    co_return std::move(shared->result);
}

} // namespace herd::detail
