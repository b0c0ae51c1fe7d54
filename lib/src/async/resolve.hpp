// Looking a host up. The 1.81 resolver ignores cancellation, so a lookup is
// never raced inside `within`: give `system_resolve(...)` to
// `abandon_after`, which runs it on a coroutine of its own (owning the
// resolver) and stops waiting at the deadline; the late answer is dropped.
#pragma once

#include "async/within.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/this_coro.hpp>

#include <string>
#include <tuple>

namespace herd::detail {

using resolve_result = std::tuple<boost::system::error_code, boost::asio::ip::tcp::resolver::results_type>;

// The system's resolver. Host and port are taken by value: the coroutine
// may outlive its caller.
inline boost::asio::awaitable<resolve_result> system_resolve(std::string host, std::string port)
{
    boost::asio::ip::tcp::resolver resolver(co_await boost::asio::this_coro::executor);
    auto resolve = resolver.async_resolve(host, port, use_tuple);
    co_return co_await std::move(resolve);
}

} // namespace herd::detail
