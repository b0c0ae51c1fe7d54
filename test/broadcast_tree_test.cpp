// The Plumtree rules of broadcast = "tree", run as whole herds in one
// thread: every server a broadcast_tree and a store (client -> time), every
// message through one FIFO, time moved by hand.
#include "peer/broadcast_tree.hpp"

#include <catch2/catch.hpp>

#include <deque>
#include <map>
#include <optional>
#include <random>
#include <set>

using namespace herd::peer;
using namespace std::chrono_literals;

namespace {

struct message {
    enum class kind { full, notices, prune, graft } what;
    std::string from;
    std::string to;
    std::vector<notice> notices; // full: one; graft: none (a lost tree link) or one
};

class sim_herd {
public:
    explicit sim_herd(const std::map<std::string, std::vector<std::string>>& neighbours)
    {
        for (const auto& [name, list] : neighbours) {
            for (const auto& n : list) {
                links.insert({std::min(name, n), std::max(name, n)});
            }
        }
        for (const auto& [a, b] : links) {
            servers[a].tree.link_up(b);
            servers[b].tree.link_up(a);
        }
    }

    void iamat(const std::string& at, const std::string& client, std::int64_t time)
    {
        store(at, {client, time}, "");
        run();
    }

    // Both ends see the link go down; what is in flight on it is lost.
    void cut(const std::string& a, const std::string& b)
    {
        links.erase({std::min(a, b), std::max(a, b)});
        for (const auto& [end, other] : {std::pair{a, b}, std::pair{b, a}}) {
            for (const auto& lazy : servers[end].tree.link_down(other)) {
                send({message::kind::graft, end, lazy, {}});
            }
        }
    }

    // Delivers everything, each message taking 1 ms, flushing notices
    // after each and firing the timers that are due; when nothing is in
    // flight, moves the clock to the next deadline. Until the herd is quiet.
    void run()
    {
        for (int steps = 0; steps < 100000; ++steps) {
            flush_notices();
            if (!queue_.empty()) {
                deliver_one();
                now += 1ms;
                fire_timers();
                continue;
            }
            std::optional<broadcast_tree::time_point> next;
            for (auto& [name, s] : servers) {
                if (auto d = s.tree.next_deadline(); d && (!next || *d < *next)) {
                    next = d;
                }
            }
            if (!next) {
                return;
            }
            now = std::max(now, *next);
            fire_timers();
        }
        FAIL("the herd did not settle");
    }

    bool has(const std::string& server, const std::string& client, std::int64_t time)
    {
        const auto& st = servers[server].store;
        const auto it = st.find(client);
        return it != st.end() && it->second >= time;
    }

    std::size_t eager_links() const
    {
        std::size_t n = 0;
        for (const auto& [a, b] : links) {
            n += servers.at(a).tree.is_eager(b) ? 1 : 0;
        }
        return n;
    }

    std::map<message::kind, std::size_t> sent;

    struct server {
        broadcast_tree tree;
        std::map<std::string, std::int64_t> store;
    };
    std::map<std::string, server> servers;
    std::set<std::pair<std::string, std::string>> links;
    broadcast_tree::time_point now{};

private:
    bool linked(const std::string& a, const std::string& b) const
    {
        return links.contains({std::min(a, b), std::max(a, b)});
    }

    void send(message m)
    {
        if (linked(m.from, m.to)) {
            ++sent[m.what];
            queue_.push_back(std::move(m));
        }
    }

    void store(const std::string& at, const notice& record, const std::string& from)
    {
        auto& s = servers[at];
        s.store[record.client] = record.time_ns;
        for (const auto& to : s.tree.on_stored(record, from)) {
            send({message::kind::full, at, to, {record}});
        }
    }

    void flush_notices()
    {
        for (auto& [name, s] : servers) {
            for (const auto& [a, b] : links) {
                if (a != name && b != name) {
                    continue;
                }
                const std::string& peer = a == name ? b : a;
                if (auto ns = s.tree.take_notices(peer); !ns.empty()) {
                    send({message::kind::notices, name, peer, std::move(ns)});
                }
            }
        }
    }

    void fire_timers()
    {
        for (auto& [name, s] : servers) {
            for (auto& g : s.tree.on_timer(now)) {
                send({message::kind::graft, name, g.peer, {g.wanted}});
            }
        }
    }

    void deliver_one()
    {
        message m = std::move(queue_.front());
        queue_.pop_front();
        if (!linked(m.from, m.to)) {
            return; // the link went down with it in flight
        }
        auto& s = servers[m.to];
        switch (m.what) {
        case message::kind::full: {
            const auto& r = m.notices.front();
            if (!has(m.to, r.client, r.time_ns)) {
                store(m.to, r, m.from);
            } else if (s.tree.on_redundant(m.from)) {
                send({message::kind::prune, m.to, m.from, {}});
            }
            break;
        }
        case message::kind::notices: {
            const auto known = [&](const notice& n) { return has(m.to, n.client, n.time_ns); };
            s.tree.on_notices(m.from, m.notices, known, now);
            break;
        }
        case message::kind::prune:
            s.tree.on_prune(m.from);
            break;
        case message::kind::graft: {
            s.tree.on_graft(m.from);
            if (m.notices.empty()) {
                break; // only to be eager again
            }
            const auto& want = m.notices.front();
            if (const auto it = s.store.find(want.client); it != s.store.end()) {
                send({message::kind::full, m.to, m.from, {{want.client, it->second}}});
            }
            break;
        }
        }
    }

