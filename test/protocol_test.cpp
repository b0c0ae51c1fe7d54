// Every grammar rule and reply format of ../shared/spec/PROTOCOL.md, on the
// pure functions, with what hostile and sloppy clients send.
#include "protocol/line_reader.hpp"
#include "protocol/protocol.hpp"

#include <catch2/catch.hpp>

#include <cstring>
#include <limits>

using namespace herd;

namespace {

bool is_iamat(std::string_view line)
{
    return std::holds_alternative<iamat_command>(parse_command(line));
}
bool is_whatsat(std::string_view line)
{
    return std::holds_alternative<whatsat_command>(parse_command(line));
}
bool is_invalid(std::string_view line)
{
    return std::holds_alternative<invalid_line>(parse_command(line));
}

std::string iamat_with_location(std::string_view location)
{
    return "IAMAT kiwi " + std::string(location) + " 1621464827.959498503";
}

std::string iamat_with_time(std::string_view time)
{
    return "IAMAT kiwi +34.068930-118.445127 " + std::string(time);
}

std::string whatsat(std::string_view radius, std::string_view bound)
{
    return "WHATSAT kiwi " + std::string(radius) + " " + std::string(bound);
}

} // namespace

TEST_CASE("white space is exactly six bytes", "[protocol]")
{
    for (char c : std::string(" \t\n\v\f\r")) {
        CHECK(is_space(c));
    }
    for (char c : std::string("a\0\x1c\x1d\x1e\x1f\x85\xa0", 8)) {
        CHECK_FALSE(is_space(c));
    }
}

TEST_CASE("fields are split on runs of any of the six white-space bytes", "[protocol]")
{
    const auto f = split_fields(" \tIAMAT\v\fkiwi \r\t +1+2\t\t 3 \r");
    REQUIRE(f.count == 4);
    CHECK(f.at[0] == "IAMAT");
    CHECK(f.at[1] == "kiwi");
    CHECK(f.at[2] == "+1+2");
    CHECK(f.at[3] == "3");
    CHECK(split_fields("").count == 0);
    CHECK(split_fields(" \t\v\f\r").count == 0);
    CHECK(split_fields("a b c d e f g h").count == 8); // counted past capacity
}

TEST_CASE("IAMAT accepts the canonical command", "[protocol]")
{
    const auto cmd = parse_command("IAMAT kiwi.cs.ucla.edu +34.068930-118.445127 1621464827.959498503");
    const auto* iamat = std::get_if<iamat_command>(&cmd);
    REQUIRE(iamat != nullptr);
    CHECK(iamat->client == "kiwi.cs.ucla.edu");
    CHECK(iamat->location == "+34.068930-118.445127");
    CHECK(iamat->time == "1621464827.959498503");
    CHECK(iamat->time_ns == 1621464827959498503);
    CHECK(iamat->where.lat == Approx(34.068930));
    CHECK(iamat->where.lng == Approx(-118.445127));
}

TEST_CASE("IAMAT tolerates tab, vertical tab, form feed and CR as separators", "[protocol]")
{
    CHECK(is_iamat("IAMAT\tkiwi\v+34-118\f1621464827\r"));
    CHECK(is_iamat("   IAMAT kiwi +34-118 1621464827   "));
}

TEST_CASE("the command word is case-sensitive and exact", "[protocol]")
{
    CHECK(is_invalid("iamat kiwi +34-118 1621464827"));
    CHECK(is_invalid("Iamat kiwi +34-118 1621464827"));
    CHECK(is_invalid("IAMATX kiwi +34-118 1621464827"));
    CHECK(is_invalid("whatsat kiwi 10 5"));
    CHECK(is_invalid("AT Goloman +0.1 kiwi +34-118 1621464827"));
}

