#include "herd/log.hpp"

#include <spdlog/details/null_mutex.h>
#include <spdlog/formatter.h>
#include <spdlog/logger.h>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/sinks/null_sink.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <ctime>
#include <stdexcept>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace herd {
namespace {

// "2026-11-21T10:00:00.123456Z info  client ...": what the pattern
// "%Y-%m-%dT%H:%M:%S.%fZ %-5l %v" writes, without the pattern's per-flag
// dispatch, and with the date and time formatted once per second.
class utc_line_formatter final : public spdlog::formatter {
public:
    void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override
    {
        const auto since_epoch = msg.time.time_since_epoch();
        const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(since_epoch);
        if (seconds.count() != cached_second_) {
            cached_second_ = seconds.count();
            const std::time_t t = cached_second_;
            std::tm utc{};
            gmtime_r(&t, &utc);
            cached_prefix_ = fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.", utc.tm_year + 1900, utc.tm_mon + 1,
                                         utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec);
        }
        auto micros = std::chrono::duration_cast<std::chrono::microseconds>(since_epoch - seconds).count();
        std::array<char, 8> digits{'0', '0', '0', '0', '0', '0', 'Z', ' '};
        for (int i = 5; i >= 0; --i, micros /= 10) {
            digits[static_cast<std::size_t>(i)] = static_cast<char>('0' + micros % 10);
        }
        dest.append(cached_prefix_.data(), cached_prefix_.data() + cached_prefix_.size());
        dest.append(digits.data(), digits.data() + digits.size());
        const auto level = spdlog::level::to_string_view(msg.level);
        dest.append(level.begin(), level.end());
        for (auto pad = level.size(); pad < 5; ++pad) {
            dest.push_back(' ');
        }
        dest.push_back(' ');
        dest.append(msg.payload.begin(), msg.payload.end());
        dest.push_back('\n');
    }

    std::unique_ptr<spdlog::formatter> clone() const override { return std::make_unique<utc_line_formatter>(); }

private:
    std::int64_t cached_second_ = -1;
    std::string cached_prefix_;
};

// Appends to NAME.log through a 64 KiB buffer of its own, written when full
// or flushed: a write(2) per few hundred lines, where stdio's 4 KiB buffer
// costs one per thirty. The server flushes it every 100 ms, and spdlog at
// once for warnings, so at most 100 ms of info lines wait in memory.
// No mutex: a server logs only from its io_context's one thread (the store
// log's threads never log), and two lines a request made the lock a cost
// of its own; reopen() is called on that thread too (herd-server's SIGHUP
// handler runs on the loop).
//
// Rotation is decided a buffer at a time, before it is written: a buffer
// that would take the file past max_bytes goes to a fresh file instead, so
// a file holds whole lines and is never longer than max_bytes (a buffer is
// far smaller than the least max_bytes herd.toml allows). It costs one
// comparison a write(2), and renames only when a file is full.
class buffered_file_sink final : public spdlog::sinks::base_sink<spdlog::details::null_mutex> {
public:
    buffered_file_sink(std::filesystem::path file, const log_rotation& rotation, log_open when)
        : file_(std::move(file)), rotation_(rotation)
    {
        // Room past `capacity` for the line that crosses it, written out next.
        buffer_.reserve(capacity + 1024);
        if (when == log_open::now) {
            open();
        }
    }
    ~buffered_file_sink() override
    {
        // A log never opened was for a server that never ran: what it
        // holds is dropped, so it never lands in another one's file.
        if (fd_ >= 0) {
            write_out();
            ::close(fd_);
        }
    }
    buffered_file_sink(const buffered_file_sink&) = delete;
    buffered_file_sink& operator=(const buffered_file_sink&) = delete;

