// The thread that writes a server's log file, so that the loop never waits
// for write(2): a write to the page cache blocks, for milliseconds, once
// the kernel's dirty pages reach their limit (balance_dirty_pages), and on
// the loop that stall was every client's.
#pragma once

#include "herd/log.hpp"

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

namespace herd::detail {

// Buffers of whole lines, appended to `file` in the order they were handed
// over, with size-based rotation decided a buffer at a time (a file holds
// whole lines and is never longer than max_bytes). At most `max_queued`
// bytes wait: a buffer handed over past that is dropped, and its lines are
// counted, rather than the loop waiting for the disk or memory growing
// without bound. A write that fails (a full disk) loses its buffer's lines,
// counted in dropped() too: a log never stops the server. A buffer queued
// after a drop is written after `note`'s line, saying how many went, so the
// log shows where its gap is.
class log_file_writer {
public:
    // Appends to `out` the line that says `dropped` lines were lost just
    // before it (`total` since the start); called on the writer's thread.
    using note_line = std::function<void(std::string& out, std::uint64_t dropped, std::uint64_t total)>;

    log_file_writer(std::filesystem::path file, const log_rotation& rotation, std::size_t max_queued, note_line note);
    ~log_file_writer(); // writes everything queued, then closes the file
    log_file_writer(const log_file_writer&) = delete;
    log_file_writer& operator=(const log_file_writer&) = delete;

    // Opens the file at its path (creating its directory), or opens it again
    // after a rename: buffers handed over before go to the file that was
    // open, later ones to the new. On the caller's thread, so a file that
    // cannot be opened throws there, with the reason.
    void open();

    // Hands `lines` (holding `count` lines) to the thread; `lines` is left
    // empty, with its capacity swapped for a spent buffer's where one is free.
    void write(std::string& lines, std::size_t count);

    // Returns once everything handed over so far is in the file (for tests,
    // and for a server that stops).
    void drain();

    // Lines dropped because the queue was full, since the writer started.
    std::uint64_t dropped() const;

private:
    struct item {
        std::string lines;
        std::size_t count = 0;
        int fd = -1;                      // >= 0: switch to this file; lines is empty then
        std::uint64_t dropped_before = 0; // lines dropped between the last buffer queued and this one
        std::uint64_t dropped_total = 0;  // lines dropped since the start, when this one was queued
        std::uint64_t rotations = 0;      // a switch: rotations_ when open() opened the file
    };

    void run(const std::stop_token& stop);
    bool append(std::string_view lines); // false: the write failed
    void rotate();

    std::filesystem::path file_;
    log_rotation rotation_;
    std::size_t max_queued_;
    note_line note_;

    mutable std::mutex mutex_;
    std::condition_variable_any wake_;
    std::condition_variable drained_;
    std::deque<item> queue_;
    std::deque<std::string> spare_; // spent buffers, to keep their capacity
    std::size_t queued_bytes_ = 0;
    std::uint64_t handed_ = 0;  // items handed over
    std::uint64_t written_ = 0; // items the thread has finished
    std::uint64_t dropped_ = 0;
    std::uint64_t dropped_since_queued_ = 0;

    // The thread's own: the file open now and its size.
    int fd_ = -1;
    std::uint64_t file_bytes_ = 0;
    std::string with_note_;
    // Files the thread rotated to; read by open() on the caller's thread.
    std::atomic<std::uint64_t> rotations_{0};

    std::jthread thread_; // last: starts once the rest is built
};

} // namespace herd::detail
