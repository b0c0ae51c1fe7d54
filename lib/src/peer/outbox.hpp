// What a link owes its neighbour: the records to send, bounded in bytes,
// and whether some could not be kept. A record that does not fit is not
// queued; the link is then dirty, and owes its neighbour a reconciliation
// instead (docs/protocol.md, "Repair"). So memory stays bounded however far
// behind the neighbour is, nothing is lost while the link can reconcile,
// and the client who sent the record never waits. Pure: no sockets, no
// timers (test/outbox_test.cpp).
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>

namespace herd::peer {

class outbox {
public:
    enum class offered {
        queued,
        overflowed, // not queued, and the first such record since the last repair: log it once
        dropped,    // not queued, the link already dirty
    };

    explicit outbox(std::size_t max_bytes) : max_bytes_(max_bytes) {}

    offered offer(std::shared_ptr<const std::string> at_line);

    // Appends queued lines, each with its '\n', to `batch` until it holds at
    // least `max_batch` bytes or the queue is empty; how many were taken.
    std::size_t take(std::string& batch, std::size_t max_batch);

    // The link went down. What is queued stays queued, for when it is back;
    // what the last writes put in the dead socket may never have arrived,
    // so the link is dirty: the next link up reconciles.
    void went_down() noexcept;
    void came_up() noexcept { up_ = true; }

    // A reconciliation starts now: it covers every record not queued so
    // far. Returns how many that were.
    std::uint64_t start_repair() noexcept;

    bool empty() const noexcept { return lines_.empty(); }
    std::size_t bytes() const noexcept { return bytes_; }
    // Something may be missing at the neighbour: a record not queued, or
    // writes lost with a link that went down.
    bool dirty() const noexcept { return dirty_; }
    // A record was not queued since the last repair: this link must
    // reconcile, whichever of the pair usually does.
    bool overflowed() const noexcept { return overflowed_; }
    bool up() const noexcept { return up_; }

private:
    std::size_t max_bytes_;
    std::deque<std::shared_ptr<const std::string>> lines_;
    std::size_t bytes_ = 0;
    bool up_ = false;
    bool dirty_ = true; // nothing is known of the neighbour before its first reconciliation
    bool overflowed_ = false;
    std::uint64_t owed_ = 0;
};

} // namespace herd::peer
