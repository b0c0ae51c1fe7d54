// Where WHATSAT's places come from. A source answers in the shape of a
// Google Places Nearby Search (legacy) answer, whatever it really is: the
// offline GeoJSON source here, the Beast HTTPS clients for Google later.
// The twin of the prototype's aiohttp call to the Places API.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/json/object.hpp>

#include <string>
#include <string_view>

namespace herd {

struct geo_point {
    double lat = 0;
    double lng = 0;
};

struct places_query {
    geo_point where;
    std::string radius_metres; // exact decimal text, e.g. "10000"
    double radius_km = 0;
    unsigned bound = 0;
};

class places_source {
public:
    virtual ~places_source() = default;

    // May throw; the caller turns any failure or time-out into an answer
    // with an error status, so the client always gets a reply.
    virtual boost::asio::awaitable<boost::json::object> nearby_search(places_query query) = 0;

    // For the start-up log: "local (412 places from ...)".
    virtual std::string describe() const = 0;

    // The server is stopping: end requests under way and close connections.
    virtual void stop() {}
};

// {"html_attributions": [], "results": [], "status": STATUS, "error_message": ...}
boost::json::object places_error(std::string_view status, std::string_view message);

} // namespace herd
