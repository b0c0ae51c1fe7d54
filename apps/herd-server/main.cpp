// herd-server: one server of the herd. The twin of the prototype's
// `asyncio.run(main())`: read the topology, build the server, run the one
// io_context until SIGINT or SIGTERM.
#include "herd/log.hpp"
#include "herd/places_factory.hpp"
#include "herd/server.hpp"
#include "herd/topology.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/program_options.hpp>
#include <spdlog/logger.h>

#include <csignal>
#include <cstdlib>
#include <iostream>

namespace asio = boost::asio;
namespace po = boost::program_options;

namespace {

// Exit statuses: 2 for anything wrong with how the server was asked to run
// (options, topology, places data), 1 for failing at run time (a port in use).
constexpr int exit_usage = 2;
constexpr int exit_failure = 1;

asio::awaitable<void> stop_on_signal(asio::signal_set& signals, herd::server& server)
{
    auto [ec, signal] = co_await signals.async_wait(asio::as_tuple(asio::use_awaitable));
    if (!ec) {
        server.stop();
    }
}

int run(const po::variables_map& args)
{
    const std::string name = args["name"].as<std::string>();
    const std::filesystem::path config = args["config"].as<std::string>();
    herd::topology herd;
    try {
        herd = herd::load_topology(config);
    } catch (const std::exception& e) {
        std::cerr << "herd-server: " << e.what() << "\n";
        return exit_usage;
    }
    if (herd.find(name) == nullptr) {
        std::cerr << "herd-server: no server named \"" << name << "\" in " << config.string()
                  << " (known: " << herd.names() << ")\n";
        return exit_usage;
    }
    std::filesystem::path log_dir = "logs";
    if (args.count("log-dir") != 0) {
        log_dir = args["log-dir"].as<std::string>();
    } else if (!herd.log_dir.empty()) {
        log_dir = herd.log_dir;
    }

    asio::io_context io(1);
    herd::server_options options;
    options.data_dir = herd.data_dir.empty() ? std::filesystem::path("herd-data") : herd.data_dir;
    options.places_timeout = herd.places.timeout;
    try {
        options.log = herd::make_server_log(name, log_dir);
        if (!herd.log_every_line) {
            options.log->set_level(spdlog::level::warn);
        }
        options.places = herd::make_places_source(io, herd.places, options.log);
    } catch (const std::exception& e) {
        std::cerr << "herd-server: " << e.what() << "\n";
        return exit_usage;
    }

    // A failed write or fdatasync of the store stops the server (it logs
    // why); herd-server then exits with exit_failure, not success.
    asio::signal_set signals(io, SIGINT, SIGTERM);
    std::string disk_failure;
    options.on_disk_failure = [&](const std::string& failure) {
        disk_failure = failure;
        signals.cancel();
    };
    try {
        herd::server server(io, herd, name, options);
        server.start();

        asio::co_spawn(io, stop_on_signal(signals, server), [](std::exception_ptr e) {
            if (e) {
                std::rethrow_exception(e);
            }
        });
        const auto* me = herd.find(name);
        // The one line on stdout: what scripts and tests wait for.
        std::cout << name << ": clients on " << me->host << ":" << server.client_port() << ", peers on port "
                  << server.peer_port() << ", log " << (log_dir / (name + ".log")).string() << std::endl;
        io.run();
        if (!disk_failure.empty()) {
            std::cerr << "herd-server: " << name << ": stopped: " << disk_failure << "\n";
            return exit_failure;
        }
        return EXIT_SUCCESS;
    } catch (const std::exception& e) {
        std::cerr << "herd-server: " << name << ": " << e.what() << "\n";
        return exit_failure;
    }
}

} // namespace

int main(int argc, char** argv)
{
    po::options_description options("herd-server: one server of the application server herd.\n\n"
                                    "Usage: herd-server --name NAME [--config FILE] [--log-dir DIR]\n\nOptions");
    options.add_options()("help,h", "print this help and exit")("version", "print the version and exit")(
        "name,n", po::value<std::string>(), "the server to run, as named in the topology file")(
        "config,c", po::value<std::string>()->default_value("herd.toml"),
        "the topology file")("log-dir", po::value<std::string>(),
                             "directory for NAME.log (default: herd.log_dir in the topology file, else ./logs)");

    po::variables_map args;
    try {
        po::store(po::parse_command_line(argc, argv, options), args);
        po::notify(args);
    } catch (const po::error& e) {
        std::cerr << "herd-server: " << e.what() << "\n\n" << options << "\n";
        return exit_usage;
    }
    if (args.count("help") != 0) {
        std::cout << options << "\n";
        return EXIT_SUCCESS;
    }
    if (args.count("version") != 0) {
        std::cout << "herd-server " << HERD_VERSION << "\n";
        return EXIT_SUCCESS;
    }
    if (args.count("name") == 0) {
        std::cerr << "herd-server: --name is required\n\n" << options << "\n";
        return exit_usage;
    }
    return run(args);
}
