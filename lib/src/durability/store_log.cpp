#include "durability/store_log.hpp"

#include <array>
#include <cerrno>
#include <charconv>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <system_error>

#include <fcntl.h>
#include <unistd.h>

namespace herd {
namespace {

constexpr std::size_t compact_floor = 10000; // lines before compaction is worth it

// CRC-32 (the zlib polynomial), eight bytes per step ("slicing by 8"):
// every record's checksum is computed on the hot path.
std::uint32_t crc32(std::string_view data) noexcept
{
    static const auto tables = [] {
        std::array<std::array<std::uint32_t, 256>, 8> t{};
        for (std::uint32_t i = 0; i < 256; ++i) {
            std::uint32_t c = i;
            for (int k = 0; k < 8; ++k) {
                c = (c & 1) != 0 ? 0xedb88320U ^ (c >> 1) : c >> 1;
            }
            t[0][i] = c;
        }
        for (std::size_t i = 0; i < 256; ++i) {
            for (std::size_t k = 1; k < 8; ++k) {
                t[k][i] = (t[k - 1][i] >> 8) ^ t[0][t[k - 1][i] & 0xff];
            }
        }
        return t;
    }();
    std::uint32_t c = 0xffffffffU;
    const auto* p = reinterpret_cast<const unsigned char*>(data.data());
    std::size_t n = data.size();
    for (; n >= 8; p += 8, n -= 8) {
        std::uint32_t lo = 0;
        std::uint32_t hi = 0;
        std::memcpy(&lo, p, 4);
        std::memcpy(&hi, p + 4, 4);
        lo ^= c; // little-endian, as every machine Herd builds on
        c = tables[7][lo & 0xff] ^ tables[6][(lo >> 8) & 0xff] ^ tables[5][(lo >> 16) & 0xff] ^ tables[4][lo >> 24] ^
            tables[3][hi & 0xff] ^ tables[2][(hi >> 8) & 0xff] ^ tables[1][(hi >> 16) & 0xff] ^ tables[0][hi >> 24];
    }
    for (; n > 0; ++p, --n) {
        c = tables[0][(c ^ *p) & 0xff] ^ (c >> 8);
    }
    return c ^ 0xffffffffU;
}

[[noreturn]] void fail(const std::filesystem::path& file, const char* what)
{
    throw std::runtime_error(file.string() + ": " + what + ": " + std::strerror(errno));
}

std::string describe_failure(const std::filesystem::path& file, const char* what, int error)
{
    return file.string() + ": " + what + ": " + std::strerror(error);
}

long do_write(const disk_io* io, int fd, std::string_view data)
{
    return io != nullptr && io->write ? io->write(fd, data.data(), data.size())
                                      : static_cast<long>(::write(fd, data.data(), data.size()));
}

int do_fdatasync(const disk_io* io, int fd)
{
    return io != nullptr && io->fdatasync ? io->fdatasync(fd) : ::fdatasync(fd);
}

// 0, or the errno of the write that failed.
int write_fully(const disk_io* io, int fd, std::string_view data)
{
    while (!data.empty()) {
        const auto n = do_write(io, fd, data);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return errno;
        }
        data.remove_prefix(static_cast<std::size_t>(n));
    }
    return 0;
}

// Appends the log line for `at_line`, with its '\n': the one place the
// line's form is written, for appends, snapshots and format_log_line.
void append_log_line(std::string& out, std::string_view at_line)
{
    static constexpr char hex[] = "0123456789abcdef";
    const std::uint32_t crc = crc32(at_line);
    const std::size_t at = out.size();
    out.resize(at + 9);
    for (std::size_t i = 0; i < 8; ++i) {
        out[at + i] = hex[(crc >> (28 - 4 * i)) & 0xfU];
    }
    out[at + 8] = ' ';
    out += at_line;
    out += '\n';
}

std::filesystem::path snapshot_path(const std::filesystem::path& file)
{
    return file.string() + ".new";
}

// Writes `text` to a new file and makes it durable; returns the file, open
// for appends, or -1 and the error. Runs on the snapshot's own thread.
int write_snapshot(const std::filesystem::path& file, std::string_view text, const disk_io* io, std::string& error)
{
    const int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) {
        error = describe_failure(file, "cannot write a snapshot", errno);
        return -1;
    }
    if (const int e = write_fully(io, fd, text); e != 0) {
        error = describe_failure(file, "write", e);
    } else if (do_fdatasync(io, fd) != 0) {
        error = describe_failure(file, "fdatasync", errno);
    } else {
        return fd;
    }
    ::close(fd);
    return -1;
}

