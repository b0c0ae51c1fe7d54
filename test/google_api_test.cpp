// Google's two Places APIs on paper: requests built and answers converted.
#include "places/google_api.hpp"

#include <boost/json.hpp>
#include <catch2/catch.hpp>

using namespace herd;

namespace {

const places_query& westwood()
{
    static const places_query query{{34.068930, -118.445127}, "1500", 1.5, 3};
    return query;
}

} // namespace

TEST_CASE("https URLs are split for the client and bad ones refused", "[google]")
{
    const auto google = parse_https_url("https://places.googleapis.com/v1/places:searchNearby");
    REQUIRE(google);
    CHECK(google->host == "places.googleapis.com");
    CHECK(google->port == "443");
    CHECK(google->path == "/v1/places:searchNearby");
    CHECK(google->to_string() == "https://places.googleapis.com/v1/places:searchNearby");
    const auto local = parse_https_url("https://localhost:8443");
    REQUIRE(local);
    CHECK(local->port == "8443");
    CHECK(local->path == "/");
    const auto v6 = parse_https_url("https://[::1]:9443/x");
    REQUIRE(v6);
    CHECK(v6->host == "::1");
    for (const char* bad : {"http://maps.googleapis.com/", "https://", "https://:443/", "https://h:0/",
                            "https://h:70000/", "https://h:x/", "https://h/p?q=1", "ftp://h/"}) {
        INFO(bad);
        CHECK_FALSE(parse_https_url(bad));
    }
}

TEST_CASE("the legacy request carries location, radius in metres and the key", "[google]")
{
    const auto url = *parse_https_url(std::string(legacy_default_url));
    CHECK(legacy_target(url, westwood(), "AIza-key_1") ==
          "/maps/api/place/nearbysearch/json?location=34.06893,-118.445127&radius=1500&key=AIza-key_1");
    // Anything but letters, digits and -_.~ is escaped.
    CHECK_THAT(legacy_target(url, westwood(), "a&b=c d"), Catch::EndsWith("&key=a%26b%3Dc%20d"));
    CHECK(redact_key("/x?location=1,2&radius=3&key=secret") == "/x?location=1,2&radius=3&key=REDACTED");
    CHECK(redact_key("/x?key=secret&radius=3") == "/x?key=REDACTED&radius=3");
}

TEST_CASE("the new API's request is a circle, a radius in metres and a count", "[google]")
{
    const auto body = boost::json::parse(new_request_body(westwood()));
    const auto& circle = body.at("locationRestriction").at("circle");
    CHECK(circle.at("center").at("latitude").as_double() == 34.068930);
    CHECK(circle.at("center").at("longitude").as_double() == -118.445127);
    CHECK(circle.at("radius").to_number<double>() == 1500);
    CHECK(body.at("maxResultCount").as_int64() == 3);
    const auto fractional = new_request_body({{1, 2}, "1234.56", 1.23456, 20});
    CHECK_THAT(fractional, Catch::Contains("\"radius\":1234.56"));
    CHECK_THAT(std::string(new_field_mask()), Catch::Contains("places.displayName") &&
                                                  Catch::Contains("places.location") && Catch::Contains("places.id") &&
                                                  Catch::Contains("places.types"));
}

