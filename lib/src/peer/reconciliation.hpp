// Range-based set reconciliation of two stores (Meyer, "Range-Based Set
// Reconciliation", arXiv 2212.13567), pure: no sockets, no store type. Its
// cost grows with how much the stores differ, not with how large they are.
//
// The universe is the 64-bit key of each record's client (client_key), so
// both sides split it at the same points whatever their stores hold. A
// range is a prefix of that key, written as its hex nibbles ("" is every
// key, "3a" the 1/256th whose key starts 0x3a). A range's fingerprint is
// the XOR of record_hash over its records and their count: for the whole
// range it is exactly the store's digest() and size(), which the peer
// handshake already compares.
//
// Each message answers the one before. The side receiving a message:
//   1. stores the records in it (newest wins, as for any peer record);
//   2. sends the records the other side asked for (by hash, from the
//      ranges it offered last);
//   3. for each range the other side offered (listed the hashes of all it
//      holds there), sends its own records there that are not in the list,
//      and asks for those in the list it does not hold;
//   4. for each range the other side pushed (sent all it holds there),
//      sends its own records there that were not among them;
//   5. for each range whose fingerprint differs from its own: if it holds
//      few records there (leaf_records), or the range is as deep as the
//      index goes, offers it; if the other side holds few, pushes it;
//      otherwise sends the fingerprints of the range's sixteen children.
// So a differing record travels at most once each way (a side may send a
// version the other then finds older), and what else is sent is hashes and
// fingerprints along the paths to the differences.
// A message with nothing to compare and nothing offered needs no answer:
// reconciliation is over once one has been sent.
#pragma once

#include "core/location_store.hpp"
#include "core/range_index.hpp"

#include <array>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace herd::peer {

using detail::client_key;
using detail::fingerprint;
using detail::key_range;
using detail::range_index;
using detail::range_slot;

struct range_fingerprint {
    key_range range;
    fingerprint fp;
    bool operator==(const range_fingerprint&) const = default;
};

// A range one side settles by listing what it holds there: the hash of
// each record, not the record.
struct range_offer {
    key_range range;
    std::vector<std::uint64_t> hashes;
    bool operator==(const range_offer&) const = default;
};

// One side's message of a round.
struct reconcile_message {
    std::vector<range_fingerprint> compare; // "here are mine: compare"
    std::vector<range_offer> offered;       // "this is all I hold here: send what I lack, ask for what you lack"
    std::vector<key_range> pushed;          // "all I hold here is among the records: send what I lack"
    std::vector<std::uint64_t> wanted;      // "send me these", of the ranges the receiver offered
    std::vector<std::string> records;       // AT lines

    // Nothing for the other side to answer: the last message.
    bool last() const noexcept { return compare.empty() && offered.empty() && pushed.empty() && wanted.empty(); }
};

// What a side reconciles: its store, seen through the range index.
struct reconcile_view {
    virtual ~reconcile_view() = default;
    virtual fingerprint of(const key_range& r) const = 0;
    // Calls f(key, record_hash, at_line) for every record whose key is in
    // one of `ranges` (one walk of the store for all of them).
    virtual void for_each_in(const std::vector<key_range>& ranges,
                             const std::function<void(std::uint64_t, std::uint64_t, std::string_view)>& f) const = 0;
    // Stores a record from the other side, newest wins (and passes it on,
    // in a server); nothing if it is not a record.
    virtual void store(std::string_view at_line) = 0;
};

// A store as reconciliation sees it: its range index, a walk of its
// records, and `keep` for what comes from the other side (in a server,
// store_and_propagate).
class store_view final : public reconcile_view {
public:
    store_view(const location_store& store, std::function<void(std::string_view)> keep)
        : store_(store), keep_(std::move(keep))
    {
    }
    fingerprint of(const key_range& r) const override { return store_.ranges().of(r); }
    void for_each_in(const std::vector<key_range>& ranges,
                     const std::function<void(std::uint64_t, std::uint64_t, std::string_view)>& f) const override;
    void store(std::string_view at_line) override { keep_(at_line); }

private:
    const location_store& store_;
    std::function<void(std::string_view)> keep_;
};

