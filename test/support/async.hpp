// Running a test's coroutines: each test gets its own io_context, its
// coroutine is spawned with use_future, and the context runs on the test's
// own thread (so Catch2 assertions stay on one thread) for at most `bound`.
// A hang fails the test instead of blocking the suite.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <catch2/catch.hpp>

#include <chrono>
#include <future>

namespace herd::test {

using namespace std::chrono_literals;

// `make` is called with the io_context and returns the test's awaitable.
template <typename Make> auto run_async(Make make, std::chrono::steady_clock::duration bound = 20s)
{
    boost::asio::io_context io;
    auto body = [&]() { return make(io); };
    auto result = boost::asio::co_spawn(io, body, boost::asio::use_future);
    // run_for returns early once nothing is left to do: the test body has
    // finished and the servers it made have wound down.
    io.run_for(bound);
    if (result.wait_for(0s) != std::future_status::ready) {
        FAIL("the test's coroutines did not finish within the time bound");
    }
    // Work still pending here means something kept running after its
    // server was stopped: a leak worth failing on.
    CHECK(io.stopped());
    return result.get();
}

} // namespace herd::test
