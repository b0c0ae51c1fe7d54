// herd-load: its histogram, its request lines and reply framing, and one
// real run against a real herd-server process.
#include "histogram.hpp"
#include "workload.hpp"

#include "support/herd.hpp"
#include "support/process.hpp"
#include "support/process_herd.hpp"

#include <catch2/catch.hpp>

#include <boost/json.hpp>

#include <regex>

using namespace herd::load;
using namespace std::chrono_literals;

TEST_CASE("the histogram keeps every value within 1/128 and finds percentiles by rank", "[load]")
{
    latency_histogram h;
    for (std::uint64_t v = 1; v <= 1000; ++v) {
        h.record(v * 1000); // 1 us .. 1 ms
    }
    CHECK(h.count() == 1000);
    CHECK(h.min() == 1000);
    CHECK(h.max() == 1'000'000);
    CHECK(h.mean() == Approx(500'500.0));
    // The 500th value is 500 us; the bucket's top is at most 1/128 above.
    CHECK(h.percentile(50) >= 500'000);
    CHECK(h.percentile(50) <= 500'000 + 500'000 / 128);
    CHECK(h.percentile(99) >= 990'000);
    CHECK(h.percentile(99) <= 990'000 + 990'000 / 128);
    CHECK(h.percentile(100) == 1'000'000); // never above the largest value
    CHECK(latency_histogram().percentile(50) == 0);

    // Exact below 128 ns; buckets tile the range with no gaps.
    CHECK(latency_histogram::bucket_of(127) == 127);
    for (std::uint64_t v : {128ULL, 129ULL, 1000ULL, 123456789ULL, 1ULL << 40}) {
        const auto b = latency_histogram::bucket_of(v);
        CHECK(latency_histogram::highest_in_bucket(b) >= v);
        CHECK(latency_histogram::highest_in_bucket(b) - v <= v / 128);
        CHECK(latency_histogram::highest_in_bucket(b - 1) < v);
    }

    latency_histogram other;
    other.record(5'000'000);
    h.merge(other);
    CHECK(h.count() == 1001);
    CHECK(h.max() == 5'000'000);
}

TEST_CASE("herd-load writes the contract's request lines", "[load]")
{
    std::string out;
    append_request(out, request_kind::iamat, "kiwi", {34.068930, -118.445127}, 1'621'464'827'959'498'503);
    append_request(out, request_kind::whatsat, "kiwi", {}, 0, 10, 5);
    append_request(out, request_kind::set, "kiwi", {34.068930, -118.445127}, 1'000'000'000'000'000'001);
    CHECK(out == "IAMAT kiwi +34.068930-118.445127 1621464827.959498503\n"
                 "WHATSAT kiwi 10 5\n"
                 "SET kiwi +34.068930-118.445127@1000000000.000000001\n");
}

TEST_CASE("replies are framed by what was asked: one line, or AT, JSON and a blank line", "[load]")
{
    reply_reader r;
    r.append("AT Goloman +0.1 kiwi +1+1 1\nAT Goloman +0.1 kiwi +1+1 1\n{\n  \"results\" : []\n}");
    auto first = r.next(request_kind::iamat);
    REQUIRE(first);
    CHECK(first->ok);
    CHECK_FALSE(r.next(request_kind::whatsat)); // the JSON has not ended yet
    r.append("\n\n? WHATSAT nobody 1 1\n+OK\r\n-ERR wrong\r\nOK\n");
    auto second = r.next(request_kind::whatsat);
    REQUIRE(second);
    CHECK(second->ok);
    auto invalid = r.next(request_kind::whatsat); // "? ..." is one line
    REQUIRE(invalid);
    CHECK_FALSE(invalid->ok);
    CHECK(r.next(request_kind::set)->ok);
    CHECK_FALSE(r.next(request_kind::set)->ok);
    CHECK(r.next(request_kind::line)->ok);
    CHECK_FALSE(r.next(request_kind::line));
    r.compact();
    CHECK(r.pending() == 0);
}

TEST_CASE("herd-load writes the HTTP port's requests, kept alive, with the line's fields", "[load]")
{
    std::string out;
    append_http_request(out, request_kind::iamat, "kiwi", {34.068930, -118.445127}, 1'621'464'827'959'498'503,
                        "127.0.0.1:42125");
    const std::string body = R"({"client":"kiwi","location":"+34.068930-118.445127","time":"1621464827.959498503"})";
    CHECK(out == "POST /v1/iamat HTTP/1.1\r\nHost: 127.0.0.1:42125\r\nContent-Type: application/json\r\n"
                 "Content-Length: " +
                     std::to_string(body.size()) + "\r\n\r\n" + body);
    out.clear();
    append_http_request(out, request_kind::whatsat, "kiwi&co", {}, 0, "h", 10, 5);
    CHECK(out == "GET /v1/whatsat?client=kiwi%26co&radius=10&max=5 HTTP/1.1\r\nHost: h\r\n\r\n");
}

TEST_CASE("HTTP replies are framed whole, however the bytes come, and only a 200 is ok", "[load]")
{
    const std::string ok = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n{\"a\"}";
    const std::string missing = "HTTP/1.1 404 Not Found\r\nContent-Length: 2\r\n\r\n{}";
    http_reply_reader r;
    // The first reply a byte at a time: nothing until its last byte.
    for (std::size_t i = 0; i + 1 < ok.size(); ++i) {
        r.append(ok.substr(i, 1));
        CHECK_FALSE(r.next());
    }
    r.append(ok.substr(ok.size() - 1) + missing + ok); // then two more in one read, pipelined
    auto first = r.next();
    REQUIRE(first);
    CHECK(first->ok);
    CHECK(first->bytes == ok.size());
    auto second = r.next();
    REQUIRE(second);
    CHECK_FALSE(second->ok);
    auto third = r.next();
    REQUIRE(third);
    CHECK(third->ok);
    CHECK_FALSE(r.next());
    r.compact();
    CHECK(r.pending() == 0);
    r.append("not HTTP at all\r\n\r\n");
    auto broken = r.next();
    REQUIRE(broken);
    CHECK_FALSE(broken->ok);
    CHECK(r.pending() == 0);
}

TEST_CASE("a stream event's time is the IAMAT's clock, to the nanosecond", "[load]")
{
    CHECK(event_time_ns(R"({"id":"a","event":"update","time":"1621464827.959498503","stored_ns":1})") ==
          1'621'464'827'959'498'503);
    CHECK(event_time_ns(R"({"time":"1621464827.5"})") == 1'621'464'827'500'000'000);
    CHECK(event_time_ns(R"({"time":"1621464827"})") == 1'621'464'827'000'000'000);
    CHECK_FALSE(event_time_ns(R"({"subscribed":"a"})"));
    CHECK_FALSE(event_time_ns(R"({"time":"12x"})"));
}

namespace {

// Runs herd-load with `options` against a real herd-server (Goloman alone)
// until it exits, and returns its JSON report; `text`, if given, gets the
// report as printed.
// "{http}" in an option is Goloman's HTTP port, and `on_http` sends the
// load there instead of to the line port.
boost::json::object run_against_goloman(const std::vector<std::string>& options, std::string* text = nullptr,
                                        bool on_http = false)
{
    herd::test::process_herd herd(herd::test::on_free_ports(herd::test::default_topology()),
                                  herd::test::herd_server_command());
    herd.start("Goloman");
    const auto dir = herd::test::scratch_dir("herd-load-test-");
    const auto http_port = std::to_string(herd.herd().find("Goloman")->http_port);
    std::vector<std::string> command{HERD_LOAD_PATH, "--port",
                                     on_http ? http_port : std::to_string(herd.port("Goloman")), "--json"};
    for (const auto& option : options) {
        command.push_back(option == "{http}" ? http_port : option);
    }
    herd::test::child_process load(command, dir);
    const auto line = load.stdout_line(30s);
    REQUIRE(line);
    CHECK(load.wait(10s) == 0);
    std::filesystem::remove_all(dir);
    if (text != nullptr) {
        *text = *line;
    }
    return boost::json::parse(*line).as_object();
}

} // namespace

TEST_CASE("herd-load drives a real herd-server, pipelined, and counts every reply", "[load][process]")
{
    const auto report = run_against_goloman({"-c", "4", "-d", "8", "--command", "mix", "--count", "400"});
    CHECK(report.at("replies").to_number<std::uint64_t>() == 400);
    CHECK(report.at("ok").to_number<std::uint64_t>() == 400);
    CHECK(report.at("errors").to_number<std::uint64_t>() == 0);
    CHECK(report.at("lost").to_number<std::uint64_t>() == 0);
    CHECK(report.at("latency_us").at("p50").as_double() > 0);
}

TEST_CASE("herd-load drives the HTTP port and /v1/lines, request-reply and pipelined, and counts every reply",
          "[load][process]")
{
    auto protocol = GENERATE(as<std::string>{}, "http", "ws");
    auto depth = GENERATE(as<std::string>{}, "1", "8");
    CAPTURE(protocol, depth);
    const auto report = run_against_goloman(
        {"--protocol", protocol, "-c", "4", "-d", depth, "--command", "mix", "--count", "400"}, nullptr, true);
    CHECK(report.at("replies").to_number<std::uint64_t>() == 400);
    CHECK(report.at("ok").to_number<std::uint64_t>() == 400);
    CHECK(report.at("errors").to_number<std::uint64_t>() == 0);
    CHECK(report.at("lost").to_number<std::uint64_t>() == 0);
}

TEST_CASE("herd-load's subscribers on /v1/stream get one event per IAMAT each, none closed or missing",
          "[load][process]")
{
    const auto report = run_against_goloman({"-c", "2", "--rate", "400", "--duration", "0.5", "--warmup", "0.2",
                                             "--subscribers", "50", "--stream-port", "{http}", "--ids", "repeated"});
    const auto& stream = report.at("stream").as_object();
    CHECK(stream.at("subscribers").to_number<std::uint64_t>() == 50);
    CHECK(stream.at("closed").to_number<std::uint64_t>() == 0);
    CHECK(stream.at("missing").to_number<std::uint64_t>() == 0);
    // 400 IAMATs a second for 0.5 s, each to 50 subscribers: about 10,000
    // events in the window.
    const auto events = stream.at("events").to_number<std::uint64_t>();
    CHECK(events > 5'000);
    CHECK(events < 15'000);
    CHECK(stream.at("lag_us").at("p50").to_number<double>() > 0);
}

TEST_CASE("herd-load paces commands at the rate asked, sleeping between them or spinning", "[load][process]")
{
    std::vector<std::string> options{"-c", "4", "--rate", "2000", "--count", "400"};
    SECTION("sleeping on a timer") {}
    SECTION("spinning")
    {
        options.emplace_back("--spin");
    }
    const auto report = run_against_goloman(options);
    CHECK(report.at("replies").to_number<std::uint64_t>() == 400);
    CHECK(report.at("lost").to_number<std::uint64_t>() == 0);
    // 400 commands at 2,000/s: the last is due 0.2 s after the first, and
    // none may go out early.
    CHECK(report.at("seconds").as_double() >= 0.199);
    CHECK(report.at("send_lag_us").at("max").as_double() > 0);
}

TEST_CASE("herd-load's figures add up: ok and errors are the measured replies, throughput is them over the seconds",
          "[load][process]")
{
    std::string text;
    const auto report =
        run_against_goloman({"-c", "2", "--command", "mix", "--duration", "0.5", "--warmup", "0.5"}, &text);
    const auto replies = report.at("replies").to_number<std::uint64_t>();
    CHECK(replies > 0);
    CHECK(report.at("ok").to_number<std::uint64_t>() + report.at("errors").to_number<std::uint64_t>() == replies);
    CHECK(report.at("seconds").to_number<double>() == Approx(0.5));
    CHECK(report.at("throughput").to_number<double>() == Approx(static_cast<double>(replies) / 0.5).epsilon(0.001));
    // Plain decimals, as a person or a shell script reads them: no exponent.
    CHECK_FALSE(std::regex_search(text, std::regex("[0-9][eE][-+]?[0-9]")));
}

TEST_CASE("herd-load --help shows its defaults as written, and --version prints the version", "[load][process]")
{
    const auto dir = herd::test::scratch_dir("herd-load-help-");
    std::string help;
    CHECK(herd::test::run_command({HERD_LOAD_PATH, "--help"}, dir, &help).first == 0);
    CHECK_THAT(help, Catch::Contains("--whatsat-share arg (=0.1)"));
    CHECK_THAT(help, Catch::Contains("--version"));
    std::string version;
    CHECK(herd::test::run_command({HERD_LOAD_PATH, "--version"}, dir, &version).first == 0);
    CHECK(version == std::string("herd-load ") + HERD_VERSION + "\n");
    std::filesystem::remove_all(dir);
}
