// The lines of broadcast = "tree", as pure functions (docs/protocol.md,
// "The broadcast tree"). Like records, each goes over the link the sender
// dialled; only the acceptor's answer to BROADCAST comes back on it.
//
//   dialer   -> "HERD herd/1 BROADCAST tree"        once, after WELCOME
//   acceptor -> "HERD herd/1 BROADCAST tree|flood"  how it broadcasts
//   either   -> "HERD herd/1 IHAVE <client> <time_ns> [<client> <time_ns> ...]"
//   either   -> "HERD herd/1 PRUNE"
//   either   -> "HERD herd/1 GRAFT [<client> <time_ns>]"
//
// A notice names a record by its client and its client time in
// nanoseconds: a store that holds the client at that time or later has it.
#pragma once

#include "peer/broadcast_tree.hpp"

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace herd::peer {

inline constexpr std::string_view prune_line = "HERD herd/1 PRUNE";

enum class tree_line_kind { broadcast, ihave, prune, graft };

struct tree_line {
    tree_line_kind kind = tree_line_kind::prune;
    bool tree = false;           // broadcast: "tree" (else "flood")
    std::vector<notice> notices; // ihave: one or more; graft: none (a tree link was lost) or one
};

// "HERD herd/1 BROADCAST tree" or "... flood", without the newline.
std::string format_broadcast(bool tree);
// Asking for `wanted`, or (none) only to be eager again.
std::string format_graft(const std::optional<notice>& wanted);

// The notices as IHAVE lines, each (with its '\n') at most `max_line`
// bytes, appended to `out`; how many lines. A notice too long for a line
// of its own is left out: no client ID is (255 bytes at most).
std::size_t append_ihave_lines(std::string& out, const std::vector<notice>& notices, std::size_t max_line);

// True for a line that starts like one of the four: the caller then
// parses it, and a line that starts so but does not parse is garbage.
bool is_tree_line(std::string_view line) noexcept;
std::optional<tree_line> parse_tree_line(std::string_view line);

} // namespace herd::peer
