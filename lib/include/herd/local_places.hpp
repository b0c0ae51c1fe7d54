// The offline places source: points from a GeoJSON FeatureCollection (the
// shape OpenStreetMap exports take), searched by radius with a
// Boost.Geometry R-tree, nearest first, answered in the legacy Google
// Nearby Search shape. Lets WHATSAT work on a machine with no API key.
#pragma once

#include "herd/places.hpp"

#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>

namespace herd {

class places_data_error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

class local_places final : public places_source {
public:
    // `origin` names the data in messages and in describe().
    static std::unique_ptr<local_places> from_geojson(std::string_view geojson, std::string origin);
    static std::unique_ptr<local_places> from_file(const std::filesystem::path& file);
    // The Westwood dataset compiled into the library, so a server finds it
    // wherever it is started from.
    static std::unique_ptr<local_places> bundled();

    ~local_places() override;

    boost::asio::awaitable<boost::json::object> nearby_search(places_query query) override;
    std::string describe() const override;

    // The search itself, synchronous and pure.
    boost::json::object search(const places_query& query) const;
    std::size_t size() const noexcept;

private:
    struct index;
    explicit local_places(std::unique_ptr<index> idx);
    std::unique_ptr<index> index_;
};

} // namespace herd
