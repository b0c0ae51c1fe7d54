// The location store on disk: an append-only log of the records that
// changed it, one line each ("<crc32 hex> <AT line>\n"), replayed at start,
// rewritten as a snapshot once it grows well past the store. A torn or
// corrupt tail (a crash mid-write, a bad disk block) is found by the
// checksums and cut off, never a crash.
#pragma once

#include "core/location_store.hpp"

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <stop_token>
#include <string>
#include <string_view>
#include <thread>

namespace herd {

enum class fsync_policy { always, batch };

// One log line (without its '\n') for an AT line, and back: nothing if the
// checksum or the record does not hold.
std::string format_log_line(std::string_view at_line);
std::optional<at_record> parse_log_line(std::string_view line) noexcept;

struct log_replay {
    std::size_t records = 0;   // good lines read
    std::size_t cut_bytes = 0; // a torn or corrupt tail, removed
    std::string cut_reason;    // why, for the server's log
};

// Reads every good record of `text` into `store`; stops at the first line
// that is torn (no '\n') or corrupt, and says how many bytes follow it.
log_replay replay_log(std::string_view text, location_store& store);

// The two calls the log's file goes through once it is open: the disk's
// own, or a test's stand-in that fails a write or holds a sync on purpose.
// Both return what the system call would (and set errno on failure).
struct disk_io {
    std::function<long(int fd, const char* data, std::size_t size)> write;
    std::function<int(int fd)> fdatasync;
};

// One per server. The event loop appends records and hands them over; a
// thread of the log's own does whatever waits for the disk: fdatasync, the
// writes that find it busy with one, and putting a snapshot in place. The
// loop never blocks on the disk, and with fsync = "always" one fdatasync
// covers every record appended while the one before it ran (group commit).
//
// Records are numbered as they are appended (1, 2, ...). written() and
// durable() say how far the file has them: in the kernel (they survive the
// process being killed) and on the disk (they survive the machine failing).
// A failed write or fdatasync is final: failed() turns true, nothing after
// it is written or counted, and the owner is told through on_progress.
class store_log { // NOLINT(clang-analyzer-optin.performance.Padding)
public:
    // Opens (creating it and its directory) and replays the file into
    // `store`, cutting off a bad tail. Throws std::runtime_error naming the
    // file if it cannot be opened. `on_progress` is called from the log's
    // thread whenever written(), durable() or failed() may have changed; it
    // must be cheap and thread-safe (the server posts to its io_context).
    store_log(std::filesystem::path file, location_store& store, fsync_policy policy,
              std::function<void()> on_progress = {}, std::shared_ptr<const disk_io> io = {});
    // Writes and syncs what is left, blocking. Never throws.
    ~store_log();
    store_log(const store_log&) = delete;
    store_log& operator=(const store_log&) = delete;

    const log_replay& replayed() const noexcept { return replayed_; }
    const std::filesystem::path& file() const noexcept { return file_; }
    fsync_policy policy() const noexcept { return policy_; }

    // Adds a record that changed the store; returns its number. Nothing is
    // written until flush(): one write(2) for all that arrived in one turn
    // of the event loop, not one per record.
    std::uint64_t append(std::string_view at_line);
    std::uint64_t appended() const noexcept { return appended_; }
    // Hands what was appended to the file: written at once if the log's
    // thread is idle (a write to the page cache, no waiting on the disk),
    // else queued for that thread. With "always" it also asks for an
    // fdatasync; and it hands over a snapshot its thread has written.
    void flush();
    // Flushes and asks for an fdatasync soon: the periodic sync of "batch".
    void sync_soon();
    // Flushes and waits (blocking) until everything appended is durable or
    // the log has failed: for shutdown and tests, never the event loop.
    void sync();

    std::uint64_t written() const noexcept { return written_.load(std::memory_order_acquire); }
    std::uint64_t durable() const noexcept { return durable_.load(std::memory_order_acquire); }
    // How far an AT reply may acknowledge: durable() under "always",
    // written() under "batch".
    std::uint64_t acknowledgeable() const noexcept { return policy_ == fsync_policy::always ? durable() : written(); }
    bool failed() const noexcept { return failed_.load(std::memory_order_acquire); }
    // "<file>: write: No space left on device", once failed().
    std::string failure() const;

    // Starts rewriting the file as the store's records alone, when the
    // log has grown past twice the store (and past a floor); true if it
    // did. The records are copied here; the writing and syncing happen on a
    // thread of the snapshot's own, and a later flush() hands the snapshot
    // to the log's thread, which puts it, followed by the lines appended
    // meanwhile, in place of the log.
    bool compact_if_large(const location_store& store);
    // Waits for a snapshot being written and puts it in place (blocking:
    // for tests; the destructor does the same).
    void finish_compaction();

private:
    // What the loop hands the log's thread to put a snapshot in place.
    struct switch_order {
        std::string old_tail;           // queued before the hand-over: for the old file
        std::uint64_t old_tail_seq = 0; // the last record in it
        std::string since;              // appended since the snapshot was taken: to follow it
        int snapshot_fd = -1;
        std::string error; // the snapshot could not be written
    };

    void hand_over_snapshot();
    void fail_with(std::string message);
    bool write_all(int fd, std::string_view data, const char* what);
    bool switch_to_snapshot(switch_order& order);
    void write_when_asked(std::stop_token stop);

    // The loop's alone.
    std::filesystem::path file_;
    fsync_policy policy_;
    std::shared_ptr<const disk_io> io_;
    std::function<void()> on_progress_;
    std::uint64_t appended_ = 0;
    std::size_t lines_ = 0;
    std::string pending_; // appended, not yet handed over
    log_replay replayed_;
    bool snapshotting_ = false; // from compact_if_large until the hand-over
    std::size_t snapshot_lines_ = 0;
    std::string since_snapshot_;
    std::size_t since_lines_ = 0;
    std::jthread snapshotter_; // writes a snapshot

    // Written by the snapshot's thread, read once snapshot_written_ is set.
    int snapshot_fd_ = -1;
    std::string snapshot_error_;
    std::atomic<bool> snapshot_written_{false};

    // fd_ and the file: the log's thread holds fd_mutex_ while it writes or
    // swaps the file; the loop only ever try_locks it, to write directly.
    std::mutex fd_mutex_;
    int fd_ = -1;

    // The hand-over, under queue_mutex_ (held only to swap, never over I/O).
    mutable std::mutex queue_mutex_;
    std::condition_variable_any work_; // the log's thread waits for work
    std::condition_variable_any done_; // sync() waits for the log's thread
    std::string queue_;                // for the log's thread to write, in order
    std::uint64_t queue_seq_ = 0;      // the last record in queue_
    bool sync_wanted_ = false;
    std::optional<switch_order> switch_;
    bool switching_ = false; // handed over, not yet in place: no direct writes meanwhile
    std::string failure_;

    std::atomic<std::uint64_t> written_{0};
    std::atomic<std::uint64_t> durable_{0};
    std::atomic<bool> failed_{false};
    std::jthread writer_; // last: started after, and stopped before, everything it uses
};

} // namespace herd
