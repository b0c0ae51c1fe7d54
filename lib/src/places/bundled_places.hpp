// The bundled Westwood places (data/westwood.geojson), generated into
// bundled_places.cpp at build time.
#pragma once

#include <string_view>

namespace herd {
extern const std::string_view bundled_westwood_geojson;
} // namespace herd
