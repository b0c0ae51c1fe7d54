#include "durability/log_driver.hpp"

#include "async/within.hpp"

#include "herd/log.hpp"

#include <spdlog/logger.h>

namespace herd {

namespace asio = boost::asio;
using detail::use_tuple;

// Logs reach the file, and with fsync = "batch" records reach the disk,
// every 100 ms rather than on every line; with "always" this only writes
// what no reply has flushed (records from peers), and asks for their sync.
// The fdatasync runs on the store log's own thread: waiting here for the
// disk would stall every client. A disk error is not thrown here: the log
// reports it (on_disk_progress), so this loop runs until the server stops.
asio::awaitable<void> flush_periodically(std::shared_ptr<server::state> self)
{
    while (!self->stopped) {
        self->flush_timer.expires_after(std::chrono::milliseconds(100));
        co_await self->flush_timer.async_wait(use_tuple);
        self->log->flush();
        self->stats.log_lines_dropped = log_lines_dropped(*self->log);
        if (self->core.disk) {
            self->core.disk->sync_soon();
        }
    }
}

// On the loop, after the store log's thread has written, synced or failed:
// wakes the replies waiting for it; on the first failure, stops the server
// (fail-stop, as Redis does when a write to its append-only file fails).
void on_disk_progress(server::state& self)
{
    if (!self.core.disk) {
        return; // a failure while the log was opened: the constructor throws it
    }
    self.disk_progress.cancel();
    if (!self.core.disk->failed() || self.disk_failure_reported) {
        return;
    }
    self.disk_failure_reported = true;
    const std::string failure = self.core.disk->failure();
    self.log->error("store: {}: the disk failed; stopping, nothing more is acknowledged", failure);
    if (self.options.on_disk_failure) {
        self.options.on_disk_failure(failure);
    }
    self.stop();
}

} // namespace herd
