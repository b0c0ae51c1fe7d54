#include "peer/broadcast_tree.hpp"

#include <algorithm>
#include <utility>

namespace herd::peer {

void broadcast_tree::link_up(std::string_view peer)
{
    auto& l = links_[std::string(peer)];
    l.eager = true;
    l.notices.clear();
}

std::vector<std::string> broadcast_tree::link_down(std::string_view peer)
{
    bool was_eager = false;
    if (auto it = links_.find(peer); it != links_.end()) {
        was_eager = it->second.eager;
        links_.erase(it);
    }
    for (auto it = missing_.begin(); it != missing_.end();) {
        std::erase(it->second.announcers, peer);
        it = it->second.announcers.empty() ? missing_.erase(it) : std::next(it);
    }
    std::vector<std::string> grafted;
    if (was_eager) {
        for (auto& [name, l] : links_) {
            if (!l.eager) {
                l.eager = true;
                grafted.push_back(name);
            }
        }
    }
    return grafted;
}

bool broadcast_tree::is_eager(std::string_view peer) const
{
    const auto it = links_.find(peer);
    return it != links_.end() && it->second.eager;
}

bool broadcast_tree::is_lazy(std::string_view peer) const
{
    const auto it = links_.find(peer);
    return it != links_.end() && !it->second.eager;
}

std::vector<std::string> broadcast_tree::on_stored(const notice& record, std::string_view came_from)
{
    if (auto it = missing_.find(record.client); it != missing_.end() && it->second.time_ns <= record.time_ns) {
        missing_.erase(it); // what was announced, or newer, has come
    }
    if (auto it = links_.find(came_from); it != links_.end()) {
        it->second.eager = true;
    }
    std::vector<std::string> full;
    for (auto& [peer, l] : links_) {
        if (peer == came_from) {
            continue;
        }
        if (l.eager) {
            full.push_back(peer);
        } else {
            l.notices.push_back(record);
        }
    }
    return full;
}

bool broadcast_tree::on_redundant(std::string_view from)
{
    const auto it = links_.find(from);
    if (it == links_.end()) {
        return false;
    }
    // Pruned again even if already lazy here: `from` sent in full, so it
    // has this server eager. Its own view of the link may be newer than
    // the last PRUNE (it joined the tree after that PRUNE came).
    it->second.eager = false;
    return true;
}

void broadcast_tree::on_prune(std::string_view from)
{
    if (auto it = links_.find(from); it != links_.end()) {
        it->second.eager = false;
    }
}

void broadcast_tree::on_graft(std::string_view from)
{
    if (auto it = links_.find(from); it != links_.end()) {
        it->second.eager = true;
    }
}

void broadcast_tree::wait_for(std::string_view from, const notice& n, time_point now)
{
    if (links_.find(from) == links_.end()) {
        return; // a notice from a link already gone cannot be grafted
    }
    auto [it, fresh] = missing_.try_emplace(n.client);
    awaited_record& a = it->second;
    if (fresh || n.time_ns > a.time_ns) {
        // A newer record than the one awaited: wait for it instead, from
        // its own announcers, on the first one's clock.
        const bool newer = !fresh;
        a.time_ns = n.time_ns;
        if (newer) {
            a.announcers.clear();
        }
        if (fresh) {
            a.deadline = now + settings_.graft_timeout;
        }
    } else if (n.time_ns < a.time_ns) {
        return; // an older record than the one awaited: it will not do
    }
    if (std::find(a.announcers.begin(), a.announcers.end(), from) == a.announcers.end()) {
        a.announcers.emplace_back(from);
    }
}

std::vector<broadcast_tree::graft> broadcast_tree::on_timer(time_point now)
{
    std::vector<graft> out;
    for (auto it = missing_.begin(); it != missing_.end();) {
        awaited_record& a = it->second;
        if (a.deadline > now) {
            ++it;
            continue;
        }
        std::string peer = std::move(a.announcers.front());
        a.announcers.erase(a.announcers.begin());
        links_[peer].eager = true;
        out.push_back({peer, {it->first, a.time_ns}});
        if (a.announcers.empty()) {
            // The graft is the last hope; if it brings nothing the link's
            // own repair (reconciliation) will.
            it = missing_.erase(it);
        } else {
            a.deadline = now + settings_.graft_retry;
            ++it;
        }
    }
    return out;
}

std::optional<broadcast_tree::time_point> broadcast_tree::next_deadline() const
{
    std::optional<time_point> first;
    for (const auto& [client, a] : missing_) {
        if (!first || a.deadline < *first) {
            first = a.deadline;
        }
    }
    return first;
}

std::vector<notice> broadcast_tree::take_notices(std::string_view peer)
{
    const auto it = links_.find(peer);
    if (it == links_.end()) {
        return {};
    }
    return std::exchange(it->second.notices, {});
}

} // namespace herd::peer
