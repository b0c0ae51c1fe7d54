// The client session's state machine alone, with no io_context: each test
// plays the driver, feeding reads and completions in the order a race
// would deliver them, and checks the action that comes back.
#include "client/session_fsm.hpp"
#include "places/places_reply.hpp"

#include <boost/json/array.hpp>
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

using namespace herd;
using kind = session_fsm::action::kind;
using read_result = session_fsm::read_result;

namespace {

// The store, and a store log that numbers each record that changed it.
class test_host final : public session_host {
public:
    explicit test_host(bool with_log) : with_log_(with_log) {}

    std::uint64_t store(location_record record) override
    {
        if (store_.update(std::move(record)) == location_store::outcome::stored && with_log_) {
            ++appended;
        }
        return appended;
    }
    const location_record* find(std::string_view client) override { return store_.find(client); }
    void received(std::string_view line) override { lines.emplace_back(line); }
    void replied(std::string_view replies) override { logged_replies += replies; }

    const location_record* stored(std::string_view client) const { return store_.find(client); }

    std::uint64_t appended = 0;
    std::vector<std::string> lines;
    std::string logged_replies;

private:
    location_store store_;
    bool with_log_;
};

// 1621464828.0 on the server's clock: an IAMAT sent at 1621464827.5 has a
// skew of half a second.
constexpr std::int64_t now_ns = 1'621'464'828'000'000'000;

const session_limits small{.line_bytes = 100, .client_id_bytes = 32, .reply_bytes = 1 << 20};

struct session {
    explicit session(bool with_log = false, session_limits limits = small)
        : host(with_log), fsm(host, stats, "Goloman", limits)
    {
    }

    // Delivers `bytes` as one read.
    session_fsm::action read(std::string_view bytes, read_result result = read_result::data)
    {
        auto space = fsm.read_buffer();
        REQUIRE(space.size() >= bytes.size());
        std::copy(bytes.begin(), bytes.end(), space.begin());
        return fsm.on_read(bytes.size(), result, now_ns, std::chrono::steady_clock::now());
    }

    test_host host;
    server_stats stats;
    session_fsm fsm;
};

constexpr std::string_view kiwi_iamat = "IAMAT kiwi +34.068930-118.445127 1621464827.5\n";
constexpr std::string_view kiwi_at = "AT Goloman +0.500000000 kiwi +34.068930-118.445127 1621464827.5\n";

boost::json::object three_places()
{
    boost::json::array results;
    for (const char* name : {"Royce Hall", "Powell Library", "Kerckhoff Hall"}) {
        results.push_back(boost::json::object{{"name", name}});
    }
    return boost::json::object{{"results", std::move(results)}, {"status", "OK"}};
}

} // namespace

TEST_CASE("session: an IAMAT is answered with its AT line, then a turn of the loop, then a read", "[session]")
{
    session s;
    REQUIRE(s.fsm.start().what == kind::read);
    const auto write = s.read(kiwi_iamat);
    REQUIRE(write.what == kind::write);
    CHECK(write.bytes == kiwi_at);
    CHECK(s.host.stored("kiwi") != nullptr);
    CHECK(s.stats.iamat == 1);
    CHECK(s.host.lines == std::vector<std::string>{std::string(kiwi_iamat.substr(0, kiwi_iamat.size() - 1))});
    CHECK(s.host.logged_replies == kiwi_at);
    CHECK(s.fsm.on_written(true).what == kind::yield);
    CHECK(s.fsm.on_yielded().what == kind::read);
}

TEST_CASE("session: a WHATSAT asks for places and replies with the stored AT line and the bounded JSON", "[session]")
{
    session s;
    s.fsm.start();
    const auto ask = s.read(std::string(kiwi_iamat) + "WHATSAT kiwi 10 2\n");
    REQUIRE(ask.what == kind::ask_places);
    CHECK(ask.query.radius_metres == "10000");
    CHECK(ask.query.bound == 2);
    CHECK(ask.query.where.lat == Approx(34.068930));
    auto expected = three_places();
    expected["results"].get_array().resize(2);
    const auto write = s.fsm.on_places(three_places());
    REQUIRE(write.what == kind::write);
    // The IAMAT's reply waited for the WHATSAT's: one write, in order.
    CHECK(write.bytes == std::string(kiwi_at) + std::string(kiwi_at) + format_places(expected) + "\n\n");
    CHECK_THAT(std::string(write.bytes), !Catch::Contains("Kerckhoff Hall"));
    CHECK(s.stats.whatsat == 1);
}