TEST_CASE("a wrong number of fields is invalid", "[protocol]")
{
    CHECK(is_invalid("IAMAT kiwi +34-118"));
    CHECK(is_invalid("IAMAT kiwi +34-118 1621464827 extra"));
    CHECK(is_invalid("WHATSAT kiwi 10"));
    CHECK(is_invalid("WHATSAT kiwi 10 5 5"));
    CHECK(is_invalid("IAMAT"));
    CHECK(std::holds_alternative<blank_line>(parse_command("")));
    CHECK(std::holds_alternative<blank_line>(parse_command(" \t\r")));
}

TEST_CASE("client IDs are 1 to 255 bytes of anything but white space", "[protocol]")
{
    CHECK(is_iamat("IAMAT " + std::string(255, 'x') + " +34-118 1621464827"));
    CHECK(is_invalid("IAMAT " + std::string(256, 'x') + " +34-118 1621464827"));
    CHECK(is_whatsat("WHATSAT " + std::string(255, 'x') + " 10 5"));
    CHECK(is_invalid("WHATSAT " + std::string(256, 'x') + " 10 5"));
    // Any byte but the six: UTF-8, NUL, DEL, other control bytes.
    using namespace std::string_view_literals;
    CHECK(is_iamat("IAMAT k\0i\x7f\x1c\xc3\xa9 +34-118 1621464827"sv));
}

TEST_CASE("locations follow ISO 6709 decimal degrees", "[protocol]")
{
    SECTION("accepted")
    {
        for (const char* ok : {"+34.068930-118.445127", "+34-118", "-34+118", "+0+0", "-0-0", "+90+180", "-90-180",
                               "+90.000-180.0000", "+9.5+9.5", "+00.0+000.0", "+34.000000000000000001-118.1"}) {
            INFO(ok);
            CHECK(is_iamat(iamat_with_location(ok)));
        }
    }
    SECTION("refused")
    {
        for (const char* bad : {
                 "34.068930-118.445127", // latitude sign missing
                 "+34.068930118.445127", // longitude sign missing
                 "+34.068930",           // one component
                 "+34-118+5",            // a third component
                 "+90.000001+0",         // latitude past 90
                 "+91+0",                // latitude past 90
                 "-90.1+0",              // latitude past -90
                 "+0+180.0000001",       // longitude past 180
                 "+0-181",               // longitude past -180
                 "+100+0",               // three integer digits of latitude
                 "+0+1000",              // four integer digits of longitude
                 "+034+0",               // three integer digits, even as a leading zero
                 "+34.-118",             // no digits after the point
                 "+.5-118",              // no digits before the point
                 "+3.4e1-118",           // exponent
                 "+nan-118",             // not a number
                 "+inf-118",             // not a number
                 "+0x10-118",            // hexadecimal
                 "+3_4-118",             // digit separator
                 "++34-118",             // two signs
                 "+34--118",             // two signs
                 "+34,5-118",            // decimal comma
                 "",
             }) {
            INFO(bad);
            CHECK_FALSE(parse_location(bad).has_value());
        }
    }
}

TEST_CASE("times are POSIX seconds with any number of decimals", "[protocol]")
{
    CHECK(parse_time_ns("0") == 0);
    CHECK(parse_time_ns("1621464827") == 1621464827000000000);
    CHECK(parse_time_ns("1621464827.5") == 1621464827500000000);
    CHECK(parse_time_ns("1621464827.959498503") == 1621464827959498503);
    // Decimals past the ninth are dropped, not rounded.
    CHECK(parse_time_ns("1621464827.95949850399999999999") == 1621464827959498503);
    CHECK(parse_time_ns("0.00000000099999999999") == 0);
    CHECK(parse_time_ns("000000000000000001.5") == 1500000000);
    // The largest time that fits in signed 64-bit nanoseconds, and past it.
    CHECK(parse_time_ns("9223372036.854775807") == std::numeric_limits<std::int64_t>::max());
    CHECK_FALSE(parse_time_ns("9223372036.854775808"));
    CHECK_FALSE(parse_time_ns("9223372037"));
    CHECK_FALSE(parse_time_ns("99999999999999999999999"));
    for (const char* bad :
         {"", "+5", "-5", "1e9", "1E9", "nan", "inf", "0x10", "1_000", "1.", ".5", "1.5.5", "١٢", "12a", " 12"}) {
        INFO(bad);
        CHECK_FALSE(parse_time_ns(bad));
    }
    CHECK(is_invalid(iamat_with_time("+5")));
    CHECK(is_invalid(iamat_with_time("1e9")));
    CHECK(is_iamat(iamat_with_time("1621464827.12345678901234567890")));
}

