// The accept loop every port shares: the twin of asyncio.start_server.
#include "server_state.hpp"

#include "async/within.hpp"

#include <boost/asio/co_spawn.hpp>
#include <spdlog/logger.h>

namespace herd {

namespace asio = boost::asio;
using asio::ip::tcp;
using detail::use_tuple;

std::string describe(const tcp::socket& socket)
{
    boost::system::error_code ec;
    const auto endpoint = socket.remote_endpoint(ec);
    return ec ? std::string("(gone)") : endpoint.address().to_string() + ":" + std::to_string(endpoint.port());
}

std::function<void(std::exception_ptr)> log_failure(std::shared_ptr<spdlog::logger> log, std::string what)
{
    return [log = std::move(log), what = std::move(what)](std::exception_ptr failure) {
        if (!failure) {
            return;
        }
        try {
            std::rethrow_exception(failure);
        } catch (const std::exception& e) {
            log->error("{} failed: {}", what, e.what());
        }
    };
}

asio::awaitable<void> start_server(std::shared_ptr<server::state> self, tcp::acceptor& acceptor,
                                   connection_handler handle, std::string what)
{
    for (;;) {
        auto [ec, socket] = co_await acceptor.async_accept(use_tuple);
        if (self->stopped) {
            co_return;
        }
        if (ec) {
            // Out of descriptors, most likely: pause rather than spin.
            self->log->warn("{} accept failed: {}", what, ec.message());
            asio::steady_timer pause(self->executor, std::chrono::milliseconds(100));
            co_await pause.async_wait(use_tuple);
            continue;
        }
        boost::system::error_code ignored;
        socket.set_option(tcp::no_delay(true), ignored);
        asio::co_spawn(self->executor, handle(self, std::move(socket)), log_failure(self->log, what + " connection"));
    }
}

} // namespace herd
