// libFuzzer target: the client command parser. Beyond not crashing, a line
// that parses as IAMAT must give an AT line that parses back to the same
// fields, and an invalid line's reply must be the line itself.
#include "protocol/protocol.hpp"

#include <cstdlib>
#include <string>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    const std::string_view line(reinterpret_cast<const char*>(data), size);
    if (line.find('\n') != std::string_view::npos) {
        return 0; // lines never hold a newline: the framing took it off
    }
    const auto cmd = herd::parse_command(line);
    if (const auto* iamat = std::get_if<herd::iamat_command>(&cmd)) {
        const std::string at = herd::format_at("Fuzz", 12345, *iamat);
        const auto back = herd::parse_at_line(at);
        if (!back || back->client != iamat->client || back->location != iamat->location || back->time != iamat->time ||
            back->time_ns != iamat->time_ns || back->skew != "+0.000012345") {
            std::abort();
        }
    } else if (std::holds_alternative<herd::invalid_line>(cmd)) {
        std::string reply;
        herd::append_invalid(reply, line);
        if (reply.substr(0, 2) != "? " || reply.back() != '\n' || reply.find(line.substr(0, line.size() - 1), 2) != 2) {
            std::abort();
        }
    } else if (const auto* whatsat = std::get_if<herd::whatsat_command>(&cmd)) {
        if (whatsat->bound < 1 || whatsat->bound > herd::max_bound || !(whatsat->within.km > 0) ||
            whatsat->within.km > 50 || whatsat->within.metres.empty()) {
            std::abort();
        }
    }
    return 0;
}
