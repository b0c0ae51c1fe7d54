// The topology loader: the shipped herd.toml, defaults, and a refusal
// naming the problem for every mistake.
#include "herd/topology.hpp"

#include <catch2/catch.hpp>

#include <map>

using namespace herd;

namespace {

topology parse(std::string_view text, std::map<std::string, std::string> env = {})
{
    return parse_topology(text, "test.toml", "/base", [env](const std::string& name) -> std::optional<std::string> {
        auto it = env.find(name);
        return it == env.end() ? std::nullopt : std::optional<std::string>(it->second);
    });
}

std::string refusal(std::string_view text)
{
    try {
        parse(text);
    } catch (const topology_error& e) {
        return e.what();
    }
    return "(accepted)";
}

constexpr std::string_view minimal = R"(
[servers.Goloman]
port = 12125
neighbors = ["Hands"]
[servers.Hands]
port = 12126
)";

} // namespace

TEST_CASE("the repository's herd.toml is the default herd of five", "[topology]")
{
    const auto herd = load_topology(HERD_SOURCE_DIR "/herd.toml");
    REQUIRE(herd.names() == "Goloman, Hands, Holiday, Welsh, Wilkes");
    const std::map<std::string, std::pair<int, std::vector<std::string>>> expected{
        {"Goloman", {12125, {"Hands", "Holiday", "Wilkes"}}},
        {"Hands", {12126, {"Goloman", "Wilkes"}}},
        {"Holiday", {12127, {"Goloman", "Welsh", "Wilkes"}}},
        {"Welsh", {12128, {"Holiday"}}},
        {"Wilkes", {12129, {"Goloman", "Hands", "Holiday"}}}};
    for (const auto& s : herd.servers) {
        INFO(s.name);
        CHECK(s.host == "127.0.0.1");
        CHECK(s.port == expected.at(s.name).first);
        CHECK(s.peer_port == s.port + 10000);
        CHECK(s.neighbors == expected.at(s.name).second);
    }
    CHECK_FALSE(herd.secret);
    CHECK(herd.places.provider == "auto");
    CHECK(herd.places.key_env == "GOOGLE_PLACES_API_KEY");
    CHECK(herd.places.cache_ttl == std::chrono::seconds(60));
}

TEST_CASE("a minimal file runs with defaults, and links are made bidirectional", "[topology]")
{
    const auto herd = parse(minimal);
    CHECK(herd.find("Hands")->neighbors == std::vector<std::string>{"Goloman"});
    CHECK(herd.find("Hands")->peer_port == 22126);
    CHECK(herd.find("Hands")->host == "127.0.0.1");
    CHECK(herd.places.file.empty());
    CHECK(herd.places.world);
    CHECK(herd.places.timeout == std::chrono::seconds(5));
    CHECK(herd.log_dir.empty());
    CHECK(herd.log_every_line);
    CHECK_FALSE(herd.secret);
}

TEST_CASE("settings are read, relative paths against the file's directory", "[topology]")
{
    const auto herd = parse(R"(
[herd]
log_dir = "var/log"
log_level = "warn"
secret_env = "MY_SECRET"
[places]
file = "/data/places.geojson"
world = false
timeout = 0.25
[servers.A]
host = "localhost"
port = 4000
peer_port = 4100
)",
                            {{"MY_SECRET", "s3cret"}});
    CHECK(herd.log_dir == std::filesystem::path("/base/var/log"));
    CHECK_FALSE(herd.log_every_line);
    CHECK(herd.secret == "s3cret");
    CHECK(herd.secret_origin == "environment variable MY_SECRET");
    CHECK(herd.places.file == std::filesystem::path("/data/places.geojson"));
    CHECK_FALSE(herd.places.world);
    CHECK(herd.places.timeout == std::chrono::milliseconds(250));
    CHECK(herd.find("A")->host == "localhost");
    CHECK(herd.find("A")->peer_port == 4100);
}