// A rename is durable only once its directory is synced: 0 or the errno.
int sync_directory(const std::filesystem::path& file)
{
    const int dir = ::open(file.has_parent_path() ? file.parent_path().c_str() : ".", O_RDONLY | O_CLOEXEC);
    if (dir < 0) {
        return errno;
    }
    const int result = ::fsync(dir) == 0 ? 0 : errno;
    ::close(dir);
    return result;
}

} // namespace

std::string format_log_line(std::string_view at_line)
{
    std::string line;
    append_log_line(line, at_line);
    line.pop_back();
    return line;
}

std::optional<at_record> parse_log_line(std::string_view line) noexcept
{
    if (line.size() < 10 || line[8] != ' ') {
        return std::nullopt;
    }
    std::uint32_t sum = 0;
    const auto [end, ec] = std::from_chars(line.data(), line.data() + 8, sum, 16);
    const auto at_line = line.substr(9);
    if (ec != std::errc() || end != line.data() + 8 || sum != crc32(at_line)) {
        return std::nullopt;
    }
    return parse_at_line(at_line);
}

log_replay replay_log(std::string_view text, location_store& store)
{
    log_replay result;
    std::string_view rest = text;
    while (!rest.empty()) {
        const auto nl = rest.find('\n');
        if (nl == std::string_view::npos) {
            result.cut_reason = "a torn last record (no newline)";
            break;
        }
        const auto line = rest.substr(0, nl);
        const auto record = parse_log_line(line);
        if (!record) {
            result.cut_reason = "a corrupt record (checksum or format)";
            break;
        }
        store.update(location_record::from(*record, line.substr(9)));
        ++result.records;
        rest.remove_prefix(nl + 1);
    }
    result.cut_bytes = rest.size();
    return result;
}

