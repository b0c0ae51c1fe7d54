// What Google's two Places APIs are sent and what they answer, as pure
// functions: the request for a WHATSAT, and any answer (or HTTP error)
// turned into the legacy Nearby Search shape the protocol promises.
// docs/places.md shows both on the wire.
#pragma once

#include "herd/google_places.hpp" // google_api, https_url

#include <boost/json/object.hpp>

#include <optional>
#include <string>
#include <string_view>

namespace herd {

inline constexpr std::string_view legacy_default_url = "https://maps.googleapis.com/maps/api/place/nearbysearch/json";
inline constexpr std::string_view new_default_url = "https://places.googleapis.com/v1/places:searchNearby";

// Nearby Search (legacy): GET <path>?location=LAT,LNG&radius=METRES&key=KEY.
std::string legacy_target(const https_url& url, const places_query& query, std::string_view key);

// Places API (New): the POST body and the field mask for searchNearby.
std::string new_request_body(const places_query& query);
std::string_view new_field_mask();

// The legacy answer passes through (the status and error_message Google
// gave); an HTTP error or a body that is not a JSON object becomes
// UNKNOWN_ERROR saying so.
boost::json::object from_legacy_response(unsigned http_status, std::string_view body);

// The new API's `places` become legacy results; its error bodies become the
// legacy status a client of the prototype knows (PERMISSION_DENIED ->
// REQUEST_DENIED, RESOURCE_EXHAUSTED -> OVER_QUERY_LIMIT, INVALID_ARGUMENT
// -> INVALID_REQUEST, anything else -> UNKNOWN_ERROR).
boost::json::object from_new_response(unsigned http_status, std::string_view body);

// For logs: the target with the key's value replaced by "REDACTED".
std::string redact_key(std::string_view target);

} // namespace herd
