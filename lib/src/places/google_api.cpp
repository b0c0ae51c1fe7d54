#include "places/google_api.hpp"

#include <boost/json.hpp>

#include <array>
#include <cctype>
#include <charconv>

namespace herd {
namespace {

// Shortest text that reads back to the same double, never an exponent for
// coordinates.
std::string number_text(double value)
{
    std::array<char, 64> buf{};
    auto end = std::to_chars(buf.data(), buf.data() + buf.size(), value, std::chars_format::fixed).ptr;
    return {buf.data(), end};
}

std::string url_encode(std::string_view text)
{
    static constexpr char hex[] = "0123456789ABCDEF";
    std::string out;
    for (char c : text) {
        const auto u = static_cast<unsigned char>(c);
        if (std::isalnum(u) != 0 || c == '-' || c == '_' || c == '.' || c == '~') {
            out += c;
        } else {
            out += '%';
            out += hex[u >> 4];
            out += hex[u & 0xf];
        }
    }
    return out;
}

std::optional<boost::json::object> parse_object(std::string_view body)
{
    boost::system::error_code ec;
    auto value = boost::json::parse(body, ec);
    if (ec || !value.is_object()) {
        return std::nullopt;
    }
    return std::move(value.as_object());
}

std::string http_error(unsigned status)
{
    return "Google answered HTTP " + std::to_string(status);
}

const boost::json::value* member(const boost::json::object& o, std::string_view key)
{
    return o.if_contains(key);
}

std::string_view string_member(const boost::json::object& o, std::string_view key)
{
    const auto* v = member(o, key);
    return v != nullptr && v->is_string() ? std::string_view(v->get_string()) : std::string_view();
}

boost::json::object legacy_result(const boost::json::object& place)
{
    // Keys in the order the legacy API prints them.
    boost::json::object r;
    if (auto status = string_member(place, "businessStatus"); !status.empty()) {
        r["business_status"] = status;
    }
    if (const auto* loc = member(place, "location"); loc != nullptr && loc->is_object()) {
        const auto& l = loc->get_object();
        const auto* lat = member(l, "latitude");
        const auto* lng = member(l, "longitude");
        if (lat != nullptr && lng != nullptr && lat->is_number() && lng->is_number()) {
            r["geometry"] = {{"location", {{"lat", lat->to_number<double>()}, {"lng", lng->to_number<double>()}}}};
        }
    }
    std::string_view name;
    if (const auto* display = member(place, "displayName"); display != nullptr && display->is_object()) {
        name = string_member(display->get_object(), "text");
    }
    r["name"] = name;
    r["place_id"] = string_member(place, "id");
    if (const auto* rating = member(place, "rating"); rating != nullptr && rating->is_number()) {
        r["rating"] = *rating;
    }
    if (const auto* types = member(place, "types"); types != nullptr && types->is_array()) {
        r["types"] = *types;
    } else {
        r["types"] = boost::json::array();
    }
    if (const auto* total = member(place, "userRatingCount"); total != nullptr && total->is_number()) {
        r["user_ratings_total"] = *total;
    }
    auto vicinity = string_member(place, "shortFormattedAddress");
    r["vicinity"] = vicinity.empty() ? string_member(place, "formattedAddress") : vicinity;
    return r;
}

std::string_view legacy_status_for(std::string_view grpc_status, unsigned http_status)
{
    if (grpc_status == "PERMISSION_DENIED" || grpc_status == "UNAUTHENTICATED" || http_status == 401 ||
        http_status == 403) {
        return "REQUEST_DENIED";
    }
    if (grpc_status == "RESOURCE_EXHAUSTED" || http_status == 429) {
        return "OVER_QUERY_LIMIT";
    }
    if (grpc_status == "INVALID_ARGUMENT" || http_status == 400) {
        return "INVALID_REQUEST";
    }
    return "UNKNOWN_ERROR";
}

} // namespace

std::string https_url::authority() const
{
    return port == "443" ? host : host + ":" + port;
}

std::string https_url::to_string() const
{
    return "https://" + authority() + path;
}

std::optional<https_url> parse_https_url(std::string_view url)
{
    constexpr std::string_view scheme = "https://";
    if (url.substr(0, scheme.size()) != scheme) {
        return std::nullopt;
    }
    url.remove_prefix(scheme.size());
    https_url out;
    const auto slash = url.find('/');
    std::string_view authority = url.substr(0, slash);
    out.path = slash == std::string_view::npos ? "/" : std::string(url.substr(slash));
    if (out.path.find_first_of("?# ") != std::string::npos) {
        return std::nullopt;
    }
    std::string_view host = authority;
    if (!authority.empty() && authority.front() == '[') { // [::1]:8443
        const auto close = authority.find(']');
        if (close == std::string_view::npos) {
            return std::nullopt;
        }
        host = authority.substr(1, close - 1);
        authority.remove_prefix(close + 1);
        if (!authority.empty()) {
            if (authority.front() != ':') {
                return std::nullopt;
            }
            out.port = std::string(authority.substr(1));
        }
    } else if (const auto colon = authority.rfind(':'); colon != std::string_view::npos) {
        host = authority.substr(0, colon);
        out.port = std::string(authority.substr(colon + 1));
    }
    unsigned port_number = 0;
    auto [end, ec] = std::from_chars(out.port.data(), out.port.data() + out.port.size(), port_number);
    if (host.empty() || ec != std::errc() || end != out.port.data() + out.port.size() || port_number == 0 ||
        port_number > 65535) {
        return std::nullopt;
    }
    out.host = std::string(host);
    return out;
}

std::string legacy_target(const https_url& url, const places_query& query, std::string_view key)
{
    return url.path + "?location=" + number_text(query.where.lat) + "," + number_text(query.where.lng) +
           "&radius=" + query.radius_metres + "&key=" + url_encode(key);
}

std::string new_request_body(const places_query& query)
{
    // Written by hand so the radius goes out as the exact decimal text.
    return R"({"locationRestriction":{"circle":{"center":{"latitude":)" + number_text(query.where.lat) +
           R"(,"longitude":)" + number_text(query.where.lng) + R"(},"radius":)" + query.radius_metres +
           R"(}},"maxResultCount":)" + std::to_string(query.bound) + "}";
}

std::string_view new_field_mask()
{
    return "places.id,places.displayName,places.formattedAddress,places.shortFormattedAddress,places.location,"
           "places.types,places.rating,places.userRatingCount,places.businessStatus";
}

boost::json::object from_legacy_response(unsigned http_status, std::string_view body)
{
    auto answer = parse_object(body);
    if (http_status != 200) {
        auto error = places_error("UNKNOWN_ERROR", http_error(http_status));
        if (answer) {
            if (auto message = string_member(*answer, "error_message"); !message.empty()) {
                error["error_message"] = http_error(http_status) + ": " + std::string(message);
            }
        }
        return error;
    }
    if (!answer || !answer->contains("status")) {
        return places_error("UNKNOWN_ERROR", "Google's answer was not a Places JSON object");
    }
    if (!answer->contains("results")) {
        (*answer)["results"] = boost::json::array();
    }
    if (!answer->contains("html_attributions")) {
        (*answer)["html_attributions"] = boost::json::array();
    }
    return std::move(*answer);
}

boost::json::object from_new_response(unsigned http_status, std::string_view body)
{
    auto answer = parse_object(body);
    if (http_status != 200) {
        std::string message = http_error(http_status);
        std::string_view grpc_status;
        if (answer) {
            if (const auto* error = member(*answer, "error"); error != nullptr && error->is_object()) {
                grpc_status = string_member(error->get_object(), "status");
                if (auto text = string_member(error->get_object(), "message"); !text.empty()) {
                    message = std::string(text);
                }
            }
        }
        return places_error(legacy_status_for(grpc_status, http_status), message);
    }
    if (!answer) {
        return places_error("UNKNOWN_ERROR", "Google's answer was not a JSON object");
    }
    boost::json::array results;
    if (const auto* places = member(*answer, "places"); places != nullptr && places->is_array()) {
        for (const auto& place : places->get_array()) {
            if (place.is_object()) {
                results.push_back(legacy_result(place.get_object()));
            }
        }
    }
    const bool none = results.empty();
    boost::json::object legacy;
    legacy["html_attributions"] = boost::json::array();
    legacy["results"] = std::move(results);
    legacy["status"] = none ? "ZERO_RESULTS" : "OK";
    return legacy;
}

std::string redact_key(std::string_view target)
{
    std::string out(target);
    for (std::string_view marker : {"?key=", "&key="}) {
        if (auto at = out.find(marker); at != std::string::npos) {
            const auto start = at + marker.size();
            const auto end = out.find('&', start);
            out.replace(start, end == std::string::npos ? std::string::npos : end - start, "REDACTED");
        }
    }
    return out;
}

} // namespace herd
