// What a /v1/stream subscriber asks for, and which records it is told of,
// as pure functions (docs/http.md): parsing its messages, matching a record
// against a subscription (a geofence's enter, inside and exit), and the
// event's JSON. The hub (stream_hub.hpp) only applies them.
#pragma once

#include "core/location_store.hpp"
#include "herd/places.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace herd::stream {

inline constexpr std::size_t max_id_bytes = 64;
inline constexpr std::size_t max_clients = 1000; // per subscription

struct subscription {
    enum class kind { clients, near, all };
    std::string id;
    kind what = kind::all;
    std::vector<std::string> clients; // sorted, for kind::clients
    geo_point centre;                 // for kind::near
    double radius_m = 0;
};

struct unsubscribe {
    std::string id;
};

struct refusal {
    std::string reason;
};

using request = std::variant<subscription, unsubscribe, refusal>;

// One message from the subscriber.
request parse_request(std::string_view text);

// What a record means to one subscription: nothing, an update (clients,
// all), or a geofence's crossing (near). `before` is where the client was
// until this record (nothing: a new client).
enum class event { none, update, enter, inside, exit };
event match(const subscription& s, const location_record& record, const std::optional<geo_point>& before);

std::string_view event_name(event e);

// The part of an event that is the same for every subscription: from the
// first field after "event" to the closing brace and newline-free end.
// `via` empty: a client's IAMAT at this server.
std::string event_tail(const location_record& record, std::string_view stored_by, std::string_view via,
                       std::int64_t stored_ns);

// The whole event for one subscription.
std::string event_message(std::string_view id, event e, std::string_view tail);

// Answers to the subscriber's messages.
std::string subscribed_message(std::string_view id);
std::string unsubscribed_message(std::string_view id);
std::string error_message(std::string_view reason);

} // namespace herd::stream
