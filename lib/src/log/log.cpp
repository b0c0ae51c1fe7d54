#include "herd/log.hpp"

#include "log/log_file_writer.hpp"

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

// Formats lines into a 64 KiB buffer of its own and hands the buffer to
// the log's writer thread when full or flushed: a write(2) per few hundred
// lines, where stdio's 4 KiB buffer costs one per thirty, and none of them
// on the loop (see log_file_writer). The server flushes every 100 ms, and
// spdlog at once for warnings, so at most 100 ms of info lines wait in
// memory before the writer has them.
// No mutex: a server logs only from its io_context's one thread (the store
// log's threads never log), and two lines a request made the lock a cost
// of its own; open() is called on that thread too (herd-server's SIGHUP
// handler runs on the loop).
class buffered_file_sink final : public spdlog::sinks::base_sink<spdlog::details::null_mutex> {
public:
    buffered_file_sink(std::string server, std::filesystem::path file, const log_rotation& rotation, log_open when)
        : writer_(std::move(file), rotation, max_queued, note_line(std::move(server)))
    {
        // Room past `capacity` for the line that crosses it, handed over next.
        buffer_.reserve(capacity + 1024);
        if (when == log_open::now) {
            open();
        }
    }
    ~buffered_file_sink() override
    {
        // A log never opened was for a server that never ran: what it
        // holds is dropped, so it never lands in another one's file. The
        // writer's destructor writes what it was handed.
        if (opened_) {
            hand_over();
        }
    }
    buffered_file_sink(const buffered_file_sink&) = delete;
    buffered_file_sink& operator=(const buffered_file_sink&) = delete;

    // Opens (or, after a rename, opens again) the file at its path; what
    // is buffered goes to the file that was open before.
    void open()
    {
        if (opened_) {
            hand_over();
        }
        writer_.open();
        if (!opened_) {
            opened_ = true;
            hand_over(); // the start-up lines that waited
        }
    }

    void drain()
    {
        if (opened_) {
            hand_over();
        }
        writer_.drain();
    }

    std::uint64_t dropped() const { return writer_.dropped(); }

protected:
    void sink_it_(const spdlog::details::log_msg& msg) override
    {
        formatter_->format(msg, buffer_); // straight into the buffer: no copy per line
        ++lines_;
        if (buffer_.size() >= capacity) {
            hand_over();
        }
    }
    void flush_() override { hand_over(); }

private:
    static constexpr std::size_t capacity = std::size_t{64} * 1024;
    // What may wait for the disk: at the 12 MB/s of a server logging every
    // request at 40k/s, most of a second.
    static constexpr std::size_t max_queued = std::size_t{8} << 20;

    void hand_over()
    {
        if (!opened_) {
            // Not opened yet: the lines wait, the start-up few of them; a
            // log that is never opened must not grow without bound.
            if (buffer_.size() > 16 * capacity) {
                buffer_.clear();
                lines_ = 0;
            }
            return;
        }
        if (buffer_.size() == 0) {
            return;
        }
        out_.assign(buffer_.data(), buffer_.size());
        writer_.write(out_, lines_);
        buffer_.clear();
        lines_ = 0;
    }

    // The warning the writer thread writes where lines were dropped, with
    // a formatter of its own, as the sink's belongs to the loop's thread.
    static detail::log_file_writer::note_line note_line(std::string server)
    {
        return [server = std::move(server), format = std::make_shared<utc_line_formatter>()](
                   std::string& out, std::uint64_t dropped, std::uint64_t total) {
            const auto text =
                fmt::format("log: {} lines dropped here, the disk fell behind ({} in all)", dropped, total);
            const spdlog::details::log_msg note(server, spdlog::level::warn, text);
            spdlog::memory_buf_t line;
            format->format(note, line);
            out.append(line.data(), line.size());
        };
    }

    detail::log_file_writer writer_;
    bool opened_ = false;
    spdlog::memory_buf_t buffer_;
    std::size_t lines_ = 0; // in buffer_
    std::string out_;       // buffer_'s bytes on their way to the writer
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
    auto sink = std::make_shared<buffered_file_sink>(server, dir / (server + ".log"), rotation, when);
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

void drain_server_log(spdlog::logger& log)
{
    file_sink_of(log).drain();
}

std::uint64_t log_lines_dropped(const spdlog::logger& log)
{
    for (const auto& sink : log.sinks()) {
        if (const auto* file = dynamic_cast<const buffered_file_sink*>(sink.get())) {
            return file->dropped();
        }
    }
    return 0;
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
