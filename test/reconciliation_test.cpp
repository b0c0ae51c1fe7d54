// Range-based reconciliation alone, with no sockets: two stores driven
// message by message until neither has anything to answer.
#include "core/location_store.hpp"
#include "peer/reconciliation.hpp"

#include <catch2/catch.hpp>

#include <string>

using namespace herd;
using namespace herd::peer;

namespace {

std::string at_line(std::size_t client, std::int64_t seconds, std::string_view server = "Goloman")
{
    return "AT " + std::string(server) + " +0.000100000 client-" + std::to_string(client) + " +34.068930-118.445127 " +
           std::to_string(seconds) + ".000000000";
}

// A store, and how many records reached it from the other side.
class side {
public:
    void put(std::string_view line)
    {
        auto parsed = parse_at_line(line);
        REQUIRE(parsed);
        store_.update(location_record::from(*parsed, line));
    }
    reconcile_view& view() { return view_; }
    const location_store& records() const { return store_; }
    fingerprint of(const key_range& r) const { return view_.of(r); }
    std::size_t received = 0;

private:
    location_store store_;
    store_view view_{store_, [this](std::string_view line) {
                         ++received;
                         put(line);
                     }};
};

// Passes messages between `a` (which starts) and `b` through their wire
// form, as the peer port would, until one needs no answer.
exchange_totals reconcile(side& a, side& b, reconcile_options options = {})
{
    const auto e = reconcile_in_process(a.view(), b.view(), options);
    REQUIRE(e.ok);
    return e;
}

bool same(const location_store& x, const location_store& y)
{
    bool equal = x.size() == y.size() && x.digest() == y.digest();
    x.for_each([&](std::string_view client, const location_record& r) {
        const auto* other = y.find(client);
        equal = equal && other != nullptr && other->at_line == r.at_line;
    });
    return equal;
}

} // namespace

TEST_CASE("ranges are prefixes of the key, written as their nibbles", "[reconcile]")
{
    const key_range all;
    CHECK(all.contains(0));
    CHECK(all.contains(~std::uint64_t{0}));
    const key_range r = all.child(0x3).child(0xa);
    CHECK(format_range(r) == "3a");
    CHECK(r.contains(0x3a00000000000000ULL));
    CHECK(r.contains(0x3affffffffffffffULL));
    CHECK_FALSE(r.contains(0x3b00000000000000ULL));
    CHECK(parse_range("3a") == r);
    CHECK(parse_range("-") == all);
    CHECK_FALSE(parse_range(""));
    CHECK_FALSE(parse_range("3g"));
    CHECK_FALSE(parse_range("00000000000000000")); // 17 nibbles: past a 64-bit key
}

TEST_CASE("a range set finds the range holding a key at every depth, past its table's too", "[reconcile]")
{
    // Disjoint ranges of depths 1 to 8 (the table's cells are depth 4):
    // 0x1, 0x23, 0x456 and 0x789a fill cells, and the deeper ones sit in
    // the cells 0xbcde and 0xbcdf, which no range of depth 4 or less covers.
    const auto range = [](std::uint64_t prefix, unsigned depth) {
        return key_range{depth == 0 ? 0 : prefix << (64 - 4 * depth), depth};
    };
    const std::vector<key_range> ranges = {
        range(0x1, 1),     range(0x23, 2),     range(0x456, 3),      range(0x789a, 4),
        range(0xbcdef, 5), range(0xbcdf01, 6), range(0xbcdf0234, 8), range(0xbcdf1, 5),
    };
    const range_set set(ranges);
    const std::vector<std::uint64_t> keys = {
        0x1000000000000000ULL, 0x1fffffffffffffffULL, 0x2300000000000001ULL,
        0x2400000000000000ULL, 0x4560000000000000ULL, 0x4570000000000000ULL,
        0x789a000000000000ULL, 0x789b000000000000ULL, 0xbcdef00000000000ULL,
        0xbcdf000000000000ULL, 0xbcdf010000000000ULL, 0xbcdf023400000000ULL,
        0xbcdf023500000000ULL, 0xbcdf1fffffffffffULL, 0x0ULL,
        0xffffffffffffffffULL,
    };
    for (const auto key : keys) {
        INFO(std::hex << key);
        std::optional<std::size_t> holding;
        for (std::size_t i = 0; i < ranges.size() && !holding; ++i) {
            if (ranges[i].contains(key)) {
                holding = i;
            }
        }
        CHECK(set.find(key) == holding);
    }
    CHECK(set.find(0xbcdf010000000000ULL) == 5U);
    CHECK_FALSE(set.find(0xbcdf000000000000ULL)); // the cell of deeper ranges, in none of them
    CHECK_FALSE(range_set({}).contains(0));
    CHECK(range_set({key_range{}}).find(0xdeadbeefULL) == 0U);
}

