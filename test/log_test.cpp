// The log file's line format, and the escaping that keeps client bytes on
// one line.
#include "herd/log.hpp"
#include "support/process_herd.hpp"

#include <catch2/catch.hpp>
#include <spdlog/logger.h>

#include <array>
#include <cerrno>
#include <fstream>
#include <regex>
#include <sstream>
#include <thread>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

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

TEST_CASE("escape_for_log finds a byte to escape wherever it sits in a long line", "[log]")
{
    // The scan goes eight bytes at a time: every byte value, at the start,
    // middle and end of a word, beside a high byte whose borrow could hide it.
    const auto expected = [](unsigned char c) -> std::string {
        switch (c) {
        case '\\':
            return R"(\\)";
        case '\r':
            return R"(\r)";
        case '\n':
            return R"(\n)";
        case '\t':
            return R"(\t)";
        case '\v':
            return R"(\v)";
        case '\f':
            return R"(\f)";
        default:
            if (c < 0x20 || c == 0x7f) {
                static constexpr char hex[] = "0123456789abcdef";
                return {'\\', 'x', hex[c >> 4], hex[c & 0xf]};
            }
            return std::string(1, static_cast<char>(c));
        }
    };
    for (int value = 0; value < 256; ++value) {
        const auto c = static_cast<unsigned char>(value);
        for (const std::size_t at : {0U, 1U, 7U, 8U, 12U, 15U, 16U, 23U}) {
            std::string line(24, 'a');
            line[at] = static_cast<char>(c);
            if (at + 1 < line.size()) {
                line[at + 1] = '\xff';
            }
            const std::string want = line.substr(0, at) + expected(c) + line.substr(at + 1);
            INFO("byte " << value << " at " << at);
            CHECK(escape_for_log(line) == want);
        }
    }
}

namespace {

std::size_t files_in(const std::filesystem::path& dir)
{
    return static_cast<std::size_t>(std::distance(std::filesystem::directory_iterator(dir), {}));
}

} // namespace

TEST_CASE("a log past its size is rotated, and only max_files old ones are kept", "[log][rotation]")
{
    const auto dir = test::scratch_dir("herd-log-");
    constexpr std::uint64_t max_bytes = 100 * 1024;
    {
        auto log = make_server_log("Goloman", dir, log_rotation{max_bytes, 2});
        const std::string line(200, 'x');
        // About 2 MB: twenty times the size, so the count is what bounds it.
        for (int i = 0; i < 10000; ++i) {
            log->info("{} {}", i, line);
        }
        log->info("the last line");
        log->flush();
    }
    CHECK(files_in(dir) == 3);
    for (const auto* name : {"Goloman.log", "Goloman.log.1", "Goloman.log.2"}) {
        INFO(name);
        REQUIRE(std::filesystem::exists(dir / name));
        CHECK(std::filesystem::file_size(dir / name) <= max_bytes);
        CHECK(std::filesystem::file_size(dir / name) > 0);
    }
    const std::string current = test::read_file(dir / "Goloman.log");
    CHECK_THAT(current, Catch::EndsWith("the last line\n"));
    // Whole lines only: every file starts with a timestamp.
    CHECK_THAT(test::read_file(dir / "Goloman.log.1"), Catch::StartsWith("20"));
    CHECK_THAT(test::read_file(dir / "Goloman.log.1"), Catch::EndsWith("\n"));
    std::filesystem::remove_all(dir);
}

TEST_CASE("a log reopened after its file was renamed goes on in a new file at the old path", "[log][reopen]")
{
    const auto dir = test::scratch_dir("herd-log-");
    {
        auto log = make_server_log("Goloman", dir);
        log->info("before the rename");
        log->flush();
        std::filesystem::rename(dir / "Goloman.log", dir / "Goloman.log.old");
        log->info("still in the renamed file");
        reopen_server_log(*log);
        log->info("after the reopen");
        log->flush();
    }
    const std::string old_file = test::read_file(dir / "Goloman.log.old");
    CHECK_THAT(old_file, Catch::Contains("before the rename") && Catch::Contains("still in the renamed file"));
    CHECK_THAT(old_file, !Catch::Contains("after the reopen"));
    CHECK_THAT(test::read_file(dir / "Goloman.log"), Catch::Contains("after the reopen"));
    std::filesystem::remove_all(dir);
}

TEST_CASE("a log opened later holds its lines until it is opened, and writes nothing if it never is", "[log][reopen]")
{
    const auto dir = test::scratch_dir("herd-log-");
    {
        auto never = make_server_log("Goloman", dir, {}, log_open::later);
        never->info("a start-up line");
        never->warn("a warning");
        never->flush();
    }
    CHECK_FALSE(std::filesystem::exists(dir / "Goloman.log"));
    {
        auto later = make_server_log("Goloman", dir, {}, log_open::later);
        later->info("held");
        later->flush();
        CHECK_FALSE(std::filesystem::exists(dir / "Goloman.log"));
        open_server_log(*later);
        later->info("then written");
        later->flush();
    }
    CHECK_THAT(test::read_file(dir / "Goloman.log"), Catch::Contains("held") && Catch::Contains("then written"));
    std::filesystem::remove_all(dir);
}