TEST_CASE("session: pipelined lines after a WHATSAT wait for its answer, and are answered after it", "[session]")
{
    session s;
    s.fsm.start();
    s.read(kiwi_iamat);
    s.fsm.on_written(true);
    s.fsm.on_yielded();
    const auto ask = s.read("WHATSAT kiwi 1 1\nIAMAT kiwi +1+1 1621464827.75\nHELLO\n");
    REQUIRE(ask.what == kind::ask_places);
    // Nothing after the WHATSAT has run yet: the store still holds the old
    // place, and the WHATSAT answers with it.
    CHECK(s.host.stored("kiwi")->at_line == kiwi_at.substr(0, kiwi_at.size() - 1));
    CHECK(s.stats.iamat == 1);
    const auto write = s.fsm.on_places(three_places());
    REQUIRE(write.what == kind::write);
    const std::string bytes(write.bytes);
    const auto whatsat_at = bytes.find(kiwi_at);
    const auto new_at = bytes.find("AT Goloman +0.250000000 kiwi +1+1 1621464827.75\n");
    const auto invalid = bytes.find("? HELLO\n");
    CHECK(whatsat_at == 0);
    CHECK(new_at != std::string::npos);
    CHECK(invalid != std::string::npos);
    CHECK((whatsat_at < new_at && new_at < invalid));
    CHECK(s.host.stored("kiwi")->time_ns == 1'621'464'827'750'000'000);
}

TEST_CASE("session: a WHATSAT for an unknown client is invalid and asks nothing", "[session]")
{
    session s;
    s.fsm.start();
    const auto write = s.read("WHATSAT nobody 10 5\n");
    REQUIRE(write.what == kind::write);
    CHECK(write.bytes == "? WHATSAT nobody 10 5\n");
    CHECK(s.stats.whatsat == 1);
    CHECK(s.stats.invalid == 1);
}

TEST_CASE("session: a line split across reads, and a last one without a newline at the end of input", "[session]")
{
    session s;
    s.fsm.start();
    CHECK(s.read("IAMAT kiwi +34.068930").what == kind::read); // nothing whole yet: read again, no turn
    CHECK(s.host.lines.empty());
    const auto write = s.read("-118.445127 1621464827.5\nHELLO", read_result::data);
    REQUIRE(write.what == kind::write);
    CHECK(write.bytes == kiwi_at);
    s.fsm.on_written(true);
    CHECK(s.fsm.on_yielded().what == kind::read);
    const auto last = s.read("", read_result::eof);
    REQUIRE(last.what == kind::write);
    CHECK(last.bytes == "? HELLO\n");
    const auto done = s.fsm.on_written(true);
    REQUIRE(done.what == kind::close);
    CHECK(done.reason == closed_by::client);
}

TEST_CASE("session: a line too long closes after the replies to the lines before it, and nothing after runs",
          "[session]")
{
    session s;
    s.fsm.start();
    const std::string long_line = "IAMAT " + std::string(small.line_bytes, 'x') + "\n";
    const auto write = s.read(std::string(kiwi_iamat) + long_line + "IAMAT plum +1+1 1621464827.5\n");
    REQUIRE(write.what == kind::write);
    CHECK(write.bytes == kiwi_at);
    CHECK(s.host.stored("plum") == nullptr);
    const auto done = s.fsm.on_written(true);
    REQUIRE(done.what == kind::close);
    CHECK(done.reason == closed_by::long_line);

    SECTION("or that many bytes with no newline yet, at once")
    {
        session t;
        t.fsm.start();
        const auto closed = t.read(std::string(small.line_bytes + 1, 'x'));
        REQUIRE(closed.what == kind::close);
        CHECK(closed.reason == closed_by::long_line);
    }
}

TEST_CASE("session: replies past reply_bytes are written before the next line is parsed", "[session]")
{
    session s(false, {.line_bytes = 100, .client_id_bytes = 32, .reply_bytes = 10});
    s.fsm.start();
    const auto first = s.read(std::string(kiwi_iamat) + "IAMAT plum +1+1 1621464827.5\n");
    REQUIRE(first.what == kind::write);
    CHECK(first.bytes == kiwi_at);
    CHECK(s.host.stored("plum") == nullptr);
    const auto second = s.fsm.on_written(true);
    REQUIRE(second.what == kind::write);
    CHECK(second.bytes == "AT Goloman +0.500000000 plum +1+1 1621464827.5\n");
    CHECK(s.host.stored("plum") != nullptr);
}

