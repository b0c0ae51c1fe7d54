// The HTTP port's rules as pure functions, synchronously, with no I/O:
// routing a request to a line or an error (http/api.hpp), the request
// target's pieces (http/url.hpp), a /v1/stream subscriber's messages and
// the events a record gives it (http/subscription.hpp), and the bound of
// its queue (http/event_queue.hpp).
#include "http/api.hpp"
#include "http/event_queue.hpp"
#include "http/subscription.hpp"
#include "http/url.hpp"

#include <boost/json.hpp>
#include <catch2/catch.hpp>

using namespace herd;
namespace http = boost::beast::http;

namespace {

constexpr std::size_t id_bytes = 255;
const std::string kiwi_at = "AT Goloman +0.263873386 kiwi.cs.ucla.edu +34.068930-118.445127 1621464827.959498503";

http_api::route post_iamat(std::string_view body, std::size_t client_id_bytes = id_bytes)
{
    return http_api::route_request(http::verb::post, "/v1/iamat", body, false, client_id_bytes);
}

http_api::route get(std::string_view target, bool upgrade = false)
{
    return http_api::route_request(http::verb::get, target, "", upgrade, id_bytes);
}

// The line a route performs; fails the test if it is anything else.
http_api::line line_of(const http_api::route& route)
{
    const auto* line = std::get_if<http_api::line>(&route);
    if (const auto* e = std::get_if<http_api::error>(&route)) {
        FAIL_CHECK("refused with " << static_cast<unsigned>(e->status) << ": " << e->reason);
    }
    REQUIRE(line != nullptr);
    return *line;
}

http::status status_of(const http_api::route& route)
{
    const auto* e = std::get_if<http_api::error>(&route);
    return e == nullptr ? http::status::ok : e->status;
}

location_record record_of(const std::string& at_line)
{
    const auto parsed = parse_at_line(at_line);
    REQUIRE(parsed);
    return location_record::from(*parsed, at_line);
}

} // namespace

TEST_CASE("POST /v1/iamat becomes the IAMAT line of its three fields", "[http][rules]")
{
    const auto line = line_of(post_iamat(
        R"({"client":"kiwi.cs.ucla.edu","location":"+34.068930-118.445127","time":"1621464827.959498503"})"));
    CHECK(line.text == "IAMAT kiwi.cs.ucla.edu +34.068930-118.445127 1621464827.959498503");
    CHECK(line.what == http_api::line::kind::iamat);
    CHECK(line.client == "kiwi.cs.ucla.edu");
    // The fields in any order; JSON escapes decoded before the grammar applies.
    const auto reordered = line_of(post_iamat(R"({"time":"1","location":"+1+2","client":"a\/b\u0041"})"));
    CHECK(reordered.text == "IAMAT a/bA +1+2 1");
    CHECK(reordered.client == "a/bA");
}

TEST_CASE("POST /v1/iamat refuses with 400 every body the line port would answer with ?", "[http][rules]")
{
    const std::vector<std::string> bodies{
        "",
        "not json",
        R"(["kiwi","+1+2","1"])",
        R"("kiwi")",
        R"({"client":"kiwi","location":"+1+2"})",
        R"({"client":"kiwi","location":"+1+2","time":1})",
        R"({"client":null,"location":"+1+2","time":"1"})",
        R"({"client":"kiwi","location":"+1+2","time":"1","extra":"x"})",
        R"({"client":"","location":"+1+2","time":"1"})",
        R"({"client":"ki wi","location":"+1+2","time":"1"})",
        R"({"client":"kiwi\n","location":"+1+2","time":"1"})",
        R"({"client":"ki\twi","location":"+1+2","time":"1"})",
        R"({"client":"kiwi","location":"+91+2","time":"1"})",
        R"({"client":"kiwi","location":"+1+2 ","time":"1"})",
        R"({"client":"kiwi","location":"1+2","time":"1"})",
        R"({"client":"kiwi","location":"+1+2","time":"yesterday"})",
        R"({"client":"kiwi","location":"+1+2","time":"1 WHATSAT kiwi 1 1"})",
        R"({"client":"kiwi","location":"+1+2","time":"-1"})",
        R"({"client":"kiwi","location":"+1+2","time":"99999999999999999999"})",
        R"({"client":"kiwi","location":"+1+2","time":"1"} trailing)",
    };
    for (const auto& body : bodies) {
        INFO(body);
        const auto route = post_iamat(body);
        CHECK(status_of(route) == http::status::bad_request);
        if (const auto* e = std::get_if<http_api::error>(&route)) {
            CHECK_FALSE(e->reason.empty());
        }
    }
    // limits.client_id_bytes, as on the line port.
    CHECK(line_of(post_iamat(R"({"client":"12345678","location":"+1+2","time":"1"})", 8)).text ==
          "IAMAT 12345678 +1+2 1");
    CHECK(status_of(post_iamat(R"({"client":"123456789","location":"+1+2","time":"1"})", 8)) ==
          http::status::bad_request);
}