struct reconcile_options {
    // A range where either side holds at most this many records is settled
    // by sending them rather than split again.
    std::uint64_t leaf_records = 16;
    // Nor is a range split past the depth the index keeps fingerprints for:
    // at 1,000,000 records a range of depth 4 holds about 15.
    unsigned max_split_depth = range_index::index_depth;
    // The records a message carries, about: a range that would take it past
    // this is compared again, in its sixteen parts, and sent in later rounds.
    // So neither side ever holds more than about this many records to send,
    // however far apart the stores are (65,536 AT lines: about 16 MB).
    std::uint64_t max_records = 65536;
};

// A set of ranges to test keys against, for walking a store once for many
// ranges: a table over the 65,536 ranges of the index's depth names the
// range holding each key in one look-up. A walk asks it for every record,
// so a search per record (what it did before) was most of the cost of a
// message. Only ranges deeper than the table, which Herd never sends but a
// neighbour may, are searched, one step per depth.
class range_set {
public:
    explicit range_set(const std::vector<key_range>& ranges);
    bool contains(std::uint64_t key) const noexcept { return find(key).has_value(); }
    // The position in `ranges` of a range holding `key`.
    std::optional<std::size_t> find(std::uint64_t key) const noexcept;

private:
    static constexpr unsigned table_depth = range_index::index_depth;
    static constexpr std::uint32_t none = 0;              // no range here
    static constexpr std::uint32_t deeper = 0xffff'ffffU; // only ranges deeper than the table
    struct depth_slots {
        unsigned depth;
        std::vector<std::pair<std::uint64_t, std::size_t>> slots; // sorted: (slot, position)
    };
    std::vector<std::uint32_t> table_; // by slot at table_depth: 1 + position, none or deeper; empty if no range
    std::vector<depth_slots> deep_;    // the ranges deeper than table_depth, by depth
};

// One side of one reconciliation: the state machine that turns each
// message received into the next one to send. Its only state is what it
// offered last, so that it can answer what the other side wants from it.
class reconciliation {
public:
    explicit reconciliation(reconcile_view& view, reconcile_options options = {}) : view_(view), options_(options) {}

    // The first message, from the side that starts: the whole store's
    // fingerprint.
    reconcile_message start();

    // Stores the records in `in` and returns the answer to it; nothing
    // when `in` was the last message.
    std::optional<reconcile_message> answer(const reconcile_message& in);

private:
    reconcile_view& view_;
    reconcile_options options_;
    std::vector<key_range> offered_; // in the last message sent
};

// The message as the lines sent on the peer port, each without its '\n':
//   HERD herd/1 COMPARE <range>:<count>:<hash> ...   (at most 8 a line)
//   HERD herd/1 OFFER <range> <hash> ...           (at most 24 a line)
//   HERD herd/1 PUSH <range> ...                    (at most 8 a line)
//   HERD herd/1 WANT <hash> ...                     (at most 24 a line)
//   AT ...                                          (the records)
//   HERD herd/1 OVER                                (the other side's turn)
// A range is its nibbles in hex, or "-" for the whole key space.
// Every line but the records fits in 512 bytes, the least limits.peer_line_bytes.
std::vector<std::string> format_message(const reconcile_message& m);

// A line of a reconciliation message other than a record.
bool is_message_line(std::string_view line) noexcept;

// Reads a message's lines back, one at a time: feed() returns the message
// once its OVER line arrives. A line that is not part of a message is
// refused (false from feed's `ok`).
class message_reader {
public:
    struct result {
        bool ok = true;
        std::optional<reconcile_message> message;
    };
    result feed(std::string_view line);
    // A message's first line has come and its OVER not yet.
    bool started() const noexcept
    {
        return !partial_.compare.empty() || !partial_.offered.empty() || !partial_.pushed.empty() ||
               !partial_.wanted.empty() || !partial_.records.empty();
    }

private:
    reconcile_message partial_;
};

// Both sides of one reconciliation run in one process, every message
// passed through its wire form as the peer port would carry it: for tests
// and the benchmark, which count what travelled.
struct exchange_totals {
    std::size_t messages = 0; // both ways; a round trip is two
    std::size_t bytes = 0;    // the lines, with their newlines
    std::size_t records = 0;
    std::size_t most_records = 0; // in any one message
    bool ok = true;               // false: a line did not read back
};
exchange_totals reconcile_in_process(reconcile_view& starts, reconcile_view& answers, reconcile_options options = {});

std::string format_range(const key_range& r);
std::optional<key_range> parse_range(std::string_view text) noexcept;

} // namespace herd::peer
