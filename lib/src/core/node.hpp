// The node: one server's store, and store_and_propagate, the twin of the
// prototype's propagate(). It knows its neighbours only as places to hand a
// record that changed the store (record_sink): no sockets, no coroutines,
// so newest-wins and "to every neighbour but the one it came from" are
// tested synchronously (test/node_test.cpp).
#pragma once

#include "core/location_store.hpp"

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace herd {

class store_log;

// A neighbour as the node sees it. offer() never waits and never fails: a
// link that cannot take the record now (full, down) owes its neighbour a
// repair, and does it itself (docs/protocol.md, "Repair").
class record_sink {
public:
    virtual ~record_sink() = default;
    virtual const std::string& neighbour() const noexcept = 0;
    // One copy of the line, shared by every neighbour it goes to.
    virtual void offer(const std::shared_ptr<const std::string>& at_line) = 0;
};

// Sees every change to the store after it is made (the /v1/stream
// subscribers): the record, where its client was before (nothing: a new
// client) and the neighbour it came from (empty: a client's IAMAT here).
class store_observer {
public:
    virtual ~store_observer() = default;
    // False while nobody is listening: the node then skips looking up where
    // the client was, which only a watcher needs.
    virtual bool watching() const noexcept = 0;
    virtual void stored(const location_record& record, const std::optional<geo_point>& before,
                        std::string_view came_from) = 0;
};

// Decides who is sent a record that changed the store. None set: every
// neighbour but the one it came from (flood, the prototype's propagate());
// broadcast = "tree" sets one (peer/tree_broadcast.hpp).
class broadcaster {
public:
    virtual ~broadcaster() = default;
    virtual void propagate(const location_record& kept, std::string_view came_from) = 0;
};

class node {
public:
    location_store store;
    std::unique_ptr<store_log> disk; // none: the store lives in memory only
    // After every change to the store (server_options::on_stored).
    std::function<void(const location_record&)> on_stored;
    // Must outlive the node's use of it; none: nobody watches.
    store_observer* observer = nullptr;
    // Must outlive the node's use of it; none: flood.
    broadcaster* spread = nullptr;

    node();
    ~node();
    node(const node&) = delete;
    node& operator=(const node&) = delete;

    // The sink stays registered until remove_neighbours(); it must outlive that.
    void add_neighbour(record_sink& sink) { sinks_.push_back(&sink); }
    void remove_neighbours() noexcept { sinks_.clear(); }

    // Stores a record; if it changed the store, logs it to disk and offers
    // it to every neighbour but `came_from` (empty: a client's IAMAT), or
    // hands it to `spread`.
    location_store::outcome store_and_propagate(location_record record, std::string_view came_from);

private:
    std::vector<record_sink*> sinks_;
};

} // namespace herd
