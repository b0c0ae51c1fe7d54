// The offline places source, the reply's JSON form, and the time bound
// places requests run under.
#include "admin/json_pretty.hpp"
#include "async/within.hpp"
#include "herd/local_places.hpp"
#include "herd/places.hpp"
#include "places/geo.hpp"
#include "places/places_reply.hpp"
#include "support/async.hpp"

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/json.hpp>
#include <catch2/catch.hpp>

#include <stdexcept>

using namespace herd;
namespace asio = boost::asio;

namespace {

places_query near_royce(double km, unsigned bound)
{
    // Royce Hall, UCLA.
    return {{34.072839, -118.442165}, "", km, bound};
}

std::vector<std::string> names(const boost::json::object& answer)
{
    std::vector<std::string> out;
    for (const auto& r : answer.at("results").as_array()) {
        out.emplace_back(r.at("name").as_string());
    }
    return out;
}

} // namespace

TEST_CASE("the bundled Westwood dataset holds at least 60 named places", "[places]")
{
    auto places = local_places::bundled();
    CHECK(places->size() >= 60);
    CHECK_THAT(places->describe(), Catch::Contains("bundled Westwood places"));
}

TEST_CASE("local search answers nearest first, within the radius, cut to the bound", "[places]")
{
    auto places = local_places::bundled();
    const auto query = near_royce(50, 20);
    const auto answer = places->search(query);
    CHECK(answer.at("status") == "OK");
    const auto& results = answer.at("results").as_array();
    REQUIRE(results.size() == 20);
    CHECK(results[0].at("name") == "Royce Hall");
    double last = 0;
    for (const auto& r : results) {
        const auto& loc = r.at("geometry").at("location");
        const double d = geo::haversine_m(query.where, {loc.at("lat").as_double(), loc.at("lng").as_double()});
        CHECK(d >= last - 0.01);
        last = d;
        for (const char* key : {"name", "place_id", "vicinity", "types"}) {
            CHECK(r.as_object().contains(key));
        }
    }
}

TEST_CASE("places beyond the radius are left out", "[places]")
{
    auto places = local_places::bundled();
    const auto within_300m = places->search(near_royce(0.3, 20));
    for (const auto& r : within_300m.at("results").as_array()) {
        const auto& loc = r.at("geometry").at("location");
        CHECK(geo::haversine_m({34.072839, -118.442165}, {loc.at("lat").as_double(), loc.at("lng").as_double()}) <=
              300);
    }
    // Getty Center is about 3 km from Royce Hall.
    CHECK_THAT(names(places->search(near_royce(2, 20))), !Catch::VectorContains(std::string("Getty Center")));
    CHECK_THAT(names(places->search({{34.078040, -118.474100}, "", 0.1, 5})),
               Catch::VectorContains(std::string("Getty Center")));
}

TEST_CASE("nowhere near any place: ZERO_RESULTS", "[places]")
{
    auto places = local_places::bundled();
    const auto answer = places->search({{-45, 170}, "", 50, 20});
    CHECK(answer.at("status") == "ZERO_RESULTS");
    CHECK(answer.at("results").as_array().empty());
}

TEST_CASE("GeoJSON in OpenStreetMap's shape is read and broken data is refused", "[places]")
{
    const auto osm = R"({"type":"FeatureCollection","features":[
      {"type":"Feature","id":"node/42","geometry":{"type":"Point","coordinates":[-118.4,34.0]},
       "properties":{"name":"Cafe","amenity":"cafe","addr:street":"Main Street","addr:housenumber":"1"}},
      {"type":"Feature","geometry":{"type":"Point","coordinates":[-118.4,34.0]},"properties":{"amenity":"bench"}},
      {"type":"Feature","geometry":{"type":"LineString","coordinates":[[0,0],[1,1]]},"properties":{"name":"Road"}}
    ]})";
    auto places = local_places::from_geojson(osm, "osm.geojson");
    REQUIRE(places->size() == 1); // unnamed points and lines are not places
    const auto answer = places->search({{34.0, -118.4}, "", 1, 5});
    const auto& cafe = answer.at("results").as_array().at(0);
    CHECK(cafe.at("name") == "Cafe");
    CHECK(cafe.at("place_id") == "node/42");
    CHECK(cafe.at("vicinity") == "1 Main Street");
    CHECK(cafe.at("types").as_array().at(0) == "cafe");

    CHECK_THROWS_WITH(local_places::from_geojson("{", "x.geojson"), Catch::Contains("x.geojson: not JSON"));
    CHECK_THROWS_WITH(local_places::from_geojson(R"({"type":"Feature"})", "x"),
                      Catch::Contains("not a GeoJSON FeatureCollection"));
    CHECK_THROWS_WITH(local_places::from_geojson(R"({"type":"FeatureCollection","features":[]})", "x"),
                      Catch::Contains("no named points"));
    CHECK_THROWS_WITH(local_places::from_file("/nonexistent.geojson"), Catch::Contains("cannot be read"));
}