TEST_CASE("every mistake in a topology file is refused with a message naming it", "[topology]")
{
    CHECK_THAT(refusal("[servers.A]\nport = 1\nneighbors = [\"B\"]\n"),
               Catch::Contains("unknown server \"B\"") && Catch::Contains("known: A"));
    CHECK_THAT(refusal("[servers.A]\nport = 1\nneighbors = [\"A\"]\n"), Catch::Contains("A lists itself"));
    CHECK_THAT(refusal("[servers.A]\nport = 1\n[servers.B]\nport = 1\n"),
               Catch::Contains("servers.B.port and servers.A.port both use 127.0.0.1:1"));
    CHECK_THAT(refusal("[servers.A]\nport = 1\n[servers.B]\nport = 2\npeer_port = 10001\n"),
               Catch::Contains("both use 127.0.0.1:10001"));
    CHECK_THAT(refusal("[servers.A]\nport = 1\npeer_port = 1\n"), Catch::Contains("both use 127.0.0.1:1"));
    CHECK_THAT(refusal("[servers.A]\nneighbors = []\n"), Catch::Contains("servers.A.port is missing"));
    CHECK_THAT(refusal("[servers.A]\nport = 70000\n"), Catch::Contains("servers.A.port must be a port number"));
    CHECK_THAT(refusal("[herd]\nlog_level = \"debug\"\n[servers.A]\nport = 1\n"), Catch::Contains("herd.log_level"));
    CHECK_THAT(refusal("[places]\nworld = \"yes\"\n[servers.A]\nport = 1\n"),
               Catch::Contains("places.world must be true or false"));
    CHECK_THAT(refusal("[servers.A]\nport = \"12125\"\n"), Catch::Contains("servers.A.port must be a port number"));
    CHECK_THAT(refusal("[servers.A]\nport = 60000\n"), Catch::Contains("peer_port defaults to port + 10000"));
    CHECK_THAT(refusal("[servers.A]\nport = 1\nneighbours = []\n"),
               Catch::Contains("unknown key servers.A.neighbours"));
    CHECK_THAT(refusal("[servers.A]\nport = 1\nneighbors = [1]\n"), Catch::Contains("array of server names"));
    CHECK_THAT(refusal("[servers.\"A B\"]\nport = 1\n"), Catch::Contains("no white space"));
    CHECK_THAT(refusal("[herd]\n"), Catch::Contains("no servers"));
    CHECK_THAT(refusal("[server.A]\nport = 1\n"), Catch::Contains("unknown key server"));
    CHECK_THAT(refusal("[servers.A]\nport = 1\n[places]\nprovider = \"bing\"\n"),
               Catch::Contains("places.provider \"bing\""));
    CHECK_THAT(refusal("[servers.A]\nport = 1\n[places]\ntimeout = 0\n"), Catch::Contains("places.timeout"));
    CHECK_THAT(refusal("[servers.A]\nport = 1\n[herd]\nsecret_env = \"UNSET_VAR\"\n"),
               Catch::Contains("UNSET_VAR, which is not set"));
    CHECK_THAT(refusal("[servers.A]\nport = 1\n[herd]\nsecret = \"x\"\nsecret_env = \"Y\"\n"),
               Catch::Contains("not both"));
    CHECK_THAT(refusal("[servers.A]\nport = = 1\n"), Catch::Contains("test.toml") && Catch::Contains("line 2"));
    CHECK_THAT(refusal("[servers.A]\nport = 1\n[herd]\nsecret = \"\"\n"), Catch::Contains("must not be empty"));
}

TEST_CASE("a missing topology file is refused", "[topology]")
{
    CHECK_THROWS_WITH(load_topology("/nonexistent/herd.toml"), Catch::Contains("cannot be read"));
}

TEST_CASE("[limits] is read, and refused out of range", "[topology][limits]")
{
    const auto defaults = parse(minimal);
    CHECK(defaults.limits.line_bytes == 4096);
    CHECK(defaults.limits.client_id_bytes == 255);
    CHECK(defaults.limits.connections == 10000);
    CHECK(defaults.limits.idle_timeout == std::chrono::seconds(300));
    CHECK(defaults.limits.reply_bytes == 1 << 20);
    CHECK(defaults.limits.send_timeout == std::chrono::seconds(30));
    CHECK(defaults.limits.peer_line_bytes == 1024);
    const auto set = parse(std::string(minimal) + "[limits]\nline_bytes = 1000\nconnections = 5\nidle_timeout = 1.5\n"
                                                  "reply_bytes = 8192\nsend_timeout = 2\npeer_line_bytes = 600\n");
    CHECK(set.limits.line_bytes == 1000);
    CHECK(set.limits.connections == 5);
    CHECK(set.limits.idle_timeout == std::chrono::milliseconds(1500));
    CHECK(set.limits.reply_bytes == 8192);
    CHECK(set.limits.send_timeout == std::chrono::seconds(2));
    CHECK(set.limits.peer_line_bytes == 600);
    CHECK_THAT(refusal(std::string(minimal) + "[limits]\nline_bytes = 100\n"), Catch::Contains("limits.line_bytes"));
    CHECK_THAT(refusal(std::string(minimal) + "[limits]\nconnections = 0\n"), Catch::Contains("limits.connections"));
    CHECK_THAT(refusal(std::string(minimal) + "[limits]\nclient_id_bytes = 256\n"),
               Catch::Contains("limits.client_id_bytes"));
    CHECK_THAT(refusal(std::string(minimal) + "[limits]\nidle_timeout = 0\n"), Catch::Contains("limits.idle_timeout"));
    CHECK_THAT(refusal(std::string(minimal) + "[limits]\nline_bytes = \"big\"\n"),
               Catch::Contains("limits.line_bytes"));
    CHECK_THAT(refusal(std::string(minimal) + "[limits]\nmax_lines = 3\n"),
               Catch::Contains("unknown key limits.max_lines"));
}

