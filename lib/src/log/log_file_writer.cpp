#include "log/log_file_writer.hpp"

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <system_error>
#include <utility>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace herd::detail {

namespace {

// NAME.log as every open of it wants it: created if missing, appended to.
int open_for_append(const std::filesystem::path& file)
{
    return ::open(file.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
}

} // namespace

log_file_writer::log_file_writer(std::filesystem::path file, const log_rotation& rotation, std::size_t max_queued,
                                 note_line note)
    : file_(std::move(file)), rotation_(rotation), max_queued_(max_queued), note_(std::move(note)),
      thread_([this](const std::stop_token& stop) { run(stop); })
{
}

log_file_writer::~log_file_writer()
{
    // The thread empties the queue before it looks at the stop request.
    thread_.request_stop();
    thread_.join();
    if (fd_ >= 0) {
        ::close(fd_);
    }
    for (auto& waiting : queue_) {
        if (waiting.fd >= 0) {
            ::close(waiting.fd);
        }
    }
}

void log_file_writer::open()
{
    std::filesystem::create_directories(file_.parent_path());
    const int fd = open_for_append(file_);
    if (fd < 0) {
        throw std::runtime_error("cannot open the log " + file_.string() + ": " + std::strerror(errno));
    }
    {
        const std::lock_guard lock(mutex_);
        queue_.push_back(item{{}, 0, fd, 0, 0, rotations_.load(std::memory_order_relaxed)});
        ++handed_;
    }
    wake_.notify_one();
}

void log_file_writer::write(std::string& lines, std::size_t count)
{
    if (lines.empty()) {
        return;
    }
    {
        const std::lock_guard lock(mutex_);
        if (queued_bytes_ + lines.size() > max_queued_) {
            // The disk has fallen this far behind: these lines go, the loop
            // does not wait. The buffer is kept for the next ones.
            dropped_ += count;
            dropped_since_queued_ += count;
            lines.clear();
            return;
        }
        queued_bytes_ += lines.size();
        std::string next;
        if (!spare_.empty()) {
            next = std::move(spare_.front());
            spare_.pop_front();
        }
        queue_.push_back(item{std::exchange(lines, std::move(next)), count, -1, dropped_since_queued_, dropped_, 0});
        dropped_since_queued_ = 0;
        ++handed_;
    }
    wake_.notify_one();
}

void log_file_writer::drain()
{
    std::unique_lock lock(mutex_);
    const auto until = handed_;
    drained_.wait(lock, [&] { return written_ >= until; });
}

std::uint64_t log_file_writer::dropped() const
{
    const std::lock_guard lock(mutex_);
    return dropped_;
}

void log_file_writer::run(const std::stop_token& stop)
{
    std::unique_lock lock(mutex_);
    for (;;) {
        // Everything queued is written before a stop is honoured, so the
        // destructor loses nothing that was handed over.
        wake_.wait(lock, stop, [&] { return !queue_.empty(); });
        if (queue_.empty()) {
            return; // stopped, and nothing left
        }
        item next = std::move(queue_.front());
        queue_.pop_front();
        lock.unlock();
        bool ok = true;
        if (next.fd >= 0) {
            // A rotation since open() renamed the file it opened: the path
            // is opened again, so the lines go on at the path. (open()'s
            // descriptor is kept if this open fails.)
            if (rotations_.load(std::memory_order_relaxed) != next.rotations) {
                if (const int fresh = open_for_append(file_); fresh >= 0) {
                    ::close(next.fd);
                    next.fd = fresh;
                }
            }
            if (fd_ >= 0) {
                ::close(fd_);
            }
            fd_ = next.fd;
            struct stat st {};
            file_bytes_ = ::fstat(fd_, &st) == 0 ? static_cast<std::uint64_t>(st.st_size) : 0;
        } else if (next.dropped_before != 0 && note_) {
            with_note_.clear();
            note_(with_note_, next.dropped_before, next.dropped_total);
            with_note_ += next.lines;
            ok = append(with_note_);
        } else {
            ok = append(next.lines);
        }
        lock.lock();
        queued_bytes_ -= next.lines.size();
        if (!ok) {
            dropped_ += next.count;
        }
        if (next.lines.capacity() != 0 && spare_.size() < 2) {
            next.lines.clear();
            spare_.push_back(std::move(next.lines));
        }
        ++written_;
        drained_.notify_all();
    }
}

bool log_file_writer::append(std::string_view lines)
{
    if (fd_ < 0) {
        return false;
    }
    if (rotation_.max_bytes != 0 && file_bytes_ != 0 && file_bytes_ + lines.size() > rotation_.max_bytes) {
        rotate();
    }
    while (!lines.empty()) {
        const auto n = ::write(fd_, lines.data(), lines.size());
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return false; // a full disk loses log lines, never the server
        }
        lines.remove_prefix(static_cast<std::size_t>(n));
        file_bytes_ += static_cast<std::uint64_t>(n);
    }
    return true;
}

// NAME.log.N-1 -> NAME.log.N ... NAME.log -> NAME.log.1, the oldest
// dropped, then a fresh NAME.log. A failure keeps the current file.
void log_file_writer::rotate()
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
    const int fd = open_for_append(file_);
    if (fd < 0) {
        return;
    }
    ::close(fd_);
    fd_ = fd;
    file_bytes_ = 0;
    rotations_.fetch_add(1, std::memory_order_relaxed);
}

} // namespace herd::detail
