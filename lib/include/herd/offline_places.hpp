// What `provider = "local"` answers from: the GeoJSON places (the bundled
// Westwood set, or places.file) first, then the world's cities, each part
// nearest first, together cut to the bound. The hand-made places are the
// detail a client near them came for; the cities make sure a client
// anywhere else still gets real names.
#pragma once

#include "herd/local_places.hpp"
#include "herd/world_places.hpp"

#include <memory>
#include <string>

namespace herd {

class offline_places final : public places_source {
public:
    offline_places(std::unique_ptr<local_places> first, std::unique_ptr<world_places> world);
    ~offline_places() override;

    boost::asio::awaitable<boost::json::object> nearby_search(places_query query) override;
    std::string describe() const override;

    // The search itself, synchronous and pure.
    boost::json::object search(const places_query& query) const;

private:
    std::unique_ptr<local_places> first_;
    std::unique_ptr<world_places> world_;
};

} // namespace herd
