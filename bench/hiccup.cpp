// How quiet the machine is: a thread that only reads the clock, in a loop,
// on whatever core it is given. Any gap between two readings is time the
// thread did not run: the kernel's interrupts and threads, or the
// hypervisor taking the virtual CPU away. A server on that core stalls for
// the same gaps, and no server's p99 can be below what they add up to.
//   herd-hiccup [seconds]    prints one JSON object
#include <boost/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <iostream>

int main(int argc, char** argv)
{
    using clock = std::chrono::steady_clock;
    const double seconds = argc > 1 ? std::atof(argv[1]) : 5.0;
    if (!(seconds > 0)) {
        std::cerr << "usage: herd-hiccup [seconds]\n";
        return 2;
    }
    const auto length = std::chrono::duration_cast<clock::duration>(std::chrono::duration<double>(seconds));
    std::uint64_t over_200us = 0;
    std::uint64_t over_1ms = 0;
    std::int64_t in_gaps_over_1ms_ns = 0;
    std::int64_t longest_ns = 0;
    const auto start = clock::now();
    auto before = start;
    for (auto now = start; now - start < length; before = now) {
        now = clock::now();
        const auto gap = std::chrono::duration_cast<std::chrono::nanoseconds>(now - before).count();
        longest_ns = std::max(longest_ns, gap);
        if (gap >= 200'000) {
            ++over_200us;
        }
        if (gap >= 1'000'000) {
            ++over_1ms;
            in_gaps_over_1ms_ns += gap;
        }
    }
    const boost::json::object out{{"seconds", seconds},
                                  {"gaps_over_200us", over_200us},
                                  {"gaps_over_1ms", over_1ms},
                                  {"share_in_gaps_over_1ms", static_cast<double>(in_gaps_over_1ms_ns) / 1e9 / seconds},
                                  {"longest_us", static_cast<double>(longest_ns) / 1e3}};
    std::cout << boost::json::serialize(out) << std::endl;
    return 0;
}
