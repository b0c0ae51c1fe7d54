#include "peer/tree_broadcast.hpp"

#include "async/within.hpp"
#include "peer/peer_link.hpp"

#include <boost/asio/co_spawn.hpp>
#include <spdlog/logger.h>

#include <algorithm>

namespace herd {

namespace asio = boost::asio;
using detail::use_tuple;

tree_broadcast::tree_broadcast(server::state& owner)
    : owner_(owner), timer_(owner.executor, asio::steady_timer::time_point::max())
{
}

void tree_broadcast::start()
{
    asio::co_spawn(owner_.executor, run(owner_.shared_from_this()), log_failure(owner_.log, "broadcast tree timer"));
}

void tree_broadcast::stop()
{
    stopped_ = true;
    timer_.cancel();
}

void tree_broadcast::propagate(const location_record& kept, std::string_view came_from)
{
    const peer::notice record{std::string(kept.client()), kept.time_ns};
    const auto full = rules_.on_stored(record, came_from);
    std::shared_ptr<const std::string> line;
    for (const auto& [name, link] : owner_.links) {
        if (name == came_from) {
            continue;
        }
        if (!in_tree(name) || std::find(full.begin(), full.end(), name) != full.end()) {
            if (!line) {
                line = std::make_shared<const std::string>(kept.at_line);
            }
            link->offer(line);
        } else {
            link->announce();
        }
    }
}

void tree_broadcast::link_up(const std::string& peer)
{
    rules_.link_up(peer);
}

void tree_broadcast::link_down(const std::string& peer)
{
    for (const auto& lazy : rules_.link_down(peer)) {
        if (auto it = owner_.links.find(lazy); it != owner_.links.end()) {
            it->second->graft(std::nullopt);
        }
    }
}

void tree_broadcast::duplicate_from(const std::string& from)
{
    if (!rules_.on_redundant(from)) {
        return;
    }
    if (auto it = owner_.links.find(from); it != owner_.links.end()) {
        it->second->prune();
    }
}

void tree_broadcast::receive(const std::string& from, const peer::tree_line& line)
{
    switch (line.kind) {
    case peer::tree_line_kind::ihave: {
        const auto& store = owner_.core.store;
        const auto known = [&store](const peer::notice& n) {
            // Newest wins: a record at that time or later is as good. At
            // an equal time the two may differ; reconciliation settles that.
            const location_record* held = store.find(n.client);
            return held != nullptr && held->time_ns >= n.time_ns;
        };
        rules_.on_notices(from, line.notices, known, std::chrono::steady_clock::now());
        rearm();
        return;
    }
    case peer::tree_line_kind::prune:
        rules_.on_prune(from);
        return;
    case peer::tree_line_kind::graft: {
        rules_.on_graft(from);
        if (line.notices.empty()) {
            return; // only to be eager again
        }
        const auto& wanted = line.notices.front();
        const location_record* held = owner_.core.store.find(wanted.client);
        auto it = owner_.links.find(from);
        if (held != nullptr && held->time_ns >= wanted.time_ns && it != owner_.links.end()) {
            it->second->offer(std::make_shared<const std::string>(held->at_line));
        }
        return;
    }
    case peer::tree_line_kind::broadcast:
        return;
    }
}

void tree_broadcast::rearm()
{
    // The timer sleeps until the earliest graft; a notice may have made
    // an earlier one.
    const auto next = rules_.next_deadline();
    if (next && *next < timer_.expiry()) {
        timer_.cancel();
    }
}

asio::awaitable<void> tree_broadcast::run(std::shared_ptr<server::state> keep)
{
    while (!stopped_) {
        timer_.expires_at(rules_.next_deadline().value_or(asio::steady_timer::time_point::max()));
        co_await timer_.async_wait(use_tuple);
        if (stopped_) {
            break;
        }
        for (auto& graft : rules_.on_timer(std::chrono::steady_clock::now())) {
            if (auto it = keep->links.find(graft.peer); it != keep->links.end()) {
                it->second->graft(std::move(graft.wanted));
            }
        }
    }
}

} // namespace herd
