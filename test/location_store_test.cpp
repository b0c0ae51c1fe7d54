// The location store's newest-wins rule and its tie-break.
#include "core/location_store.hpp"

#include <catch2/catch.hpp>

#include <set>
#include <string>
#include <vector>

using namespace herd;

namespace {

location_record record_of(std::string_view at_line)
{
    auto parsed = parse_at_line(at_line);
    REQUIRE(parsed);
    return location_record::from(*parsed, at_line);
}

} // namespace

TEST_CASE("a record finds its origin and client inside its AT line, made or parsed", "[store]")
{
    const std::string line = "AT Goloman +0.263873386 kiwi.cs.ucla.edu +34.068930-118.445127 1621464827.959498503";
    const auto made = location_record::make(line, 1, {});
    const auto parsed = record_of(line);
    for (const auto* r : {&made, &parsed}) {
        CHECK(r->server() == "Goloman");
        CHECK(r->client() == "kiwi.cs.ucla.edu");
        CHECK(r->at_line == line);
    }
}

TEST_CASE("fields past 65535 bytes into the line are sliced where they are", "[store]")
{
    // A neighbour's skew has no length bound and a peer line may be 1 MiB:
    // the client ID can start far past what 16 bits of offset reach.
    const std::string skew = "+" + std::string(70000, '1') + ".000000000";
    const std::string line = "AT Hands " + skew + " kiwi.cs.ucla.edu +34.068930-118.445127 1621464827.959498503";
    const std::string spaced = "AT" + std::string(70000, ' ') + "Hands +0.000000000 kiwi +1+1 1";
    const auto made = location_record::make(line, 1, {});
    const auto parsed = record_of(line);
    for (const auto* r : {&made, &parsed}) {
        CHECK(r->server() == "Hands");
        CHECK(r->client() == "kiwi.cs.ucla.edu");
    }
    const auto far = record_of(spaced);
    CHECK(far.server() == "Hands");
    CHECK(far.client() == "kiwi");
    location_store store;
    CHECK(store.update(parsed) == location_store::outcome::stored);
    REQUIRE(store.find("kiwi.cs.ucla.edu") != nullptr);
    CHECK(store.find("kiwi.cs.ucla.edu")->at_line == line);
}

TEST_CASE("the store keeps the newest record by client time", "[store]")
{
    location_store store;
    CHECK(store.update(record_of("AT Hands +0.100000000 kiwi +1+1 100")) == location_store::outcome::stored);
    CHECK(store.update(record_of("AT Hands +0.100000000 kiwi +1+1 100")) == location_store::outcome::duplicate);
    CHECK(store.update(record_of("AT Goloman +0.100000000 kiwi +2+2 99.999999999")) == location_store::outcome::stale);
    CHECK(store.find("kiwi")->at_line == "AT Hands +0.100000000 kiwi +1+1 100");
    CHECK(store.update(record_of("AT Goloman +0.100000000 kiwi +2+2 100.000000001")) ==
          location_store::outcome::stored);
    CHECK(store.find("kiwi")->server() == "Goloman");
    CHECK(store.find("kiwi")->where.lat == Approx(2));
    CHECK(store.find("nobody") == nullptr);
    CHECK(store.size() == 1);
}

TEST_CASE("times are compared exactly, past double precision", "[store]")
{
    location_store store;
    store.update(record_of("AT Hands +0.100000000 kiwi +1+1 1621464827.959498503"));
    // These two differ in the last nanosecond, which a double cannot hold.
    CHECK(store.update(record_of("AT Hands +0.100000000 kiwi +1+1 1621464827.959498502")) ==
          location_store::outcome::stale);
    CHECK(store.update(record_of("AT Hands +0.100000000 kiwi +1+1 1621464827.959498504")) ==
          location_store::outcome::stored);
    // Decimals past the ninth do not make a record newer; the tie-break decides.
    CHECK(store.update(record_of("AT Hands +0.100000000 kiwi +1+1 1621464827.9594985049")) ==
          location_store::outcome::stored);
}

TEST_CASE("ties break the same way whichever record arrives first", "[store]")
{
    const auto a = record_of("AT Goloman +0.500000000 kiwi +1+1 100");
    const auto b = record_of("AT Hands +0.200000000 kiwi +2+2 100");
    const auto c = record_of("AT Hands +0.300000000 kiwi +2+2 100");
    CHECK(newer_than(b, a));
    CHECK_FALSE(newer_than(a, b));
    CHECK(newer_than(c, b)); // same origin: the AT line's bytes
    for (const auto& order : {std::vector{a, b, c}, std::vector{c, b, a}, std::vector{b, c, a}}) {
        location_store store;
        for (const auto& r : order) {
            store.update(r);
        }
        CHECK(store.find("kiwi")->at_line == c.at_line);
    }
}

TEST_CASE("the digest is the same for the same records, whatever order they came in", "[store]")
{
    const auto a = record_of("AT Hands +0.100000000 kiwi +1+1 100");
    const auto b = record_of("AT Hands +0.100000000 plum +1+1 100");
    const auto a2 = record_of("AT Goloman +0.100000000 kiwi +2+2 101");
    location_store one;
    location_store two;
    CHECK(one.digest() == two.digest());
    one.update(a);
    one.update(b);
    one.update(a2);
    two.update(b);
    two.update(a2);
    two.update(a); // stale: changes nothing
    CHECK(one.digest() == two.digest());
    location_store three;
    three.update(a);
    three.update(b);
    CHECK(three.digest() != one.digest());
    CHECK(three.digest() != 0);
}

TEST_CASE("the store walks its clients in ID order from after any ID, however it grew", "[store]")
{
    location_store store;
    std::set<std::string> ids;
    // Enough clients, in a scrambled order, to split the ID runs many times.
    for (unsigned i = 0; i < 5000; ++i) {
        const auto id = "c" + std::to_string((i * 7919U) % 5000U);
        ids.insert(id);
        REQUIRE(store.update(record_of("AT Hands +0.100000000 " + id + " +1+1 100")) ==
                location_store::outcome::stored);
    }
    REQUIRE(store.update(record_of("AT Hands +0.100000000 c42 +1+1 101")) == location_store::outcome::stored);
    const auto walk = [&](std::string_view after, std::size_t count) {
        std::vector<std::string> seen;
        store.for_each_after(after, [&](std::string_view client, const location_record& r) {
            CHECK(r.client() == client);
            seen.emplace_back(client);
            return seen.size() < count;
        });
        return seen;
    };
    const std::vector<std::string> sorted(ids.begin(), ids.end());
    CHECK(walk("", ids.size() + 1) == sorted);
    CHECK(walk("c42", 3) == std::vector<std::string>{"c420", "c4200", "c4201"});
    CHECK(walk("d", 10).empty());
    CHECK(walk("c", 1) == std::vector<std::string>{"c0"});
    // Resuming after the last ID seen covers every client exactly once.
    std::vector<std::string> paged;
    std::string after;
    for (;;) {
        const auto page = walk(after, 333);
        if (page.empty()) {
            break;
        }
        paged.insert(paged.end(), page.begin(), page.end());
        after = page.back();
    }
    CHECK(paged == sorted);
}
