#include "http/stream_hub.hpp"

#include "herd/server.hpp"

#include <algorithm>

namespace herd {

stream_subscriber::stream_subscriber(const boost::asio::any_io_executor& executor, std::size_t queue_bytes)
    : wake(executor, boost::asio::steady_timer::time_point::max()), queue_(queue_bytes)
{
}

bool stream_subscriber::add(stream::subscription s)
{
    const auto same = [&](const stream::subscription& other) { return other.id == s.id; };
    if (std::any_of(subscriptions_.begin(), subscriptions_.end(), same)) {
        return false;
    }
    subscriptions_.push_back(std::move(s));
    return true;
}

bool stream_subscriber::remove(std::string_view id)
{
    const auto before = subscriptions_.size();
    std::erase_if(subscriptions_, [&](const stream::subscription& s) { return s.id == id; });
    return subscriptions_.size() != before;
}

bool stream_subscriber::push(std::string message)
{
    const bool queued = queue_.push(std::move(message));
    wake.cancel();
    return queued;
}

void stream_subscriber::finish()
{
    finished_ = true;
    wake.cancel();
}

stream_hub::stream_hub(std::string server_name, std::function<std::int64_t()> clock, server_stats& stats)
    : server_name_(std::move(server_name)), clock_(std::move(clock)), stats_(stats)
{
}

void stream_hub::stored(const location_record& record, const std::optional<geo_point>& before,
                        std::string_view came_from)
{
    if (subscribers_.empty()) {
        return;
    }
    // The same for every subscription: made once, when the first matches.
    std::string tail;
    for (auto* subscriber : subscribers_) {
        if (subscriber->queue().overflowed()) {
            continue; // being closed with 1008
        }
        for (const auto& s : subscriber->subscriptions()) {
            const auto e = stream::match(s, record, before);
            if (e == stream::event::none) {
                continue;
            }
            if (tail.empty()) {
                tail = stream::event_tail(record, server_name_, came_from, clock_());
            }
            if (!subscriber->push(stream::event_message(s.id, e, tail))) {
                ++stats_.stream_overflows;
                break;
            }
            ++stats_.stream_events_queued;
        }
    }
}

} // namespace herd