    std::deque<message> queue_;
};

const std::map<std::string, std::vector<std::string>> default_herd{
    {"Goloman", {"Hands", "Holiday", "Wilkes"}},
    {"Hands", {"Wilkes"}},
    {"Holiday", {"Welsh", "Wilkes"}},
};

std::map<std::string, std::vector<std::string>> random_herd(int n, int degree, unsigned seed)
{
    std::mt19937 rng(seed);
    std::map<std::string, std::vector<std::string>> out;
    const auto name = [](int i) { return "s" + std::to_string(i); };
    std::set<std::pair<int, int>> edges;
    for (int i = 1; i < n; ++i) { // a random spanning tree first: connected
        edges.insert({std::uniform_int_distribution<int>(0, i - 1)(rng), i});
    }
    while (edges.size() < static_cast<std::size_t>(n * degree / 2)) {
        int a = std::uniform_int_distribution<int>(0, n - 1)(rng);
        int b = std::uniform_int_distribution<int>(0, n - 1)(rng);
        if (a != b) {
            edges.insert({std::min(a, b), std::max(a, b)});
        }
    }
    for (int i = 0; i < n; ++i) {
        out[name(i)];
    }
    for (const auto& [a, b] : edges) {
        out[name(a)].push_back(name(b));
    }
    return out;
}

bool everywhere(sim_herd& h, const std::string& client, std::int64_t time)
{
    for (const auto& [name, s] : h.servers) {
        if (!h.has(name, client, time)) {
            return false;
        }
    }
    return true;
}

} // namespace

TEST_CASE("tree: the first update floods and prunes, later ones take N - 1 full messages", "[tree]")
{
    sim_herd h(default_herd);
    h.iamat("Goloman", "warm", 1);
    CHECK(everywhere(h, "warm", 1));
    CHECK(h.sent[message::kind::prune] > 0);
    CHECK(h.eager_links() == 4); // a spanning tree of five servers

    h.sent.clear();
    for (int i = 0; i < 20; ++i) {
        h.iamat(i % 2 == 0 ? "Goloman" : "Welsh", "kiwi" + std::to_string(i), 10 + i);
        CHECK(everywhere(h, "kiwi" + std::to_string(i), 10 + i));
    }
    CHECK(h.sent[message::kind::full] == 20 * 4);
    CHECK(h.sent[message::kind::prune] == 0);
    CHECK(h.sent[message::kind::graft] == 0);
    CHECK(h.sent[message::kind::notices] > 0); // the lazy links still carry notices
}

TEST_CASE("tree: a cut tree link is grafted around, and nothing is lost", "[tree]")
{
    sim_herd h(default_herd);
    h.iamat("Goloman", "warm", 1);
    // Cut whichever tree link Welsh does not need: its only link is
    // Holiday, so cut an eager link elsewhere, between two servers that
    // have another way round.
    std::pair<std::string, std::string> cut;
    for (const auto& [a, b] : h.links) {
        if (a != "Welsh" && b != "Welsh" && h.servers[a].tree.is_eager(b)) {
            cut = {a, b};
            break;
        }
    }
    REQUIRE_FALSE(cut.first.empty());
    h.sent.clear();
    h.cut(cut.first, cut.second);
    h.iamat("Goloman", "after-cut", 2);
    CHECK(everywhere(h, "after-cut", 2));
    CHECK(h.sent[message::kind::graft] >= 1); // at the cut, or for the record
    // The repaired tree carries the next updates with no graft; once any
    // second graft's redundant link is pruned, in N - 1 full messages.
    h.iamat("Hands", "next", 3);
    CHECK(everywhere(h, "next", 3));
    h.sent.clear();
    h.iamat("Welsh", "third", 4);
    CHECK(everywhere(h, "third", 4));
    CHECK(h.sent[message::kind::graft] == 0);
    CHECK(h.sent[message::kind::full] == 4);
}

TEST_CASE("tree: a 50-server herd of degree 4 converges to RMR 0 with nothing lost", "[tree]")
{
    for (unsigned seed = 1; seed <= 5; ++seed) {
        INFO("seed " << seed);
        sim_herd h(random_herd(50, 4, seed));
        h.iamat("s0", "warm", 1);
        REQUIRE(everywhere(h, "warm", 1));
        h.sent.clear();
        constexpr int updates = 100;
        std::mt19937 rng(seed);
        for (int i = 0; i < updates; ++i) {
            const auto at = "s" + std::to_string(std::uniform_int_distribution<int>(0, 49)(rng));
            h.iamat(at, "c" + std::to_string(i), 10 + i);
            REQUIRE(everywhere(h, "c" + std::to_string(i), 10 + i));
        }
        const double rmr = static_cast<double>(h.sent[message::kind::full]) / (updates * 49.0) - 1.0;
        CHECK(rmr == Approx(0.0).margin(0.01));
    }
}

