#include "peer/reconciliation.hpp"

#include "core/hash64.hpp"
#include "peer/peer_protocol.hpp"

#include <boost/unordered/unordered_flat_set.hpp>

#include <algorithm>
#include <charconv>

namespace herd::peer {

range_set::range_set(const std::vector<key_range>& ranges)
{
    if (ranges.empty()) {
        return;
    }
    table_.assign(std::size_t{1} << (4 * table_depth), none);
    for (std::size_t i = 0; i < ranges.size(); ++i) {
        const auto& r = ranges[i];
        if (r.depth > table_depth) {
            auto it = std::find_if(deep_.begin(), deep_.end(), [&](const auto& d) { return d.depth == r.depth; });
            if (it == deep_.end()) {
                it = deep_.insert(deep_.end(), {r.depth, {}});
            }
            it->slots.emplace_back(range_slot(r.prefix, r.depth), i);
            auto& cell = table_[range_slot(r.prefix, table_depth)];
            if (cell == none) {
                cell = deeper;
            }
            continue;
        }
        // A range of depth d covers 16^(table_depth - d) cells of the table.
        const std::size_t first = range_slot(r.prefix, table_depth);
        const std::size_t cells = std::size_t{1} << (4 * (table_depth - r.depth));
        const auto position = static_cast<std::uint32_t>(i + 1);
        for (std::size_t c = first; c < first + cells; ++c) {
            // A range the cell already names holds the key as well; a cell
            // of deeper ranges only is covered now by this one.
            if (table_[c] == none || table_[c] == deeper) {
                table_[c] = position;
            }
        }
    }
    for (auto& d : deep_) {
        std::sort(d.slots.begin(), d.slots.end());
    }
}

std::optional<std::size_t> range_set::find(std::uint64_t key) const noexcept
{
    if (table_.empty()) {
        return std::nullopt;
    }
    const std::uint32_t cell = table_[range_slot(key, table_depth)];
    if (cell == none) {
        return std::nullopt;
    }
    if (cell != deeper) {
        return cell - 1;
    }
    for (const auto& d : deep_) {
        const auto s = range_slot(key, d.depth);
        const auto it = std::lower_bound(d.slots.begin(), d.slots.end(), std::pair<std::uint64_t, std::size_t>{s, 0});
        if (it != d.slots.end() && it->first == s) {
            return it->second;
        }
    }
    return std::nullopt;
}

void store_view::for_each_in(const std::vector<key_range>& ranges,
                             const std::function<void(std::uint64_t, std::uint64_t, std::string_view)>& f) const
{
    const range_set wanted(ranges);
    store_.for_each([&](std::string_view client, const location_record& r) {
        const std::uint64_t key = client_key(client);
        if (wanted.contains(key)) {
            f(key, record_hash(r.at_line), r.at_line);
        }
    });
}

reconcile_message reconciliation::start()
{
    reconcile_message m;
    m.compare.push_back({key_range{}, view_.of(key_range{})});
    offered_.clear();
    return m;
}

std::optional<reconcile_message> reconciliation::answer(const reconcile_message& in)
{
    for (const auto& line : in.records) {
        view_.store(line);
    }
    if (in.last()) {
        return std::nullopt;
    }
    // The records are stored first, so that the lists and fingerprints
    // below already hold what the other side sent.
    reconcile_message out;
    const auto defer = [&](const key_range& r) {
        if (r.depth >= options_.max_split_depth) {
            out.compare.push_back({r, view_.of(r)});
            return;
        }
        for (unsigned nibble = 0; nibble < 16; ++nibble) {
            const key_range c = r.child(nibble);
            out.compare.push_back({c, view_.of(c)});
        }
    };

    // What to do with each range compared: offer it, push it (if the
    // budget allows, below), or compare its parts. No walk needed.
    std::vector<key_range> offering;
    std::vector<key_range> pushing;
    for (const auto& [range, remote] : in.compare) {
        const fingerprint local = view_.of(range);
        if (local == remote) {
            continue;
        }
        // A short list of hashes where this side holds little, its records
        // where only the other side does: either way what travels is about
        // the size of the difference.
        if (local.count <= options_.leaf_records || range.depth >= options_.max_split_depth) {
            offering.push_back(range);
        } else if (remote.count <= options_.leaf_records) {
            pushing.push_back(range);
        } else {
            defer(range);
        }
    }

    // One walk of the store for everything this message needs: the store
    // is large and a walk touches every record, so each record is looked
    // at once, and sorted into what it is needed for.
    std::vector<key_range> offered_ranges;
    boost::unordered_flat_set<std::uint64_t> listed; // the hashes of their offers
    for (const auto& offer : in.offered) {
        offered_ranges.push_back(offer.range);
        listed.insert(offer.hashes.begin(), offer.hashes.end());
    }
    boost::unordered_flat_set<std::uint64_t> pushed_to_us; // their records in the ranges they pushed
    if (!in.pushed.empty()) {
        pushed_to_us.reserve(in.records.size());
        for (const auto& line : in.records) {
            pushed_to_us.insert(record_hash(line));
        }
    }
    const boost::unordered_flat_set<std::uint64_t> wanted(in.wanted.begin(), in.wanted.end());
    const range_set in_pushed(in.pushed);
    const range_set in_offered(offered_ranges);
    const range_set in_wanted(wanted.empty() ? std::vector<key_range>{} : offered_);
    const range_set in_pushing(pushing);
    const range_set in_offering(offering);
    for (const auto& r : offering) {
        out.offered.push_back({r, {}});
    }
    // Per range: the records this side would send there.
    std::vector<std::vector<std::string_view>> back_pushed(in.pushed.size());
    std::vector<std::vector<std::string_view>> back_offered(offered_ranges.size());
    std::vector<std::vector<std::string_view>> to_push(pushing.size());
    boost::unordered_flat_set<std::uint64_t> held; // of `listed`, what this side holds
    std::vector<key_range> all = in.pushed;
    all.insert(all.end(), offered_ranges.begin(), offered_ranges.end());
    if (!wanted.empty()) {
        all.insert(all.end(), offered_.begin(), offered_.end());
    }
    all.insert(all.end(), pushing.begin(), pushing.end());
    all.insert(all.end(), offering.begin(), offering.end());
    if (!all.empty()) {
        view_.for_each_in(all, [&](std::uint64_t key, std::uint64_t hash, std::string_view line) {
            if (const auto i = in_pushed.find(key); i && !pushed_to_us.contains(hash)) {
                back_pushed[*i].push_back(line);
            }
            if (const auto i = in_offered.find(key)) {
                if (listed.contains(hash)) {
                    held.insert(hash);
                } else {
                    back_offered[*i].push_back(line);
                }
            }
            if (!wanted.empty() && in_wanted.contains(key) && wanted.contains(hash)) {
                out.records.emplace_back(line);
            }
            if (const auto i = in_pushing.find(key)) {
                to_push[*i].push_back(line);
            }
            if (const auto i = in_offering.find(key)) {
                out.offered[*i].hashes.push_back(hash);
            }
        });
    }

    // A range whose records this side would send goes into this message
    // only while the budget of records lasts. The rest is compared again,
    // split where it can be, so that the other side asks for it in a later
    // round: a message holds about max_records records however far apart
    // the stores are. A range too deep to split goes anyway when it is the
    // first, so each round makes progress. (Records asked for by hash are
    // few a range, and always go.)
    std::uint64_t budget = options_.max_records;
    bool charged = false;
    const auto take = [&](const key_range& r, const std::vector<std::string_view>& records) {
        const std::uint64_t n = records.size();
        if (n > budget && (charged || r.depth < options_.max_split_depth)) {
            return false;
        }
        budget -= std::min(n, budget);
        charged = true;
        out.records.insert(out.records.end(), records.begin(), records.end());
        return true;
    };
    for (std::size_t i = 0; i < in.pushed.size(); ++i) {
        if (!take(in.pushed[i], back_pushed[i])) {
            defer(in.pushed[i]);
        }
    }
    for (std::size_t i = 0; i < in.offered.size(); ++i) {
        if (!take(offered_ranges[i], back_offered[i])) {
            defer(offered_ranges[i]);
            continue;
        }
        // What is left of their list is what this side lacks.
        for (const auto hash : in.offered[i].hashes) {
            if (!held.contains(hash)) {
                out.wanted.push_back(hash);
            }
        }
    }
    for (std::size_t i = 0; i < pushing.size(); ++i) {
        if (take(pushing[i], to_push[i])) {
            out.pushed.push_back(pushing[i]);
        } else {
            defer(pushing[i]);
        }
    }
    offered_ = std::move(offering);
    return out;
}

// The wire form.

namespace {

constexpr std::string_view hex_digits = "0123456789abcdef";
constexpr std::size_t per_line = 8;

std::string prefix_of(std::string_view kind)
{
    std::string s = "HERD ";
    s += version;
    s += ' ';
    s += kind;
    return s;
}

void append_hex(std::string& out, std::uint64_t v)
{
    char buf[16];
    const auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v, 16);
    out.append(buf, end);
}

std::optional<std::uint64_t> parse_number(std::string_view text, int base) noexcept
{
    std::uint64_t v = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v, base);
    if (ec != std::errc() || end != text.data() + text.size() || text.empty()) {
        return std::nullopt;
    }
    return v;
}