TEST_CASE("GET /v1/whatsat becomes a WHATSAT line, and a bad query is a 400", "[http][rules]")
{
    const auto line = line_of(get("/v1/whatsat?client=kiwi.cs.ucla.edu&radius=10&max=2"));
    CHECK(line.text == "WHATSAT kiwi.cs.ucla.edu 10 2");
    CHECK(line.what == http_api::line::kind::whatsat);
    CHECK(line.client == "kiwi.cs.ucla.edu");
    CHECK(line_of(get("/v1/whatsat?max=20&radius=0.5&client=a%2Fb")).text == "WHATSAT a/b 0.5 20");
    CHECK(line_of(get("/v1/whatsat?client=kiwi&radius=50&max=1")).text == "WHATSAT kiwi 50 1");
    for (const char* target : {
             "/v1/whatsat",
             "/v1/whatsat?",
             "/v1/whatsat?client=kiwi&radius=10",
             "/v1/whatsat?client=kiwi&radius=10&max=2&colour=red",
             "/v1/whatsat?client=kiwi&client=plum&radius=10&max=2",
             "/v1/whatsat?client=&radius=10&max=2",
             "/v1/whatsat?client=ki%20wi&radius=10&max=2",
             "/v1/whatsat?client=kiwi%0A&radius=10&max=2",
             "/v1/whatsat?client=kiwi&radius=0&max=2",
             "/v1/whatsat?client=kiwi&radius=50.1&max=2",
             "/v1/whatsat?client=kiwi&radius=%2B10&max=2",
             "/v1/whatsat?client=kiwi&radius=ten&max=2",
             "/v1/whatsat?client=kiwi&radius=10&max=0",
             "/v1/whatsat?client=kiwi&radius=10&max=21",
             "/v1/whatsat?client=kiwi&radius=10&max=2%201",
             "/v1/whatsat?client=k%zzi&radius=10&max=2",
             "/v1/whatsat?client&radius=10&max=2",
         }) {
        INFO(target);
        CHECK(status_of(get(target)) == http::status::bad_request);
    }
}

TEST_CASE("GET /v1/clients/ID looks up the percent-decoded ID", "[http][rules]")
{
    const auto lookup = [](const http_api::route& route) {
        const auto* l = std::get_if<http_api::client_lookup>(&route);
        REQUIRE(l != nullptr);
        return l->client;
    };
    CHECK(lookup(get("/v1/clients/kiwi.cs.ucla.edu")) == "kiwi.cs.ucla.edu");
    CHECK(lookup(get("/v1/clients/a%2Fb")) == "a/b");
    CHECK(lookup(get("/v1/clients/a+b")) == "a+b");
    CHECK(lookup(get("/v1/clients/kiwi?ignored=1")) == "kiwi");
    for (const char* target : {"/v1/clients/", "/v1/clients/a%20b", "/v1/clients/a%zz", "/v1/clients/a%2"}) {
        INFO(target);
        CHECK(status_of(get(target)) == http::status::bad_request);
    }
    const std::string long_id(256, 'x');
    CHECK(status_of(get("/v1/clients/" + long_id)) == http::status::bad_request);
}

TEST_CASE("the WebSocket paths route only upgrades, and other methods are a 405 naming the right one", "[http][rules]")
{
    CHECK(std::get<http_api::websocket>(get("/v1/lines", true)) == http_api::websocket::lines);
    CHECK(std::get<http_api::websocket>(get("/v1/stream", true)) == http_api::websocket::stream);
    CHECK(status_of(get("/v1/lines")) == http::status::bad_request);
    CHECK(status_of(get("/v1/stream")) == http::status::bad_request);

    const std::vector<std::tuple<http::verb, std::string, std::string_view>> wrong{
        {http::verb::get, "/v1/iamat", "POST"},           {http::verb::put, "/v1/iamat", "POST"},
        {http::verb::post, "/v1/whatsat", "GET"},         {http::verb::head, "/v1/whatsat?client=k", "GET"},
        {http::verb::delete_, "/v1/clients/kiwi", "GET"}, {http::verb::post, "/v1/lines", "GET"},
        {http::verb::post, "/v1/stream", "GET"},
    };
    for (const auto& [method, target, allow] : wrong) {
        INFO(http::to_string(method) << " " << target);
        const auto route = http_api::route_request(method, target, "{}", true, id_bytes);
        REQUIRE(status_of(route) == http::status::method_not_allowed);
        CHECK(std::get<http_api::error>(route).allow == allow);
    }
}

