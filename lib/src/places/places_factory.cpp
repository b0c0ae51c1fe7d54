#include "herd/places_factory.hpp"

#include "herd/google_places.hpp"
#include "herd/local_places.hpp"
#include "herd/offline_places.hpp"
#include "herd/places_cache.hpp"
#include "herd/world_places.hpp"
#include "places/https_client.hpp"

#include <spdlog/logger.h>

namespace herd {

std::shared_ptr<places_source> make_places_source(boost::asio::io_context& io, const places_config& config,
                                                  const std::shared_ptr<spdlog::logger>& log, const env_lookup& env)
{
    const auto key = env(config.key_env);
    const bool have_key = key && !key->empty();
    std::string provider = config.provider;
    if (provider == "auto") {
        provider = have_key ? "google-new" : "local";
        log->info("places provider auto: ${} is {}, so {}", config.key_env, have_key ? "set" : "not set",
                  have_key ? "Google's Places API (New)" : "the offline places");
    }
    if (provider == "local") {
        if (!config.ca_file.empty()) {
            // Unused by the offline places, but a file herd.toml names and
            // cannot be read is refused now, not when a key appears.
            try {
                detail::make_tls_client_context(config.ca_file);
            } catch (const std::runtime_error& e) {
                throw places_config_error(std::string("places.ca_file: ") + e.what());
            }
        }
        auto first = config.file.empty() ? local_places::bundled() : local_places::from_file(config.file);
        if (!config.world) {
            return first;
        }
        return std::make_shared<offline_places>(std::move(first), std::make_unique<world_places>());
    }
    if (!have_key) {
        throw places_config_error("places.provider is " + provider + " but $" + config.key_env +
                                  " is not set: export it, or set places.provider = \"local\"");
    }
    google_places_settings settings;
    settings.api = provider == "google" ? google_api::nearby_legacy : google_api::nearby_new;
    const std::string url =
        config.endpoint.empty()
            ? std::string(settings.api == google_api::nearby_legacy ? legacy_default_url : new_default_url)
            : config.endpoint;
    settings.url = *parse_https_url(url); // herd.toml's endpoint was checked on load
    settings.key = *key;
    settings.key_origin = "$" + config.key_env;
    settings.ca_file = config.ca_file;
    settings.timeout = config.timeout;
    std::shared_ptr<places_source> source;
    try {
        source = std::make_shared<google_places>(io, std::move(settings), log);
    } catch (const std::runtime_error& e) {
        throw places_config_error(std::string("places.ca_file: ") + e.what());
    }
    if (config.cache_ttl.count() > 0) {
        source = std::make_shared<cached_places>(std::move(source), config.cache_ttl);
    }
    return source;
}

} // namespace herd
