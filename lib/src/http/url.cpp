#include "http/url.hpp"

#include <charconv>

namespace herd {

std::optional<std::string> percent_decode(std::string_view text)
{
    std::string out;
    out.reserve(text.size());
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (text[i] != '%') {
            out += text[i];
            continue;
        }
        unsigned byte = 0;
        if (i + 2 >= text.size()) {
            return std::nullopt;
        }
        const auto [end, ec] = std::from_chars(text.data() + i + 1, text.data() + i + 3, byte, 16);
        if (ec != std::errc{} || end != text.data() + i + 3) {
            return std::nullopt;
        }
        out += static_cast<char>(byte);
        i += 2;
    }
    return out;
}

std::optional<std::vector<std::pair<std::string, std::string>>> parse_query(std::string_view query)
{
    std::vector<std::pair<std::string, std::string>> pairs;
    while (!query.empty()) {
        const auto amp = query.find('&');
        const std::string_view pair = query.substr(0, amp);
        query = amp == std::string_view::npos ? "" : query.substr(amp + 1);
        const auto eq = pair.find('=');
        if (eq == std::string_view::npos) {
            return std::nullopt;
        }
        auto key = percent_decode(pair.substr(0, eq));
        auto value = percent_decode(pair.substr(eq + 1));
        if (!key || !value) {
            return std::nullopt;
        }
        pairs.emplace_back(std::move(*key), std::move(*value));
    }
    return pairs;
}

std::pair<std::string_view, std::string_view> split_target(std::string_view target)
{
    const auto question = target.find('?');
    if (question == std::string_view::npos) {
        return {target, {}};
    }
    return {target.substr(0, question), target.substr(question + 1)};
}

} // namespace herd
