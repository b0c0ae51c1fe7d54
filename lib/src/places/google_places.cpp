#include "herd/google_places.hpp"

#include "places/https_client.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/json.hpp>
#include <spdlog/logger.h>

namespace herd {

struct google_places::state {
    state(boost::asio::io_context& io, google_places_settings s, std::shared_ptr<spdlog::logger> l)
        : settings(std::move(s)), log(std::move(l)),
          client(io.get_executor(), settings.url, detail::make_tls_client_context(settings.ca_file),
                 {settings.max_connections, settings.resolve})
    {
    }
    google_places_settings settings;
    std::shared_ptr<spdlog::logger> log;
    detail::https_client client;
};

google_places::google_places(boost::asio::io_context& io, google_places_settings settings,
                             std::shared_ptr<spdlog::logger> log)
    : state_(std::make_shared<state>(io, std::move(settings), std::move(log)))
{
}

google_places::~google_places() = default;

boost::asio::awaitable<boost::json::object> google_places::nearby_search(places_query query)
{
    auto self = state_; // the request may outlive a stopped server's reference
    const auto& s = self->settings;
    const bool legacy = s.api == google_api::nearby_legacy;
    detail::https_request request;
    if (legacy) {
        request = {"GET", legacy_target(s.url, query, s.key), {}, {}};
    } else {
        request = {"POST",
                   s.url.path,
                   {{"Content-Type", "application/json"},
                    {"X-Goog-Api-Key", s.key},
                    {"X-Goog-FieldMask", std::string(new_field_mask())}},
                   new_request_body(query)};
    }
    // Logged without the key: the legacy API carries it in the query string.
    const std::string what = request.method + " https://" + s.url.authority() + redact_key(request.target);
    const auto started = std::chrono::steady_clock::now();
    auto result = co_await self->client.request(std::move(request), s.timeout);
    const auto ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count();
    if (result.cancelled) {
        // Only WHATSAT's own time-out cancels a request: say so, and where
        // it stood, rather than what the cancelled step reported.
        self->log->warn("google {} abandoned after {:.1f} ms at the WHATSAT time-out: {}", what, ms, result.error);
        co_return places_error("UNKNOWN_ERROR", "no answer from Google: " + result.error);
    }
    if (result.status == 0) {
        self->log->warn("google {} failed after {:.1f} ms: {}", what, ms, result.error);
        co_return places_error("UNKNOWN_ERROR", "no answer from Google: " + result.error);
    }
    self->log->info("google {}: HTTP {} in {:.1f} ms{}", what, result.status, ms,
                    result.reused ? " (kept-alive connection)" : "");
    co_return legacy ? from_legacy_response(result.status, result.body) : from_new_response(result.status, result.body);
}

std::string google_places::describe() const
{
    const auto& s = state_->settings;
    return std::string(s.api == google_api::nearby_legacy ? "google (Nearby Search, legacy) at "
                                                          : "google-new (Places API New) at ") +
           s.url.to_string() + ", key from " + s.key_origin +
           (s.ca_file.empty() ? "" : ", also trusting " + s.ca_file.string());
}

void google_places::stop()
{
    state_->client.stop();
}

std::size_t google_places::connections_opened() const noexcept
{
    return state_->client.connections_opened();
}

} // namespace herd