store_log::store_log(std::filesystem::path file, location_store& store, fsync_policy policy,
                     std::function<void()> on_progress, std::shared_ptr<const disk_io> io)
    : file_(std::move(file)), policy_(policy), io_(std::move(io)), on_progress_(std::move(on_progress))
{
    if (file_.has_parent_path()) {
        std::filesystem::create_directories(file_.parent_path());
    }
    std::string text;
    {
        std::ifstream in(file_, std::ios::binary);
        std::ostringstream content;
        content << in.rdbuf();
        text = content.str();
    }
    replayed_ = replay_log(text, store);
    lines_ = replayed_.records;
    fd_ = ::open(file_.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    if (fd_ < 0) {
        fail(file_, "cannot open the store log");
    }
    // Cut a bad tail off, so new records follow the last good one.
    if (::ftruncate(fd_, static_cast<off_t>(text.size() - replayed_.cut_bytes)) != 0 || ::lseek(fd_, 0, SEEK_END) < 0) {
        const int error = errno;
        ::close(fd_);
        errno = error;
        fail(file_, "cannot cut the store log");
    }
    if (compact_if_large(store)) {
        // Before the first append, and before the log's thread starts:
        // nothing to wait for but the disk.
        snapshotter_.join();
        snapshotting_ = false;
        switch_order order{{}, 0, {}, std::exchange(snapshot_fd_, -1), std::exchange(snapshot_error_, {})};
        if (!switch_to_snapshot(order)) {
            ::close(fd_);
            throw std::runtime_error(failure_);
        }
        lines_ = snapshot_lines_;
    }
    writer_ = std::jthread([this](std::stop_token stop) { write_when_asked(std::move(stop)); });
}

store_log::~store_log()
{
    // Nothing here may throw: a destructor that did would end the process.
    try {
        finish_compaction();
        sync();
    } catch (...) { // NOLINT(bugprone-empty-catch): only a thread that cannot be joined; the file is whole
    }
    writer_.request_stop();
    if (writer_.joinable()) {
        writer_.join();
    }
    if (snapshotter_.joinable()) {
        snapshotter_.join();
    }
    if (snapshot_fd_ >= 0) {
        ::close(snapshot_fd_); // failed before it was put in place: the old file is the log
    }
    if (fd_ >= 0) {
        ::close(fd_);
    }
}

std::string store_log::failure() const
{
    const std::lock_guard lock(queue_mutex_);
    return failure_;
}

void store_log::fail_with(std::string message)
{
    {
        const std::lock_guard lock(queue_mutex_);
        if (failed_.load(std::memory_order_relaxed)) {
            return; // the first failure is the one reported
        }
        failure_ = std::move(message);
        failed_.store(true, std::memory_order_release);
    }
    done_.notify_all();
    if (on_progress_) {
        on_progress_();
    }
}

bool store_log::write_all(int fd, std::string_view data, const char* what)
{
    if (const int e = write_fully(io_.get(), fd, data); e != 0) {
        fail_with(describe_failure(file_, what, e));
        return false;
    }
    return true;
}

std::uint64_t store_log::append(std::string_view at_line)
{
    ++appended_;
    if (failed()) {
        return appended_; // never written, never acknowledged
    }
    const auto before = pending_.size();
    append_log_line(pending_, at_line);
    ++lines_;
    if (snapshotting_) {
        // The snapshot has the store as it was: this line must follow it.
        since_snapshot_.append(pending_, before);
        ++since_lines_;
    }
    return appended_;
}

void store_log::flush()
{
    if (failed()) {
        pending_.clear();
        return;
    }
    bool wake = false;
    if (!pending_.empty()) {
        std::unique_lock queue(queue_mutex_);
        // Straight to the file when the log's thread neither writes nor has
        // anything queued (which must go first): a write(2) to the page
        // cache, which does not wait for the disk. An fdatasync in flight
        // does not hold fd_mutex_, so under "always" the records appended
        // meanwhile reach the kernel at once and the next sync finds them.
        if (queue_.empty() && !switching_ && fd_mutex_.try_lock()) {
            queue.unlock();
            const std::lock_guard file(fd_mutex_, std::adopt_lock);
            if (write_all(fd_, pending_, "write")) {
                written_.store(appended_, std::memory_order_release);
            }
        } else {
            queue_ += pending_;
            queue_seq_ = appended_;
            wake = true;
        }
        pending_.clear();
    }
    if (snapshotting_ && snapshot_written_.load(std::memory_order_acquire)) {
        hand_over_snapshot();
        wake = true;
    }
    if (policy_ == fsync_policy::always && durable() < appended_ && !failed()) {
        const std::lock_guard queue(queue_mutex_);
        wake = wake || !sync_wanted_;
        sync_wanted_ = true;
    }
    if (wake) {
        work_.notify_one();
    }
}

void store_log::sync_soon()
{
    flush();
    if (durable() < appended_ && !failed()) {
        {
            const std::lock_guard queue(queue_mutex_);
            sync_wanted_ = true;
        }
        work_.notify_one();
    }
}

void store_log::sync()
{
    sync_soon();
    const auto target = appended_;
    std::unique_lock queue(queue_mutex_);
    done_.wait(queue, [&] { return durable() >= target || failed(); });
}

void store_log::hand_over_snapshot()
{
    if (snapshotter_.joinable()) {
        snapshotter_.join(); // it has said it is done: no wait
    }
    snapshotting_ = false;
    lines_ = snapshot_lines_ + since_lines_;
    const std::lock_guard queue(queue_mutex_);
    // What is queued now is in the snapshot already, and goes to the old
    // file (which must stay whole until the rename), not after the snapshot.
    switch_ = switch_order{std::exchange(queue_, {}), queue_seq_, std::exchange(since_snapshot_, {}),
                           std::exchange(snapshot_fd_, -1), std::exchange(snapshot_error_, {})};
    switching_ = true;
}

void store_log::finish_compaction()
{
    if (snapshotting_) {
        snapshotter_.join(); // the only wait for the disk here but sync()'s
        flush();
        sync();
    }
}

// On the log's thread (or in the constructor, before it starts), holding
// fd_mutex_. Until the rename the old file holds every record, so a crash at
// any point leaves one whole log or the other.
bool store_log::switch_to_snapshot(switch_order& order)
{
    if (!order.old_tail.empty()) {
        if (!write_all(fd_, order.old_tail, "write")) {
            return false;
        }
        written_.store(order.old_tail_seq, std::memory_order_release);
    }
    if (!order.error.empty()) {
        fail_with(std::move(order.error));
        return false;
    }
    const int fd = std::exchange(order.snapshot_fd, -1);
    // Acknowledged records must be durable in the file the rename makes
    // the log, and the rename before anything written only to the new file
    // is acknowledged: the new file's sync and the directory's, here, off
    // the loop, under either policy.
    const char* what = nullptr;
    int error = 0;
    if (const int e = write_fully(io_.get(), fd, order.since); e != 0) {
        what = "write";
        error = e;
    } else if (do_fdatasync(io_.get(), fd) != 0) {
        what = "fdatasync";
        error = errno;
    } else if (::rename(snapshot_path(file_).c_str(), file_.c_str()) != 0) {
        what = "cannot rename the snapshot over the log";
        error = errno;
    }
    if (what != nullptr) {
        ::close(fd);
        fail_with(describe_failure(file_, what, error));
        return false;
    }
    // The new file is the log from here on, synced whole.
    ::close(std::exchange(fd_, fd));
    if (const int e = sync_directory(file_); e != 0) {
        fail_with(describe_failure(file_.parent_path(), "fsync of the directory", e));
        return false;
    }
    durable_.store(written(), std::memory_order_release);
    return true;
}

void store_log::write_when_asked(std::stop_token stop)
{
    for (;;) {
        {
            std::unique_lock queue(queue_mutex_);
            if (!work_.wait(queue, stop, [this] { return !queue_.empty() || sync_wanted_ || switch_; })) {
                return; // stopping; the destructor has synced what there was
            }
        }
        // fd_mutex_ first, then queue_mutex_: flush() try_locks fd_mutex_
        // while it holds queue_mutex_, so it never waits for this thread.
        std::unique_lock file(fd_mutex_);
        std::string data;
        std::uint64_t data_seq = 0;
        bool want_sync = false;
        std::optional<switch_order> order;
        {
            const std::lock_guard queue(queue_mutex_);
            data.swap(queue_);
            data_seq = queue_seq_;
            want_sync = std::exchange(sync_wanted_, false);
            order.swap(switch_);
        }
        bool ok = !failed();
        if (ok && order) {
            ok = switch_to_snapshot(*order);
            const std::lock_guard queue(queue_mutex_);
            switching_ = false;
        }
        if (order && order->snapshot_fd >= 0) {
            ::close(order->snapshot_fd); // not put in place: the log has failed
        }
        if (ok && !data.empty() && write_all(fd_, data, "write")) {
            written_.store(data_seq, std::memory_order_release);
        }
        // The fd changes only on this thread, so it stays valid unlocked:
        // the loop may write more meanwhile, which the next sync covers.
        const int fd = fd_;
        const std::uint64_t target = written();
        file.unlock();
        if (!failed() && want_sync && target > durable()) {
            if (do_fdatasync(io_.get(), fd) != 0) {
                fail_with(describe_failure(file_, "fdatasync", errno));
            } else {
                durable_.store(target, std::memory_order_release);
            }
        }
        {
            const std::lock_guard queue(queue_mutex_); // so sync() cannot miss the notification
        }
        done_.notify_all();
        if (on_progress_) {
            on_progress_();
        }
    }
}

bool store_log::compact_if_large(const location_store& store)
{
    if (snapshotting_ || lines_ < compact_floor || lines_ < 2 * store.size()) {
        return false;
    }
    if (const std::lock_guard queue(queue_mutex_); switching_) {
        return false; // the last snapshot is not in place yet
    }
    if (snapshotter_.joinable()) {
        snapshotter_.join(); // the last snapshot's, long finished
    }
    // The records are copied out on the caller's thread, the only one that
    // may read the store; writing and syncing them, the part that waits on
    // the disk, is done on a thread of the snapshot's own.
    std::size_t bytes = 0;
    store.for_each([&](std::string_view, const location_record& r) { bytes += r.at_line.size() + 10; });
    std::string text;
    text.reserve(bytes);
    store.for_each([&](std::string_view, const location_record& r) { append_log_line(text, r.at_line); });
    snapshot_lines_ = store.size();
    since_snapshot_.clear();
    since_lines_ = 0;
    snapshotting_ = true;
    snapshot_written_.store(false, std::memory_order_relaxed);
    snapshotter_ = std::jthread([this, text = std::move(text)] {
        snapshot_fd_ = write_snapshot(snapshot_path(file_), text, io_.get(), snapshot_error_);
        snapshot_written_.store(true, std::memory_order_release);
    });
    return true;
}

} // namespace herd
