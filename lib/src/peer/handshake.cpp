// The peer handshake's rules, I/O-free: what each side sends, what it
// believes, and why it gives up.
#include "peer/handshake.hpp"

#include "herd/log.hpp"

#include <algorithm>
#include <utility>

namespace herd::peer {

using action = handshake_action;

namespace {

action make_send(std::string_view line, handshake_clock::duration limit)
{
    action a;
    a.what = action::kind::send;
    a.line = line;
    a.limit = limit;
    return a;
}

action make_read(handshake_clock::duration limit)
{
    action a;
    a.what = action::kind::read;
    a.max_bytes = max_handshake_line;
    a.limit = limit;
    return a;
}

} // namespace

// ---- the dialer ----

dialer_handshake::dialer_handshake(std::string me, std::string neighbour, std::optional<std::string> secret,
                                   bool catch_up, const location_store& store, std::string nonce)
    : me_(std::move(me)), neighbour_(std::move(neighbour)), secret_(std::move(secret)), catch_up_(catch_up),
      store_(store), nonce_(std::move(nonce))
{
}

action dialer_handshake::finished() const
{
    action a;
    a.what = state_ == state::done ? action::kind::done : action::kind::fail;
    a.result = result_;
    a.failure = failure_;
    return a;
}

action dialer_handshake::fail(std::string reason, bool refused)
{
    state_ = state::failed;
    failure_.reason = std::move(reason);
    failure_.refused = refused;
    return finished();
}

// True, with the end in `end`, if the machine is over or has been
// cancelled: the event that came is not looked at.
bool dialer_handshake::cancelled(action& end)
{
    if (over()) {
        end = finished();
        return true;
    }
    if (cancelled_) {
        failure_.cancelled = true;
        end = fail("cancelled", false);
        return true;
    }
    return false;
}

action dialer_handshake::start()
{
    action end;
    if (cancelled(end)) {
        return end;
    }
    state_ = state::reading_challenge;
    return make_read(step_limit);
}

action dialer_handshake::on_line(std::string_view line)
{
    action end;
    if (cancelled(end)) {
        return end;
    }
    switch (state_) {
    case state::reading_challenge: {
        const auto challenge = parse_challenge(line);
        if (!challenge) {
            return fail("no valid challenge from the peer port", false);
        }
        if (challenge->acceptor != neighbour_) {
            return fail("the peer port answers as " + escape_for_log(challenge->acceptor), false);
        }
        acceptor_nonce_ = std::string(challenge->nonce); // the line goes when this event ends
        const std::string proof = make_proof(secret_, role::dialer, neighbour_, me_, acceptor_nonce_, nonce_);
        hello_ = format_hello(me_, nonce_, proof);
        state_ = state::sending_hello;
        return make_send(hello_, step_limit);
    }
    case state::reading_welcome: {
        const auto welcome = parse_welcome(line);
        if (!welcome) {
            return fail("refused: " + escape_for_log(line), true);
        }
        const std::string expected = make_proof(secret_, role::acceptor, neighbour_, me_, acceptor_nonce_, nonce_);
        if (!proofs_equal(expected, welcome->proof)) {
            return fail("its proof of membership does not match (is the same secret set on both?)", true);
        }
        // The neighbour's store differs from ours: it may have missed
        // records while it or this link was down.
        const store_summary ours{store_.size(), store_.digest()};
        result_.neighbour = neighbour_;
        result_.store = welcome->store;
        result_.herd_acceptor = welcome->store.has_value();
        result_.catch_up = catch_up_ && welcome->store && *welcome->store != ours;
        state_ = state::done;
        return finished();
    }
    default:
        return fail("a line while sending", false); // not an event the driver delivers
    }
}

action dialer_handshake::on_sent()
{
    action end;
    if (cancelled(end)) {
        return end;
    }
    if (state_ != state::sending_hello) {
        return fail("a write while reading", false); // not an event the driver delivers
    }
    hello_.clear();
    state_ = state::reading_welcome;
    return make_read(step_limit);
}

action dialer_handshake::on_timeout()
{
    return on_closed(); // either way the step did not finish: the same reasons
}

action dialer_handshake::on_closed()
{
    action end;
    if (cancelled(end)) {
        return end;
    }
    switch (state_) {
    case state::reading_challenge:
        return fail("no valid challenge from the peer port", false);
    case state::sending_hello:
        return fail("could not send hello", false);
    case state::reading_welcome:
        return fail("no answer to hello", true);
    default:
        return fail("closed before the handshake", false);
    }
}

// ---- the acceptor ----

acceptor_handshake::acceptor_handshake(std::string me, const std::vector<std::string>& neighbours,
                                       std::optional<std::string> secret, const location_store& store,
                                       std::string nonce, certificate_check certified)
    : me_(std::move(me)), neighbours_(neighbours), secret_(std::move(secret)), store_(store), nonce_(std::move(nonce)),
      certified_(std::move(certified))
{
}

action acceptor_handshake::finished() const
{
    action a;
    a.what = state_ == state::done ? action::kind::done : action::kind::fail;
    a.result = result_;
    a.failure = failure_;
    return a;
}

// `answer`: the dialer is told, with REFUSED and the reason.
action acceptor_handshake::fail(std::string reason, bool refused, bool answer)
{
    state_ = state::failed;
    failure_.reason = std::move(reason);
    failure_.refused = refused;
    out_.clear();
    auto a = finished();
    if (answer) {
        out_ = format_refused(failure_.reason);
        a.line = out_;
    }
    return a;
}

bool acceptor_handshake::cancelled(action& end)
{
    if (over()) {
        end = finished();
        return true;
    }
    if (cancelled_) {
        failure_.cancelled = true;
        end = fail("cancelled", false, false);
        return true;
    }
    return false;
}

action acceptor_handshake::start()
{
    action end;
    if (cancelled(end)) {
        return end;
    }
    out_ = format_challenge(me_, nonce_);
    state_ = state::sending_challenge;
    return make_send(out_, deadline);
}

action acceptor_handshake::on_line(std::string_view line)
{
    action end;
    if (cancelled(end)) {
        return end;
    }
    if (state_ != state::reading_hello) {
        return fail("a line while sending", false, false); // not an event the driver delivers
    }
    // The dialer's name is its own bytes: escaped wherever it is logged.
    const auto hello = parse_hello(line);
    if (!hello) {
        return fail("malformed hello: " + escape_for_log(line), true, true);
    }
    if (std::find(neighbours_.begin(), neighbours_.end(), hello->dialer) == neighbours_.end()) {
        return fail(escape_for_log(hello->dialer) + " is not a neighbour of " + escape_for_log(me_), true, true);
    }
    // Over TLS a HELLO names the server the certificate proves, or no one:
    // a member's certificate does not lend its name to another.
    if (certified_ && !certified_(hello->dialer)) {
        return fail("the certificate of the link does not name " + escape_for_log(hello->dialer), true, true);
    }
    const std::string expected = make_proof(secret_, role::dialer, me_, hello->dialer, nonce_, hello->nonce);
    if (!proofs_equal(expected, hello->proof)) {
        return fail("proof of membership from " + escape_for_log(hello->dialer) + " does not match", true, true);
    }
    const std::string proof = make_proof(secret_, role::acceptor, me_, hello->dialer, nonce_, hello->nonce);
    // Always with the store's summary: it tells the dialer this acceptor
    // answers heartbeats and reconciles (the references send none).
    const store_summary summary{store_.size(), store_.digest()};
    result_.neighbour = std::string(hello->dialer);
    result_.store = summary;
    out_ = format_welcome(proof, summary);
    state_ = state::sending_welcome;
    return make_send(out_, deadline);
}

action acceptor_handshake::on_sent()
{
    action end;
    if (cancelled(end)) {
        return end;
    }
    switch (state_) {
    case state::sending_challenge:
        state_ = state::reading_hello;
        return make_read(deadline);
    case state::sending_welcome:
        out_.clear();
        state_ = state::done;
        return finished();
    default:
        return fail("a write while reading", false, false); // not an event the driver delivers
    }
}

action acceptor_handshake::on_timeout()
{
    action end;
    if (cancelled(end)) {
        return end;
    }
    return lost();
}

action acceptor_handshake::on_closed()
{
    action end;
    if (cancelled(end)) {
        return end;
    }
    return lost();
}

action acceptor_handshake::lost()
{
    switch (state_) {
    case state::sending_challenge:
        return fail("could not send the challenge", true, false);
    case state::reading_hello:
        return fail("no hello in time", true, true);
    case state::sending_welcome:
        // Proved, but gone before it heard so: not a refusal.
        return fail("could not send the welcome", false, false);
    default:
        return fail("closed before the handshake", false, false);
    }
}

} // namespace herd::peer
