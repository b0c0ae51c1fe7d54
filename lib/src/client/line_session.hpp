// The line protocol for connections that are not the line port: an
// HTTP/JSON request or a WebSocket message is one line, answered by the
// same session_fsm (and so byte for byte as the line port would answer it),
// whose actions are performed here.
#pragma once

#include "client/session_fsm.hpp"
#include "server_state.hpp"

#include <boost/asio/awaitable.hpp>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace herd {

// The session's view of the server: the node's store, the store log's
// count, and the log of the client's bytes. `client` names the connection
// in log lines ("127.0.0.1:41234", "http 127.0.0.1:41234").
class server_host final : public session_host {
public:
    server_host(server::state& self, const std::string& client) : self_(self), client_(client) {}

    std::uint64_t store(location_record record) override;
    const location_record* find(std::string_view client) override;
    void received(std::string_view line) override;
    void replied(std::string_view replies) override;

private:
    server::state& self_;
    const std::string& client_;
};

// Performs the actions of a session that are the server's, not the
// connection's: yield, ask_places and wait_commit (with fsync = "always"
// the wait is for the store log's thread; the loop serves every other
// connection meanwhile). Returns the session's next action. Every driver
// of a session_fsm calls it; each does its own read and write.
boost::asio::awaitable<session_fsm::action> perform_wait(server::state& self, session_fsm& fsm,
                                                         session_fsm::action next);

// One connection's line session, fed a line at a time.
class line_session {
public:
    line_session(std::shared_ptr<server::state> self, std::string client);
    line_session(const line_session&) = delete;
    line_session& operator=(const line_session&) = delete;

    // Answers `line` (no '\n' needed) as the line port would: the replies'
    // bytes, empty for a blank line; nothing once the session has ended
    // (its store log failed, the server is stopping).
    boost::asio::awaitable<std::optional<std::string>> answer(std::string_view line);

private:
    std::shared_ptr<server::state> self_;
    std::string client_;
    server_host host_;
    session_fsm fsm_;
    session_fsm::action next_;
};

} // namespace herd
