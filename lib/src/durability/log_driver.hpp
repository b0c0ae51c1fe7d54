// The store log driven from the loop: the periodic flush, and what the
// loop does when the log's thread reports progress or a failure.
#pragma once

#include "server_state.hpp"

#include <boost/asio/awaitable.hpp>

#include <memory>

namespace herd {

boost::asio::awaitable<void> flush_periodically(std::shared_ptr<server::state> self);

// On the loop, after the store log's thread has written, synced or failed.
void on_disk_progress(server::state& self);

} // namespace herd