TEST_CASE("without a secret every server's host must be a loopback address", "[topology][secret]")
{
    // Without a secret the peer port stays on loopback, where peers dial
    // the server's own host: a host off loopback could never be reached.
    CHECK_THAT(refusal("[servers.A]\nhost = \"10.0.0.5\"\nport = 1\n"),
               Catch::Contains("servers.A.host \"10.0.0.5\" is not a loopback address") &&
                   Catch::Contains("herd.secret"));
    CHECK_THAT(refusal("[servers.A]\nhost = \"herd-a.example\"\nport = 1\n"),
               Catch::Contains("servers.A.host \"herd-a.example\" is not a loopback address"));
    CHECK_THAT(refusal("[servers.A]\nhost = \"0.0.0.0\"\nport = 1\n"), Catch::Contains("not a loopback address"));
    for (const auto* host : {"127.0.0.1", "127.0.0.3", "127.255.0.9", "localhost", "::1", "LocalHost"}) {
        INFO(host);
        const auto herd = parse("[servers.A]\nhost = \"" + std::string(host) + "\"\nport = 1\n");
        CHECK(herd.find("A")->host == host);
    }
    const auto with_secret = parse("[herd]\nsecret = \"s\"\n[servers.A]\nhost = \"10.0.0.5\"\nport = 1\n");
    CHECK(with_secret.find("A")->host == "10.0.0.5");

    CHECK(is_loopback_host("127.0.0.3"));
    CHECK(is_loopback_host("localhost"));
    CHECK(is_loopback_host("::1"));
    CHECK_FALSE(is_loopback_host("128.0.0.1"));
    CHECK_FALSE(is_loopback_host("0.0.0.0"));
    CHECK_FALSE(is_loopback_host("::"));
    CHECK_FALSE(is_loopback_host("example.org"));
}

TEST_CASE("an admin port that its default would push past 65535 is refused", "[topology]")
{
    // http_port = 0: its own default, port + 30000, would be refused too.
    CHECK_THAT(refusal("[servers.A]\nport = 50000\npeer_port = 1000\nhttp_port = 0\n"),
               Catch::Contains("servers.A.admin_port defaults to port + 20000, which is past 65535") &&
                   Catch::Contains("admin_port = 0"));
    const auto off = parse("[servers.A]\nport = 50000\npeer_port = 1000\nadmin_port = 0\nhttp_port = 0\n");
    CHECK(off.find("A")->admin_port == 0);
    const auto set = parse("[servers.A]\nport = 50000\npeer_port = 1000\nadmin_port = 1001\nhttp_port = 0\n");
    CHECK(set.find("A")->admin_port == 1001);
}

TEST_CASE("the HTTP port defaults to port + 30000, 0 turns it off, and HTTPS needs a certificate and a key",
          "[topology]")
{
    CHECK(parse("[servers.A]\nport = 12125\n").find("A")->http_port == 42125);
    CHECK(parse("[servers.A]\nport = 12125\nhttp_port = 0\n").find("A")->http_port == 0);
    CHECK_THAT(refusal("[servers.A]\nport = 40000\nhttp_port = 0\nadmin_port = 0\npeer_port = 1\n[servers.B]\n"
                       "port = 40001\nadmin_port = 0\npeer_port = 2\n"),
               Catch::Contains("servers.B.http_port defaults to port + 30000, which is past 65535") &&
                   Catch::Contains("http_port = 0 turns HTTP off"));
    CHECK_THAT(refusal("[servers.A]\nport = 1\nhttp_port = 1\n"), Catch::Contains("both use 127.0.0.1:1"));
    CHECK_THAT(refusal("[servers.A]\nport = 1\nhttp_cert_file = \"a.pem\"\n"),
               Catch::Contains("servers.A.http_cert_file and servers.A.http_key_file go together"));
    const auto https = parse("[servers.A]\nport = 1\nhttp_cert_file = \"/certs/{name}.pem\"\n"
                             "http_key_file = \"/certs/{name}.key\"\n");
    CHECK(https.find("A")->http_cert == "/certs/A.pem");
    CHECK(https.find("A")->http_key == "/certs/A.key");
}