TEST_CASE("an unknown path is a 404, whatever the method", "[http][rules]")
{
    for (const char* target : {"/", "/v1", "/v1/", "/v1/iamat/", "/v2/iamat", "/v1/client/kiwi", "/V1/IAMAT"}) {
        INFO(target);
        CHECK(status_of(get(target)) == http::status::not_found);
        CHECK(status_of(http_api::route_request(http::verb::post, target, "{}", false, id_bytes)) ==
              http::status::not_found);
    }
}

TEST_CASE("the API's answers: the AT line, server and skew, places compact, a client, an error", "[http][rules]")
{
    const auto iamat = http_api::iamat_answer(kiwi_at + "\n");
    REQUIRE(std::holds_alternative<std::string>(iamat));
    CHECK(std::get<std::string>(iamat) ==
          R"({"at":")" + kiwi_at + R"(","server":"Goloman","skew":"+0.263873386"})" + "\n");
    const auto refused = http_api::iamat_answer("? IAMAT kiwi +1+2 x\n");
    REQUIRE(std::holds_alternative<http_api::error>(refused));
    CHECK(std::get<http_api::error>(refused).status == http::status::bad_request);

    const auto whatsat = http_api::whatsat_answer(
        kiwi_at + "\n{\n    \"html_attributions\" : [],\n    \"results\" : [],\n    \"status\" : \"OK\"\n}\n\n");
    REQUIRE(std::holds_alternative<std::string>(whatsat));
    CHECK(std::get<std::string>(whatsat) ==
          R"({"at":")" + kiwi_at + R"(","places":{"html_attributions":[],"results":[],"status":"OK"}})" + "\n");
    const auto vanished = http_api::whatsat_answer("? WHATSAT kiwi 10 2\n");
    REQUIRE(std::holds_alternative<http_api::error>(vanished));
    CHECK(std::get<http_api::error>(vanished).status == http::status::not_found);

    CHECK(http_api::client_answer(record_of(kiwi_at)) ==
          R"({"at":")" + kiwi_at +
              R"(","server":"Goloman","lat":34.06893,"lng":-118.445127,"time":"1621464827.959498503"})" + "\n");
    CHECK(http_api::error_answer("say \"no\"\n") == "{\"error\":\"say \\\"no\\\"\\n\"}\n");
}

TEST_CASE("percent_decode, parse_query and split_target", "[http][rules]")
{
    CHECK(percent_decode("") == "");
    CHECK(percent_decode("a%2Fb%2fc") == "a/b/c");
    CHECK(percent_decode("%41%42") == "AB");
    CHECK(percent_decode("+34-118") == "+34-118"); // a location's sign, not a space
    CHECK(percent_decode("%00") == std::string(1, '\0'));
    for (const char* bad : {"%", "%4", "a%", "a%2", "%zz", "%4g", "% 1", "%-1", "%+1"}) {
        INFO(bad);
        CHECK_FALSE(percent_decode(bad));
    }

    using pairs = std::vector<std::pair<std::string, std::string>>;
    CHECK(parse_query("") == pairs{});
    CHECK(parse_query("a=1&b=%32") == pairs{{"a", "1"}, {"b", "2"}});
    CHECK(parse_query("a==1&b=") == pairs{{"a", "=1"}, {"b", ""}});
    CHECK(parse_query("b=2&a=1&b=3") == pairs{{"b", "2"}, {"a", "1"}, {"b", "3"}});
    for (const char* bad : {"a", "a=1&b", "&a=1", "a=%zz", "%zz=1"}) {
        INFO(bad);
        CHECK_FALSE(parse_query(bad));
    }

    CHECK(split_target("/v1/whatsat?client=k") ==
          std::pair<std::string_view, std::string_view>{"/v1/whatsat", "client=k"});
    CHECK(split_target("/a?b?c") == std::pair<std::string_view, std::string_view>{"/a", "b?c"});
    CHECK(split_target("/a") == std::pair<std::string_view, std::string_view>{"/a", ""});
    CHECK(split_target("/a?") == std::pair<std::string_view, std::string_view>{"/a", ""});
}

