// herd-conformance: one black-box suite for every implementation of the
// herd protocol. `--impl cpp|python|node|java-threads|java-netty` picks one
// of the five in this repository (cpp-tree: Herd with broadcast = "tree"); `--command "TEMPLATE"` starts anything else ({name} and
// {config} are filled in). Cases that need what only Herd has are tagged
// [herd-only]; leave them out for others with the test spec ~[herd-only].
#define CATCH_CONFIG_RUNNER
#include "conformance/implementation.hpp"

#include <catch2/catch.hpp>

#include <stdexcept>
#include <utility>

namespace herd::conformance {

namespace {
implementation& chosen()
{
    static implementation impl{"cpp", test::herd_server_command()};
    return impl;
}
} // namespace

const implementation& current()
{
    return chosen();
}

std::vector<implementation> in_repository()
{
    return {
        {"cpp", test::herd_server_command()},
        {"python", {"/usr/bin/python3 " HERD_SOURCE_DIR "/reference/python/server.py --name {name} --config {config}"}},
        {"node", {"node " HERD_SOURCE_DIR "/reference/node/server.js --name {name} --config {config}"}},
        {"java-threads", {HERD_SOURCE_DIR "/reference/java/threads/run --name {name} --config {config}"}},
        {"java-netty", {HERD_SOURCE_DIR "/reference/java/netty/run --name {name} --config {config}"}},
    };
}

void select(std::string_view name, const std::string& command_template)
{
    if (!command_template.empty()) {
        chosen() = {"custom", {command_template}};
        return;
    }
    if (name == "cpp-tree") {
        chosen() = {"cpp-tree", test::herd_server_command(), "broadcast = \"tree\"\n"};
        return;
    }
    for (auto& impl : in_repository()) {
        if (impl.name == name) {
            chosen() = std::move(impl);
            return;
        }
    }
    throw std::invalid_argument("unknown implementation " + std::string(name) +
                                " (known: cpp, cpp-tree, python, node, java-threads, java-netty)");
}

} // namespace herd::conformance

int main(int argc, char* argv[])
{
    Catch::Session session;
    std::string impl = "cpp";
    std::string command;
    using Catch::clara::Opt;
    session.cli(session.cli() | Opt(impl, "cpp|cpp-tree|python|node|java-threads|java-netty")["--impl"]("the implementation to test") |
                Opt(command, "template")["--command"]("start a server with this command ({name}, {config})"));
    if (const int rc = session.applyCommandLine(argc, argv); rc != 0) {
        return rc;
    }
    try {
        herd::conformance::select(impl, command);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "herd-conformance: %s\n", e.what());
        return 2;
    }
    return session.run();
}