TEST_CASE("ports are compared by address, not by the host's spelling", "[topology]")
{
    CHECK_THAT(refusal("[servers.A]\nhost = \"localhost\"\nport = 1\n[servers.B]\nhost = \"127.0.0.1\"\nport = 1\n"),
               Catch::Contains("servers.B.port and servers.A.port both use 127.0.0.1:1"));
    CHECK_THAT(refusal("[servers.A]\nhost = \"0:0:0:0:0:0:0:1\"\nport = 1\n[servers.B]\nhost = \"::1\"\nport = 1\n"),
               Catch::Contains("both use [::1]:1"));
    CHECK_THAT(refusal("[herd]\nsecret = \"s\"\n[servers.A]\nhost = \"0.0.0.0\"\nport = 1\n"
                       "[servers.B]\nhost = \"10.0.0.2\"\nport = 1\n"),
               Catch::Contains("both use"));
    // Admin endpoints listen on herd.admin_host, whatever the server's host.
    CHECK_THAT(refusal("[servers.A]\nhost = \"127.0.0.2\"\nport = 1\nadmin_port = 5\n"
                       "[servers.B]\nhost = \"127.0.0.3\"\nport = 2\nadmin_port = 5\n"),
               Catch::Contains("servers.B.admin_port and servers.A.admin_port both use 127.0.0.1:5"));
    const auto apart = parse("[servers.A]\nhost = \"127.0.0.2\"\nport = 1\n"
                             "[servers.B]\nhost = \"127.0.0.3\"\nport = 1\nadmin_port = 20002\n");
    CHECK(apart.find("A")->port == apart.find("B")->port);
}

TEST_CASE("a neighbour named twice is refused", "[topology]")
{
    CHECK_THAT(refusal("[servers.A]\nport = 1\nneighbors = [\"B\", \"B\"]\n[servers.B]\nport = 2\n"),
               Catch::Contains("servers.A.neighbors names \"B\" twice"));
}

TEST_CASE("a topology path that is a directory, or unreadable, is refused with the reason", "[topology]")
{
    CHECK_THROWS_WITH(load_topology(HERD_SOURCE_DIR "/docs"),
                      Catch::Contains("/docs: is a directory, not a topology file"));
    CHECK_THROWS_WITH(load_topology("/nonexistent/herd.toml"),
                      Catch::Contains("/nonexistent/herd.toml: cannot be read: No such file or directory"));
}

TEST_CASE("log rotation is read from [herd], and refused out of range", "[topology][log]")
{
    const auto defaults = parse(minimal);
    CHECK(defaults.log_rotation.max_bytes == 0);
    CHECK(defaults.log_rotation.max_files == 5);
    const auto set =
        parse(std::string("[herd]\nlog_max_bytes = 104857600\nlog_max_files = 3\n") + std::string(minimal));
    CHECK(set.log_rotation.max_bytes == 104857600);
    CHECK(set.log_rotation.max_files == 3);
    CHECK_THAT(refusal(std::string("[herd]\nlog_max_bytes = 1000\n") + std::string(minimal)),
               Catch::Contains("herd.log_max_bytes must be 0 (no rotation) or from 1048576"));
    CHECK_THAT(refusal(std::string("[herd]\nlog_max_files = 0\n") + std::string(minimal)),
               Catch::Contains("herd.log_max_files must be a whole number from 1 to 100"));
}

TEST_CASE("limits.admin_connections is read, and refused out of range", "[topology][limits][admin]")
{
    CHECK(parse(minimal).limits.admin_connections == 8);
    CHECK(parse(std::string(minimal) + "[limits]\nadmin_connections = 2\n").limits.admin_connections == 2);
    CHECK_THAT(refusal(std::string(minimal) + "[limits]\nadmin_connections = 0\n"),
               Catch::Contains("limits.admin_connections"));
    CHECK_THAT(refusal(std::string(minimal) + "[limits]\nadmin_connections = 1001\n"),
               Catch::Contains("limits.admin_connections"));
}

