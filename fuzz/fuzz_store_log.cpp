// libFuzzer target: the store log reader, on whatever a crash or a bad disk
// leaves in the file. What it keeps must end at a line boundary, and
// reading just that again must give the same store and cut nothing.
#include "durability/store_log.hpp"

#include <cstdlib>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    herd::location_store store;
    const auto replay = herd::replay_log(text, store);
    if (replay.cut_bytes > text.size()) {
        std::abort();
    }
    const auto kept = text.substr(0, text.size() - replay.cut_bytes);
    if (!kept.empty() && kept.back() != '\n') {
        std::abort();
    }
    herd::location_store again;
    const auto second = herd::replay_log(kept, again);
    if (second.cut_bytes != 0 || second.records != replay.records || again.digest() != store.digest() ||
        again.size() != store.size()) {
        std::abort();
    }
    return 0;
}
