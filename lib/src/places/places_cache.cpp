#include "herd/places_cache.hpp"

#include "async/within.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/json.hpp>
#include <fmt/format.h>

#include <exception>
#include <optional>
#include <unordered_map>

namespace herd {

namespace asio = boost::asio;

namespace {

constexpr std::size_t max_entries = 10000;

std::string cache_key(const places_query& q)
{
    // Doubles in their shortest round-trip form: equal keys, equal queries.
    return fmt::format("{},{} {} {}", q.where.lat, q.where.lng, q.radius_metres, q.bound);
}

bool keepable(const boost::json::object& answer)
{
    const auto* status = answer.if_contains("status");
    return status != nullptr && (*status == "OK" || *status == "ZERO_RESULTS");
}

} // namespace

// One upstream request and everyone waiting for it.
struct in_flight {
    explicit in_flight(const asio::any_io_executor& executor) : done(executor, asio::steady_timer::time_point::max()) {}
    asio::steady_timer done; // cancelled when `answer` or `error` is set
    std::optional<boost::json::object> answer;
    std::exception_ptr error; // what the source threw, for every waiter
};

struct cached_places::state {
    std::shared_ptr<places_source> upstream;
    std::chrono::milliseconds ttl;
    clock now;
    struct entry {
        boost::json::object answer;
        std::chrono::steady_clock::time_point expires;
    };
    std::unordered_map<std::string, entry> answers;
    std::unordered_map<std::string, std::shared_ptr<in_flight>> flights;
    counters stats;

    void keep(const std::string& key, const boost::json::object& answer)
    {
        if (ttl.count() <= 0 || !keepable(answer)) {
            return;
        }
        const auto t = now();
        if (answers.size() >= max_entries) {
            std::erase_if(answers, [&](const auto& kv) { return kv.second.expires <= t; });
            if (answers.size() >= max_entries) {
                answers.clear(); // everything is fresh: start over rather than grow
            }
        }
        answers[key] = {answer, t + ttl};
    }
};

namespace {

// Runs on its own, not as part of any one WHATSAT: a client that gives up
// (its time-out) does not cancel the request the others are waiting for.
asio::awaitable<void> fetch(std::shared_ptr<cached_places::state> self, std::string key, places_query query,
                            std::shared_ptr<in_flight> flight)
{
    std::optional<boost::json::object> answer;
    try {
        answer = co_await self->upstream->nearby_search(std::move(query));
    } catch (...) {
        // Not turned into an answer here: every waiter rethrows it, and the
        // server's caller logs why and answers in the error shape, as if
        // the source had been asked directly. Nothing is kept.
        flight->error = std::current_exception();
    }
    if (answer) {
        self->keep(key, *answer);
    }
    self->flights.erase(key);
    flight->answer = std::move(answer);
    flight->done.cancel();
}

} // namespace

cached_places::cached_places(std::shared_ptr<places_source> upstream, std::chrono::milliseconds ttl, clock now)
    : state_(std::make_shared<state>(state{std::move(upstream), ttl, std::move(now), {}, {}, {}}))
{
}

cached_places::~cached_places() = default;

asio::awaitable<boost::json::object> cached_places::nearby_search(places_query query)
{
    auto self = state_;
    std::string key = cache_key(query);
    if (auto it = self->answers.find(key); it != self->answers.end()) {
        if (self->now() < it->second.expires) {
            ++self->stats.hits;
            co_return it->second.answer;
        }
        self->answers.erase(it);
    }
    std::shared_ptr<in_flight> flight;
    if (auto it = self->flights.find(key); it != self->flights.end()) {
        ++self->stats.joined;
        flight = it->second;
    } else {
        ++self->stats.upstream;
        const auto executor = co_await asio::this_coro::executor;
        flight = std::make_shared<in_flight>(executor);
        self->flights.emplace(key, flight);
        asio::co_spawn(executor, fetch(self, key, std::move(query), flight), [](const std::exception_ptr&) {
            // fetch hands whatever the source throws to its waiters.
        });
    }
    if (!flight->answer && !flight->error) {
        auto wait = flight->done.async_wait(detail::use_tuple);
        co_await std::move(wait);
    }
    if (flight->error) {
        std::rethrow_exception(flight->error);
    }
    if (!flight->answer) {
        // Only this waiter was cancelled (its own time-out won); the
        // request goes on for the others.
        co_return places_error("UNKNOWN_ERROR", "cancelled");
    }
    co_return *flight->answer;
}

std::string cached_places::describe() const
{
    return fmt::format("{}, answers kept {:g} s", state_->upstream->describe(),
                       std::chrono::duration<double>(state_->ttl).count());
}

void cached_places::stop()
{
    state_->upstream->stop();
}

const cached_places::counters& cached_places::stats() const noexcept
{
    return state_->stats;
}

} // namespace herd