TEST_CASE("a message reads back from its lines as it was written", "[reconcile]")
{
    reconcile_message m;
    m.compare.push_back({parse_range("-").value(), {0x1234abcd, 7}});
    m.compare.push_back({parse_range("f0").value(), {0, 0}});
    m.offered.push_back({parse_range("c").value(), {1, 0xffffffffffffffffULL}});
    m.offered.push_back({parse_range("d").value(), {}});
    std::vector<std::uint64_t> many(150);
    for (std::size_t i = 0; i < many.size(); ++i) {
        many[i] = i * 0x9e3779b97f4a7c15ULL;
    }
    m.offered.push_back({parse_range("e0").value(), many}); // several lines
    // Ranges as deep as a key goes, with the largest counts and hashes.
    for (int i = 0; i < 40; ++i) {
        m.compare.push_back({parse_range("0123456789abcdef").value(), {~0ULL, ~0ULL}});
        m.pushed.push_back(parse_range("fedcba9876543210").value());
    }
    m.pushed.push_back(parse_range("0f").value());
    m.wanted = many;
    m.records.push_back(at_line(1, 100));
    message_reader reader;
    std::optional<reconcile_message> back;
    for (const auto& line : format_message(m)) {
        // Any neighbour's limits.peer_line_bytes (at least 512) lets it through.
        if (!line.starts_with("AT ")) {
            CHECK(line.size() <= 512);
            CHECK(is_message_line(line));
        }
        auto fed = reader.feed(line);
        REQUIRE(fed.ok);
        back = std::move(fed.message);
    }
    REQUIRE(back);
    CHECK(back->compare == m.compare);
    CHECK(back->offered == m.offered);
    CHECK(back->pushed == m.pushed);
    CHECK(back->wanted == m.wanted);
    CHECK(back->records == m.records);
    CHECK_FALSE(reader.feed("HERD herd/1 COMPARE 3a:zz:0").ok);
    CHECK_FALSE(reader.feed("HERD herd/1 COMPARE 3a:1").ok);
    CHECK_FALSE(reader.feed("HERD herd/1 OFFER xyz").ok);
    CHECK_FALSE(reader.feed("HERD herd/1 OFFER 3a 12 zz").ok);
    CHECK_FALSE(reader.feed("HERD herd/1 WANT -1").ok);
    CHECK_FALSE(reader.feed("HERD herd/1 PUSH 3a,3b").ok);
    CHECK_FALSE(reader.feed("hello").ok);
}

TEST_CASE("the range index's whole range is the store's digest and size", "[reconcile]")
{
    side s;
    for (std::size_t i = 0; i < 1000; ++i) {
        s.put(at_line(i, 100));
    }
    s.put(at_line(7, 200)); // replaces a record: the index follows
    CHECK(s.of({}).count == s.records().size());
    CHECK(s.of({}).hash == s.records().digest());
    fingerprint children;
    for (unsigned n = 0; n < 16; ++n) {
        const auto f = s.of(key_range{}.child(n));
        children.hash ^= f.hash;
        children.count += f.count;
    }
    CHECK(children == s.of({}));
}

