// Client bytes in a log line, escaped while spdlog formats the line: no
// string is built, and nothing at all is done when the level is off.
// escape_for_log() (herd/log.hpp) is the same rule as a string.
#pragma once

#include <fmt/format.h>

#include <string_view>

namespace herd::detail {

struct escaped {
    std::string_view bytes;
};

} // namespace herd::detail

template <> struct fmt::formatter<herd::detail::escaped> {
    constexpr auto parse(format_parse_context& ctx) { return ctx.begin(); }

    template <typename Context> auto format(herd::detail::escaped e, Context& ctx) const
    {
        auto out = ctx.out();
        std::string_view rest = e.bytes;
        while (!rest.empty()) {
            // Copy the longest run that needs no escape in one go.
            std::size_t plain = 0;
            while (plain < rest.size() && needs_no_escape(static_cast<unsigned char>(rest[plain]))) {
                ++plain;
            }
            out = std::copy(rest.begin(), rest.begin() + static_cast<std::ptrdiff_t>(plain), out);
            rest.remove_prefix(plain);
            if (rest.empty()) {
                break;
            }
            out = escape(static_cast<unsigned char>(rest.front()), out);
            rest.remove_prefix(1);
        }
        return out;
    }

private:
    static constexpr bool needs_no_escape(unsigned char c) { return c >= 0x20 && c != 0x7f && c != '\\'; }

    template <typename Out> static Out escape(unsigned char c, Out out)
    {
        switch (c) {
        case '\\':
            return fmt::format_to(out, "\\\\");
        case '\r':
            return fmt::format_to(out, "\\r");
        case '\n':
            return fmt::format_to(out, "\\n");
        case '\t':
            return fmt::format_to(out, "\\t");
        case '\v':
            return fmt::format_to(out, "\\v");
        case '\f':
            return fmt::format_to(out, "\\f");
        default:
            return fmt::format_to(out, "\\x{:02x}", c);
        }
    }
};