TEST_CASE("WHATSAT radius is kilometres, 0 < r <= 50", "[protocol]")
{
    CHECK(is_whatsat(whatsat("10", "5")));
    CHECK(is_whatsat(whatsat("50", "5")));
    CHECK(is_whatsat(whatsat("50.000", "5")));
    CHECK(is_whatsat(whatsat("0.001", "5")));
    CHECK(is_whatsat(whatsat("007", "5")));
    for (const char* bad : {"0", "0.0", "000", "50.0001", "51", "100", "-1", "+5", "10abc", "1e1", "nan", "inf", "0x10",
                            "1_0", "5.", ".5"}) {
        INFO(bad);
        CHECK(is_invalid(whatsat(bad, "5")));
    }
}

TEST_CASE("the radius reaches the places source in exact metres", "[protocol]")
{
    CHECK(parse_radius("10")->metres == "10000");
    CHECK(parse_radius("1.5")->metres == "1500");
    CHECK(parse_radius("0.0015")->metres == "1.5");
    CHECK(parse_radius("1.23456")->metres == "1234.56");
    CHECK(parse_radius("50.000")->metres == "50000");
    CHECK(parse_radius("007.25")->metres == "7250");
    CHECK(parse_radius("0.001")->metres == "1");
    CHECK(parse_radius("12.5")->km == Approx(12.5));
}

TEST_CASE("WHATSAT bound is an integer from 1 to 20", "[protocol]")
{
    CHECK(parse_bound("1") == 1u);
    CHECK(parse_bound("20") == 20u);
    CHECK(parse_bound("007") == 7u);
    for (const char* bad : {"0", "21", "100", "-1", "+5", "1.0", "5.5", "1e1", "0x5", "", "00"}) {
        INFO(bad);
        CHECK_FALSE(parse_bound(bad));
    }
}

TEST_CASE("skew is printed with a sign and exactly nine decimals", "[protocol]")
{
    CHECK(format_skew(263873386) == "+0.263873386");
    CHECK(format_skew(0) == "+0.000000000");
    CHECK(format_skew(-2000000000) == "-2.000000000");
    CHECK(format_skew(-1) == "-0.000000001");
    CHECK(format_skew(1) == "+0.000000001");
    CHECK(format_skew(1621464827959498503) == "+1621464827.959498503");
    CHECK(format_skew(std::numeric_limits<std::int64_t>::max()) == "+9223372036.854775807");
    CHECK(format_skew(std::numeric_limits<std::int64_t>::min()) == "-9223372036.854775808");
}

TEST_CASE("AT replies copy the client's fields byte for byte", "[protocol]")
{
    const auto cmd = std::get<iamat_command>(parse_command("IAMAT\tkiwi.cs.ucla.edu  +34.0689300-118.4451270 "
                                                           "1621464827.95949850399999\r"));
    const std::int64_t now = 1621464828223372000;
    CHECK(format_at("Goloman", now - cmd.time_ns, cmd) ==
          "AT Goloman +0.263873497 kiwi.cs.ucla.edu +34.0689300-118.4451270 1621464827.95949850399999");
    // A client ahead of the server's clock: negative skew.
    const auto ahead = std::get<iamat_command>(parse_command("IAMAT kiwi +34-118 1621464830"));
    CHECK(format_at("Hands", 1621464828000000000 - ahead.time_ns, ahead) ==
          "AT Hands -2.000000000 kiwi +34-118 1621464830");
}

TEST_CASE("invalid lines are echoed without their newline and one CR", "[protocol]")
{
    std::string out;
    append_invalid(out, "foo bar\r");
    append_invalid(out, "  spaced \t ");
    append_invalid(out, "two\r\r");
    CHECK(out == "? foo bar\n?   spaced \t \n? two\r\n");
}

