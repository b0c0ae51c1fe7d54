// The herd as herd.toml describes it: servers, their ports and links, and
// the few herd-wide settings. Loading refuses every mistake with a message
// that names it, so a broken file never starts half a herd.
// docs/configuration.md lists every key.
#pragma once

#include "herd/log.hpp"

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace herd {

struct server_config {
    std::string name;
    std::string host = "127.0.0.1"; // without a secret: a loopback address (is_loopback_host)
    std::uint16_t port = 0;
    std::uint16_t peer_port = 0;        // default: port + 10000
    std::uint16_t admin_port = 0;       // default: port + 20000; 0 in the file: no admin endpoint
    std::uint16_t http_port = 0;        // default: port + 30000; 0 in the file: no HTTP port (docs/http.md)
    std::vector<std::string> neighbors; // sorted; links made bidirectional
    // With topology::tls_ca: the certificate (chain) this server proves its
    // name with, and its private key. Set for every server or none.
    std::filesystem::path tls_cert;
    std::filesystem::path tls_key;
    // Both set: the HTTP port speaks HTTPS only, with this certificate
    // (chain) and key; neither: plain HTTP.
    std::filesystem::path http_cert;
    std::filesystem::path http_key;
};

struct places_config {
    // "auto": Google's Places API (New) when the key's variable is set, the
    // offline places otherwise. Or "google" (Nearby Search, legacy),
    // "google-new" (Places API New), "local".
    std::string provider = "auto";
    std::string key_env = "GOOGLE_PLACES_API_KEY"; // the key itself never sits in the file
    std::string endpoint;                          // empty: Google's own URL for the provider
    std::filesystem::path ca_file;                 // trusted besides the system store
    std::filesystem::path file;                    // local: empty means the bundled Westwood places
    bool world = true;                             // local: the world's cities after `file`'s places
    std::chrono::milliseconds timeout{5000};
    std::chrono::milliseconds cache_ttl{60000}; // 0: no cache
};

// What one server lets a client or a peer take; docs/security.md says why
// each default.
struct limits_config {
    std::size_t line_bytes = 4096;     // a longer client line closes the connection
    std::size_t client_id_bytes = 255; // a longer client ID makes the line invalid (the contract\'s maximum)
    std::size_t connections = 10000;   // client connections at once; more are closed at accept
    std::chrono::milliseconds idle_timeout{300000}; // no complete line for this long: closed
    std::size_t reply_bytes = 1 << 20;              // replies waiting for one client; past this they are sent first
    std::chrono::milliseconds send_timeout{30000};  // a client that reads nothing this long is dropped
    std::size_t peer_line_bytes = 1024;             // a longer peer line closes the link
    std::size_t admin_connections = 8;              // admin connections at once; more are closed at accept
    std::size_t peer_handshakes = 64;               // peer-port connections before the handshake; more are closed
    std::size_t peer_queue_bytes = 4 << 20;         // records waiting for one neighbour; past this, it reconciles
    std::size_t http_body_bytes = 8192;             // a longer request body: 413
    std::size_t http_header_bytes = 8192;           // a longer request header: 431
    std::chrono::milliseconds http_request_timeout{10000}; // a request not all in within it: 408 (slowloris)
    std::size_t stream_queue_bytes = 1 << 20; // events waiting for one /v1/stream subscriber; past this: 1008
};

enum class broadcast_mode { flood, tree };

struct topology {
    std::vector<server_config> servers; // sorted by name
    std::optional<std::string> secret;  // no secret and no TLS: peers unauthenticated, loopback only
    // The CA that signs every server's certificate: set, peer links are
    // mutual TLS 1.3 and nothing else (docs/security.md).
    std::filesystem::path tls_ca;
    std::string secret_origin;       // where the secret came from, for the start-up log
    std::filesystem::path log_dir;   // empty: "logs" under the working directory
    herd::log_rotation log_rotation; // herd.log_max_bytes, herd.log_max_files
    // log_level = "info": every line in and out, as the contract asks;
    // "warn": only what went wrong (for measuring what logging costs).
    bool log_every_line = true;
    std::filesystem::path data_dir;       // empty: "herd-data" under the working directory (herd-server)
    bool fsync_always = true;             // fsync = "always" (before AT replies) or "batch"
    std::string admin_host = "127.0.0.1"; // where the admin endpoints listen
    // A link that comes up, or that could not keep every record (its queue
    // overflowed), reconciles the two stores; false: the course prototype's
    // behaviour, a server knows only what reaches it afterwards.
    bool catch_up = true;
    // How often every live link reconciles anyway (anti-entropy); 0: never.
    std::chrono::milliseconds anti_entropy{30000};
    // A neighbour that answers nothing on its link for this long is down
    // (heartbeats go every third of it).
    std::chrono::milliseconds peer_timeout{3000};
    // How a record that changed the store reaches the herd: "flood", the
    // course's algorithm, over every link; "tree", Plumtree, in full down a
    // spanning tree and as notices over the other links (docs/protocol.md).
    broadcast_mode broadcast = broadcast_mode::flood;
    places_config places;
    limits_config limits;

    bool tls() const noexcept { return !tls_ca.empty(); }
    // Peers on other hosts can prove membership (a secret, certificates or
    // both), so peer ports may listen beyond loopback.
    bool peers_authenticated() const noexcept { return secret.has_value() || tls(); }
    const server_config* find(std::string_view name) const noexcept;
    std::string names() const; // "Goloman, Hands, ..." for messages
};

class topology_error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

using env_lookup = std::function<std::optional<std::string>(const std::string&)>;

// 127.0.0.0/8, ::1 (or ::ffff:127.x.x.x) or localhost, in any case. Any
// other name is not: no lookup, so the answer is the same everywhere.
bool is_loopback_host(std::string_view host);

// Reads the process environment; tests pass their own.
std::optional<std::string> process_env(const std::string& name);

// `source` names the file in messages; relative paths inside the file are
// taken relative to `base_dir`, the file's own directory.
topology parse_topology(std::string_view toml_text, const std::string& source, const std::filesystem::path& base_dir,
                        const env_lookup& env = process_env);

topology load_topology(const std::filesystem::path& file, const env_lookup& env = process_env);

} // namespace herd