// Splits off the next space-separated word of `rest`.
std::string_view next_word(std::string_view& rest) noexcept
{
    const auto space = rest.find(' ');
    const auto word = rest.substr(0, space);
    rest = space == std::string_view::npos ? std::string_view{} : rest.substr(space + 1);
    return word;
}

} // namespace

std::string format_range(const key_range& r)
{
    if (r.depth == 0) {
        return "-";
    }
    std::string s;
    for (unsigned i = 0; i < r.depth; ++i) {
        s += hex_digits[(r.prefix >> (60 - 4 * i)) & 0xf];
    }
    return s;
}

std::optional<key_range> parse_range(std::string_view text) noexcept
{
    if (text == "-") {
        return key_range{};
    }
    if (text.empty() || text.size() > key_range::max_depth) {
        return std::nullopt;
    }
    key_range r;
    for (const char c : text) {
        const auto at = hex_digits.find(c);
        if (at == std::string_view::npos) {
            return std::nullopt;
        }
        r.prefix |= std::uint64_t{at} << (60 - 4 * r.depth);
        ++r.depth;
    }
    return r;
}

namespace {

constexpr std::size_t hashes_per_line = 24;

template <typename T, typename Append>
void format_lines(std::vector<std::string>& lines, std::string_view kind, const std::vector<T>& items, std::size_t per,
                  Append append)
{
    for (std::size_t i = 0; i < items.size(); i += per) {
        std::string line = prefix_of(kind);
        for (std::size_t j = i; j < std::min(i + per, items.size()); ++j) {
            line += ' ';
            append(line, items[j]);
        }
        lines.push_back(std::move(line));
    }
}

} // namespace

