// WHATSAT's places from Google, over the Beast HTTPS client on the server's
// own io_context: Nearby Search (legacy), or the Places API (New) with its
// answer turned into the legacy shape.
#pragma once

#include "herd/fwd.hpp"
#include "herd/places.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>

namespace herd {

// https://host[:port]/path, split for a TLS client.
struct https_url {
    std::string host;
    std::string port = "443";
    std::string path = "/";
    // "host" on 443, "host:port" otherwise: the Host header, and URLs in logs.
    std::string authority() const;
    std::string to_string() const;
};

std::optional<https_url> parse_https_url(std::string_view url);

enum class google_api { nearby_legacy, nearby_new };

// Looks the provider's host up: (error, endpoints). The tests give one that
// never answers; a server uses the system's.
using resolved_host = std::tuple<boost::system::error_code, boost::asio::ip::tcp::resolver::results_type>;
using host_resolver = std::function<boost::asio::awaitable<resolved_host>(std::string host, std::string port)>;

struct google_places_settings {
    google_api api = google_api::nearby_new;
    https_url url;
    std::string key;
    std::string key_origin;        // "$GOOGLE_PLACES_API_KEY", for the start-up log
    std::filesystem::path ca_file; // trusted besides the system store
    std::chrono::milliseconds timeout{5000};
    // TLS connections to the provider open at once; more requests wait
    // their turn, within their time-out.
    std::size_t max_connections = 8;
    host_resolver resolve; // empty: the system's resolver
};

class google_places final : public places_source {
public:
    // Throws std::runtime_error if the CA file cannot be read.
    google_places(boost::asio::io_context& io, google_places_settings settings, std::shared_ptr<spdlog::logger> log);
    ~google_places() override;

    boost::asio::awaitable<boost::json::object> nearby_search(places_query query) override;
    std::string describe() const override;
    void stop() override;

    // TLS connections opened so far: keep-alive shows as fewer than requests.
    std::size_t connections_opened() const noexcept;

private:
    struct state;
    std::shared_ptr<state> state_;
};

} // namespace herd