    // Opens (or, after a rename, opens again) the file at its path; what
    // is buffered goes to the file that was open before.
    void open()
    {
        if (fd_ >= 0) {
            write_out();
        } else {
            std::filesystem::create_directories(file_.parent_path());
        }
        const int fd = ::open(file_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (fd < 0) {
            throw std::runtime_error("cannot open the log " + file_.string() + ": " + std::strerror(errno));
        }
        if (fd_ >= 0) {
            ::close(fd_);
        }
        fd_ = fd;
        struct stat st {};
        file_bytes_ = ::fstat(fd_, &st) == 0 ? static_cast<std::uint64_t>(st.st_size) : 0;
    }

protected:
    void sink_it_(const spdlog::details::log_msg& msg) override
    {
        formatter_->format(msg, buffer_); // straight into the buffer: no copy per line
        if (buffer_.size() >= capacity) {
            write_out();
        }
    }
    void flush_() override { write_out(); }

private:
    static constexpr std::size_t capacity = std::size_t{64} * 1024;

    // NAME.log.N-1 -> NAME.log.N ... NAME.log -> NAME.log.1, the oldest
    // dropped, then a fresh NAME.log. A failure keeps the current file.
    void rotate() noexcept
    {
        const auto numbered = [this](std::size_t n) {
            auto p = file_;
            p += "." + std::to_string(n);
            return p;
        };
        std::error_code ec;
        if (rotation_.max_files == 0) {
            std::filesystem::remove(file_, ec);
        } else {
            std::filesystem::remove(numbered(rotation_.max_files), ec);
            for (std::size_t n = rotation_.max_files; n > 1; --n) {
                std::filesystem::rename(numbered(n - 1), numbered(n), ec);
            }
            std::filesystem::rename(file_, numbered(1), ec);
        }
        const int fd = ::open(file_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (fd < 0) {
            return;
        }
        ::close(fd_);
        fd_ = fd;
        file_bytes_ = 0;
    }

    void write_out() noexcept
    {
        if (fd_ < 0) {
            // Not opened yet: the lines wait, the start-up few of them; a
            // log that is never opened must not grow without bound.
            if (buffer_.size() > 16 * capacity) {
                buffer_.clear();
            }
            return;
        }
        if (buffer_.size() == 0) {
            return;
        }
        if (rotation_.max_bytes != 0 && file_bytes_ != 0 && file_bytes_ + buffer_.size() > rotation_.max_bytes) {
            rotate();
        }
        std::string_view rest(buffer_.data(), buffer_.size());
        while (!rest.empty()) {
            const auto n = ::write(fd_, rest.data(), rest.size());
            if (n < 0 && errno == EINTR) {
                continue;
            }
            if (n <= 0) {
                break; // a full disk loses log lines, never the server
            }
            rest.remove_prefix(static_cast<std::size_t>(n));
            file_bytes_ += static_cast<std::uint64_t>(n);
        }
        buffer_.clear();
    }

    std::filesystem::path file_;
    log_rotation rotation_;
    int fd_ = -1;
    std::uint64_t file_bytes_ = 0;
    spdlog::memory_buf_t buffer_;
};

buffered_file_sink& file_sink_of(spdlog::logger& log)
{
    for (const auto& sink : log.sinks()) {
        if (auto* file = dynamic_cast<buffered_file_sink*>(sink.get())) {
            return *file;
        }
    }
    throw std::invalid_argument("the log " + log.name() + " writes to no file");
}

std::shared_ptr<spdlog::logger> with_format(std::shared_ptr<spdlog::logger> log)
{
    log->set_formatter(std::make_unique<utc_line_formatter>());
    log->set_level(spdlog::level::info);
    // Warnings reach the file at once; the server flushes the rest on a
    // timer so that logging every line does not cost a write(2) each.
    log->flush_on(spdlog::level::warn);
    return log;
}

} // namespace

std::shared_ptr<spdlog::logger> make_server_log(const std::string& server, const std::filesystem::path& dir,
                                                const log_rotation& rotation, log_open when)
{
    auto sink = std::make_shared<buffered_file_sink>(dir / (server + ".log"), rotation, when);
    return with_format(std::make_shared<spdlog::logger>(server, std::move(sink)));
}

void open_server_log(spdlog::logger& log)
{
    file_sink_of(log).open();
}

void reopen_server_log(spdlog::logger& log)
{
    file_sink_of(log).open();
}

std::shared_ptr<spdlog::logger> make_null_log(const std::string& server)
{
    return with_format(std::make_shared<spdlog::logger>(server, std::make_shared<spdlog::sinks::null_sink_mt>()));
}

namespace {

// True if any of the eight bytes in `w` is below 0x20, 0x7f or '\\': a
// word at a time, since every line a client sends passes through here
// twice. The tests are the exact "has a byte less than n" and "has a zero
// byte" forms (no byte is missed; a chunk with one is taken bytewise).
constexpr bool needs_escape(std::uint64_t w) noexcept
{
    constexpr std::uint64_t ones = 0x0101010101010101U;
    constexpr std::uint64_t highs = 0x8080808080808080U;
    const auto has_zero = [](std::uint64_t v) { return ((v - ones) & ~v & highs) != 0; };
    return ((w - ones * 0x20) & ~w & highs) != 0 || has_zero(w ^ (ones * 0x7f)) || has_zero(w ^ (ones * '\\'));
}

} // namespace

void append_escaped(std::string& out, std::string_view bytes)
{
    static constexpr char hex[] = "0123456789abcdef";
    while (!bytes.empty()) {
        // The longest run that needs no escape goes in one append.
        std::size_t plain = 0;
        for (std::uint64_t w = 0; plain + 8 <= bytes.size(); plain += 8) {
            std::memcpy(&w, bytes.data() + plain, 8);
            if (needs_escape(w)) {
                break;
            }
        }
        while (plain < bytes.size()) {
            const auto c = static_cast<unsigned char>(bytes[plain]);
            if (c < 0x20 || c == 0x7f || c == '\\') {
                break;
            }
            ++plain;
        }
        out.append(bytes.data(), plain);
        bytes.remove_prefix(plain);
        if (bytes.empty()) {
            break;
        }
        const auto c = static_cast<unsigned char>(bytes.front());
        bytes.remove_prefix(1);
        switch (c) {
        case '\\':
            out += "\\\\";
            break;
        case '\r':
            out += "\\r";
            break;
        case '\n':
            out += "\\n";
            break;
        case '\t':
            out += "\\t";
            break;
        case '\v':
            out += "\\v";
            break;
        case '\f':
            out += "\\f";
            break;
        default:
            out += "\\x";
            out += hex[c >> 4];
            out += hex[c & 0xf];
        }
    }
}

std::string escape_for_log(std::string_view bytes)
{
    std::string out;
    out.reserve(bytes.size());
    append_escaped(out, bytes);
    return out;
}

void log_info_bytes(spdlog::logger& log, std::string& scratch, std::initializer_list<std::string_view> head,
                    std::string_view bytes, std::string_view tail)
{
    if (!log.should_log(spdlog::level::info)) {
        return;
    }
    scratch.clear();
    for (const auto part : head) {
        scratch += part;
    }
    append_escaped(scratch, bytes);
    scratch += tail;
    log.log(spdlog::level::info, spdlog::string_view_t(scratch.data(), scratch.size()));
}

} // namespace herd
