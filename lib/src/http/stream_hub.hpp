// The /v1/stream subscribers of one server, as the node's store_observer:
// every record that changes the store becomes an event for each matching
// subscription, queued for its subscriber. The hub never waits: a
// subscriber's writer coroutine drains its queue (serve_stream.cpp).
#pragma once

#include "core/node.hpp"
#include "http/event_queue.hpp"
#include "http/subscription.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

namespace herd {

struct server_stats;

class stream_subscriber {
public:
    stream_subscriber(const boost::asio::any_io_executor& executor, std::size_t queue_bytes);

    // False if the ID is taken on this connection.
    bool add(stream::subscription s);
    // False if there is no such subscription.
    bool remove(std::string_view id);
    const std::vector<stream::subscription>& subscriptions() const noexcept { return subscriptions_; }

    // Queues a message and wakes the writer; false once the queue has
    // overflowed (the writer then closes the connection with 1008).
    bool push(std::string message);
    stream::event_queue& queue() noexcept { return queue_; }

    // The reader has finished: the writer ends too.
    void finish();
    bool finished() const noexcept { return finished_; }

    // The writer waits on it for anything above; never expires by itself.
    boost::asio::steady_timer wake;

private:
    std::vector<stream::subscription> subscriptions_;
    stream::event_queue queue_;
    bool finished_ = false;
};

class stream_hub final : public store_observer {
public:
    stream_hub(std::string server_name, std::function<std::int64_t()> clock, server_stats& stats);

    void join(stream_subscriber& s) { subscribers_.insert(&s); }
    void leave(stream_subscriber& s) { subscribers_.erase(&s); }
    std::size_t size() const noexcept { return subscribers_.size(); }

    bool watching() const noexcept override { return !subscribers_.empty(); }
    void stored(const location_record& record, const std::optional<geo_point>& before,
                std::string_view came_from) override;

private:
    std::string server_name_;
    std::function<std::int64_t()> clock_;
    server_stats& stats_;
    std::unordered_set<stream_subscriber*> subscribers_;
};

} // namespace herd