TEST_CASE("JSON is printed as Google prints it", "[places][json]")
{
    const auto value = boost::json::parse(
        R"({"html_attributions":[],"results":[{"geometry":{"location":{"lat":34.068930,"lng":-118.445127}},
        "name":"Caf\u00e9 \"Q\"\n","n":5,"big":12345678901234,"neg":-1.5,"t":true,"z":null,"e":{}}],"status":"OK"})");
    CHECK(pretty_json(value) == R"({
   "html_attributions" : [],
   "results" : [
      {
         "geometry" : {
            "location" : {
               "lat" : 34.06893,
               "lng" : -118.445127
            }
         },
         "name" : "Café \"Q\"\n",
         "n" : 5,
         "big" : 12345678901234,
         "neg" : -1.5,
         "t" : true,
         "z" : null,
         "e" : {}
      }
   ],
   "status" : "OK"
})");
}

TEST_CASE("compact JSON drops the white space between tokens and keeps every number as written", "[places][json]")
{
    const auto value = boost::json::parse(R"({"results":[{"lat":34.069271,"name":"Caf\u00e9 \"a b\"\\ \n"}],"e":[]})");
    const std::string pretty = pretty_json(value);
    CHECK(compact_json(pretty) == R"({"results":[{"lat":34.069271,"name":"Café \"a b\"\\ \n"}],"e":[]})");
    CHECK(boost::json::parse(compact_json(pretty)) == value);
}

TEST_CASE("results are cut to the bound and errors keep the shape", "[places][json]")
{
    auto answer = local_places::bundled()->search(near_royce(50, 20));
    limit_results(answer, 3);
    CHECK(answer.at("results").as_array().size() == 3);
    const auto error = places_error("REQUEST_DENIED", "no key");
    CHECK(error.at("status") == "REQUEST_DENIED");
    CHECK(error.at("error_message") == "no key");
    CHECK(error.at("results").as_array().empty());
    CHECK(error.at("html_attributions").as_array().empty());
    const auto text = format_places(answer);
    CHECK(text.find("\n\n") == std::string::npos);
    CHECK(text.back() == '}');
}

// detail::within, the time bound every places request (and every line
// read) runs under.
TEST_CASE("within returns at once when the operation throws, and says what it threw", "[within]")
{
    herd::test::run_async([](asio::io_context&) -> asio::awaitable<void> {
        auto fails = []() -> asio::awaitable<int> {
            co_await asio::post(asio::use_awaitable);
            throw std::runtime_error("upstream exploded");
        };
        auto op = fails();
        // An hour: waiting it out would fail the test's own time bound.
        auto bounded = herd::detail::within(std::move(op), std::chrono::hours(1));
        CHECK_THROWS_WITH(co_await std::move(bounded), "upstream exploded");
    });
}

TEST_CASE("within: an operation cancelled between two co_awaits runs on to its end instead of throwing", "[within]")
{
    herd::test::run_async([](asio::io_context& io) -> asio::awaitable<void> {
        bool first_aborted = false;
        bool reached_end = false;
        auto op = [&]() -> asio::awaitable<int> {
            asio::steady_timer long_wait(io, std::chrono::hours(1));
            auto [ec] = co_await long_wait.async_wait(herd::detail::use_tuple);
            first_aborted = ec == asio::error::operation_aborted;
            // The cancellation has been delivered; this co_await must not throw.
            co_await asio::post(asio::use_awaitable);
            reached_end = true;
            co_return 1;
        };
        auto started = op();
        auto bounded = herd::detail::within(std::move(started), std::chrono::milliseconds(10));
        const auto result = co_await std::move(bounded);
        CHECK_FALSE(result.has_value());
        CHECK(first_aborted);
        CHECK(reached_end);
    });
}

TEST_CASE("within gives the operation's result when it finishes first", "[within]")
{
    herd::test::run_async([](asio::io_context&) -> asio::awaitable<void> {
        auto quick = []() -> asio::awaitable<int> { co_return 7; };
        auto op = quick();
        auto bounded = herd::detail::within(std::move(op), std::chrono::hours(1));
        const auto result = co_await std::move(bounded);
        REQUIRE(result.has_value());
        CHECK(*result == 7);
    });
}