TEST_CASE("TLS: the CA, each server's certificate and key from [herd] with {name} or its own, all or none",
          "[topology][tls]")
{
    const auto herd = parse(R"(
[herd]
tls_ca = "certs/ca.crt"
tls_cert = "certs/{name}.crt"
tls_key = "/etc/herd/{name}/{name}.key"
[servers.Goloman]
port = 12125
neighbors = ["Hands"]
[servers.Hands]
host = "10.0.0.2"
port = 12126
tls_cert = "hands-chain.pem"
)");
    CHECK(herd.tls());
    CHECK(herd.peers_authenticated());
    CHECK_FALSE(herd.secret);
    CHECK(herd.tls_ca == std::filesystem::path("/base/certs/ca.crt"));
    CHECK(herd.find("Goloman")->tls_cert == std::filesystem::path("/base/certs/Goloman.crt"));
    CHECK(herd.find("Goloman")->tls_key == std::filesystem::path("/etc/herd/Goloman/Goloman.key"));
    // A server's own key wins over the herd's pattern; what it leaves out
    // still comes from the pattern.
    CHECK(herd.find("Hands")->tls_cert == std::filesystem::path("/base/hands-chain.pem"));
    CHECK(herd.find("Hands")->tls_key == std::filesystem::path("/etc/herd/Hands/Hands.key"));

    const auto plain = parse(minimal);
    CHECK_FALSE(plain.tls());
    CHECK(plain.find("Goloman")->tls_cert.empty());

    // Certificates without the CA that checks them, or a server left out.
    CHECK_THAT(refusal("[herd]\ntls_cert = \"{name}.crt\"\ntls_key = \"{name}.key\"\n[servers.A]\nport = 1\n"),
               Catch::Contains("servers.A has a TLS certificate or key but herd.tls_ca is not set"));
    CHECK_THAT(refusal("[servers.A]\nport = 1\ntls_key = \"a.key\"\n"), Catch::Contains("herd.tls_ca is not set"));
    CHECK_THAT(refusal("[herd]\ntls_ca = \"ca.crt\"\n[servers.A]\nport = 1\ntls_cert = \"a.crt\"\ntls_key = \"a.key\"\n"
                       "[servers.B]\nport = 2\ntls_cert = \"b.crt\"\n"),
               Catch::Contains("servers.B needs tls_cert and tls_key"));
    CHECK_THAT(refusal("[herd]\ntls_ca = \"\"\n[servers.A]\nport = 1\n"),
               Catch::Contains("herd.tls_ca must not be empty"));
    CHECK_THAT(refusal("[herd]\ntls_ca = 3\n[servers.A]\nport = 1\n"), Catch::Contains("herd.tls_ca must be a string"));
}

TEST_CASE("with TLS and no secret a server's host may be off loopback", "[topology][tls][secret]")
{
    const auto herd = parse("[herd]\ntls_ca = \"ca.crt\"\ntls_cert = \"{name}.crt\"\ntls_key = \"{name}.key\"\n"
                            "[servers.A]\nhost = \"10.0.0.5\"\nport = 1\n");
    CHECK(herd.find("A")->host == "10.0.0.5");
    CHECK_THAT(refusal("[servers.A]\nhost = \"10.0.0.5\"\nport = 1\n"), Catch::Contains("herd.tls_ca"));
}

TEST_CASE("herd.broadcast is flood by default, tree when asked, and refused otherwise or without catch-up", "[topology]")
{
    const std::string servers = "[servers.Goloman]\nport = 12000\nneighbors = []\n";
    CHECK(parse_topology(servers, "t.toml", ".").broadcast == broadcast_mode::flood);
    CHECK(parse_topology("[herd]\nbroadcast = \"tree\"\n" + servers, "t.toml", ".").broadcast == broadcast_mode::tree);
    CHECK(parse_topology("[herd]\nbroadcast = \"flood\"\n" + servers, "t.toml", ".").broadcast ==
          broadcast_mode::flood);
    CHECK_THROWS_WITH(parse_topology("[herd]\nbroadcast = \"gossip\"\n" + servers, "t.toml", "."),
                      Catch::Contains("herd.broadcast must be \"flood\" or \"tree\""));
    CHECK_THROWS_WITH(parse_topology("[herd]\ncatch_up = false\nbroadcast = \"tree\"\n" + servers, "t.toml", "."),
                      Catch::Contains("needs herd.catch_up = true"));
}
