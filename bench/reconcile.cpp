// herd-reconcile-bench: what reconciling two stores of N records costs when
// they differ in D clients (scripts/bench's reconciliation rows). Both sides
// run in this one process, every message through its wire form; the time
// is the two sides' own work, with no network: over one, add a round trip
// per two messages. One JSON object per line, for each D given.
//   herd-reconcile-bench [N] [D...]     (default: 1000000 10 1000)
#include "core/location_store.hpp"
#include "peer/reconciliation.hpp"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

using namespace herd;

namespace {

std::string at_line(std::size_t client, std::int64_t seconds, std::string_view server = "Goloman")
{
    return "AT " + std::string(server) + " +0.000100000 client-" + std::to_string(client) + " +34.068930-118.445127 " +
           std::to_string(seconds) + ".000000000";
}

void put(location_store& store, std::string_view line)
{
    if (const auto parsed = parse_at_line(line)) {
        store.update(location_record::from(*parsed, line));
    }
}

} // namespace

int main(int argc, char** argv)
{
    const std::size_t size = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 1'000'000;
    std::vector<std::size_t> differences;
    for (int i = 2; i < argc; ++i) {
        differences.push_back(std::strtoull(argv[i], nullptr, 10));
    }
    if (differences.empty()) {
        differences = {10, 1000};
    }
    for (const std::size_t d : differences) {
        // As the unit test: half newer at a, a quarter only at a, the rest
        // only at b.
        const std::size_t newer = d / 2;
        const std::size_t only_a = d / 4;
        const std::size_t only_b = d - newer - only_a;
        location_store a;
        location_store b;
        for (std::size_t i = 0; i < size - only_b; ++i) {
            const auto line = at_line(i, 100);
            put(a, line);
            if (i < size - only_b - only_a) {
                put(b, line);
            }
        }
        for (std::size_t i = 0; i < newer; ++i) {
            put(a, at_line(i * 7, 200, "Hands"));
        }
        for (std::size_t i = 0; i < only_b; ++i) {
            put(b, at_line(size + i, 100));
        }
        peer::store_view at_a(a, [&](std::string_view line) { put(a, line); });
        peer::store_view at_b(b, [&](std::string_view line) { put(b, line); });
        const auto started = std::chrono::steady_clock::now();
        const auto totals = peer::reconcile_in_process(at_a, at_b);
        const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count();
        const bool converged = a.size() == b.size() && a.digest() == b.digest();
        std::printf("{\"records_in_store\": %zu, \"differences\": %zu, \"messages\": %zu, \"records\": %zu, "
                    "\"bytes\": %zu, \"ms\": %.1f, \"converged\": %s}\n",
                    size, d, totals.messages, totals.records, totals.bytes, ms,
                    converged && totals.ok ? "true" : "false");
        std::fflush(stdout);
        if (!converged || !totals.ok) {
            return 1;
        }
    }
    return 0;
}