TEST_CASE("runs of newlines are folded into one", "[protocol]")
{
    CHECK(fold_newlines("a\n\nb\n\n\n\nc\n") == "a\nb\nc\n");
    CHECK(fold_newlines("\n\n") == "\n");
    CHECK(fold_newlines("abc") == "abc");
}

TEST_CASE("AT lines from peers pass the same grammar", "[protocol]")
{
    const auto record = parse_at_line("AT Goloman +0.263873386 kiwi +34.068930-118.445127 1621464827.959498503");
    REQUIRE(record);
    CHECK(record->server == "Goloman");
    CHECK(record->skew == "+0.263873386");
    CHECK(record->client == "kiwi");
    CHECK(record->time_ns == 1621464827959498503);
    CHECK_FALSE(parse_at_line("AT Goloman 0.263873386 kiwi +34-118 1"));     // skew sign
    CHECK_FALSE(parse_at_line("AT Goloman +0.26387338 kiwi +34-118 1"));     // eight decimals
    CHECK_FALSE(parse_at_line("AT Goloman +0.263873386 kiwi 34-118 1"));     // location
    CHECK_FALSE(parse_at_line("AT Goloman +0.263873386 kiwi +34-118 1e9"));  // time
    CHECK_FALSE(parse_at_line("AT Goloman +0.263873386 kiwi +34-118"));      // five fields
    CHECK_FALSE(parse_at_line("AT Goloman +0.263873386 kiwi +34-118 1 x"));  // seven fields
    CHECK_FALSE(parse_at_line("IAMAT Goloman +0.263873386 kiwi +34-118 1")); // not AT
}

TEST_CASE("line_reader frames lines across reads and at end of input", "[protocol][framing]")
{
    detail::line_reader reader;
    auto feed = [&](std::string_view bytes) {
        auto space = reader.prepare(bytes.size());
        std::memcpy(space.data(), bytes.data(), bytes.size());
        reader.commit(bytes.size());
    };
    feed("IAMAT a +1+1 1\nWHAT");
    CHECK(reader.next_line() == "IAMAT a +1+1 1");
    CHECK_FALSE(reader.next_line());
    feed("SAT a 1 1\n\nlast line");
    CHECK(reader.next_line() == "WHATSAT a 1 1");
    CHECK(reader.next_line() == "");
    CHECK_FALSE(reader.next_line()); // no '\n' yet: not a line
    CHECK(reader.pending() == 9);
    reader.finish();
    CHECK(reader.next_line() == "last line"); // end of input ends the line
    CHECK_FALSE(reader.next_line());
    CHECK(reader.pending() == 0);
}

TEST_CASE("line_reader grows for a line longer than one read and keeps what follows", "[protocol][framing]")
{
    detail::line_reader reader;
    const std::string long_line(3 * detail::line_reader::min_read, 'x');
    const std::string stream = long_line + "\nIAMAT a +1+1 1\nWHAT";
    std::size_t fed = 0;
    while (fed < stream.size()) {
        auto space = reader.prepare();
        CHECK(space.size() >= detail::line_reader::min_read);
        const std::size_t n = std::min(space.size(), std::min<std::size_t>(1000, stream.size() - fed));
        std::memcpy(space.data(), stream.data() + fed, n);
        reader.commit(n);
        fed += n;
    }
    CHECK(reader.next_line() == long_line);
    CHECK(reader.next_line() == "IAMAT a +1+1 1");
    CHECK_FALSE(reader.next_line());
    CHECK(reader.pending() == 4);
}

TEST_CASE("line_reader keeps a CR at the end of a line for the reply to drop", "[protocol][framing]")
{
    detail::line_reader reader;
    auto space = reader.prepare(7);
    std::memcpy(space.data(), "foo\r\nx", 6);
    reader.commit(6);
    CHECK(reader.next_line() == "foo\r");
}
