// The client session's rules, I/O-free: handle_iamat and handle_whatsat,
// the asyncio prototype's functions of the same names, and the order in
// which replies, commits and reads follow one another.
#include "client/session_fsm.hpp"

#include "places/places_reply.hpp"

#include <algorithm>
#include <cassert>
#include <utility>
#include <variant>

namespace herd {

using action = session_fsm::action;

namespace {

action make(action::kind what)
{
    action a;
    a.what = what;
    return a;
}

} // namespace

session_fsm::session_fsm(session_host& host, server_stats& stats, std::string_view server_name, session_limits limits,
                         time_point connected)
    : host_(host), stats_(stats), server_name_(server_name), limits_(limits), arrived_(connected), last_line_(connected)
{
}

action session_fsm::start()
{
    assert(state_ == state::idle);
    return proceed();
}

action session_fsm::on_read(std::size_t bytes, read_result result, std::int64_t now_ns, time_point arrived)
{
    assert(state_ == state::reading);
    if (aborted_) {
        return proceed(); // read after a close: dropped
    }
    if (result == read_result::error) {
        aborted_ = true;
        return proceed();
    }
    reader_.commit(bytes);
    if (result == read_result::eof) {
        reader_.finish(); // a last line with no '\n' is still a command
        ending_ = true;
    }
    now_ns_ = now_ns;
    arrived_ = arrived;
    in_batch_ = true;
    return proceed();
}

action session_fsm::on_yielded()
{
    assert(state_ == state::yielding);
    return proceed();
}

action session_fsm::on_places(boost::json::object answer)
{
    assert(state_ == state::asking);
    if (aborted_) {
        return proceed(); // the answer comes too late: nobody will read it
    }
    limit_results(answer, whatsat_bound_);
    replies_ += whatsat_at_;
    replies_ += '\n';
    replies_ += format_places(answer);
    replies_ += "\n\n";
    replied_since(whatsat_before_);
    if (replies_.size() >= limits_.reply_bytes) {
        return flush();
    }
    return proceed();
}

action session_fsm::on_committed(std::uint64_t acknowledged)
{
    assert(state_ == state::committing);
    committed_ = std::max(committed_, acknowledged);
    if (committed_ < acknowledges_) {
        aborted_ = true; // fail-stop: these replies are never sent
    }
    if (aborted_) {
        return proceed();
    }
    return flush();
}

action session_fsm::on_written(bool ok)
{
    assert(state_ == state::writing);
    replies_.clear();
    if (!ok) {
        aborted_ = true;
    }
    return proceed();
}

bool session_fsm::close(closed_by reason)
{
    if (aborted_ || state_ == state::closed) {
        return false;
    }
    aborted_ = true;
    if (reason_ == closed_by::client) {
        reason_ = reason;
    }
    return true;
}

void session_fsm::cancel()
{
    if (!aborted_ && state_ != state::closed && reason_ == closed_by::client) {
        reason_ = closed_by::stopped;
    }
    aborted_ = true;
}

// Runs the rules from where the last event left them to the next action.
action session_fsm::proceed()
{
    if (aborted_ || state_ == state::closed) {
        return finish(reason_);
    }
    while (in_batch_) {
        auto line = reader_.next_line();
        if (!line) {
            in_batch_ = false;
            replied_ = !replies_.empty();
            break;
        }
        if (line->size() > limits_.line_bytes) {
            // The lines before it are still answered; none after it.
            in_batch_ = false;
            ending_ = true;
            reason_ = closed_by::long_line;
            break;
        }
        last_line_ = arrived_;
        host_.received(*line);
        const std::size_t before = replies_.size();
        const command cmd = parse_command(*line, limits_.client_id_bytes);
        if (const auto* iamat = std::get_if<iamat_command>(&cmd)) {
            handle_iamat(*iamat);
        } else if (const auto* whatsat = std::get_if<whatsat_command>(&cmd)) {
            action ask = make(action::kind::ask_places);
            if (handle_whatsat(*whatsat, *line, ask.query)) {
                whatsat_before_ = before;
                state_ = state::asking;
                return ask;
            }
        } else if (std::holds_alternative<invalid_line>(cmd)) {
            ++stats_.invalid;
            append_invalid(replies_, *line);
        }
        replied_since(before);
        // A pipelining client that does not read cannot make replies pile
        // up here: past the bound they go out before more is read.
        if (replies_.size() >= limits_.reply_bytes) {
            return flush();
        }
    }
    if (!replies_.empty()) {
        return flush();
    }
    if (ending_) {
        return finish(reason_);
    }
    if (reader_.pending() > limits_.line_bytes) {
        return finish(closed_by::long_line);
    }
    if (replied_) {
        // The client has only just got its replies: a read now would find
        // nothing. After one turn of the loop its next line is often there.
        replied_ = false;
        state_ = state::yielding;
        return make(action::kind::yield);
    }
    state_ = state::reading;
    return make(action::kind::read);
}

// Writes the replies, once the store log acknowledges what they do.
action session_fsm::flush()
{
    if (acknowledges_ > committed_) {
        state_ = state::committing;
        action wait = make(action::kind::wait_commit);
        wait.commit = acknowledges_;
        return wait;
    }
    state_ = state::writing;
    action write = make(action::kind::write);
    write.bytes = replies_;
    return write;
}

action session_fsm::finish(closed_by reason)
{
    state_ = state::closed;
    reason_ = reason;
    replies_.clear();
    action done = make(action::kind::close);
    done.reason = reason;
    return done;
}

void session_fsm::handle_iamat(const iamat_command& cmd)
{
    ++stats_.iamat;
    // The record owns the one copy of the line; the reply is copied from it.
    auto record = location_record::make(format_at(server_name_, now_ns_ - cmd.time_ns, cmd), cmd.time_ns, cmd.where);
    replies_ += record.at_line;
    replies_ += '\n';
    // A stale IAMAT still gets its AT reply; it just neither replaces the
    // stored record nor travels.
    acknowledges_ = std::max(acknowledges_, host_.store(std::move(record)));
}

bool session_fsm::handle_whatsat(const whatsat_command& cmd, std::string_view line, places_query& query)
{
    ++stats_.whatsat;
    const location_record* record = host_.find(cmd.client);
    if (record == nullptr) {
        ++stats_.invalid;
        append_invalid(replies_, line);
        return false;
    }
    whatsat_at_ = record->at_line;
    whatsat_bound_ = cmd.bound;
    query = places_query{record->where, cmd.within.metres, cmd.within.km, cmd.bound};
    return true;
}

void session_fsm::replied_since(std::size_t before)
{
    if (replies_.size() > before) {
        host_.replied(std::string_view(replies_).substr(before));
    }
}

} // namespace herd