TEST_CASE("a subscriber's messages: three kinds of subscription, unsubscribe, refusals", "[http][rules][stream]")
{
    const auto clients = stream::parse_request(R"({"subscribe":{"clients":["plum","kiwi"]},"id":"k"})");
    REQUIRE(std::holds_alternative<stream::subscription>(clients));
    const auto& k = std::get<stream::subscription>(clients);
    CHECK(k.id == "k");
    CHECK(k.what == stream::subscription::kind::clients);
    CHECK(k.clients == std::vector<std::string>{"kiwi", "plum"});

    const auto near =
        stream::parse_request(R"({"id":"g","subscribe":{"near":{"lat":34.07,"lng":-118.44,"radius_km":2}}})");
    REQUIRE(std::holds_alternative<stream::subscription>(near));
    const auto& g = std::get<stream::subscription>(near);
    CHECK(g.what == stream::subscription::kind::near);
    CHECK(g.centre.lat == 34.07);
    CHECK(g.centre.lng == -118.44);
    CHECK(g.radius_m == 2000);

    const auto all = stream::parse_request(R"({"subscribe":{"all":true},"id":"a"})");
    REQUIRE(std::holds_alternative<stream::subscription>(all));
    CHECK(std::get<stream::subscription>(all).what == stream::subscription::kind::all);
    const std::string longest(stream::max_id_bytes, 'i');
    CHECK(std::holds_alternative<stream::subscription>(
        stream::parse_request(R"({"subscribe":{"all":true},"id":")" + longest + "\"}")));

    const auto unsubscribe = stream::parse_request(R"({"unsubscribe":"k"})");
    REQUIRE(std::holds_alternative<stream::unsubscribe>(unsubscribe));
    CHECK(std::get<stream::unsubscribe>(unsubscribe).id == "k");

    const std::vector<std::string> refused{
        "",
        "subscribe",
        "[]",
        "{}",
        R"({"subscribe":{"all":true}})",
        R"({"subscribe":{"all":true},"id":""})",
        R"({"subscribe":{"all":true},"id":7})",
        R"({"subscribe":{"all":true},"id":")" + longest + "i\"}",
        R"({"subscribe":{"all":true},"id":"a","extra":1})",
        R"({"subscribe":{"all":false},"id":"a"})",
        R"({"subscribe":{"all":1},"id":"a"})",
        R"({"subscribe":{"all":true,"clients":["k"]},"id":"a"})",
        R"({"subscribe":{},"id":"a"})",
        R"({"subscribe":"all","id":"a"})",
        R"({"subscribe":{"everything":true},"id":"a"})",
        R"({"subscribe":{"clients":[]},"id":"a"})",
        R"({"subscribe":{"clients":"kiwi"},"id":"a"})",
        R"({"subscribe":{"clients":["kiwi",3]},"id":"a"})",
        R"({"subscribe":{"clients":[""]},"id":"a"})",
        R"({"subscribe":{"clients":[")" + std::string(256, 'c') + "\"]},\"id\":\"a\"}",
        R"({"subscribe":{"near":{"lat":34,"lng":-118}},"id":"g"})",
        R"({"subscribe":{"near":{"lat":91,"lng":-118,"radius_km":2}},"id":"g"})",
        R"({"subscribe":{"near":{"lat":34,"lng":-181,"radius_km":2}},"id":"g"})",
        R"({"subscribe":{"near":{"lat":34,"lng":-118,"radius_km":0}},"id":"g"})",
        R"({"subscribe":{"near":{"lat":34,"lng":-118,"radius_km":20001}},"id":"g"})",
        R"({"subscribe":{"near":{"lat":"34","lng":-118,"radius_km":2}},"id":"g"})",
        R"({"subscribe":{"near":{"lat":34,"lng":-118,"radius_km":2,"z":1}},"id":"g"})",
        R"({"unsubscribe":7})",
        R"({"unsubscribe":"k","id":"k"})",
    };
    for (const auto& message : refused) {
        INFO(message);
        const auto request = stream::parse_request(message);
        REQUIRE(std::holds_alternative<stream::refusal>(request));
        CHECK_FALSE(std::get<stream::refusal>(request).reason.empty());
    }
    const std::vector<std::string> too_many(stream::max_clients + 1, "\"c\"");
    std::string list;
    for (const auto& c : too_many) {
        list += (list.empty() ? "" : ",") + c;
    }
    CHECK(std::holds_alternative<stream::refusal>(
        stream::parse_request(R"({"subscribe":{"clients":[)" + list + "]},\"id\":\"a\"}")));
}

