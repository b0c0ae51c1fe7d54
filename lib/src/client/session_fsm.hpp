// One client session as an I/O-free state machine, in the manner of
// Boost.Redis's detail/*_fsm: events go in (bytes read, the end of input, a
// places answer, a commit, a write done, a close from the sweeper, a
// cancellation) and the next action comes out (read, yield a turn, ask
// places, wait for a commit, write, close). No sockets and no Asio: the
// rules of a client connection are here and are tested synchronously
// (test/session_fsm_test.cpp); handle_connection only performs the
// actions.
//
// The rules:
// - Lines are answered in the order they came, each reply after the one
//   before it, a WHATSAT's after its places answer; the replies of one read
//   go out in one write, or before the next line once they reach
//   limits.reply_bytes.
// - A line over limits.line_bytes, or that many bytes with no '\n' yet,
//   ends the session (long_line) once the replies to the lines before it
//   are written; nothing after it is read.
// - At the end of input the last line, with or without its '\n', is
//   answered, the replies written, and the session ends (client).
// - A write that acknowledges IAMATs waits for the store log to acknowledge
//   their records (wait_commit): with fsync = "always", until they are on
//   the disk. A log that fails first means the replies are never sent.
// - A close from the sweeper (idle, slow_reader) or a cancellation
//   (stopped) ends the session at the next event: whatever completes after
//   it (a read, a places answer, a commit, a write) is dropped, lines still
//   in the buffer are neither parsed nor stored, and replies not yet
//   written are never written. The server has given up on the connection,
//   so nothing more is done for it; its client saw no acknowledgement for
//   those lines and must send them again.
// - The first reason wins: a session already ending on a long line keeps
//   that reason if the sweeper then cuts its last write short.
#pragma once

#include "core/location_store.hpp"
#include "herd/places.hpp"
#include "herd/server.hpp"
#include "herd/topology.hpp"
#include "protocol/line_reader.hpp"

#include <boost/json/object.hpp>

#include <chrono>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace herd {

// Why a client's session ended: `client` unless the server ended it.
enum class closed_by {
    client,      // the end of its input, or its connection failed
    long_line,   // a line over limits.line_bytes
    slow_reader, // the sweeper: it read nothing of a write for limits.send_timeout
    idle,        // the sweeper: no complete line for limits.idle_timeout
    stopped,     // cancelled: still open when the server's shutdown grace ran out
};

// What a session needs of the server, besides its counters: the store, and
// the log of the bytes it exchanges.
class session_host {
public:
    virtual ~session_host() = default;
    // Stores an IAMAT's record and offers it to the neighbours. Returns the
    // number of the store log's last appended record, which the AT reply
    // acknowledges (0 with no store log: nothing to wait for).
    virtual std::uint64_t store(location_record record) = 0;
    virtual const location_record* find(std::string_view client) = 0;
    // A line taken from the client, and the replies to it.
    virtual void received(std::string_view line) = 0;
    virtual void replied(std::string_view replies) = 0;
};

struct session_limits {
    std::size_t line_bytes = 4096;
    std::size_t client_id_bytes = max_client_id_bytes;
    std::size_t reply_bytes = std::size_t{1} << 20;

    static session_limits from(const limits_config& limits)
    {
        return {limits.line_bytes, limits.client_id_bytes, limits.reply_bytes};
    }
};

class session_fsm {
public:
    using time_point = std::chrono::steady_clock::time_point;

    struct action {
        enum class kind {
            read,        // read into read_buffer(), then on_read
            yield,       // let the loop run one turn, then on_yielded
            ask_places,  // ask for `query`, then on_places
            wait_commit, // wait until the store log acknowledges record `commit`, then on_committed
            write,       // write all of `bytes`, then on_written
            close,       // the session is over, for `reason`
        };
        kind what = kind::read;
        closed_by reason = closed_by::client;
        std::uint64_t commit = 0;
        std::string_view bytes; // valid until the next event
        places_query query;
    };

    enum class read_result { data, eof, error };

    session_fsm(session_host& host, server_stats& stats, std::string_view server_name, session_limits limits,
                time_point connected = std::chrono::steady_clock::now());

    // The first action: a read.
    action start();

    // Where the next read goes; valid until on_read.
    std::span<char> read_buffer() { return reader_.prepare(); }
    // `bytes` were read into read_buffer() (eof and error: usually none).
    // `now_ns` is the clock the IAMAT skews are taken from, and `arrived`
    // the time the sweeper's idle time-out counts from: once per read.
    action on_read(std::size_t bytes, read_result result, std::int64_t now_ns, time_point arrived);
    action on_yielded();
    action on_places(boost::json::object answer);
    // The store log acknowledges records up to `acknowledged`; less than
    // the commit asked for means it has failed and never will.
    action on_committed(std::uint64_t acknowledged);
    action on_written(bool ok);

    // The sweeper's close: true if the session was still being served, and
    // its I/O should be made to fail (the socket closed).
    bool close(closed_by reason);
    // Ends the session at its next event, as stopped.
    void cancel();

    // Closed by the sweeper or cancelled: the driver's pending operation is
    // expected to fail, and its failure is not the client's.
    bool aborted() const noexcept { return aborted_; }
    // When it last sent a complete line (or connected): for the sweeper.
    time_point last_line() const noexcept { return last_line_; }

private:
    enum class state { idle, reading, yielding, asking, committing, writing, closed };

    action proceed();
    action flush();
    action finish(closed_by reason);
    void handle_iamat(const iamat_command& cmd);
    // Appends the reply, or returns the question for the places source.
    bool handle_whatsat(const whatsat_command& cmd, std::string_view line, places_query& query);
    void replied_since(std::size_t before);

    session_host& host_;
    server_stats& stats_;
    std::string server_name_;
    session_limits limits_;
    detail::line_reader reader_;
    std::string replies_;
    state state_ = state::idle;
    closed_by reason_ = closed_by::client;
    bool aborted_ = false;  // closed by the sweeper, cancelled, or its I/O or disk failed
    bool ending_ = false;   // no more reads: the replies are written, then the session closes
    bool in_batch_ = false; // lines of the last read may be left in reader_
    bool replied_ = false;  // the last read's replies were written at its end
    std::int64_t now_ns_ = 0;
    time_point arrived_;
    time_point last_line_;
    std::uint64_t acknowledges_ = 0; // the store log's last record the replies acknowledge
    std::uint64_t committed_ = 0;    // how far the store log is known to acknowledge
    // The WHATSAT waiting for its places: its stored AT line (copied, as the
    // record may be replaced meanwhile), its bound, and where its reply
    // begins.
    std::string whatsat_at_;
    unsigned whatsat_bound_ = 0;
    std::size_t whatsat_before_ = 0;
};

} // namespace herd
