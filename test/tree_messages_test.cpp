// The lines of broadcast = "tree" (peer/tree_messages.hpp).
#include "peer/tree_messages.hpp"

#include <catch2/catch.hpp>

using namespace herd::peer;

TEST_CASE("tree lines: BROADCAST, PRUNE and GRAFT read back as written", "[tree]")
{
    CHECK(format_broadcast(true) == "HERD herd/1 BROADCAST tree");
    CHECK(format_broadcast(false) == "HERD herd/1 BROADCAST flood");
    const auto tree = parse_tree_line(format_broadcast(true));
    REQUIRE(tree);
    CHECK(tree->kind == tree_line_kind::broadcast);
    CHECK(tree->tree);
    const auto flood = parse_tree_line(format_broadcast(false));
    REQUIRE(flood);
    CHECK_FALSE(flood->tree);

    const auto prune = parse_tree_line(prune_line);
    REQUIRE(prune);
    CHECK(prune->kind == tree_line_kind::prune);

    const auto graft = parse_tree_line(format_graft(notice{"kiwi.cs.ucla.edu", 1'700'000'000'123'456'789}));
    REQUIRE(graft);
    CHECK(graft->kind == tree_line_kind::graft);
    CHECK(graft->notices == std::vector<notice>{{"kiwi.cs.ucla.edu", 1'700'000'000'123'456'789}});
    CHECK(format_graft(std::nullopt) == "HERD herd/1 GRAFT");
    const auto bare = parse_tree_line("HERD herd/1 GRAFT");
    REQUIRE(bare);
    CHECK(bare->kind == tree_line_kind::graft);
    CHECK(bare->notices.empty());
}

TEST_CASE("tree lines: notices go in IHAVE lines no longer than the peer line limit, and read back", "[tree]")
{
    std::vector<notice> notices;
    for (int i = 0; i < 100; ++i) {
        notices.push_back({"client-" + std::to_string(i), -5 + i * 1'000'000'007LL});
    }
    std::string out;
    const auto lines = append_ihave_lines(out, notices, 128);
    CHECK(lines > 1);
    std::vector<notice> back;
    std::size_t count = 0;
    for (std::size_t start = 0; start < out.size();) {
        const auto end = out.find('\n', start);
        REQUIRE(end != std::string::npos);
        const std::string_view line(out.data() + start, end - start);
        CHECK(line.size() + 1 <= 128);
        CHECK(is_tree_line(line));
        const auto parsed = parse_tree_line(line);
        REQUIRE(parsed);
        CHECK(parsed->kind == tree_line_kind::ihave);
        back.insert(back.end(), parsed->notices.begin(), parsed->notices.end());
        ++count;
        start = end + 1;
    }
    CHECK(count == lines);
    CHECK(back == notices);

    std::string none;
    CHECK(append_ihave_lines(none, {}, 1024) == 0);
    CHECK(none.empty());
}

TEST_CASE("tree lines: malformed ones are refused, and other peer lines are not tree lines", "[tree]")
{
    for (const char* bad :
         {"HERD herd/1 BROADCAST", "HERD herd/1 BROADCAST star", "HERD herd/1 PRUNE now", "HERD herd/1 IHAVE",
          "HERD herd/1 IHAVE kiwi", "HERD herd/1 IHAVE kiwi 1.5", "HERD herd/1 IHAVE kiwi +1",
          "HERD herd/1 IHAVE kiwi 1 plum", "HERD herd/1 IHAVE kiwi  1", "HERD herd/1 GRAFT kiwi 1 plum 2",
          "HERD herd/1 GRAFT ", "HERD herd/1 IHAVE kiwi 99999999999999999999"}) {
        INFO(bad);
        CHECK(is_tree_line(bad));
        CHECK_FALSE(parse_tree_line(bad));
    }
    for (const char* other : {"HERD herd/1 PING", "HERD herd/1 COMPARE 0 1", "AT Hands +0.1 kiwi +1+1 1",
                              "HERD herd/2 PRUNE", "HERD herd/1 PRUNED"}) {
        INFO(other);
        CHECK_FALSE(is_tree_line(other));
    }
}
