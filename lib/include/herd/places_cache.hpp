// A places source in front of another: the same question (location,
// radius, bound) within the time to live is answered from memory, and
// identical questions asked at once share one upstream request. Only OK and
// ZERO_RESULTS answers are kept; an error is asked again next time. What the
// upstream throws is thrown to every asker of that request, as if each had
// asked the upstream itself.
#pragma once

#include "herd/places.hpp"

#include <chrono>
#include <functional>
#include <memory>

namespace herd {

class cached_places final : public places_source {
public:
    using clock = std::function<std::chrono::steady_clock::time_point()>;

    struct counters {
        std::uint64_t hits = 0;     // answered from memory
        std::uint64_t joined = 0;   // waited for a request already under way
        std::uint64_t upstream = 0; // requests sent upstream
    };

    cached_places(std::shared_ptr<places_source> upstream, std::chrono::milliseconds ttl,
                  clock now = std::chrono::steady_clock::now);
    ~cached_places() override;

    boost::asio::awaitable<boost::json::object> nearby_search(places_query query) override;
    std::string describe() const override;
    void stop() override;

    const counters& stats() const noexcept;

    struct state; // shared with the fetches under way

private:
    std::shared_ptr<state> state_;
};

} // namespace herd
