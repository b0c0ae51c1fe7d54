#include "client/line_session.hpp"

#include "async/within.hpp"
#include "durability/store_log.hpp"
#include "herd/log.hpp"
#include "places/ask_places.hpp"

#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <chrono>
#include <cstring>

namespace herd {

namespace asio = boost::asio;
using detail::use_tuple;

std::uint64_t server_host::store(location_record record)
{
    self_.core.store_and_propagate(std::move(record), {});
    return self_.core.disk ? self_.core.disk->appended() : 0;
}

const location_record* server_host::find(std::string_view client)
{
    return self_.core.store.find(client);
}

void server_host::received(std::string_view line)
{
    log_info_bytes(*self_.log, self_.log_scratch, {"client ", client_, " < "}, line);
}

void server_host::replied(std::string_view replies)
{
    log_info_bytes(*self_.log, self_.log_scratch, {"client ", client_, " > "}, replies);
}

asio::awaitable<session_fsm::action> perform_wait(server::state& self, session_fsm& fsm, session_fsm::action next)
{
    switch (next.what) {
    case session_fsm::action::kind::yield:
        co_await asio::post(asio::use_awaitable);
        co_return fsm.on_yielded();
    case session_fsm::action::kind::ask_places: {
        places_query query = std::move(next.query);
        auto answer = co_await ask_places(self.shared_from_this(), std::move(query));
        co_return fsm.on_places(std::move(answer));
    }
    case session_fsm::action::kind::wait_commit: {
        // Waits here, not in a coroutine of its own: one frame fewer to
        // allocate for every request that stores a record.
        auto& disk = self.core.disk;
        if (!disk) {
            co_return fsm.on_committed(next.commit);
        }
        if (disk->acknowledgeable() < next.commit) {
            // Yield once, so every connection whose bytes came in this turn
            // of the loop appends its records first: then one write (and one
            // fdatasync) covers them all, as Redis's beforeSleep does.
            // Whatever is appended while that sync runs waits for the next.
            co_await asio::post(asio::use_awaitable);
            disk->flush();
            while (disk->acknowledgeable() < next.commit && !disk->failed()) {
                co_await self.disk_progress.async_wait(use_tuple);
            }
        }
        co_return fsm.on_committed(disk->acknowledgeable());
    }
    default:
        break;
    }
    co_return next; // read, write and close are the connection's
}

line_session::line_session(std::shared_ptr<server::state> self, std::string client)
    : self_(std::move(self)), client_(std::move(client)), host_(*self_, client_),
      fsm_(host_, self_->stats, self_->me.name, session_limits::from(self_->herd.limits)), next_(fsm_.start())
{
}

asio::awaitable<std::optional<std::string>> line_session::answer(std::string_view line)
{
    // The line and its '\n' are this answer's whole input: the session asks
    // for a read again once it has answered them.
    std::string input(line);
    input += '\n';
    std::size_t fed = 0;
    std::string replies;
    for (;;) {
        switch (next_.what) {
        case session_fsm::action::kind::read: {
            if (fed == input.size()) {
                co_return replies;
            }
            auto space = fsm_.read_buffer();
            const std::size_t n = std::min(space.size(), input.size() - fed);
            std::memcpy(space.data(), input.data() + fed, n);
            fed += n;
            next_ = fsm_.on_read(n, session_fsm::read_result::data, self_->options.clock(),
                                 std::chrono::steady_clock::now());
            break;
        }
        case session_fsm::action::kind::yield:
        case session_fsm::action::kind::ask_places:
        case session_fsm::action::kind::wait_commit: {
            auto waited = perform_wait(*self_, fsm_, std::move(next_));
            next_ = co_await std::move(waited);
            break;
        }
        case session_fsm::action::kind::write:
            replies.append(next_.bytes);
            next_ = fsm_.on_written(true);
            break;
        case session_fsm::action::kind::close:
            co_return std::nullopt;
        }
    }
}

} // namespace herd
