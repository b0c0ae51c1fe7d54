#include "check_config.hpp"

#include "herd/log.hpp"
#include "herd/places_factory.hpp"
#include "herd/tls.hpp"
#include "herd/topology.hpp"

#include <boost/asio/io_context.hpp>
#include <spdlog/logger.h>
#include <spdlog/sinks/ostream_sink.h>

#include <ostream>
#include <sstream>

namespace herd::app {

namespace {

constexpr int exit_usage = 2;

std::string join(const std::vector<std::string>& names)
{
    std::string out;
    for (const auto& n : names) {
        out += out.empty() ? n : ", " + n;
    }
    return out.empty() ? "none" : out;
}

std::size_t link_count(const topology& herd)
{
    std::size_t ends = 0;
    for (const auto& s : herd.servers) {
        ends += s.neighbors.size();
    }
    return ends / 2;
}

void describe_servers(const topology& herd, std::ostream& out)
{
    out << "servers (" << herd.servers.size() << ", " << link_count(herd) << " links):\n";
    for (const auto& s : herd.servers) {
        out << "  " << s.name << ": host " << s.host << ", client port " << s.port << ", peer port " << s.peer_port
            << ", admin "
            << (s.admin_port == 0 ? std::string("off") : herd.admin_host + ":" + std::to_string(s.admin_port))
            << ", HTTP "
            << (s.http_port == 0 ? std::string("off")
                                 : std::to_string(s.http_port) + (s.http_cert.empty() ? "" : " (HTTPS)"))
            << "; neighbours " << join(s.neighbors) << "\n";
    }
}

void describe_peers(const topology& herd, std::ostream& out)
{
    if (herd.tls()) {
        out << "peer links: TLS 1.3, verified both ways, CA " << herd.tls_ca.string() << "\n";
        for (const auto& s : herd.servers) {
            out << "  " << s.name << ": certificate " << s.tls_cert.string() << ", key " << s.tls_key.string() << "\n";
        }
    } else {
        out << "peer links: plain TCP (no herd.tls_ca)\n";
    }
    if (herd.tls() && herd.secret) {
        out << "membership: certificates, and the shared secret from " << herd.secret_origin << "\n";
    } else if (herd.tls()) {
        out << "membership: certificates from the herd's CA\n";
    } else if (herd.secret) {
        out << "membership: the shared secret from " << herd.secret_origin << "\n";
    } else {
        out << "membership: names only (no secret, no certificates): peer ports on loopback only\n";
    }
}

// The places source as the server would build it, its choice logged to `out`.
void describe_places(const topology& herd, std::ostream& out)
{
    std::ostringstream said;
    auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(said);
    auto log = std::make_shared<spdlog::logger>("check-config", sink);
    log->set_pattern("  %v");
    boost::asio::io_context io;
    const auto places = make_places_source(io, herd.places, log);
    log->flush();
    out << "places: " << places->describe() << "\n" << said.str();
}

} // namespace

int check_config(const std::filesystem::path& file, const std::optional<std::string>& name, std::ostream& out,
                 std::ostream& err)
{
    try {
        const auto herd = load_topology(file);
        const server_config* me = nullptr;
        if (name) {
            me = herd.find(*name);
            if (me == nullptr) {
                err << "herd-server: no server named \"" << *name << "\" in " << file.string()
                    << " (known: " << herd.names() << ")\n";
                return exit_usage;
            }
        }
        out << file.string() << ": a herd of " << herd.servers.size() << "\n";
        describe_servers(herd, out);
        describe_peers(herd, out);
        describe_places(herd, out);
        out << "store: "
            << (herd.data_dir.empty() ? std::string("herd-data (in the working directory)") : herd.data_dir.string())
            << ", fsync " << (herd.fsync_always ? "always" : "batch") << "; logs: "
            << (herd.log_dir.empty() ? std::string("logs (in the working directory)") : herd.log_dir.string()) << "\n";
        if (me != nullptr && herd.tls()) {
            const auto own = check_tls_files(herd, *me);
            out << me->name << "'s certificate: " << own.subject << " (" << own.names << "), valid until "
                << own.not_after << ", signed by the herd's CA, its key matching\n";
        }
        if (me != nullptr && me->http_port != 0 && !me->http_cert.empty()) {
            check_https_files(*me);
            out << me->name << "'s HTTPS certificate and key load: " << me->http_cert.string() << ", "
                << me->http_key.string() << "\n";
        }
        out << (me != nullptr ? me->name + ": ready to start" : std::string("the topology is valid")) << "\n";
        return 0;
    } catch (const std::exception& e) {
        err << "herd-server: " << e.what() << "\n";
        return exit_usage;
    }
}

} // namespace herd::app
