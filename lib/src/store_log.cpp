#include "herd/store_log.hpp"

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

void write_all(int fd, std::string_view data, const std::filesystem::path& file)
{
    while (!data.empty()) {
        const auto n = ::write(fd, data.data(), data.size());
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            fail(file, "write");
        }
        data.remove_prefix(static_cast<std::size_t>(n));
    }
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
// for appends. Runs on the snapshot's own thread, or on the caller's when
// the log is opened.
int write_snapshot(const std::filesystem::path& file, std::string_view text)
{
    const int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) {
        fail(file, "cannot write a snapshot");
    }
    try {
        write_all(fd, text, file);
        if (::fdatasync(fd) != 0) {
            fail(file, "fdatasync");
        }
    } catch (...) {
        ::close(fd);
        throw;
    }
    return fd;
}

// A rename is durable only once its directory is synced.
void sync_directory(const std::filesystem::path& file)
{
    if (const int dir = ::open(file.has_parent_path() ? file.parent_path().c_str() : ".", O_RDONLY | O_CLOEXEC);
        dir >= 0) {
        ::fsync(dir);
        ::close(dir);
    }
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

store_log::store_log(std::filesystem::path file, location_store& store, fsync_policy policy)
    : file_(std::move(file)), policy_(policy)
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
        fail(file_, "cannot cut the store log");
    }
    if (compact_if_large(store)) {
        finish_snapshot(true); // before the first append: nothing to wait for but the disk
    }
    syncer_ = std::jthread([this](std::stop_token stop) { sync_when_asked(std::move(stop)); });
}

store_log::~store_log()
{
    try {
        finish_compaction();
    } catch (const std::exception&) {
        // The old file is still whole: the snapshot is simply not used.
    }
    if (snapshotter_.joinable()) {
        snapshotter_.join();
    }
    syncer_.request_stop();
    if (syncer_.joinable()) {
        syncer_.join();
    }
    if (fd_ >= 0) {
        sync();
        ::close(fd_);
    }
}

void store_log::sync_soon()
{
    flush();
    if (!dirty_) {
        return;
    }
    dirty_ = false;
    {
        const std::lock_guard lock(asked_mutex_);
        sync_asked_ = true;
    }
    asked_.notify_one();
}

void store_log::sync_when_asked(std::stop_token stop)
{
    for (;;) {
        {
            std::unique_lock lock(asked_mutex_);
            if (!asked_.wait(lock, stop, [this] { return sync_asked_; })) {
                return; // stopping; the destructor syncs what is left
            }
            sync_asked_ = false;
        }
        const std::lock_guard lock(fd_mutex_);
        ::fdatasync(fd_);
    }
}

void store_log::append(std::string_view at_line)
{
    const auto before = pending_.size();
    append_log_line(pending_, at_line);
    ++lines_;
    if (snapshotting_) {
        // The snapshot has the store as it was: this line must follow it.
        since_snapshot_.append(pending_, before);
        ++since_lines_;
    }
}

void store_log::write_pending()
{
    if (!pending_.empty()) {
        write_all(fd_, pending_, file_);
        pending_.clear();
        dirty_ = true;
    }
}

void store_log::flush()
{
    write_pending();
    if (snapshotting_ && snapshot_written_.load(std::memory_order_acquire)) {
        finish_snapshot(false);
    }
}

void store_log::sync()
{
    flush();
    if (dirty_) {
        ::fdatasync(fd_);
        dirty_ = false;
    }
}

bool store_log::compact_if_large(const location_store& store)
{
    if (snapshotting_ || lines_ < compact_floor || lines_ < 2 * store.size()) {
        return false;
    }
    if (snapshotter_.joinable()) {
        snapshotter_.join(); // the last snapshot's clean-up, long finished
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
        try {
            snapshot_fd_ = write_snapshot(snapshot_path(file_), text);
        } catch (...) {
            snapshot_error_ = std::current_exception();
        }
        snapshot_written_.store(true, std::memory_order_release);
    });
    return true;
}

void store_log::finish_snapshot(bool wait)
{
    std::unique_lock lock(fd_mutex_, std::defer_lock);
    if (wait) {
        lock.lock();
    } else if (!lock.try_lock()) {
        return; // the periodic fdatasync has the old file: switch at the next flush, not wait for the disk
    }
    // The snapshot's thread never takes fd_mutex_; unless `wait`, it has
    // already said it is done.
    snapshotter_.join();
    // What is pending is in the snapshot already, and goes to the old file
    // (which must stay whole until the rename), not after the snapshot.
    write_pending();
    snapshotting_ = false;
    if (snapshot_error_) {
        since_snapshot_.clear();
        std::rethrow_exception(std::exchange(snapshot_error_, nullptr));
    }
    // Until the rename the old file holds every record, so a crash at any
    // point leaves one whole log or the other.
    const int fd = std::exchange(snapshot_fd_, -1);
    const bool always = policy_ == fsync_policy::always;
    try {
        write_all(fd, since_snapshot_, file_);
        since_snapshot_.clear();
        // Under "always", acknowledged records must be durable in the file
        // the rename makes the log, and the rename before the next
        // acknowledgement.
        if (always && ::fdatasync(fd) != 0) {
            fail(file_, "fdatasync");
        }
        if (::rename(snapshot_path(file_).c_str(), file_.c_str()) != 0) {
            fail(file_, "cannot rename the snapshot over the log");
        }
    } catch (...) {
        ::close(fd);
        throw;
    }
    if (always) {
        sync_directory(file_);
    }
    const int old = std::exchange(fd_, fd);
    lock.unlock();
    lines_ = snapshot_lines_ + since_lines_;
    dirty_ = !always;
    // Closing the replaced file frees its blocks, which can take as long as
    // a sync: off this thread too, with the directory's sync under "batch".
    snapshotter_ = std::jthread([this, old, always] {
        if (!always) {
            sync_directory(file_);
        }
        ::close(old);
    });
}

} // namespace herd
