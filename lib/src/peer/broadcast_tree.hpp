// The rules of `broadcast = "tree"`: Plumtree (Leitão, Pereira and
// Rodrigues, "Epidemic Broadcast Trees", SRDS 2007) over one server's links.
// A record that changes the store goes in full to the eager neighbours,
// which together form a spanning tree, and as a notice ("I have it") to
// the lazy ones. A full record that changes nothing proves its link
// redundant: the link is pruned to lazy. A notice of a record that does
// not come within graft_timeout grafts its link back to eager, and that
// repairs the tree around a link that was lost.
//
// Pure: no sockets, no timers, time passed in. The link coroutines send
// what it decides (test/broadcast_tree_test.cpp runs whole herds of it
// synchronously).
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace herd::peer {

struct tree_settings {
    // A notice of a record that has not come: how long before its link is
    // grafted, and how long after that before the next announcer's is, in
    // case the first graft brings nothing (its link went down meanwhile).
    std::chrono::milliseconds graft_timeout{250};
    std::chrono::milliseconds graft_retry{125};
};

// What a notice names: the client, and the time of its record. A server
// whose store holds that client at that time or later has it (newest wins).
struct notice {
    std::string client;
    std::int64_t time_ns = 0;
    bool operator==(const notice&) const = default;
};

class broadcast_tree {
public:
    using time_point = std::chrono::steady_clock::time_point;

    explicit broadcast_tree(tree_settings settings = {}) : settings_(settings) {}

    // A link came up: it starts eager, so a new link carries records at
    // once, and is pruned if it proves redundant.
    void link_up(std::string_view peer);
    // A link went down: forgotten, with the notices it owed and its
    // announcements, so no graft waits on it. If it was eager, the tree
    // may be cut there: every lazy link is eager from now on, and returned,
    // to be sent a GRAFT that names no record, so records come round the
    // cut at once rather than one graft_timeout late each. The redundant
    // paths that opens are pruned again as their duplicates come.
    std::vector<std::string> link_down(std::string_view peer);

    bool is_eager(std::string_view peer) const;
    bool is_lazy(std::string_view peer) const;

    // A record that changed the store, from `came_from` (empty: a client's
    // IAMAT here). Returns the neighbours to send it to in full; every
    // other neighbour but `came_from` gets a notice, taken with
    // take_notices(). The sender becomes eager: it is on the record's path.
    std::vector<std::string> on_stored(const notice& record, std::string_view came_from);

    // A full record from `from` that did not change the store: `from` is a
    // redundant path, lazy from now on. True if a PRUNE must be sent to it:
    // it is in the tree here (whatever it was, it sent in full, so it takes
    // this server for eager).
    bool on_redundant(std::string_view from);

    // `from` pruned this server: it is lazy from here on.
    void on_prune(std::string_view from);

    // `from` grafted this server: it is eager again. The caller sends it
    // the records it asked for.
    void on_graft(std::string_view from);

    // Notices from `from`. `known` says whether the store already has a
    // record (that time or later); the others are waited for.
    template <typename Known>
    void on_notices(std::string_view from, const std::vector<notice>& notices, Known known, time_point now)
    {
        for (const notice& n : notices) {
            if (!known(n)) {
                wait_for(from, n, now);
            }
        }
    }

    struct graft {
        std::string peer;
        notice wanted;
        bool operator==(const graft&) const = default;
    };
    // The records announced and not come by `now`: a graft to send for
    // each (the peer is eager from now on). The next announcer of each is
    // grafted graft_retry later if it still has not come.
    std::vector<graft> on_timer(time_point now);
    // When on_timer next has something to do; nothing: no record awaited.
    std::optional<time_point> next_deadline() const;
    std::size_t awaited() const noexcept { return missing_.size(); }

    // The notices owed to `peer`, to go in one message; cleared.
    std::vector<notice> take_notices(std::string_view peer);

private:
    struct link {
        bool eager = true;
        std::vector<notice> notices; // owed, not yet taken
    };
    struct awaited_record {
        std::int64_t time_ns = 0;
        std::vector<std::string> announcers; // in the order their notices came
        time_point deadline;
    };

    void wait_for(std::string_view from, const notice& n, time_point now);

    tree_settings settings_;
    std::map<std::string, link, std::less<>> links_;
    std::map<std::string, awaited_record, std::less<>> missing_; // by client
};

} // namespace herd::peer
