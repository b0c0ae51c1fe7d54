#include "admin/json_pretty.hpp"

#include <boost/json.hpp>

#include <array>
#include <charconv>
#include <cmath>
#include <cstdio>

namespace herd {

void append_json_string(std::string& out, std::string_view s)
{
    out += '"';
    for (char c : s) {
        switch (c) {
        case '"':
            out += "\\\"";
            break;
        case '\\':
            out += "\\\\";
            break;
        case '\n':
            out += "\\n";
            break;
        case '\r':
            out += "\\r";
            break;
        case '\t':
            out += "\\t";
            break;
        case '\b':
            out += "\\b";
            break;
        case '\f':
            out += "\\f";
            break;
        default:
            if (static_cast<unsigned char>(c) < 0x20) {
                std::array<char, 8> buf{};
                std::snprintf(buf.data(), buf.size(), "\\u%04x", static_cast<unsigned>(c));
                out += buf.data();
            } else {
                out += c; // UTF-8 passes through, as Google sends it
            }
        }
    }
    out += '"';
}

namespace {

template <typename Number> void append_number(std::string& out, Number n)
{
    std::array<char, 32> buf{};
    auto end = std::to_chars(buf.data(), buf.data() + buf.size(), n).ptr;
    out.append(buf.data(), end);
}

} // namespace

void append_json_double(std::string& out, double d)
{
    if (!std::isfinite(d)) {
        out += "null"; // JSON has no NaN or infinity
        return;
    }
    // Fixed notation with the fewest digits that read back to the same
    // double: -118.445127 stays -118.445127.
    std::array<char, 400> buf{};
    auto end = std::to_chars(buf.data(), buf.data() + buf.size(), d, std::chars_format::fixed).ptr;
    out.append(buf.data(), end);
}

namespace {

void indent(std::string& out, int depth)
{
    out.append(static_cast<std::size_t>(depth) * 3, ' ');
}

void print(std::string& out, const boost::json::value& v, int depth)
{
    switch (v.kind()) {
    case boost::json::kind::null:
        out += "null";
        break;
    case boost::json::kind::bool_:
        out += v.get_bool() ? "true" : "false";
        break;
    case boost::json::kind::int64:
        append_number(out, v.get_int64());
        break;
    case boost::json::kind::uint64:
        append_number(out, v.get_uint64());
        break;
    case boost::json::kind::double_:
        append_json_double(out, v.get_double());
        break;
    case boost::json::kind::string:
        append_json_string(out, v.get_string());
        break;
    case boost::json::kind::array: {
        const auto& a = v.get_array();
        if (a.empty()) {
            out += "[]";
            break;
        }
        out += "[\n";
        for (std::size_t i = 0; i < a.size(); ++i) {
            indent(out, depth + 1);
            print(out, a[i], depth + 1);
            out += i + 1 < a.size() ? ",\n" : "\n";
        }
        indent(out, depth);
        out += ']';
        break;
    }
    case boost::json::kind::object: {
        const auto& o = v.get_object();
        if (o.empty()) {
            out += "{}";
            break;
        }
        out += "{\n";
        std::size_t i = 0;
        for (const auto& kv : o) {
            indent(out, depth + 1);
            append_json_string(out, kv.key());
            out += " : ";
            print(out, kv.value(), depth + 1);
            out += ++i < o.size() ? ",\n" : "\n";
        }
        indent(out, depth);
        out += '}';
        break;
    }
    }
}

} // namespace

std::string pretty_json(const boost::json::value& value)
{
    std::string out;
    print(out, value, 0);
    return out;
}

std::string compact_json(std::string_view text)
{
    std::string out;
    out.reserve(text.size());
    bool in_string = false;
    bool escaped = false;
    for (const char c : text) {
        if (in_string) {
            out += c;
            if (escaped) {
                escaped = false;
            } else if (c == '\\') {
                escaped = true;
            } else if (c == '"') {
                in_string = false;
            }
        } else if (c == '"') {
            in_string = true;
            out += c;
        } else if (c != ' ' && c != '\n' && c != '\t' && c != '\r') {
            out += c;
        }
    }
    return out;
}

} // namespace herd
