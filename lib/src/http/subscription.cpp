#include "http/subscription.hpp"

#include "admin/json_pretty.hpp"
#include "http/record_json.hpp"
#include "places/geo.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <cmath>

namespace herd::stream {

namespace json = boost::json;

namespace {

std::optional<double> number(const json::object& object, std::string_view key)
{
    const auto* value = object.if_contains(key);
    if (value == nullptr || !value->is_number()) {
        return std::nullopt;
    }
    boost::system::error_code ec;
    const double d = value->to_number<double>(ec);
    if (ec || !std::isfinite(d)) {
        return std::nullopt;
    }
    return d;
}

request parse_subscribe(const json::object& message, const json::value& what)
{
    const auto* id = message.if_contains("id");
    if (id == nullptr || !id->is_string() || id->as_string().empty() || id->as_string().size() > max_id_bytes) {
        return refusal{"a subscription needs an id: a string of 1 to 64 bytes"};
    }
    subscription s;
    s.id = id->as_string();
    if (!what.is_object() || what.as_object().size() != 1) {
        return refusal{R"(subscribe takes one of {"clients":[...]}, {"near":{...}} or {"all":true})"};
    }
    const auto& kind = *what.as_object().begin();
    if (kind.key() == "all") {
        if (!kind.value().is_bool() || !kind.value().as_bool()) {
            return refusal{R"("all" must be true)"};
        }
        s.what = subscription::kind::all;
        return s;
    }
    if (kind.key() == "clients") {
        const auto* list = kind.value().if_array();
        if (list == nullptr || list->empty() || list->size() > max_clients) {
            return refusal{"\"clients\" must be a list of 1 to 1000 client IDs"};
        }
        for (const auto& client : *list) {
            if (!client.is_string() || client.as_string().empty() || client.as_string().size() > max_client_id_bytes) {
                return refusal{"each client must be a string of 1 to 255 bytes"};
            }
            s.clients.emplace_back(client.as_string());
        }
        std::sort(s.clients.begin(), s.clients.end());
        s.what = subscription::kind::clients;
        return s;
    }
    if (kind.key() == "near") {
        const auto* circle = kind.value().if_object();
        const auto lat = circle ? number(*circle, "lat") : std::nullopt;
        const auto lng = circle ? number(*circle, "lng") : std::nullopt;
        const auto radius = circle ? number(*circle, "radius_km") : std::nullopt;
        if (!lat || !lng || !radius || circle->size() != 3 || std::abs(*lat) > 90 || std::abs(*lng) > 180 ||
            *radius <= 0 || *radius > 20'000) {
            return refusal{"\"near\" takes lat (-90 to 90), lng (-180 to 180) and radius_km (over 0, at most 20000)"};
        }
        s.what = subscription::kind::near;
        s.centre = {*lat, *lng};
        s.radius_m = *radius * 1000;
        return s;
    }
    return refusal{"no such subscription: " + std::string(kind.key())};
}

} // namespace

request parse_request(std::string_view text)
{
    boost::system::error_code ec;
    const json::value parsed = json::parse(text, ec);
    if (ec || !parsed.is_object()) {
        return refusal{"each message must be a JSON object"};
    }
    const auto& message = parsed.as_object();
    if (const auto* what = message.if_contains("subscribe"); what != nullptr && message.size() == 2) {
        return parse_subscribe(message, *what);
    }
    if (const auto* id = message.if_contains("unsubscribe"); id != nullptr && message.size() == 1) {
        if (!id->is_string()) {
            return refusal{"unsubscribe takes the subscription's id"};
        }
        return unsubscribe{std::string(id->as_string())};
    }
    return refusal{R"(send {"subscribe":{...},"id":"..."} or {"unsubscribe":"..."})"};
}

event match(const subscription& s, const location_record& record, const std::optional<geo_point>& before)
{
    switch (s.what) {
    case subscription::kind::all:
        return event::update;
    case subscription::kind::clients:
        return std::binary_search(s.clients.begin(), s.clients.end(), record.client()) ? event::update : event::none;
    case subscription::kind::near: {
        const bool now = geo::haversine_m(s.centre, record.where) <= s.radius_m;
        const bool was = before && geo::haversine_m(s.centre, *before) <= s.radius_m;
        if (now) {
            return was ? event::inside : event::enter;
        }
        return was ? event::exit : event::none;
    }
    }
    return event::none;
}

std::string_view event_name(event e)
{
    switch (e) {
    case event::update:
        return "update";
    case event::enter:
        return "enter";
    case event::inside:
        return "inside";
    case event::exit:
        return "exit";
    case event::none:
        break;
    }
    return "none";
}

std::string event_tail(const location_record& record, std::string_view stored_by, std::string_view via,
                       std::int64_t stored_ns)
{
    std::string out = R"("client":)";
    append_json_string(out, record.client());
    out += ',';
    http_api::append_record_fields(out, record);
    out += R"(,"stored_by":)";
    append_json_string(out, stored_by);
    out += R"(,"via":)";
    if (via.empty()) {
        out += "null";
    } else {
        append_json_string(out, via);
    }
    fmt::format_to(std::back_inserter(out), R"(,"stored_ns":{}}})", stored_ns);
    return out;
}

std::string event_message(std::string_view id, event e, std::string_view tail)
{
    std::string out = R"({"id":)";
    append_json_string(out, id);
    out += R"(,"event":")";
    out += event_name(e);
    out += R"(",)";
    out += tail;
    return out;
}

std::string subscribed_message(std::string_view id)
{
    return http_api::one_field_object("subscribed", id);
}

std::string unsubscribed_message(std::string_view id)
{
    return http_api::one_field_object("unsubscribed", id);
}

std::string error_message(std::string_view reason)
{
    return http_api::one_field_object("error", reason);
}

} // namespace herd::stream