TEST_CASE("a legacy answer passes through and HTTP errors and bad JSON become UNKNOWN_ERROR", "[google]")
{
    const auto ok = from_legacy_response(
        200, R"({"html_attributions":[],"results":[{"name":"Diddy Riese","place_id":"x"}],"status":"OK"})");
    CHECK(ok.at("status") == "OK");
    CHECK(ok.at("results").as_array().at(0).at("name") == "Diddy Riese");
    const auto denied = from_legacy_response(
        200,
        R"({"error_message":"The provided API key is invalid.","html_attributions":[],"results":[],"status":"REQUEST_DENIED"})");
    CHECK(denied.at("status") == "REQUEST_DENIED");
    CHECK(denied.at("error_message") == "The provided API key is invalid.");
    const auto no_results = from_legacy_response(200, R"({"status":"ZERO_RESULTS"})");
    CHECK(no_results.at("results").as_array().empty());
    CHECK(no_results.at("html_attributions").as_array().empty());
    const auto http500 = from_legacy_response(500, "<html>oops</html>");
    CHECK(http500.at("status") == "UNKNOWN_ERROR");
    CHECK_THAT(std::string(http500.at("error_message").as_string()), Catch::Contains("HTTP 500"));
    CHECK(from_legacy_response(200, "{not json").at("status") == "UNKNOWN_ERROR");
    CHECK(from_legacy_response(200, "[1,2]").at("status") == "UNKNOWN_ERROR");
}

TEST_CASE("the new API's places become legacy results", "[google]")
{
    const auto answer = from_new_response(200, R"({"places":[{
        "id":"ChIJ1","displayName":{"text":"Diddy Riese","languageCode":"en"},
        "formattedAddress":"926 Broxton Ave, Los Angeles, CA 90024, USA","shortFormattedAddress":"926 Broxton Ave, Los Angeles",
        "location":{"latitude":34.0630572,"longitude":-118.4467},"types":["bakery","food"],"rating":4.7,
        "userRatingCount":5000,"businessStatus":"OPERATIONAL"},
        {"id":"ChIJ2","displayName":{"text":"Bare"},"formattedAddress":"1 Road"}]})");
    CHECK(answer.at("status") == "OK");
    CHECK(answer.at("html_attributions").as_array().empty());
    const auto& results = answer.at("results").as_array();
    REQUIRE(results.size() == 2);
    const auto& first = results[0].as_object();
    CHECK(first.at("name") == "Diddy Riese");
    CHECK(first.at("place_id") == "ChIJ1");
    CHECK(first.at("vicinity") == "926 Broxton Ave, Los Angeles");
    CHECK(first.at("geometry").at("location").at("lat").as_double() == 34.0630572);
    CHECK(first.at("geometry").at("location").at("lng").as_double() == -118.4467);
    CHECK(first.at("types").as_array().at(0) == "bakery");
    CHECK(first.at("rating").as_double() == 4.7);
    CHECK(first.at("user_ratings_total").as_int64() == 5000);
    CHECK(first.at("business_status") == "OPERATIONAL");
    const auto& bare = results[1].as_object();
    CHECK(bare.at("vicinity") == "1 Road"); // no short address: the long one
    CHECK(bare.at("types").as_array().empty());
    CHECK_FALSE(bare.contains("geometry"));
    CHECK(from_new_response(200, "{}").at("status") == "ZERO_RESULTS");
}

TEST_CASE("the new API's errors become the legacy statuses", "[google]")
{
    const auto denied = from_new_response(
        403,
        R"({"error":{"code":403,"message":"Places API (New) has not been used in project 1","status":"PERMISSION_DENIED"}})");
    CHECK(denied.at("status") == "REQUEST_DENIED");
    CHECK(denied.at("error_message") == "Places API (New) has not been used in project 1");
    CHECK(from_new_response(429, R"({"error":{"code":429,"message":"quota","status":"RESOURCE_EXHAUSTED"}})")
              .at("status") == "OVER_QUERY_LIMIT");
    CHECK(from_new_response(400, R"({"error":{"code":400,"message":"bad radius","status":"INVALID_ARGUMENT"}})")
              .at("status") == "INVALID_REQUEST");
    const auto http500 = from_new_response(500, "upstream broke");
    CHECK(http500.at("status") == "UNKNOWN_ERROR");
    CHECK(http500.at("error_message") == "Google answered HTTP 500");
    CHECK(from_new_response(401, "").at("status") == "REQUEST_DENIED");
    CHECK(from_new_response(200, "not json").at("status") == "UNKNOWN_ERROR");
}
