// libFuzzer target: the framing. Whatever the bytes and however they are
// split across reads, the lines taken out plus their newlines give back
// exactly the bytes put in.
#include "protocol/line_reader.hpp"

#include <cstdlib>
#include <cstring>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    if (size < 1) {
        return 0;
    }
    // The first byte chooses the read size, the rest is the stream.
    const std::size_t chunk = 1 + data[0] % 64;
    const std::string_view input(reinterpret_cast<const char*>(data + 1), size - 1);
    herd::detail::line_reader reader;
    std::string rebuilt;
    for (std::size_t at = 0; at < input.size(); at += chunk) {
        const auto piece = input.substr(at, chunk);
        auto space = reader.prepare(piece.size());
        std::memcpy(space.data(), piece.data(), piece.size());
        reader.commit(piece.size());
        while (auto line = reader.next_line()) {
            rebuilt.append(*line).push_back('\n');
        }
    }
    reader.finish(); // a last line with no newline comes out now, still without one
    while (auto line = reader.next_line()) {
        rebuilt.append(*line);
    }
    if (rebuilt != input || reader.pending() != 0) {
        std::abort();
    }
    return 0;
}