TEST_CASE("a geofence gives enter, inside and exit, and clients and all give update", "[http][rules][stream]")
{
    const auto g = std::get<stream::subscription>(
        stream::parse_request(R"({"subscribe":{"near":{"lat":34.07,"lng":-118.44,"radius_km":2}},"id":"g"})"));
    // Royce Hall is about 0.4 km from the centre; Santa Monica about 7 km.
    const geo_point inside{34.072839, -118.442165};
    const geo_point outside{34.0195, -118.4912};
    const auto at_inside = record_of("AT Goloman +0.100000000 kiwi +34.072839-118.442165 2");
    const auto at_outside = record_of("AT Goloman +0.100000000 kiwi +34.0195-118.4912 3");
    CHECK(stream::match(g, at_inside, std::nullopt) == stream::event::enter);
    CHECK(stream::match(g, at_inside, outside) == stream::event::enter);
    CHECK(stream::match(g, at_inside, inside) == stream::event::inside);
    CHECK(stream::match(g, at_outside, inside) == stream::event::exit);
    CHECK(stream::match(g, at_outside, outside) == stream::event::none);
    CHECK(stream::match(g, at_outside, std::nullopt) == stream::event::none);

    const auto k = std::get<stream::subscription>(
        stream::parse_request(R"({"subscribe":{"clients":["plum","kiwi","zulu"]},"id":"k"})"));
    CHECK(stream::match(k, at_outside, std::nullopt) == stream::event::update);
    CHECK(stream::match(k, record_of("AT Goloman +0.100000000 kiwi.cs +1+1 1"), std::nullopt) == stream::event::none);
    const auto a = std::get<stream::subscription>(stream::parse_request(R"({"subscribe":{"all":true},"id":"a"})"));
    CHECK(stream::match(a, at_outside, inside) == stream::event::update);

    CHECK(stream::event_name(stream::event::enter) == "enter");
    CHECK(stream::event_name(stream::event::inside) == "inside");
    CHECK(stream::event_name(stream::event::exit) == "exit");
    CHECK(stream::event_name(stream::event::update) == "update");
}

TEST_CASE("an event's JSON holds every field docs/http.md names, via null for a client's own IAMAT",
          "[http][rules][stream]")
{
    const auto record = record_of(kiwi_at);
    const auto tail = stream::event_tail(record, "Welsh", "Holiday", 1764758400123456789);
    const auto message = stream::event_message("g", stream::event::enter, tail);
    CHECK(message == R"({"id":"g","event":"enter","client":"kiwi.cs.ucla.edu","at":")" + kiwi_at +
                         R"(","server":"Goloman","lat":34.06893,"lng":-118.445127,"time":"1621464827.959498503",)"
                         R"("stored_by":"Welsh","via":"Holiday","stored_ns":1764758400123456789})");
    const auto own = boost::json::parse(
        stream::event_message("a", stream::event::update, stream::event_tail(record, "Goloman", "", 5)));
    CHECK(own.at("via").is_null());
    CHECK(own.at("event") == "update");
    CHECK(own.at("stored_ns").as_int64() == 5);

    CHECK(stream::subscribed_message("k\"") == R"({"subscribed":"k\""})");
    CHECK(stream::unsubscribed_message("k") == R"({"unsubscribed":"k"})");
    CHECK(stream::error_message("no") == R"({"error":"no"})");
}

TEST_CASE("event_queue holds up to its bound in bytes, then overflows for good", "[http][rules][stream]")
{
    stream::event_queue q(100);
    CHECK(q.bound() == 100);
    CHECK(q.push(std::string(60, 'a')));
    CHECK(q.push(std::string(40, 'b'))); // exactly the bound
    CHECK(q.bytes() == 100);
    CHECK(q.pop() == std::string(60, 'a'));
    CHECK(q.bytes() == 40);
    CHECK(q.push(std::string(60, 'c')));
    CHECK_FALSE(q.overflowed());

    CHECK_FALSE(q.push("d")); // one byte past
    CHECK(q.overflowed());
    CHECK(q.bytes() == 0);
    CHECK_FALSE(q.pop());    // what it held is dropped, not sent with a hole after it
    CHECK_FALSE(q.push("")); // and nothing more is taken
    CHECK_FALSE(q.pop());

    stream::event_queue tiny(10);
    CHECK_FALSE(tiny.push(std::string(11, 'x'))); // a message larger than the bound on its own
    CHECK(tiny.overflowed());
}
