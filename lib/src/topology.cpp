#include "herd/topology.hpp"

#include "places/google_api.hpp"
#include "protocol/protocol.hpp"

#include <boost/asio/ip/address.hpp>
#include <toml++/toml.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

namespace herd {
namespace {

inline constexpr std::size_t max_server_name_bytes = 64;

[[noreturn]] void fail(const std::string& source, const std::string& what)
{
    throw topology_error(source + ": " + what);
}

void refuse_unknown_keys(const toml::table& table, std::initializer_list<std::string_view> known,
                         const std::string& source, const std::string& where)
{
    for (auto&& [key, node] : table) {
        if (std::find(known.begin(), known.end(), key.str()) == known.end()) {
            std::string list;
            for (auto k : known) {
                list += list.empty() ? "" : ", ";
                list += k;
            }
            std::string what = "unknown key ";
            what.append(where).append(key.str()).append(" (known here: ").append(list).append(")");
            fail(source, what);
        }
    }
}

const toml::table* optional_table(const toml::table& root, std::string_view key, const std::string& source)
{
    const toml::node* node = root.get(key);
    if (node == nullptr) {
        return nullptr;
    }
    if (!node->is_table()) {
        fail(source, std::string(key) + " must be a table");
    }
    return node->as_table();
}

std::optional<std::string> optional_string(const toml::table& table, std::string_view key, const std::string& source,
                                           const std::string& where)
{
    const toml::node* node = table.get(key);
    if (node == nullptr) {
        return std::nullopt;
    }
    if (!node->is_string()) {
        fail(source, where + std::string(key) + " must be a string");
    }
    return node->as_string()->get();
}

// TABLE.KEY in seconds: more than 0 (or 0 when `zero_allowed`) and at most `max`.
std::optional<std::chrono::milliseconds> read_seconds(const toml::table& table, std::string_view table_name,
                                                      std::string_view key, double max, bool zero_allowed,
                                                      const std::string& source)
{
    const toml::node* node = table.get(key);
    if (node == nullptr) {
        return std::nullopt;
    }
    const auto value = node->value<double>();
    if (!value || *value > max || *value < 0 || (*value == 0 && !zero_allowed)) {
        std::ostringstream what;
        what << table_name << "." << key << " must be a number of seconds, "
             << (zero_allowed ? "from 0" : "more than 0") << " and at most " << max;
        fail(source, what.str());
    }
    return std::chrono::milliseconds(static_cast<long long>(*value * 1000));
}

std::uint16_t port_value(const toml::node& node, const std::string& source, const std::string& what)
{
    const auto value = node.value<std::int64_t>();
    if (!node.is_integer() || !value || *value < 1 || *value > 65535) {
        fail(source, what + " must be a port number from 1 to 65535");
    }
    return static_cast<std::uint16_t>(*value);
}

// The ports besides `port` default to it plus an offset, so a herd on one
// host needs only `port` per server. `off`, where 0 turns the port off,
// is the hint given when the default would pass 65535; empty: 0 is no port.
std::uint16_t offset_port(const toml::table& table, std::string_view key, std::uint16_t port, int offset,
                          std::string_view off, const std::string& source, const std::string& where)
{
    const std::string what = where + "." + std::string(key);
    if (const toml::node* set = table.get(key)) {
        return !off.empty() && set->value<std::int64_t>() == 0 ? 0 : port_value(*set, source, what);
    }
    if (port > 65535 - offset) {
        fail(source, what + " defaults to port + " + std::to_string(offset) + ", which is past 65535; set it" +
                         (off.empty() ? "" : " (" + std::string(off) + ")"));
    }
    return static_cast<std::uint16_t>(port + offset);
}

std::filesystem::path resolve(const std::filesystem::path& base_dir, const std::string& path)
{
    std::filesystem::path p(path);
    return p.is_absolute() ? p : base_dir / p;
}

// A certificate or key path, its "{name}" (each one) replaced by the
// server's name: one line in a shared herd.toml names every server's file.
std::filesystem::path tls_path(const std::filesystem::path& base_dir, const std::string& pattern,
                               const std::string& name)
{
    std::string path = pattern;
    constexpr std::string_view placeholder = "{name}";
    for (auto at = path.find(placeholder); at != std::string::npos; at = path.find(placeholder, at + name.size())) {
        path.replace(at, placeholder.size(), name);
    }
    return resolve(base_dir, path);
}

server_config read_server(const std::string& name, const toml::node& node, const std::string& source,
                          const std::filesystem::path& base_dir)
{
    const std::string where = "servers." + name;
    if (name.empty() || name.size() > max_server_name_bytes ||
        std::any_of(name.begin(), name.end(), [](char c) { return is_space(c); })) {
        fail(source, "server name \"" + name + "\" must be 1 to 64 bytes with no white space");
    }
    if (!node.is_table()) {
        fail(source, where + " must be a table");
    }
    const toml::table& table = *node.as_table();
    refuse_unknown_keys(table,
                        {"host", "port", "peer_port", "admin_port", "http_port", "neighbors", "tls_cert", "tls_key",
                         "http_cert_file", "http_key_file"},
                        source, where + ".");

    server_config server;
    server.name = name;
    if (auto host = optional_string(table, "host", source, where + ".")) {
        if (host->empty()) {
            fail(source, where + ".host must not be empty");
        }
        server.host = *host;
    }
    const toml::node* port = table.get("port");
    if (port == nullptr) {
        fail(source, where + ".port is missing");
    }
    server.port = port_value(*port, source, where + ".port");
    server.peer_port = offset_port(table, "peer_port", server.port, 10000, "", source, where);
    server.admin_port =
        offset_port(table, "admin_port", server.port, 20000, "admin_port = 0 turns the endpoint off", source, where);
    server.http_port =
        offset_port(table, "http_port", server.port, 30000, "http_port = 0 turns HTTP off", source, where);
    const toml::node* neighbors = table.get("neighbors");
    if (neighbors != nullptr) {
        const toml::array* list = neighbors->as_array();
        if (list == nullptr || (!list->empty() && !list->is_homogeneous(toml::node_type::string))) {
            fail(source, where + ".neighbors must be an array of server names");
        }
        for (const toml::node& n : *list) {
            const std::string& neighbour = n.as_string()->get();
            if (std::find(server.neighbors.begin(), server.neighbors.end(), neighbour) != server.neighbors.end()) {
                std::string what = where;
                what.append(".neighbors names \"").append(neighbour).append("\" twice");
                fail(source, what);
            }
            server.neighbors.push_back(neighbour);
        }
    }
    if (auto cert = optional_string(table, "tls_cert", source, where + ".")) {
        server.tls_cert = tls_path(base_dir, *cert, name);
    }
    if (auto key = optional_string(table, "tls_key", source, where + ".")) {
        server.tls_key = tls_path(base_dir, *key, name);
    }
    if (auto cert = optional_string(table, "http_cert_file", source, where + ".")) {
        server.http_cert = tls_path(base_dir, *cert, name);
    }
    if (auto key = optional_string(table, "http_key_file", source, where + ".")) {
        server.http_key = tls_path(base_dir, *key, name);
    }
    if (server.http_cert.empty() != server.http_key.empty()) {
        fail(source, where + ".http_cert_file and " + where + ".http_key_file go together: set both or neither");
    }
    return server;
}

void check_links(topology& herd, const std::string& source)
{
    std::map<std::string, std::set<std::string>> links;
    for (const auto& s : herd.servers) {
        links[s.name];
        for (const auto& n : s.neighbors) {
            if (n == s.name) {
                fail(source, "servers." + s.name + " lists itself as a neighbor");
            }
            if (herd.find(n) == nullptr) {
                fail(source, "servers." + s.name + ".neighbors names unknown server \"" + n +
                                 "\" (known: " + herd.names() + ")");
            }
            // Links are bidirectional whichever side names them.
            links[s.name].insert(n);
            links[n].insert(s.name);
        }
    }
    for (auto& s : herd.servers) {
        const auto& set = links[s.name];
        s.neighbors.assign(set.begin(), set.end());
    }
}

std::string lower(std::string_view text)
{
    std::string out(text);
    std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
    return out;
}

// Where a host binds, as the duplicate-port check compares it: the address
// an IP literal spells (so 0:0:0:0:0:0:0:1 is ::1), localhost as
// 127.0.0.1, any other name as itself in lower case. No lookup: the check
// gives the same answer on every machine.
struct bind_address {
    std::string text; // "127.0.0.1", "[::1]", "herd-a.example"
    bool wildcard = false;

