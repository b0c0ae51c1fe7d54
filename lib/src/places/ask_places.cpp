#include "places/ask_places.hpp"

#include "async/within.hpp"

#include <spdlog/logger.h>

#include <algorithm>
#include <chrono>

namespace herd {

namespace asio = boost::asio;

void places_stats::record(std::string_view status, double seconds)
{
    auto it = by_status.find(status);
    if (it == by_status.end()) {
        it = by_status.emplace(std::string(status), 0).first;
    }
    ++it->second;
    const auto bucket = std::lower_bound(bucket_bounds.begin(), bucket_bounds.end(), seconds) - bucket_bounds.begin();
    ++buckets[static_cast<std::size_t>(bucket)];
    seconds_total += seconds;
    ++count;
}

namespace {

asio::awaitable<boost::json::object> search_places(std::shared_ptr<server::state> self, places_query query)
{
    try {
        co_return co_await self->options.places->nearby_search(std::move(query));
    } catch (const std::exception& e) {
        self->log->warn("the places source failed: {}", e.what());
        co_return places_error("UNKNOWN_ERROR", std::string("the places source failed: ") + e.what());
    } catch (...) {
        self->log->warn("the places source failed: it threw something that is not a std::exception");
        co_return places_error("UNKNOWN_ERROR", "the places source failed");
    }
}

} // namespace

// Never fails and never takes longer than the configured time-out: the
// client gets a reply in the usual shape whatever the source does.
asio::awaitable<boost::json::object> ask_places(std::shared_ptr<server::state> self, places_query query)
{
    const auto started = std::chrono::steady_clock::now();
    const std::string what = fmt::format("places {:.6f},{:.6f} radius {} m bound {}", query.where.lat, query.where.lng,
                                         query.radius_metres, query.bound);
    auto search = search_places(self, std::move(query));
    auto answer = co_await detail::within(std::move(search), self->options.places_timeout);
    const auto ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count();
    if (!answer) {
        self->log->warn("{}: no answer within {} ms", what, self->options.places_timeout.count());
        self->stats.places.record("UNKNOWN_ERROR", ms / 1000);
        co_return places_error("UNKNOWN_ERROR", "the places source did not answer in time");
    }
    const auto* status = answer->if_contains("status");
    const auto* results = answer->if_contains("results");
    const bool has_status = status != nullptr && status->is_string();
    self->log->info("{}: {} with {} results in {:.3f} ms", what,
                    has_status ? std::string_view(status->get_string()) : "no status",
                    results != nullptr && results->is_array() ? results->get_array().size() : 0, ms);
    self->stats.places.record(has_status ? std::string_view(status->get_string()) : "UNKNOWN_ERROR", ms / 1000);
    co_return std::move(*answer);
}

} // namespace herd
