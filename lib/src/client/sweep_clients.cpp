#include "client/sweep_clients.hpp"

#include "async/within.hpp"

#include <algorithm>
#include <chrono>

namespace herd {

namespace asio = boost::asio;
using detail::use_tuple;

// Closes the clients that sent no complete line for the idle time-out and
// those that have read nothing of a write for the send time-out. One timer
// for the whole server, as Redis's clientsCron, rather than a timer per
// connection re-armed on every read and write: the limits are coarse, and
// the hot path stays free of timers.
asio::awaitable<void> sweep_clients(std::shared_ptr<server::state> self)
{
    const auto& limits = self->herd.limits;
    const auto period = std::clamp(std::min(limits.idle_timeout, limits.send_timeout) / 4,
                                   std::chrono::milliseconds(10), std::chrono::milliseconds(1000));
    while (!self->stopped) {
        self->sweep_timer.expires_after(period);
        co_await self->sweep_timer.async_wait(use_tuple);
        const auto now = std::chrono::steady_clock::now();
        boost::system::error_code ignored;
        for (auto* session : self->clients) {
            const bool stuck = session->write_started != client_session::time_point::max() &&
                               now - session->write_started >= limits.send_timeout;
            if (!stuck && now - session->fsm.last_line() < limits.idle_timeout) {
                continue;
            }
            const closed_by reason = stuck ? closed_by::slow_reader : closed_by::idle;
            // Its coroutine sees the read or write fail, and the session
            // says why.
            if (session->fsm.close(reason)) {
                // Counted here, before the client can see the close, so
                // that whoever sees it sees the count too.
                ++self->stats.clients_dropped;
                session->socket.close(ignored);
            }
        }
    }
}

} // namespace herd