    explicit bind_address(std::string_view host)
    {
        const std::string name = lower(host);
        boost::system::error_code ec;
        const auto address = boost::asio::ip::make_address(name == "localhost" ? "127.0.0.1" : name, ec);
        if (ec) {
            text = name;
            return;
        }
        text = address.is_v6() ? "[" + address.to_string() + "]" : address.to_string();
        wildcard = address.is_unspecified();
    }
    // 0.0.0.0 or :: takes the port on every address.
    bool overlaps(const bind_address& other) const { return text == other.text || wildcard || other.wildcard; }
};

void check_endpoints(const topology& herd, const std::string& source)
{
    struct claimed {
        bind_address where;
        std::uint16_t port;
        std::string what;
    };
    std::vector<claimed> taken;
    auto claim = [&](const std::string& host, std::uint16_t port, const std::string& what) {
        bind_address where(host);
        for (const auto& other : taken) {
            if (other.port == port && where.overlaps(other.where)) {
                fail(source, what + " and " + other.what + " both use " + where.text + ":" + std::to_string(port));
            }
        }
        taken.push_back({std::move(where), port, what});
    };
    for (const auto& s : herd.servers) {
        claim(s.host, s.port, "servers." + s.name + ".port");
        // The peer port listens on the server's host: with a secret on any
        // address, without one only on a loopback one (check_hosts).
        claim(s.host, s.peer_port, "servers." + s.name + ".peer_port");
        if (s.admin_port != 0) {
            claim(herd.admin_host, s.admin_port, "servers." + s.name + ".admin_port");
        }
        if (s.http_port != 0) {
            claim(s.host, s.http_port, "servers." + s.name + ".http_port");
        }
    }
}

// Without a secret or certificates nothing proves a peer is a member, so
// peer ports listen on loopback only. Peers dial a server at its host, so
// that host must be a loopback address itself: anything else could never be
// reached.
void check_hosts(const topology& herd, const std::string& source)
{
    if (herd.peers_authenticated()) {
        return;
    }
    for (const auto& s : herd.servers) {
        if (!is_loopback_host(s.host)) {
            fail(source, "servers." + s.name + ".host \"" + s.host +
                             "\" is not a loopback address: without herd.tls_ca or herd.secret (or herd.secret_env) "
                             "peer ports listen on loopback only, where peers on other hosts cannot reach them; set "
                             "certificates or a secret, or use 127.x.x.x, ::1 or localhost");
        }
    }
}

std::uint64_t read_herd_count(const toml::table& table, std::string_view key, std::int64_t low, std::int64_t high,
                              bool zero_allowed, std::uint64_t fallback, const std::string& source)
{
    const toml::node* node = table.get(key);
    if (node == nullptr) {
        return fallback;
    }
    const auto value = node->value<std::int64_t>();
    if (!node->is_integer() || !value || !((*value >= low && *value <= high) || (zero_allowed && *value == 0))) {
        fail(source, "herd." + std::string(key) + " must be " +
                         (zero_allowed ? "0 (no rotation) or from " : "a whole number from ") + std::to_string(low) +
                         " to " + std::to_string(high));
    }
    return static_cast<std::uint64_t>(*value);
}

void read_herd_settings(const toml::table& root, topology& herd, const std::string& source,
                        const std::filesystem::path& base_dir, const env_lookup& env)
{
    const toml::table* table = optional_table(root, "herd", source);
    if (table == nullptr) {
        return;
    }
    refuse_unknown_keys(*table,
                        {"log_dir", "log_level", "log_max_bytes", "log_max_files", "data_dir", "fsync", "secret",
                         "secret_env", "admin_host", "catch_up", "anti_entropy", "peer_timeout", "tls_ca", "tls_cert",
                         "tls_key", "broadcast"},
                        source, "herd.");
    // A buffer of the log (64 KiB) must fit in a file many times over.
    herd.log_rotation.max_bytes = read_herd_count(*table, "log_max_bytes", std::int64_t{1} << 20, std::int64_t{1} << 40,
                                                  true, herd.log_rotation.max_bytes, source);
    herd.log_rotation.max_files = static_cast<std::size_t>(
        read_herd_count(*table, "log_max_files", 1, 100, false, herd.log_rotation.max_files, source));
    if (auto dir = optional_string(*table, "data_dir", source, "herd.")) {
        herd.data_dir = resolve(base_dir, *dir);
    }
    if (auto fsync = optional_string(*table, "fsync", source, "herd.")) {
        if (*fsync != "always" && *fsync != "batch") {
            fail(source, "herd.fsync must be \"always\" or \"batch\"");
        }
        herd.fsync_always = *fsync == "always";
    }
    if (auto level = optional_string(*table, "log_level", source, "herd.")) {
        if (*level != "info" && *level != "warn") {
            fail(source, "herd.log_level must be \"info\" or \"warn\"");
        }
        herd.log_every_line = *level == "info";
    }
    if (const toml::node* catch_up = table->get("catch_up")) {
        if (!catch_up->is_boolean()) {
            fail(source, "herd.catch_up must be true or false");
        }
        herd.catch_up = catch_up->as_boolean()->get();
    }
    if (auto every = read_seconds(*table, "herd", "anti_entropy", 86400, true, source)) {
        herd.anti_entropy = *every;
    }
    if (auto timeout = read_seconds(*table, "herd", "peer_timeout", 3600, false, source)) {
        if (*timeout < std::chrono::milliseconds(300)) {
            fail(source, "herd.peer_timeout must be at least 0.3 seconds");
        }
        herd.peer_timeout = *timeout;
    }
    if (auto broadcast = optional_string(*table, "broadcast", source, "herd.")) {
        if (*broadcast != "flood" && *broadcast != "tree") {
            fail(source, "herd.broadcast must be \"flood\" or \"tree\"");
        }
        herd.broadcast = *broadcast == "tree" ? broadcast_mode::tree : broadcast_mode::flood;
        // The tree grafts around a lost link from its notices; what neither
        // brings (a record lost on the last path to a server) only a
        // reconciliation repairs.
        if (herd.broadcast == broadcast_mode::tree && !herd.catch_up) {
            fail(source, "herd.broadcast = \"tree\" needs herd.catch_up = true: reconciliation repairs what the "
                         "tree loses");
        }
    }
    if (auto host = optional_string(*table, "admin_host", source, "herd.")) {
        herd.admin_host = *host;
    }
    if (auto dir = optional_string(*table, "log_dir", source, "herd.")) {
        herd.log_dir = resolve(base_dir, *dir);
    }
    auto secret = optional_string(*table, "secret", source, "herd.");
    auto secret_env = optional_string(*table, "secret_env", source, "herd.");
    if (secret && secret_env) {
        fail(source, "set herd.secret or herd.secret_env, not both");
    }
    if (secret) {
        if (secret->empty()) {
            fail(source, "herd.secret must not be empty");
        }
        herd.secret = *secret;
        herd.secret_origin = "herd.secret in " + source;
    }
    if (secret_env) {
        auto value = env(*secret_env);
        if (!value || value->empty()) {
            fail(source,
                 "herd.secret_env names " + *secret_env + ", which is not set in the environment (or is empty)");
        }
        herd.secret = *value;
        herd.secret_origin = "environment variable " + *secret_env;
    }
}

// herd.tls_ca, and each server's certificate and key: its own, or the
// herd's [herd] tls_cert and tls_key with {name} replaced. All or nothing,
// so a herd is never half TLS (a TLS server refuses a plain neighbour).
void read_tls_settings(const toml::table& root, topology& herd, const std::string& source,
                       const std::filesystem::path& base_dir)
{
    const toml::table* table = optional_table(root, "herd", source);
    std::optional<std::string> ca;
    std::optional<std::string> cert;
    std::optional<std::string> key;
    if (table != nullptr) {
        ca = optional_string(*table, "tls_ca", source, "herd.");
        cert = optional_string(*table, "tls_cert", source, "herd.");
        key = optional_string(*table, "tls_key", source, "herd.");
    }
    if (ca && ca->empty()) {
        fail(source, "herd.tls_ca must not be empty");
    }
    for (auto& s : herd.servers) {
        if (s.tls_cert.empty() && cert) {
            s.tls_cert = tls_path(base_dir, *cert, s.name);
        }
        if (s.tls_key.empty() && key) {
            s.tls_key = tls_path(base_dir, *key, s.name);
        }
        const std::string where = "servers." + s.name;
        if (!ca && (!s.tls_cert.empty() || !s.tls_key.empty())) {
            fail(source, where + " has a TLS certificate or key but herd.tls_ca is not set: set the CA that signs "
                                 "the herd's certificates");
        }
        if (ca && (s.tls_cert.empty() || s.tls_key.empty())) {
            fail(source, where + " needs tls_cert and tls_key (or herd.tls_cert and herd.tls_key, with {name}): "
                                 "with herd.tls_ca every peer link is TLS");
        }
    }
    if (ca) {
        herd.tls_ca = resolve(base_dir, *ca);
    }
}

void read_places_settings(const toml::table& root, topology& herd, const std::string& source,
                          const std::filesystem::path& base_dir)
{
    const toml::table* table = optional_table(root, "places", source);
    if (table == nullptr) {
        return;
    }
    refuse_unknown_keys(*table, {"provider", "key_env", "endpoint", "ca_file", "file", "world", "timeout", "cache_ttl"},
                        source, "places.");
    auto& places = herd.places;
    if (auto provider = optional_string(*table, "provider", source, "places.")) {
        if (*provider != "auto" && *provider != "google" && *provider != "google-new" && *provider != "local") {
            fail(source, "places.provider \"" + *provider + "\" is not one of auto, google, google-new, local");
        }
        places.provider = *provider;
    }
    if (auto key_env = optional_string(*table, "key_env", source, "places.")) {
        if (key_env->empty()) {
            fail(source, "places.key_env must name an environment variable");
        }
        places.key_env = *key_env;
    }
    if (auto endpoint = optional_string(*table, "endpoint", source, "places.")) {
        if (!parse_https_url(*endpoint)) {
            fail(source, "places.endpoint \"" + *endpoint + "\" is not an https://host[:port]/path URL");
        }
        places.endpoint = *endpoint;
    }
    if (auto ca_file = optional_string(*table, "ca_file", source, "places.")) {
        places.ca_file = resolve(base_dir, *ca_file);
    }
    if (auto file = optional_string(*table, "file", source, "places.")) {
        places.file = resolve(base_dir, *file);
    }
    if (const toml::node* world = table->get("world")) {
        if (!world->is_boolean()) {
            fail(source, "places.world must be true or false");
        }
        places.world = world->as_boolean()->get();
    }
    if (auto timeout = read_seconds(*table, "places", "timeout", 300, false, source)) {
        places.timeout = *timeout;
    }
    if (auto ttl = read_seconds(*table, "places", "cache_ttl", 86400, true, source)) {
        places.cache_ttl = *ttl;
    }
}

std::size_t read_count(const toml::table& table, std::string_view key, std::size_t low, std::size_t high,
                       std::size_t fallback, const std::string& source)
{
    const toml::node* node = table.get(key);
    if (node == nullptr) {
        return fallback;
    }
    const auto value = node->value<std::int64_t>();
    if (!node->is_integer() || !value || *value < static_cast<std::int64_t>(low) ||
        *value > static_cast<std::int64_t>(high)) {
        fail(source, "limits." + std::string(key) + " must be a whole number from " + std::to_string(low) + " to " +
                         std::to_string(high));
    }
    return static_cast<std::size_t>(*value);
}

void read_limits(const toml::table& root, topology& herd, const std::string& source)
{
    const toml::table* table = optional_table(root, "limits", source);
    if (table == nullptr) {
        return;
    }
    refuse_unknown_keys(*table,
                        {"line_bytes", "client_id_bytes", "connections", "idle_timeout", "reply_bytes", "send_timeout",
                         "peer_line_bytes", "admin_connections", "peer_handshakes", "peer_queue_bytes",
                         "http_body_bytes", "http_header_bytes", "http_request_timeout", "stream_queue_bytes"},
                        source, "limits.");
    auto& l = herd.limits;
    // A line must hold the longest valid command: IAMAT, a 255-byte ID, a
    // location and a time with room for decimals.
    l.line_bytes = read_count(*table, "line_bytes", 512, 1 << 20, l.line_bytes, source);
    l.client_id_bytes = read_count(*table, "client_id_bytes", 1, max_client_id_bytes, l.client_id_bytes, source);
    l.connections = read_count(*table, "connections", 1, 1'000'000, l.connections, source);
    l.reply_bytes = read_count(*table, "reply_bytes", 4096, 1 << 30, l.reply_bytes, source);
    l.peer_line_bytes = read_count(*table, "peer_line_bytes", 512, 1 << 20, l.peer_line_bytes, source);
    l.admin_connections = read_count(*table, "admin_connections", 1, 1000, l.admin_connections, source);
    l.peer_handshakes = read_count(*table, "peer_handshakes", 1, 10'000, l.peer_handshakes, source);
    l.peer_queue_bytes =
        read_count(*table, "peer_queue_bytes", 1 << 16, std::size_t{1} << 32, l.peer_queue_bytes, source);
    l.idle_timeout = read_seconds(*table, "limits", "idle_timeout", 86400, false, source).value_or(l.idle_timeout);
    l.send_timeout = read_seconds(*table, "limits", "send_timeout", 86400, false, source).value_or(l.send_timeout);
    l.http_body_bytes = read_count(*table, "http_body_bytes", 1024, 1 << 24, l.http_body_bytes, source);
    l.http_header_bytes = read_count(*table, "http_header_bytes", 1024, 1 << 20, l.http_header_bytes, source);
    l.http_request_timeout =
        read_seconds(*table, "limits", "http_request_timeout", 3600, false, source).value_or(l.http_request_timeout);
    l.stream_queue_bytes =
        read_count(*table, "stream_queue_bytes", 4096, std::size_t{1} << 32, l.stream_queue_bytes, source);
}

} // namespace

bool is_loopback_host(std::string_view host)
{
    const std::string name = lower(host);
    if (name == "localhost") {
        return true;
    }
    boost::system::error_code ec;
    const auto address = boost::asio::ip::make_address(name, ec);
    if (ec) {
        return false; // a name other than localhost could resolve anywhere
    }
    if (address.is_v6() && address.to_v6().is_v4_mapped()) {
        return boost::asio::ip::make_address_v4(boost::asio::ip::v4_mapped, address.to_v6()).is_loopback();
    }
    return address.is_loopback();
}

const server_config* topology::find(std::string_view name) const noexcept
{
    auto it = std::find_if(servers.begin(), servers.end(), [&](const auto& s) { return s.name == name; });
    return it == servers.end() ? nullptr : &*it;
}

std::string topology::names() const
{
    std::string out;
    for (const auto& s : servers) {
        out += out.empty() ? "" : ", ";
        out += s.name;
    }
    return out;
}

std::optional<std::string> process_env(const std::string& name)
{
    const char* value = std::getenv(name.c_str());
    return value == nullptr ? std::nullopt : std::optional<std::string>(value);
}

topology parse_topology(std::string_view toml_text, const std::string& source, const std::filesystem::path& base_dir,
                        const env_lookup& env)
{
    toml::table root;
    try {
        root = toml::parse(toml_text, source);
    } catch (const toml::parse_error& e) {
        std::ostringstream where;
        where << e.source().begin;
        fail(source, std::string(e.description()) + " at " + where.str());
    }
    refuse_unknown_keys(root, {"herd", "limits", "places", "servers"}, source, "");

    topology herd;
    read_herd_settings(root, herd, source, base_dir, env);
    read_places_settings(root, herd, source, base_dir);
    read_limits(root, herd, source);

    const toml::table* servers = optional_table(root, "servers", source);
    if (servers == nullptr || servers->empty()) {
        fail(source, "no servers: add a [servers.NAME] table for each server of the herd");
    }
    for (auto&& [key, node] : *servers) {
        herd.servers.push_back(read_server(std::string(key.str()), node, source, base_dir));
    }
    std::sort(herd.servers.begin(), herd.servers.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
    read_tls_settings(root, herd, source, base_dir);
    check_links(herd, source);
    check_hosts(herd, source);
    check_endpoints(herd, source);
    return herd;
}

topology load_topology(const std::filesystem::path& file, const env_lookup& env)
{
    std::error_code ec;
    if (std::filesystem::is_directory(file, ec)) {
        throw topology_error(file.string() + ": is a directory, not a topology file");
    }
    std::ifstream in(file, std::ios::binary);
    if (!in) {
        throw topology_error(file.string() + ": cannot be read: " + std::strerror(errno));
    }
    std::ostringstream text;
    text << in.rdbuf();
    if (in.bad()) {
        throw topology_error(file.string() + ": cannot be read: " + std::strerror(errno));
    }
    const auto base = std::filesystem::absolute(file).parent_path();
    return parse_topology(text.str(), file.string(), base, env);
}

} // namespace herd
