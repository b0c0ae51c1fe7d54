// The response cache: time to live on a fake clock, and identical
// questions under way sharing one upstream request.
#include "herd/places_cache.hpp"
#include "support/async.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/json.hpp>

#include <stdexcept>

using namespace herd;
using namespace herd::test;
namespace asio = boost::asio;
using namespace std::chrono_literals;

namespace {

// Counts requests, and holds each one until the test opens the gate.
class gated_upstream : public places_source {
public:
    explicit gated_upstream(asio::io_context& io) : gate_(io, asio::steady_timer::time_point::max()) {}

    asio::awaitable<boost::json::object> nearby_search(places_query query) override
    {
        ++requests;
        if (held) {
            co_await gate_.async_wait(asio::as_tuple(asio::use_awaitable));
        }
        if (fail) {
            co_return places_error("OVER_QUERY_LIMIT", "slow down");
        }
        if (throws_std) {
            throw std::runtime_error("upstream exploded");
        }
        if (throws_other) {
            throw 42; // not a std::exception
        }
        boost::json::object answer;
        answer["html_attributions"] = boost::json::array();
        answer["results"] = boost::json::array({boost::json::object{{"name", query.radius_metres}}});
        answer["status"] = "OK";
        co_return answer;
    }
    std::string describe() const override { return "gated"; }
    void open_gate() { gate_.cancel(); }

    int requests = 0;
    bool held = false;
    bool fail = false;
    bool throws_std = false;
    bool throws_other = false;

private:
    asio::steady_timer gate_;
};

const places_query& q1500()
{
    static const places_query query{{34.06893, -118.445127}, "1500", 1.5, 3};
    return query;
}

} // namespace

TEST_CASE("the same question within the time to live is not asked twice", "[cache]")
{
    run_async([](asio::io_context& io) -> asio::awaitable<void> {
        auto upstream = std::make_shared<gated_upstream>(io);
        auto now = std::chrono::steady_clock::time_point{};
        cached_places cache(upstream, 60s, [&] { return now; });
        const auto first = co_await cache.nearby_search(q1500());
        now += 59s;
        const auto second = co_await cache.nearby_search(q1500());
        CHECK(upstream->requests == 1);
        CHECK(second == first);
        CHECK(cache.stats().hits == 1);
        // A different radius, bound or place is a different question.
        const places_query other_radius{q1500().where, "1600", 1.6, 3};
        const places_query other_bound{q1500().where, "1500", 1.5, 4};
        const places_query other_place{{34.06894, -118.445127}, "1500", 1.5, 3};
        co_await cache.nearby_search(other_radius);
        co_await cache.nearby_search(other_bound);
        co_await cache.nearby_search(other_place);
        CHECK(upstream->requests == 4);
        // Past the time to live it is asked again.
        now += 2s;
        co_await cache.nearby_search(q1500());
        CHECK(upstream->requests == 5);
    });
}

TEST_CASE("identical questions asked at once share one upstream request", "[cache]")
{
    run_async([](asio::io_context& io) -> asio::awaitable<void> {
        using namespace asio::experimental::awaitable_operators;
        auto upstream = std::make_shared<gated_upstream>(io);
        upstream->held = true;
        cached_places cache(upstream, 60s);
        auto open = [&]() -> asio::awaitable<boost::json::object> {
            // Runs after the three below have all asked.
            upstream->open_gate();
            co_return boost::json::object{};
        };
        auto a = cache.nearby_search(q1500());
        auto b = cache.nearby_search(q1500());
        auto c = cache.nearby_search(q1500());
        auto d = open();
        auto all = std::move(a) && std::move(b) && std::move(c) && std::move(d);
        auto [ra, rb, rc, rd] = co_await std::move(all);
        CHECK(upstream->requests == 1);
        CHECK(cache.stats().joined == 2);
        CHECK(ra.at("status") == "OK");
        CHECK(rb == ra);
        CHECK(rc == ra);
    });
}

TEST_CASE("error answers are not kept", "[cache]")
{
    run_async([](asio::io_context& io) -> asio::awaitable<void> {
        auto upstream = std::make_shared<gated_upstream>(io);
        upstream->fail = true;
        cached_places cache(upstream, 60s);
        const auto first = co_await cache.nearby_search(q1500());
        CHECK(first.at("status") == "OVER_QUERY_LIMIT");
        upstream->fail = false;
        const auto second = co_await cache.nearby_search(q1500());
        CHECK(second.at("status") == "OK");
        CHECK(upstream->requests == 2);
    });
}

TEST_CASE("a waiter that gives up does not cancel the request the others wait for", "[cache]")
{
    run_async([](asio::io_context& io) -> asio::awaitable<void> {
        using namespace asio::experimental::awaitable_operators;
        auto upstream = std::make_shared<gated_upstream>(io);
        upstream->held = true;
        cached_places cache(upstream, 60s);
        // The first asker's time-out fires before the upstream answers.
        asio::steady_timer short_wait(io, 10ms);
        auto impatient = cache.nearby_search(q1500());
        auto gives_up = short_wait.async_wait(asio::as_tuple(asio::use_awaitable));
        auto race = std::move(impatient) || std::move(gives_up);
        const auto raced = co_await std::move(race);
        CHECK(raced.index() == 1);
        // The request goes on: the next asker joins it, and gets its answer.
        auto patient = cache.nearby_search(q1500());
        auto open = [&]() -> asio::awaitable<void> {
            upstream->open_gate();
            co_return;
        };
        auto opener = open();
        auto both = std::move(patient) && std::move(opener);
        const auto answer = co_await std::move(both);
        CHECK(answer.at("status") == "OK");
        CHECK(upstream->requests == 1);
    });
}

TEST_CASE("what the upstream throws reaches every asker, and nothing is kept", "[cache]")
{
    const bool std_exception = GENERATE(true, false);
    run_async([std_exception](asio::io_context& io) -> asio::awaitable<void> {
        using namespace asio::experimental::awaitable_operators;
        auto upstream = std::make_shared<gated_upstream>(io);
        upstream->held = true;
        (std_exception ? upstream->throws_std : upstream->throws_other) = true;
        cached_places cache(upstream, 60s);
        // What one asker got: "answer STATUS" or "threw WHAT".
        auto ask = [&]() -> asio::awaitable<std::string> {
            try {
                const auto answer = co_await cache.nearby_search(q1500());
                co_return "answer " + std::string(answer.at("status").as_string());
            } catch (const std::exception& e) {
                co_return std::string("threw ") + e.what();
            } catch (...) {
                co_return std::string("threw something");
            }
        };
        auto open = [&]() -> asio::awaitable<void> {
            // Once the one upstream request is waiting at the gate.
            while (upstream->requests == 0) {
                co_await asio::post(asio::use_awaitable);
            }
            upstream->open_gate();
        };
        auto first = ask();
        auto second = ask();
        auto opener = open();
        auto askers = std::move(first) && std::move(second);
        auto all = std::move(opener) && std::move(askers);
        const auto [a, b] = co_await std::move(all);
        const std::string expected = std_exception ? "threw upstream exploded" : "threw something";
        CHECK(a == expected);
        CHECK(b == expected);
        CHECK(upstream->requests == 1);
        CHECK(cache.stats().joined == 1);
        // Not kept: the next asker asks again.
        upstream->held = false;
        upstream->throws_std = upstream->throws_other = false;
        const auto again = co_await cache.nearby_search(q1500());
        CHECK(again.at("status") == "OK");
        CHECK(upstream->requests == 2);
    });
}
