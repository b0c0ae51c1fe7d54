// Performs a handshake machine's actions (peer/handshake.hpp) on a stream
// and feeds each result back: the I/O half of the handshake, shared by the
// dialer (peer_link::connect) and the acceptor (handle_peer).
#pragma once

#include "peer/handshake.hpp"
#include "peer/peer_stream.hpp"
#include "protocol/line_reader.hpp"

#include <boost/asio/awaitable.hpp>

#include <algorithm>
#include <concepts>
#include <string>
#include <string_view>
#include <utility>

namespace herd::peer {

// How a step of the handshake ended on the stream.
enum class step_outcome { done, timed_out, closed };

struct read_step {
    step_outcome outcome = step_outcome::closed;
    std::string line; // done: the line, without its '\n'
};

// One line within `limit`. A line of `max_bytes` with no '\n' yet ends the
// step as a close does; bytes after the line stay in `reader` (the records
// a dialer sends straight after its HELLO).
boost::asio::awaitable<read_step> read_step_line(peer_stream& stream, detail::line_reader& reader,
                                                 handshake_clock::duration limit, std::size_t max_bytes);

// `line` and a '\n' within `limit`.
boost::asio::awaitable<step_outcome> send_step_line(peer_stream& stream, std::string line,
                                                    handshake_clock::duration limit);

// What drive_handshake needs of a handshake: the events both sides'
// machines take (dialer_handshake and acceptor_handshake), and the
// deadline for the whole.
// (clang-format 14 breaks each requirement over three lines.)
// clang-format off
template <typename M>
concept handshake_machine = requires(M machine, std::string_view line) {
    { machine.start() } -> std::same_as<handshake_action>;
    { machine.on_line(line) } -> std::same_as<handshake_action>;
    { machine.on_sent() } -> std::same_as<handshake_action>;
    { machine.on_timeout() } -> std::same_as<handshake_action>;
    { machine.on_closed() } -> std::same_as<handshake_action>;
    machine.cancel();
    { M::deadline } -> std::convertible_to<handshake_clock::duration>;
};
// clang-format on

// The machine's next action after a step that ended `how`; `done` gives
// it the step's own result (on_line or on_sent).
template <handshake_machine Machine, typename Done>
handshake_action after_step(Machine& machine, step_outcome how, Done&& done)
{
    switch (how) {
    case step_outcome::done:
        return std::forward<Done>(done)();
    case step_outcome::timed_out:
        return machine.on_timeout();
    case step_outcome::closed:
        break;
    }
    return machine.on_closed();
}

// Runs `machine` to its end (done or fail), which it returns; a fail's
// REFUSED line, if any, is left to the caller to send once it has logged
// the failure. Each step gets the action's limit, within the machine's
// deadline from now. Once `stopped` is set the machine is cancelled before
// the next result reaches it.
template <handshake_machine Machine>
boost::asio::awaitable<handshake_action> drive_handshake(peer_stream& stream, detail::line_reader& reader,
                                                         Machine& machine, const bool& stopped)
{
    const auto started = handshake_clock::now();
    const auto within_deadline = [&](handshake_clock::duration limit) {
        if (Machine::deadline == handshake_clock::duration::max()) {
            return limit;
        }
        const auto left = std::max(started + Machine::deadline - handshake_clock::now(), handshake_clock::duration{});
        return std::min(limit, left);
    };
    if (stopped) {
        machine.cancel();
    }
    auto next = machine.start();
    for (;;) {
        switch (next.what) {
        case handshake_action::kind::done:
        case handshake_action::kind::fail:
            co_return next;
        case handshake_action::kind::read: {
            const auto limit = within_deadline(next.limit);
            auto read = read_step_line(stream, reader, limit, next.max_bytes);
            auto got = co_await std::move(read);
            if (stopped) {
                machine.cancel();
            }
            next = after_step(machine, got.outcome, [&] { return machine.on_line(got.line); });
            break;
        }
        case handshake_action::kind::send: {
            std::string line(next.line);
            const auto limit = within_deadline(next.limit);
            auto send = send_step_line(stream, std::move(line), limit);
            const auto sent = co_await std::move(send);
            if (stopped) {
                machine.cancel();
            }
            next = after_step(machine, sent, [&] { return machine.on_sent(); });
            break;
        }
        }
    }
}

} // namespace herd::peer
