// libFuzzer target: everything the peer port parses from a neighbour, the
// handshake lines and the AT records after it.
#include "herd/peer_protocol.hpp"
#include "herd/protocol.hpp"

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
    return 0;
}
