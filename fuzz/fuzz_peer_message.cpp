// libFuzzer target: everything the peer port parses from a neighbour, the
// handshake lines, the AT records after it and reconciliation's messages.
#include "peer/peer_protocol.hpp"
#include "peer/reconciliation.hpp"
#include "protocol/protocol.hpp"

#include <cstdlib>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    const std::string_view line(reinterpret_cast<const char*>(data), size);
    if (auto record = herd::parse_at_line(line)) {
        // Every field is a view into the line, and the client is bounded.
        if (record->client.empty() || record->client.size() > herd::max_client_id_bytes ||
            record->server.data() < line.data() || record->time.data() + record->time.size() > line.data() + size) {
            std::abort();
        }
    }
    if (auto hello = herd::peer::parse_hello(line)) {
        const auto proof = herd::peer::make_proof(std::string("secret"), herd::peer::role::dialer, "Goloman",
                                                  hello->dialer, "a", hello->nonce);
        if (herd::peer::proofs_equal(proof, hello->proof) && proof != hello->proof) {
            std::abort();
        }
    }
    (void)herd::peer::parse_challenge(line);
    (void)herd::peer::parse_welcome(line);

    // The input as lines of a reconciliation message: whatever reads back
    // must be written again as lines that read back the same.
    herd::peer::message_reader reader;
    for (std::string_view rest = line; !rest.empty();) {
        const auto nl = rest.find('\n');
        const auto one = rest.substr(0, nl);
        rest = nl == std::string_view::npos ? std::string_view{} : rest.substr(nl + 1);
        auto fed = reader.feed(one);
        if (!fed.ok) {
            break;
        }
        if (fed.message) {
            herd::peer::message_reader again;
            std::optional<herd::peer::reconcile_message> back;
            for (const auto& written : herd::peer::format_message(*fed.message)) {
                auto read = again.feed(written);
                if (!read.ok) {
                    std::abort();
                }
                if (read.message) {
                    back = std::move(read.message);
                }
            }
            if (!back || back->compare != fed.message->compare || back->offered != fed.message->offered ||
                back->pushed != fed.message->pushed || back->wanted != fed.message->wanted ||
                back->records != fed.message->records) {
                std::abort();
            }
        }
    }
    return 0;
}
