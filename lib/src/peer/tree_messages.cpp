#include "peer/tree_messages.hpp"

#include <charconv>

namespace herd::peer {
namespace {

constexpr std::string_view prefix = "HERD herd/1 ";

// The next space-separated field of `rest`; empty at the end or at two
// spaces in a row (which no line of this protocol has).
std::string_view next_field(std::string_view& rest) noexcept
{
    const auto space = rest.find(' ');
    const auto field = rest.substr(0, space);
    rest = space == std::string_view::npos ? std::string_view{} : rest.substr(space + 1);
    return field;
}

std::optional<std::int64_t> parse_time(std::string_view text) noexcept
{
    std::int64_t value = 0;
    const auto* end = text.data() + text.size();
    const auto [ptr, ec] = std::from_chars(text.data(), end, value);
    if (ec != std::errc{} || ptr != end || text.empty() || text.front() == '+') {
        return std::nullopt;
    }
    return value;
}

// "<client> <time_ns>" pairs until the end of `rest`; nothing if any is
// malformed or there are none.
std::optional<std::vector<notice>> parse_notices(std::string_view rest)
{
    std::vector<notice> out;
    while (!rest.empty()) {
        const auto client = next_field(rest);
        const auto time = next_field(rest);
        const auto ns = parse_time(time);
        if (client.empty() || !ns) {
            return std::nullopt;
        }
        out.push_back({std::string(client), *ns});
    }
    if (out.empty()) {
        return std::nullopt;
    }
    return out;
}

void append_notice(std::string& out, const notice& n)
{
    out += ' ';
    out += n.client;
    out += ' ';
    out += std::to_string(n.time_ns);
}

} // namespace

std::string format_broadcast(bool tree)
{
    return std::string(prefix) + (tree ? "BROADCAST tree" : "BROADCAST flood");
}

std::string format_graft(const std::optional<notice>& wanted)
{
    std::string out(prefix);
    out += "GRAFT";
    if (wanted) {
        append_notice(out, *wanted);
    }
    return out;
}

std::size_t append_ihave_lines(std::string& out, const std::vector<notice>& notices, std::size_t max_line)
{
    const std::string head = std::string(prefix) + "IHAVE";
    std::size_t lines = 0;
    std::string line;
    std::string one;
    const auto finish = [&] {
        if (line.size() > head.size()) {
            out += line;
            out += '\n';
            ++lines;
        }
        line = head;
    };
    line = head;
    for (const notice& n : notices) {
        one.clear();
        append_notice(one, n);
        if (head.size() + one.size() + 1 > max_line) {
            continue;
        }
        if (line.size() + one.size() + 1 > max_line) {
            finish();
        }
        line += one;
    }
    finish();
    return lines;
}

bool is_tree_line(std::string_view line) noexcept
{
    if (!line.starts_with(prefix)) {
        return false;
    }
    line.remove_prefix(prefix.size());
    const auto kind = line.substr(0, line.find(' '));
    return kind == "BROADCAST" || kind == "IHAVE" || kind == "PRUNE" || kind == "GRAFT";
}

std::optional<tree_line> parse_tree_line(std::string_view line)
{
    if (!line.starts_with(prefix)) {
        return std::nullopt;
    }
    std::string_view rest = line.substr(prefix.size());
    const auto word = next_field(rest);
    tree_line out;
    if (word == "BROADCAST") {
        out.kind = tree_line_kind::broadcast;
        if (rest != "tree" && rest != "flood") {
            return std::nullopt;
        }
        out.tree = rest == "tree";
        return out;
    }
    if (word == "PRUNE") {
        if (!rest.empty() || line.back() == ' ') {
            return std::nullopt;
        }
        out.kind = tree_line_kind::prune;
        return out;
    }
    if (word == "GRAFT" && rest.empty()) {
        if (line.back() == ' ') {
            return std::nullopt;
        }
        out.kind = tree_line_kind::graft;
        return out;
    }
    if (word != "IHAVE" && word != "GRAFT") {
        return std::nullopt;
    }
    auto notices = parse_notices(rest);
    if (!notices || (word == "GRAFT" && notices->size() != 1)) {
        return std::nullopt;
    }
    out.kind = word == "IHAVE" ? tree_line_kind::ihave : tree_line_kind::graft;
    out.notices = std::move(*notices);
    return out;
}

} // namespace herd::peer
