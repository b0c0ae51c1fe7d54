// The node alone: store_and_propagate's rules with no sockets, its
// neighbours stood in for by sinks that keep what they are offered.
#include "core/node.hpp"

#include <catch2/catch.hpp>

#include <string>
#include <vector>

using namespace herd;

namespace {

class kept_offers final : public record_sink {
public:
    explicit kept_offers(std::string name) : name_(std::move(name)) {}
    const std::string& neighbour() const noexcept override { return name_; }
    void offer(const std::shared_ptr<const std::string>& at_line) override { lines.push_back(at_line); }
    std::vector<std::shared_ptr<const std::string>> lines;

private:
    std::string name_;
};

location_record record_of(std::string_view at_line)
{
    auto parsed = parse_at_line(at_line);
    REQUIRE(parsed);
    return location_record::from(*parsed, at_line);
}

constexpr std::string_view older = "AT Goloman +0.100000000 kiwi +34.068930-118.445127 1621464827.000000000";
constexpr std::string_view newer = "AT Hands +0.100000000 kiwi +34.068930-118.445127 1621464828.000000000";

} // namespace

TEST_CASE("node: a record that changes the store goes to every neighbour but the one it came from", "[node]")
{
    node n;
    kept_offers hands("Hands"), holiday("Holiday"), wilkes("Wilkes");
    n.add_neighbour(hands);
    n.add_neighbour(holiday);
    n.add_neighbour(wilkes);
    std::vector<std::string> stored;
    n.on_stored = [&](const location_record& r) { stored.push_back(r.at_line); };

    CHECK(n.store_and_propagate(record_of(older), "Holiday") == location_store::outcome::stored);
    CHECK(hands.lines.size() == 1);
    CHECK(holiday.lines.empty());
    CHECK(wilkes.lines.size() == 1);
    // One copy of the line, shared by every neighbour.
    CHECK(hands.lines[0] == wilkes.lines[0]);
    CHECK(*hands.lines[0] == older);
    CHECK(stored == std::vector<std::string>{std::string(older)});
}

TEST_CASE("node: a record that is not newer goes nowhere, and a client's goes everywhere", "[node]")
{
    node n;
    kept_offers hands("Hands"), holiday("Holiday");
    n.add_neighbour(hands);
    n.add_neighbour(holiday);
    CHECK(n.store_and_propagate(record_of(newer), {}) == location_store::outcome::stored);
    CHECK(n.store_and_propagate(record_of(newer), "Hands") != location_store::outcome::stored);
    CHECK(n.store_and_propagate(record_of(older), "Hands") != location_store::outcome::stored);
    CHECK(hands.lines.size() == 1);
    CHECK(holiday.lines.size() == 1);
    CHECK(n.store.find("kiwi")->at_line == newer);

    n.remove_neighbours();
    const std::string newest = "AT Hands +0.100000000 kiwi +34.068930-118.445127 1621464829.000000000";
    CHECK(n.store_and_propagate(record_of(newest), {}) == location_store::outcome::stored);
    CHECK(hands.lines.size() == 1);
}
