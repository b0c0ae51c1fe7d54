// WHATSAT's places from Google, over the Beast HTTPS client on the server's
// own io_context: Nearby Search (legacy), or the Places API (New) with its
// answer turned into the legacy shape.
#pragma once

#include "herd/fwd.hpp"
#include "herd/google_api.hpp"
#include "herd/places.hpp"

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>

namespace herd {

struct google_places_settings {
    google_api api = google_api::nearby_new;
    https_url url;
    std::string key;
    std::string key_origin;        // "$GOOGLE_PLACES_API_KEY", for the start-up log
    std::filesystem::path ca_file; // trusted besides the system store
    std::chrono::milliseconds timeout{5000};
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