std::vector<std::string> format_message(const reconcile_message& m)
{
    std::vector<std::string> lines;
    format_lines(lines, "COMPARE", m.compare, per_line, [](std::string& line, const range_fingerprint& c) {
        line += format_range(c.range);
        line += ':';
        append_hex(line, c.fp.count);
        line += ':';
        append_hex(line, c.fp.hash);
    });
    for (const auto& offer : m.offered) {
        // An empty list still names its range: "I hold nothing here".
        for (std::size_t i = 0; i == 0 || i < offer.hashes.size(); i += hashes_per_line) {
            std::string line = prefix_of("OFFER");
            line += ' ';
            line += format_range(offer.range);
            for (std::size_t j = i; j < std::min(i + hashes_per_line, offer.hashes.size()); ++j) {
                line += ' ';
                append_hex(line, offer.hashes[j]);
            }
            lines.push_back(std::move(line));
        }
    }
    format_lines(lines, "PUSH", m.pushed, per_line,
                 [](std::string& line, const key_range& r) { line += format_range(r); });
    format_lines(lines, "WANT", m.wanted, hashes_per_line,
                 [](std::string& line, std::uint64_t h) { append_hex(line, h); });
    lines.insert(lines.end(), m.records.begin(), m.records.end());
    lines.push_back(prefix_of("OVER"));
    return lines;
}