TEST_CASE("equal stores settle in one round", "[reconcile]")
{
    side a;
    side b;
    for (std::size_t i = 0; i < 1000; ++i) {
        a.put(at_line(i, 100));
        b.put(at_line(i, 100));
    }
    const auto e = reconcile(a, b);
    CHECK(e.messages == 2); // the fingerprint, and the empty answer that ends it
    CHECK(e.records == 0);
}

TEST_CASE("an empty side gets the whole store, and nothing more", "[reconcile]")
{
    side a;
    side b;
    for (std::size_t i = 0; i < 5000; ++i) {
        a.put(at_line(i, 100));
    }
    const auto e = reconcile(b, a);
    CHECK(same(a.records(), b.records()));
    CHECK(e.records == 5000);
    CHECK(e.messages == 3);
}

TEST_CASE("an empty side gets a big store in messages of bounded size", "[reconcile]")
{
    side a;
    side b;
    for (std::size_t i = 0; i < 100'000; ++i) {
        a.put(at_line(i, 100));
    }
    reconcile_options options;
    options.max_records = 2000;
    const auto e = reconcile(b, a, options);
    CHECK(same(a.records(), b.records()));
    CHECK(e.records == 100'000);
    INFO("messages " << e.messages << ", most records in one " << e.most_records);
    // Whole leaf ranges at a time: the budget, and at most one leaf's worth past it.
    CHECK(e.most_records <= 2000 + 64);
    CHECK(e.messages > 100'000 / 2000);
}

// Two stores of 1,000,000 records that differ in `differences` clients:
// half have a newer record at `a`, a quarter are only at `a`, the rest only
// at `b`. Both must end with every client's newest, and only the differing
// records may travel.
TEST_CASE("reconciling 1,000,000 records costs only the difference", "[reconcile]")
{
    constexpr std::size_t store_size = 1'000'000;
    // At 100,000 differences the records take several messages
    // (reconcile_options::max_records), and the ranges left for later are
    // listed again when they come.
    const auto [differences, max_bytes, max_messages] = GENERATE(table<std::size_t, std::size_t, std::size_t>({
        {10, 100'000, 8},
        {1'000, 1'500'000, 8},
        {100'000, 60'000'000, 24},
    }));
    CAPTURE(differences);
    const std::size_t newer = differences / 2;
    const std::size_t only_a = differences / 4;
    const std::size_t only_b = differences - newer - only_a;
    side a;
    side b;
    for (std::size_t i = 0; i < store_size - only_b; ++i) {
        const auto line = at_line(i, 100);
        if (i < store_size - only_b - only_a) {
            b.put(line);
        }
        a.put(line);
    }
    for (std::size_t i = 0; i < newer; ++i) {
        a.put(at_line(i * 7, 200, "Hands"));
    }
    for (std::size_t i = 0; i < only_b; ++i) {
        b.put(at_line(store_size + i, 100));
    }
    REQUIRE(a.records().size() == store_size - only_b);
    REQUIRE(b.records().size() == store_size - only_a);

    const auto e = reconcile(a, b);
    CHECK(same(a.records(), b.records()));
    CHECK(a.records().size() == store_size);
    const auto* updated = b.records().find("client-7");
    REQUIRE(updated != nullptr);
    CHECK(updated->server() == "Hands");
    INFO("messages " << e.messages << ", records " << e.records << ", bytes " << e.bytes);
    CHECK(e.records == differences); // each differing record once, and nothing else
    CHECK(b.received == newer + only_a);
    CHECK(a.received == only_b);
    CHECK(e.bytes <= max_bytes);
    CHECK(e.messages <= max_messages); // five levels of fingerprints, the lists, the records asked for, the end
}
