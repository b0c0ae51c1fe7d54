#include "support/https_server.hpp"

#include "async/within.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include <algorithm>
#include <cctype>
#include <set>

namespace herd::test {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using asio::ip::tcp;
using detail::use_tuple;

struct https_server::state {
    state(asio::io_context& io, const tls_identity& identity)
        : tls(asio::ssl::context::tls_server), acceptor(io, {asio::ip::make_address("127.0.0.1"), 0})
    {
        tls.use_certificate_chain(asio::buffer(identity.certificate_pem));
        tls.use_private_key(asio::buffer(identity.private_key_pem), asio::ssl::context::pem);
    }
    asio::ssl::context tls;
    tcp::acceptor acceptor;
    std::vector<recorded_request> requests;
    std::size_t connections = 0;
    std::set<tcp::socket*> sockets;
    std::set<asio::steady_timer*> timers;
    https_server* owner = nullptr;
    bool stopped = false;
};

namespace {

asio::awaitable<void> serve(std::shared_ptr<https_server::state> self, tcp::socket socket)
{
    beast::ssl_stream<beast::tcp_stream> stream(std::move(socket), self->tls);
    auto* raw = &beast::get_lowest_layer(stream).socket();
    self->sockets.insert(raw);
    ++self->connections;
    auto [handshake_ec] = co_await stream.async_handshake(asio::ssl::stream_base::server, use_tuple);
    beast::flat_buffer buffer;
    while (!handshake_ec && !self->stopped) {
        http::request<http::string_body> request;
        auto [read_ec, n] = co_await http::async_read(stream, buffer, request, use_tuple);
        if (read_ec) {
            break;
        }
        recorded_request record{
            std::string(request.method_string()), std::string(request.target()), {}, request.body()};
        for (const auto& field : request) {
            std::string name(field.name_string());
            std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
            record.headers[name] = std::string(field.value());
        }
        self->requests.push_back(record);
        const canned_response answer =
            self->owner != nullptr && self->owner->respond ? self->owner->respond(record) : canned_response{};
        if (answer.delay.count() > 0) {
            asio::steady_timer delay(stream.get_executor(), answer.delay);
            self->timers.insert(&delay);
            co_await delay.async_wait(use_tuple);
            self->timers.erase(&delay);
        }
        http::response<http::string_body> response{static_cast<http::status>(answer.status), 11};
        response.set(http::field::content_type, "application/json");
        response.body() = answer.body;
        response.keep_alive(request.keep_alive());
        response.prepare_payload();
        auto [write_ec, written] = co_await http::async_write(stream, response, use_tuple);
        if (write_ec || answer.close_after || !request.keep_alive()) {
            break;
        }
    }
    self->sockets.erase(raw);
    beast::get_lowest_layer(stream).close();
}

asio::awaitable<void> accept_loop(std::shared_ptr<https_server::state> self)
{
    while (!self->stopped) {
        auto [ec, socket] = co_await self->acceptor.async_accept(use_tuple);
        if (ec) {
            break;
        }
        asio::co_spawn(self->acceptor.get_executor(), serve(self, std::move(socket)), [](std::exception_ptr e) {
            if (e) {
                std::rethrow_exception(e);
            }
        });
    }
}

} // namespace

https_server::https_server(asio::io_context& io, const tls_identity& identity)
    : state_(std::make_shared<state>(io, identity))
{
    state_->owner = this;
}

https_server::~https_server()
{
    stop();
}

void https_server::start()
{
    asio::co_spawn(state_->acceptor.get_executor(), accept_loop(state_), [](std::exception_ptr e) {
        if (e) {
            std::rethrow_exception(e);
        }
    });
}

void https_server::stop()
{
    if (state_->stopped) {
        return;
    }
    state_->stopped = true;
    state_->owner = nullptr;
    boost::system::error_code ignored;
    state_->acceptor.close(ignored);
    for (auto* s : state_->sockets) {
        s->close(ignored);
    }
    for (auto* t : state_->timers) {
        t->cancel();
    }
}

std::uint16_t https_server::port() const
{
    return state_->acceptor.local_endpoint().port();
}
const std::vector<recorded_request>& https_server::requests() const
{
    return state_->requests;
}
std::size_t https_server::connections() const
{
    return state_->connections;
}

} // namespace herd::test
