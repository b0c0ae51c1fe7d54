// The log file's line format, and the escaping that keeps client bytes on
// one line.
#include "herd/log.hpp"
#include "support/process_herd.hpp"

#include <catch2/catch.hpp>
#include <spdlog/logger.h>

#include <fstream>
#include <regex>
#include <sstream>

using namespace herd;

TEST_CASE("every log line starts with a UTC timestamp to the microsecond and the level", "[log]")
{
    const auto dir = test::scratch_dir("herd-log-");
    {
        auto log = make_server_log("Goloman", dir);
        std::string scratch;
        log_info_bytes(*log, scratch, {"client ", "127.0.0.1:5", " < "}, "IAMAT k\r\n\x01\\", " (tail)");
        log->warn("a warning");
        log->flush();
    }
    std::ifstream in(dir / "Goloman.log");
    std::stringstream text;
    text << in.rdbuf();
    std::filesystem::remove_all(dir);
    const std::regex stamp(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z )");
    std::string first;
    std::string second;
    std::getline(text, first);
    std::getline(text, second);
    CHECK(std::regex_search(first, stamp, std::regex_constants::match_continuous));
    CHECK(first.substr(28) == R"(info  client 127.0.0.1:5 < IAMAT k\r\n\x01\\ (tail))");
    CHECK(second.substr(28) == "warning a warning");
}

TEST_CASE("escape_for_log leaves printable bytes alone and escapes the rest", "[log]")
{
    CHECK(escape_for_log("IAMAT kiwi +1+1 1") == "IAMAT kiwi +1+1 1");
    CHECK(escape_for_log("a\tb\vc\fd") == R"(a\tb\vc\fd)");
    CHECK(escape_for_log(std::string_view("\x00\x7f\xff", 3)) == R"(\x00\x7f)"
                                                                 "\xff");
}
