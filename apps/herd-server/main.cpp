// herd-server: one server of the herd. The twin of the prototype's
// `asyncio.run(main())`: read the topology, build the server, run the one
// io_context until SIGINT or SIGTERM. SIGHUP reopens the log, for logrotate;
// it does not reload the topology (a changed herd.toml takes a restart).
// --check-config checks a topology without starting anything.
#include "check_config.hpp"
#include "herd/log.hpp"
#include "herd/places_factory.hpp"
#include "herd/server.hpp"
#include "herd/tls.hpp"
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
#include <optional>
#include <string>
#include <vector>

namespace asio = boost::asio;
namespace po = boost::program_options;

namespace {

// Exit statuses: 2 for anything wrong with how the server was asked to run
// (options, topology, places data), 1 for failing at run time (a port in use).
constexpr int exit_usage = 2;
constexpr int exit_failure = 1;

asio::awaitable<void> stop_on_signal(asio::signal_set& signals, asio::signal_set& hangups, herd::server& server)
{
    // Cancelled (ec set) when a disk failure has stopped the server already.
    auto [ec, signal] = co_await signals.async_wait(asio::as_tuple(asio::use_awaitable));
    if (!ec) {
        server.stop();
    }
    hangups.cancel(); // else its wait would keep io.run() from returning
}

// On the loop's thread, as the log's sink takes no lock.
asio::awaitable<void> reopen_on_hangup(asio::signal_set& hangups, spdlog::logger& log)
{
    for (;;) {
        auto [ec, signal] = co_await hangups.async_wait(asio::as_tuple(asio::use_awaitable));
        if (ec) {
            co_return;
        }
        try {
            herd::reopen_server_log(log);
            log.info("log reopened on SIGHUP");
        } catch (const std::exception& e) {
            log.error("log not reopened on SIGHUP, lines go on in the old file: {}", e.what());
        }
        log.flush();
    }
}

void rethrow(std::exception_ptr e)
{
    if (e) {
        std::rethrow_exception(e);
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
        // Opened once the ports are bound: a second server of the same name
        // fails on them first, and never writes into the running one's log.
        options.log = herd::make_server_log(name, log_dir, herd.log_rotation, herd::log_open::later);
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
        try {
            herd::open_server_log(*options.log);
        } catch (const std::exception& e) {
            std::cerr << "herd-server: " << e.what() << "\n";
            return exit_usage;
        }
        server.start();

        asio::signal_set hangups(io, SIGHUP);
        asio::co_spawn(io, stop_on_signal(signals, hangups, server), rethrow);
        asio::co_spawn(io, reopen_on_hangup(hangups, *options.log), rethrow);
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
    } catch (const herd::tls_error& e) {
        // Its certificate, key or CA: the configuration, not the run.
        std::cerr << "herd-server: " << name << ": " << e.what() << "\n";
        return exit_usage;
    } catch (const std::exception& e) {
        std::cerr << "herd-server: " << name << ": " << e.what() << "\n";
        return exit_failure;
    }
}

} // namespace

int main(int argc, char** argv)
{
    po::options_description options(
        "herd-server: one server of the application server herd.\n\n"
        "Usage: herd-server --name NAME [--config FILE] [--log-dir DIR]\n"
        "       herd-server --check-config FILE [--name NAME]\n\n"
        "SIGINT or SIGTERM stops the server (exit 0); SIGHUP reopens its log file, for logrotate, and does not\n"
        "reload the topology: a changed topology takes a restart.\n\nOptions");
    options.add_options()("help,h", "print this help and exit")("version", "print the version and exit")(
        "name,n", po::value<std::string>(), "the server to run, as named in the topology file")(
        "config,c", po::value<std::string>()->default_value("herd.toml"),
        "the topology file")("log-dir", po::value<std::string>(),
                             "directory for NAME.log (default: herd.log_dir in the topology file, else ./logs)")(
        "check-config", po::value<std::string>()->value_name("FILE"),
        "check the topology FILE and print the herd it describes (servers, links, ports, TLS, places), and with "
        "--name that server's own certificate, key and places data; opens no port; exit 0, or 2 with the reason");

    // Positional arguments are collected only to be refused: a file named
    // without --config would otherwise be ignored for ./herd.toml.
    po::options_description stray;
    stray.add_options()("stray", po::value<std::vector<std::string>>());
    po::options_description all;
    all.add(options).add(stray);
    po::positional_options_description positional;
    positional.add("stray", -1);

    po::variables_map args;
    try {
        po::store(po::command_line_parser(argc, argv).options(all).positional(positional).run(), args);
        po::notify(args);
    } catch (const po::error& e) {
        std::cerr << "herd-server: " << e.what() << "\n\n" << options << "\n";
        return exit_usage;
    }
    if (args.count("stray") != 0) {
        const auto& words = args["stray"].as<std::vector<std::string>>();
        std::cerr << "herd-server: unexpected argument \"" << words.front() << "\""
                  << (words.front().ends_with(".toml") ? " (a topology file is named with --config)" : "") << "\n\n"
                  << options << "\n";
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
    if (args.count("check-config") != 0) {
        std::optional<std::string> name;
        if (args.count("name") != 0) {
            name = args["name"].as<std::string>();
        }
        return herd::app::check_config(args["check-config"].as<std::string>(), name, std::cout, std::cerr);
    }
    if (args.count("name") == 0) {
        std::cerr << "herd-server: --name is required\n\n" << options << "\n";
        return exit_usage;
    }
    return run(args);
}
