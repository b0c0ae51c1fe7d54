// The peer handshake as two I/O-free state machines, in the manner of
// Boost.Redis's detail/*_fsm and of the client's session_fsm: events go in
// (a line received, a line sent, a time-out, the connection closed or
// failed, a cancellation) and the next action comes out (send a line, read
// a line, done, fail). No sockets and no Asio: the rules of the handshake
// are here and are tested synchronously (test/handshake_test.cpp);
// peer_link::connect and handle_peer's accept_handshake only perform the
// actions (peer/drive_handshake.hpp).
//
//   acceptor -> "HERD herd/1 CHALLENGE <acceptor> <nonce_a>"
//   dialer   -> "HERD herd/1 HELLO <dialer> <nonce_d> <proof_d>"
//   acceptor -> "HERD herd/1 WELCOME <proof_a> <records> <digest>"   (or "HERD herd/1 REFUSED <reason>")
//
// The rules:
// - The dialer believes a challenge only from the neighbour it dialled, and
//   a WELCOME only with the acceptor's proof for both nonces; the acceptor
//   believes a HELLO only from one of its neighbours, with the dialer's
//   proof, and over TLS only with the name the dialer's certificate
//   proves. Each refuses everything else, and says why.
// - The acceptor answers every refusal it can still send with REFUSED and
//   the reason; a dialer that is refused, or whose acceptor proves nothing,
//   counts it in peer_links_refused, as the acceptor counts each refusal.
//   A dialer that cannot even get a challenge counts nothing: that is a
//   neighbour down, not one that refused.
// - Each machine's nonce comes in from outside (make_nonce in the server,
//   fixed ones in the tests), and so do the times: the dialer gives each
//   step step_limit; the acceptor gives the whole handshake deadline, and
//   its REFUSED line refusal_limit more.
// - Every byte the other side chose that reaches a reason (and so the log,
//   or a REFUSED line) is escaped with escape_for_log.
// - A cancellation (the server or the link stopping) ends the handshake at
//   the next event, whatever that event says: a line that arrives after it
//   is not believed, no REFUSED is sent, and nothing is counted.
// - After done or fail the machine is over: any further event changes
//   nothing and returns the same end again (with no REFUSED to send).
#pragma once

#include "core/location_store.hpp"
#include "peer/peer_protocol.hpp"

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace herd::peer {

using handshake_clock = std::chrono::steady_clock;

// What a handshake that succeeded established.
struct handshake_result {
    std::string neighbour;              // the name the other side proved
    std::optional<store_summary> store; // dialer: the acceptor's store, if its WELCOME said; acceptor: its own
    bool herd_acceptor = false;         // dialer: the WELCOME had a summary (a Herd, not a reference, acceptor)
    bool catch_up = false;              // dialer: that summary differs from ours, and catch-up is on
};

// Why one failed.
struct handshake_failure {
    std::string reason;     // for the log, escaped; the acceptor's REFUSED line carries it too
    bool refused = false;   // counts in peer_links_refused
    bool cancelled = false; // the server or the link is stopping: not worth a log line
};

struct handshake_action {
    enum class kind {
        send, // write `line` and a '\n' within `limit`, then on_sent (or on_timeout, on_closed)
        read, // read one line of at most `max_bytes` within `limit`, then on_line (or on_timeout, on_closed)
        done, // the handshake succeeded: `result`
        fail, // it failed: `failure`; then, if `line` is not empty, write it (a REFUSED) within refusal_limit
    };
    kind what = kind::read;
    std::string_view line; // valid until the next event
    std::size_t max_bytes = 0;
    handshake_clock::duration limit{};
    handshake_result result;
    handshake_failure failure;
};

// The acceptor's REFUSED line is written this long after a failure, even
// past the handshake's deadline.
inline constexpr std::chrono::seconds refusal_limit{1};

// The side that dials: reads the challenge, sends HELLO, reads WELCOME.
class dialer_handshake {
public:
    // Each of the dialer's steps (read the challenge, send HELLO, read WELCOME) within this.
    static constexpr std::chrono::seconds step_limit{2};
    // No limit on the whole but the steps'.
    static constexpr handshake_clock::duration deadline = handshake_clock::duration::max();

    // `me` dials `neighbour`; `store` is ours, summed up against the
    // acceptor's when its WELCOME comes.
    dialer_handshake(std::string me, std::string neighbour, std::optional<std::string> secret, bool catch_up,
                     const location_store& store, std::string nonce);

    // The first action: read the challenge.
    handshake_action start();
    handshake_action on_line(std::string_view line);
    handshake_action on_sent();
    handshake_action on_timeout();
    handshake_action on_closed();
    // Ends the handshake at its next event.
    void cancel() noexcept { cancelled_ = true; }

    bool over() const noexcept { return state_ == state::done || state_ == state::failed; }

private:
    enum class state { idle, reading_challenge, sending_hello, reading_welcome, done, failed };

    handshake_action fail(std::string reason, bool refused);
    handshake_action finished() const;
    bool cancelled(handshake_action& end);

    std::string me_;
    std::string neighbour_;
    std::optional<std::string> secret_;
    bool catch_up_;
    const location_store& store_;
    std::string nonce_;
    std::string acceptor_nonce_;
    std::string hello_;
    state state_ = state::idle;
    bool cancelled_ = false;
    handshake_result result_;
    handshake_failure failure_;
};

// The side that accepts: sends the challenge, reads HELLO, sends WELCOME.
class acceptor_handshake {
public:
    // The whole handshake, from accept to WELCOME: a connection that has not
    // proved membership by then is refused, however it trickles its bytes.
    static constexpr handshake_clock::duration deadline = std::chrono::seconds(5);

    // Whether the dialer's certificate proves a name (peer_stream::certifies);
    // none: a plain-TCP link, where nothing but the secret proves anything.
    using certificate_check = std::function<bool(std::string_view name)>;

    // `me` takes links from `neighbours` (kept by reference); `store` is
    // ours, summed up in the WELCOME.
    acceptor_handshake(std::string me, const std::vector<std::string>& neighbours, std::optional<std::string> secret,
                       const location_store& store, std::string nonce, certificate_check certified = {});

    // The first action: send the challenge.
    handshake_action start();
    handshake_action on_line(std::string_view line);
    handshake_action on_sent();
    handshake_action on_timeout();
    handshake_action on_closed();
    // Ends the handshake at its next event.
    void cancel() noexcept { cancelled_ = true; }

    bool over() const noexcept { return state_ == state::done || state_ == state::failed; }

private:
    enum class state { idle, sending_challenge, reading_hello, sending_welcome, done, failed };

    handshake_action fail(std::string reason, bool refused, bool answer);
    handshake_action lost(); // a time-out or close, in whatever step
    handshake_action finished() const;
    bool cancelled(handshake_action& end);

    std::string me_;
    const std::vector<std::string>& neighbours_;
    std::optional<std::string> secret_;
    const location_store& store_;
    std::string nonce_;
    certificate_check certified_;
    std::string out_; // the line being sent, or the REFUSED to send
    state state_ = state::idle;
    bool cancelled_ = false;
    handshake_result result_;
    handshake_failure failure_;
};

} // namespace herd::peer
