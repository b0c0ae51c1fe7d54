// broadcast = "tree" on a running server: the Plumtree rules
// (peer/broadcast_tree.hpp) fed from the links, and the timer that grafts
// a link when a record it announced has not come. The links send what it
// decides: full records through their queues, notices, prunes and grafts
// as lines of their own (peer/tree_messages.hpp).
//
// Only links that agreed on the tree (BROADCAST tree, answered in kind)
// are in it; every other link, to a flood server or a reference, gets
// every record in full, as under flood.
#pragma once

#include "core/node.hpp"
#include "peer/broadcast_tree.hpp"
#include "peer/tree_messages.hpp"
#include "server_state.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>

#include <memory>
#include <string>
#include <vector>

namespace herd {

class tree_broadcast final : public broadcaster {
public:
    explicit tree_broadcast(server::state& owner);

    // Spawns the graft timer; stop() ends it.
    void start();
    void stop();

    // Full to the eager neighbours and to every link outside the tree, a
    // notice owed to each lazy one.
    void propagate(const location_record& kept, std::string_view came_from) override;

    // The link this server dialled to `peer` agreed on the tree, or went down.
    void link_up(const std::string& peer);
    void link_down(const std::string& peer);
    bool in_tree(std::string_view peer) const { return rules_.is_eager(peer) || rules_.is_lazy(peer); }
    std::vector<peer::notice> take_notices(const std::string& peer) { return rules_.take_notices(peer); }

    // What came over the link `from` dialled: a full record the store
    // already had, and the tree's own lines (not BROADCAST, which the link
    // answers itself).
    void duplicate_from(const std::string& from);
    void receive(const std::string& from, const peer::tree_line& line);

private:
    boost::asio::awaitable<void> run(std::shared_ptr<server::state> keep);
    void rearm();

    server::state& owner_;
    peer::broadcast_tree rules_;
    boost::asio::steady_timer timer_;
    bool stopped_ = false;
};

} // namespace herd
