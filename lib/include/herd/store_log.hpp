// The location store on disk: an append-only log of the records that
// changed it, one line each ("<crc32 hex> <AT line>\n"), replayed at start,
// rewritten as a snapshot once it grows well past the store. A torn or
// corrupt tail (a crash mid-write, a bad disk block) is found by the
// checksums and cut off, never a crash.
#pragma once

#include "herd/location_store.hpp"

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <filesystem>
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

// One per server: its members are ordered by the thread that uses them,
// the threads last, not to save its 32 bytes of padding.
class store_log { // NOLINT(clang-analyzer-optin.performance.Padding)
public:
    // Opens (creating it and its directory) and replays the file into
    // `store`, cutting off a bad tail. Throws std::runtime_error naming the
    // file if it cannot be opened.
    store_log(std::filesystem::path file, location_store& store, fsync_policy policy);
    ~store_log();
    store_log(const store_log&) = delete;
    store_log& operator=(const store_log&) = delete;

    const log_replay& replayed() const noexcept { return replayed_; }
    const std::filesystem::path& file() const noexcept { return file_; }

    // Adds a record that changed the store to the lines waiting to be
    // written: records are written in batches, one write(2) for all that
    // arrived in one turn of the event loop, not one per record.
    void append(std::string_view at_line);
    // Hands what was appended to the kernel: it survives the process
    // being killed, not yet the machine failing. Also puts a snapshot in
    // place once its thread has written it.
    void flush();
    // Flushes and makes everything so far durable (fdatasync), if needed.
    void sync();
    // Flushes, and has a thread of the log's own make it durable soon: the
    // periodic sync, which must not stall the event loop for the disk.
    void sync_soon();

    bool flushed() const noexcept { return pending_.empty(); }
    bool synced() const noexcept { return pending_.empty() && !dirty_; }
    // Starts rewriting the file as the store's records alone, when the
    // log has grown past twice the store (and past a floor); true if it
    // did. The records are copied here; the writing and syncing happen on a
    // thread of the snapshot's own, and a later flush() puts the snapshot,
    // followed by the lines appended meanwhile, in place of the log.
    bool compact_if_large(const location_store& store);
    // Waits for a snapshot being written and puts it in place (for tests;
    // the destructor does the same).
    void finish_compaction()
    {
        if (snapshotting_) {
            finish_snapshot(true);
        }
    }

    fsync_policy policy() const noexcept { return policy_; }

private:
    void write_pending();
    void finish_snapshot(bool wait);
    void sync_when_asked(std::stop_token stop);

    std::filesystem::path file_;
    fsync_policy policy_;
    int fd_ = -1;
    std::size_t lines_ = 0;
    bool dirty_ = false;  // written since the last fdatasync
    std::string pending_; // appended, not yet written
    log_replay replayed_;
    std::mutex fd_mutex_; // held by the syncing thread while it uses fd_, and while fd_ changes

    // A snapshot being written: the lines appended since it was taken, and
    // what its thread hands back (read once snapshot_written_ is set).
    bool snapshotting_ = false;
    std::size_t snapshot_lines_ = 0;
    std::string since_snapshot_;
    std::size_t since_lines_ = 0;
    int snapshot_fd_ = -1;
    std::exception_ptr snapshot_error_;
    std::atomic<bool> snapshot_written_{false};
    std::jthread snapshotter_; // writes a snapshot, or closes the file it replaced
    std::mutex asked_mutex_;
    std::condition_variable_any asked_;
    bool sync_asked_ = false;
    std::jthread syncer_; // last: started after, and stopped before, everything it uses
};

} // namespace herd