TEST_CASE("tree: a notice for a record already held, or an older one, waits for nothing", "[tree]")
{
    broadcast_tree t;
    t.link_up("A");
    t.on_prune("A");
    const broadcast_tree::time_point now{};
    t.on_notices(
        "A", {{"held", 5}}, [](const notice&) { return true; }, now);
    CHECK(t.awaited() == 0);
    t.on_notices(
        "A", {{"kiwi", 5}}, [](const notice&) { return false; }, now);
    t.on_notices(
        "A", {{"kiwi", 4}}, [](const notice&) { return false; }, now);
    CHECK(t.awaited() == 1);
    CHECK(t.next_deadline() == now + 250ms);
    CHECK(t.on_timer(now + 249ms).empty());
    // Come before its deadline, down the tree: no graft, and A, lazy, is
    // owed a notice.
    CHECK(t.on_stored({"kiwi", 5}, "B").empty());
    CHECK(t.take_notices("A") == std::vector<notice>{{"kiwi", 5}});
    CHECK(t.awaited() == 0);
    CHECK(t.on_timer(now + 1s).empty());
}

TEST_CASE("tree: an awaited record is grafted from its first announcer, then the next, and a link that goes down "
          "is no announcer",
          "[tree]")
{
    broadcast_tree t;
    for (const auto* p : {"A", "B", "C"}) {
        t.link_up(p);
        t.on_prune(p);
    }
    const broadcast_tree::time_point now{};
    const auto unknown = [](const notice&) { return false; };
    t.on_notices("A", {{"kiwi", 7}}, unknown, now);
    t.on_notices("B", {{"kiwi", 7}}, unknown, now + 10ms);
    t.on_notices("C", {{"kiwi", 7}}, unknown, now + 20ms);
    t.link_down("B");
    CHECK(t.on_timer(now + 250ms) == std::vector<broadcast_tree::graft>{{"A", {"kiwi", 7}}});
    CHECK(t.is_eager("A"));
    CHECK(t.on_timer(now + 300ms).empty());
    CHECK(t.on_timer(now + 375ms) == std::vector<broadcast_tree::graft>{{"C", {"kiwi", 7}}});
    CHECK(t.awaited() == 0); // no announcer left: reconciliation is the safety net
    // A record stored while lazy links are up owes each a notice.
    t.on_prune("A");
    t.on_prune("C");
    CHECK(t.on_stored({"wombat", 1}, "").empty());
    CHECK(t.take_notices("A") == std::vector<notice>{{"wombat", 1}});
    CHECK(t.take_notices("A").empty());
    CHECK(t.take_notices("B").empty()); // gone
}

TEST_CASE("tree: a lost eager link makes every lazy link eager, to be grafted, and a lost lazy one changes nothing",
          "[tree]")
{
    broadcast_tree t;
    for (const auto* p : {"A", "B", "C", "D"}) {
        t.link_up(p);
    }
    t.on_prune("B");
    t.on_prune("C");
    CHECK(t.link_down("B").empty()); // lazy: the tree is whole without it
    CHECK(t.is_lazy("C"));
    CHECK(t.link_down("A") == std::vector<std::string>{"C"});
    CHECK(t.is_eager("C"));
    CHECK(t.is_eager("D"));
    CHECK(t.link_down("D").empty()); // eager, but no lazy link is left
}

TEST_CASE("tree: a server cut off by a lost server gets the next update at once, with no record-by-record graft",
          "[tree]")
{
    // Welsh hangs off Holiday; Holiday also reaches Goloman and Wilkes.
    sim_herd h(default_herd);
    h.iamat("Goloman", "warm", 1);
    h.iamat("Hands", "warm2", 2);
    // Cut every eager link of one server that has a lazy one: the others
    // must reach round it.
    std::string hub;
    for (const auto& [name, s] : h.servers) {
        std::size_t eager = 0;
        std::size_t lazy = 0;
        for (const auto& [a, b] : h.links) {
            if (a == name || b == name) {
                const auto& other = a == name ? b : a;
                eager += s.tree.is_eager(other) ? 1 : 0;
                lazy += s.tree.is_lazy(other) ? 1 : 0;
            }
        }
        if (eager >= 1 && lazy >= 1 && name != "Welsh") {
            hub = name;
            break;
        }
    }
    REQUIRE_FALSE(hub.empty());
    std::vector<std::pair<std::string, std::string>> eager_links;
    for (const auto& [a, b] : h.links) {
        if ((a == hub || b == hub) && h.servers[hub].tree.is_eager(a == hub ? b : a)) {
            eager_links.emplace_back(a, b);
        }
    }
    for (const auto& [a, b] : eager_links) {
        h.cut(a, b);
    }
    h.sent.clear();
    const auto before = h.now;
    h.iamat(hub, "after", 3);
    CHECK(everywhere(h, "after", 3));
    CHECK(h.now - before < 250ms); // no graft_timeout waited
}
