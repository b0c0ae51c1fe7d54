#include "core/node.hpp"

#include "durability/store_log.hpp"

namespace herd {

node::node() = default;
node::~node() = default;

location_store::outcome node::store_and_propagate(location_record record, std::string_view came_from)
{
    // Only looked up for a watcher: the flood itself never needs it.
    std::optional<geo_point> before;
    const bool watched = observer != nullptr && observer->watching();
    if (watched) {
        if (const location_record* held = store.find(record.client())) {
            before = held->where;
        }
    }
    const location_record* stored = nullptr;
    const auto outcome = store.update(std::move(record), &stored);
    if (outcome != location_store::outcome::stored) {
        return outcome;
    }
    const location_record& kept = *stored;
    if (disk) {
        disk->append(kept.at_line);
        disk->compact_if_large(store);
    }
    if (on_stored) {
        on_stored(kept);
    }
    if (watched) {
        observer->stored(kept, before, came_from);
    }
    if (spread != nullptr) {
        spread->propagate(kept, came_from);
        return outcome;
    }
    if (sinks_.empty()) {
        return outcome;
    }
    auto line = std::make_shared<const std::string>(kept.at_line);
    for (auto* sink : sinks_) {
        if (sink->neighbour() != came_from) {
            sink->offer(line);
        }
    }
    return outcome;
}

} // namespace herd