namespace {

// "<kind> " after the protocol's prefix, or nothing.
std::optional<std::string_view> words_after(std::string_view line, std::string_view kind)
{
    const std::string prefix = prefix_of(kind) + ' ';
    if (!line.starts_with(prefix)) {
        return std::nullopt;
    }
    return line.substr(prefix.size());
}

bool read_hashes(std::string_view rest, std::vector<std::uint64_t>& into)
{
    while (!rest.empty()) {
        const auto h = parse_number(next_word(rest), 16);
        if (!h) {
            return false;
        }
        into.push_back(*h);
    }
    return true;
}

} // namespace

bool is_message_line(std::string_view line) noexcept
{
    constexpr std::string_view prefix = "HERD herd/1 ";
    if (!line.starts_with(prefix)) {
        return false;
    }
    line.remove_prefix(prefix.size());
    const auto kind = line.substr(0, line.find(' '));
    return kind == "COMPARE" || kind == "OFFER" || kind == "PUSH" || kind == "WANT" || kind == "OVER";
}

message_reader::result message_reader::feed(std::string_view line)
{
    static const std::string over = prefix_of("OVER");
    if (line.starts_with("AT ")) {
        partial_.records.emplace_back(line);
        return {};
    }
    if (line == over) {
        return {true, std::exchange(partial_, {})};
    }
    if (auto rest = words_after(line, "COMPARE")) {
        while (!rest->empty()) {
            auto item = next_word(*rest);
            const auto first = item.find(':');
            const auto second = item.find(':', first == std::string_view::npos ? first : first + 1);
            if (second == std::string_view::npos) {
                return {false, {}};
            }
            const auto range = parse_range(item.substr(0, first));
            const auto count = parse_number(item.substr(first + 1, second - first - 1), 16);
            const auto hash = parse_number(item.substr(second + 1), 16);
            if (!range || !count || !hash) {
                return {false, {}};
            }
            partial_.compare.push_back({*range, {*hash, *count}});
        }
        return {};
    }
    if (auto rest = words_after(line, "OFFER")) {
        const auto range = parse_range(next_word(*rest));
        if (!range) {
            return {false, {}};
        }
        // A long list comes in several lines of the same range.
        if (partial_.offered.empty() || partial_.offered.back().range != *range) {
            partial_.offered.push_back({*range, {}});
        }
        return {read_hashes(*rest, partial_.offered.back().hashes), {}};
    }
    if (auto rest = words_after(line, "PUSH")) {
        while (!rest->empty()) {
            const auto range = parse_range(next_word(*rest));
            if (!range) {
                return {false, {}};
            }
            partial_.pushed.push_back(*range);
        }
        return {};
    }
    if (auto rest = words_after(line, "WANT")) {
        return {read_hashes(*rest, partial_.wanted), {}};
    }
    return {false, {}};
}

exchange_totals reconcile_in_process(reconcile_view& starts, reconcile_view& answers, reconcile_options options)
{
    exchange_totals totals;
    reconciliation first(starts, options);
    reconciliation second(answers, options);
    reconciliation* to = &second;
    reconciliation* other = &first;
    for (std::optional<reconcile_message> next = first.start(); next; std::swap(to, other)) {
        // Each answer settles a range one level deeper, so an exchange
        // ends within a few messages per level, and a few more for each
        // message's worth of records: more means a bug.
        const std::size_t budgeted = 2 * (totals.records / std::max<std::uint64_t>(options.max_records, 1) + 1);
        if (++totals.messages > 4 * key_range::max_depth + budgeted) {
            totals.ok = false;
            return totals;
        }
        totals.records += next->records.size();
        totals.most_records = std::max(totals.most_records, next->records.size());
        message_reader reader;
        std::optional<reconcile_message> received;
        for (const auto& line : format_message(*next)) {
            totals.bytes += line.size() + 1;
            auto fed = reader.feed(line);
            if (!fed.ok) {
                totals.ok = false;
                return totals;
            }
            if (fed.message) {
                received = std::move(fed.message);
            }
        }
        next = to->answer(*received);
    }
    return totals;
}

} // namespace herd::peer