namespace {

// A "disk" that takes 64 KiB and then nothing until resumed: NAME.log is a
// FIFO whose read end is open (so the log's open does not wait for a
// reader) and unread, so the log's write(2) blocks as it would in
// balance_dirty_pages, only for as long as the test likes.
class stalled_disk {
public:
    explicit stalled_disk(const std::filesystem::path& path)
    {
        REQUIRE(::mkfifo(path.c_str(), 0644) == 0);
        fd_ = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
        REQUIRE(fd_ >= 0);
    }
    ~stalled_disk()
    {
        if (reader_.joinable()) {
            reader_.join();
        }
        ::close(fd_);
    }
    stalled_disk(const stalled_disk&) = delete;
    stalled_disk& operator=(const stalled_disk&) = delete;

    // From now on everything written is read, until the log closes the file.
    void resume()
    {
        REQUIRE(::fcntl(fd_, F_SETFL, 0) == 0);
        reader_ = std::thread([this] {
            std::array<char, 65536> buffer{};
            for (;;) {
                const auto n = ::read(fd_, buffer.data(), buffer.size());
                if (n < 0 && errno == EINTR) {
                    continue;
                }
                if (n <= 0) {
                    return;
                }
                text_.append(buffer.data(), static_cast<std::size_t>(n));
            }
        });
    }

    // Everything the log wrote, once it has closed the file.
    std::string text()
    {
        reader_.join();
        return text_;
    }

private:
    int fd_ = -1;
    std::thread reader_;
    std::string text_;
};

} // namespace

TEST_CASE("a log whose disk falls 8 MiB behind drops whole buffers, counts them and says where, and never blocks",
          "[log]")
{
    const auto dir = test::scratch_dir("herd-log-");
    stalled_disk disk(dir / "Goloman.log");
    constexpr std::uint64_t lines = 100000; // about 21 MB, against 8 MiB of queue and 64 KiB of pipe
    std::uint64_t dropped = 0;
    {
        auto log = make_server_log("Goloman", dir);
        const std::string pad(200, 'x');
        // With the disk taking nothing, every write(2) of the log would wait
        // here for good: getting past this loop is the first check.
        for (std::uint64_t i = 0; i < lines; ++i) {
            log->info("burst {} {}", i, pad);
        }
        log->flush();
        dropped = log_lines_dropped(*log);
        CHECK(dropped > 0);
        CHECK(dropped < lines);
        disk.resume();
        drain_server_log(*log);
        log->info("after the gap");
    }
    const std::string text = disk.text();
    std::istringstream in(text);
    std::uint64_t kept = 0;
    std::uint64_t noted = 0;
    std::uint64_t last_burst = 0;
    std::string line_before_last;
    std::string last;
    const std::regex note(R"(^\S+ warning log: (\d+) lines dropped here, the disk fell behind \((\d+) in all\)$)");
    for (std::string line; std::getline(in, line);) {
        std::smatch m;
        if (line.find(" burst ") != std::string::npos) {
            ++kept;
            last_burst = std::stoull(line.substr(line.find(" burst ") + 7));
        } else if (std::regex_match(line, m, note)) {
            noted += std::stoull(m[1]);
            CHECK(std::stoull(m[2]) == dropped);
        }
        line_before_last = std::exchange(last, line);
    }
    // Every line is in the file or counted, and the count is in the file
    // too, just before the first line after the gap.
    CHECK(kept + dropped == lines);
    CHECK(noted == dropped);
    CHECK(last_burst + 1 == kept);
    CHECK_THAT(last, Catch::EndsWith("after the gap"));
    CHECK(std::regex_match(line_before_last, note));
    std::filesystem::remove_all(dir);
}

TEST_CASE("a log reopened while its writer is behind goes on at the path, even past a rotation of an earlier buffer",
          "[log][reopen][rotation]")
{
    const auto dir = test::scratch_dir("herd-log-");
    stalled_disk disk(dir / "Goloman.log");
    {
        // A buffer and a half per file: the second buffer rotates.
        auto log = make_server_log("Goloman", dir, log_rotation{100 * 1024, 2});
        const std::string pad(200, 'x');
        // Two buffers' worth: the first waits on the stalled disk, the
        // second in the queue behind it.
        for (int i = 0; i < 700; ++i) {
            log->info("before {} {}", i, pad);
        }
        // Opened now, the path is the stalled file; by the time the writer
        // gets here the second buffer's rotation will have renamed it.
        reopen_server_log(*log);
        log->info("after the reopen");
        log->flush();
        disk.resume();
    }
    CHECK_THAT(test::read_file(dir / "Goloman.log"), Catch::Contains("after the reopen"));
    CHECK_THAT(disk.text(), !Catch::Contains("after the reopen"));
    std::filesystem::remove_all(dir);
}