TEST_CASE("session: AT replies wait for the commit of their records, other replies do not", "[session][durability]")
{
    session s(true);
    s.fsm.start();
    const auto wait = s.read(kiwi_iamat);
    REQUIRE(wait.what == kind::wait_commit);
    CHECK(wait.commit == 1);

    SECTION("once committed they are written, and a later WHATSAT alone waits for nothing")
    {
        const auto write = s.fsm.on_committed(1);
        REQUIRE(write.what == kind::write);
        CHECK(write.bytes == kiwi_at);
        s.fsm.on_written(true);
        s.fsm.on_yielded();
        const auto ask = s.read("WHATSAT kiwi 1 1\n");
        REQUIRE(ask.what == kind::ask_places);
        CHECK(s.fsm.on_places(three_places()).what == kind::write);
    }
    SECTION("a store log that fails first means they are never written")
    {
        const auto done = s.fsm.on_committed(0);
        REQUIRE(done.what == kind::close);
        CHECK(done.reason == closed_by::client);
    }
}

TEST_CASE("session: a close while places are asked drops the answer and the lines after it", "[session][race]")
{
    session s;
    s.fsm.start();
    s.read(kiwi_iamat);
    s.fsm.on_written(true);
    s.fsm.on_yielded();
    REQUIRE(s.read("WHATSAT kiwi 1 1\nIAMAT plum +1+1 1621464827.5\n").what == kind::ask_places);
    CHECK(s.fsm.close(closed_by::idle));
    CHECK(s.fsm.aborted());
    const auto done = s.fsm.on_places(three_places());
    REQUIRE(done.what == kind::close);
    CHECK(done.reason == closed_by::idle);
    CHECK(s.host.stored("plum") == nullptr);
    CHECK(s.stats.iamat == 1);
    CHECK(s.host.logged_replies == kiwi_at); // the WHATSAT's reply was never made
}

TEST_CASE("session: a commit that completes after a cancel writes nothing", "[session][race]")
{
    session s(true);
    s.fsm.start();
    REQUIRE(s.read(kiwi_iamat).what == kind::wait_commit);
    s.fsm.cancel();
    const auto done = s.fsm.on_committed(1);
    REQUIRE(done.what == kind::close);
    CHECK(done.reason == closed_by::stopped);
}

TEST_CASE("session: a write that completes after the sweeper's close ends the session for the sweeper's reason",
          "[session][race]")
{
    session s;
    s.fsm.start();
    REQUIRE(s.read(kiwi_iamat).what == kind::write);
    CHECK(s.fsm.close(closed_by::slow_reader));
    CHECK_FALSE(s.fsm.close(closed_by::idle)); // the first reason wins, and the socket is closed once
    const auto done = s.fsm.on_written(true);
    REQUIRE(done.what == kind::close);
    CHECK(done.reason == closed_by::slow_reader);
    CHECK_FALSE(s.fsm.close(closed_by::idle));
}

TEST_CASE("session: a cancel between a write and the next read ends it without reading", "[session][race]")
{
    session s;
    s.fsm.start();
    s.read(kiwi_iamat);
    REQUIRE(s.fsm.on_written(true).what == kind::yield);
    s.fsm.cancel();
    const auto done = s.fsm.on_yielded();
    REQUIRE(done.what == kind::close);
    CHECK(done.reason == closed_by::stopped);
}

TEST_CASE("session: bytes that a read delivers after a close are not parsed", "[session][race]")
{
    session s;
    REQUIRE(s.fsm.start().what == kind::read);
    CHECK(s.fsm.close(closed_by::idle));
    const auto done = s.read(kiwi_iamat);
    REQUIRE(done.what == kind::close);
    CHECK(done.reason == closed_by::idle);
    CHECK(s.host.stored("kiwi") == nullptr);
    CHECK(s.host.lines.empty());
}

TEST_CASE("session: a long line's last write cut short by the sweeper still ends as long_line", "[session][race]")
{
    session s;
    s.fsm.start();
    const auto write = s.read(std::string(kiwi_iamat) + std::string(small.line_bytes + 1, 'x') + "\n");
    REQUIRE(write.what == kind::write);
    CHECK(s.fsm.close(closed_by::slow_reader)); // its socket is still to be closed
    const auto done = s.fsm.on_written(false);
    REQUIRE(done.what == kind::close);
    CHECK(done.reason == closed_by::long_line);
}

TEST_CASE("session: a failed read ends it as the client's, and the sweeper's time-out counts from the last line",
          "[session]")
{
    session s;
    const auto connected = s.fsm.last_line();
    s.fsm.start();
    s.read("IAMAT kiwi"); // no whole line: the idle time-out still runs
    CHECK(s.fsm.last_line() == connected);
    const auto done = s.fsm.on_read(0, read_result::error, now_ns, std::chrono::steady_clock::now());
    REQUIRE(done.what == kind::close);
    CHECK(done.reason == closed_by::client);
    CHECK_FALSE(s.fsm.close(closed_by::idle)); // over: nothing left to close
}
