// The link's queue alone, with no sockets: bounded in bytes, and dirty
// (owing a reconciliation) whenever a record could not be kept.
#include "peer/outbox.hpp"

#include <catch2/catch.hpp>

using herd::peer::outbox;

namespace {

std::shared_ptr<const std::string> line(std::size_t bytes)
{
    return std::make_shared<const std::string>(bytes, 'x');
}

} // namespace

TEST_CASE("a new link is dirty: nothing is known of the neighbour until it has reconciled", "[outbox]")
{
    outbox box(1000);
    CHECK(box.dirty());
    CHECK_FALSE(box.up());
    CHECK(box.start_repair() == 0);
    CHECK_FALSE(box.dirty());
}

TEST_CASE("records are queued up to the byte bound, and taken in order", "[outbox]")
{
    outbox box(100);
    box.came_up();
    box.start_repair();
    CHECK(box.offer(std::make_shared<const std::string>("AT one")) == outbox::offered::queued);
    CHECK(box.offer(std::make_shared<const std::string>("AT two")) == outbox::offered::queued);
    CHECK(box.bytes() == 14); // each with its newline
    std::string batch;
    CHECK(box.take(batch, 1) == 1); // at least max_batch bytes: one line is enough
    CHECK(batch == "AT one\n");
    CHECK(box.take(batch, 1000) == 1);
    CHECK(batch == "AT one\nAT two\n");
    CHECK(box.empty());
    CHECK(box.bytes() == 0);
    CHECK_FALSE(box.dirty());
}

TEST_CASE("an overflow is reported once an episode, and the repair covers every record not kept", "[outbox]")
{
    outbox box(100);
    box.came_up();
    box.start_repair();
    CHECK(box.offer(line(60)) == outbox::offered::queued);
    CHECK_FALSE(box.overflowed());
    CHECK(box.offer(line(60)) == outbox::offered::overflowed); // 61 + 61 > 100
    CHECK(box.dirty());
    CHECK(box.overflowed()); // this link must repair it itself
    CHECK(box.offer(line(60)) == outbox::offered::dropped);
    CHECK(box.offer(line(60)) == outbox::offered::dropped);
    CHECK(box.bytes() == 61); // memory stays bounded
    // A small one still fits, but the link stays dirty.
    CHECK(box.offer(line(10)) == outbox::offered::queued);
    CHECK(box.dirty());
    CHECK(box.start_repair() == 3);
    CHECK_FALSE(box.dirty());
    // A new episode is reported again.
    CHECK(box.offer(line(60)) == outbox::offered::overflowed);
    CHECK(box.start_repair() == 1);
}

TEST_CASE("a link that goes down keeps its queue and owes a reconciliation", "[outbox]")
{
    outbox box(100);
    box.came_up();
    box.start_repair();
    CHECK(box.offer(line(10)) == outbox::offered::queued);
    box.went_down();
    CHECK_FALSE(box.up());
    CHECK(box.dirty());
    CHECK_FALSE(box.overflowed()); // either link of the pair may repair an outage
    CHECK(box.bytes() == 11);
    // Queued while down too, within the bound.
    CHECK(box.offer(line(10)) == outbox::offered::queued);
    box.came_up();
    std::string batch;
    CHECK(box.take(batch, 1000) == 2);
}

TEST_CASE("a repair that starts while records are queued leaves them queued", "[outbox]")
{
    outbox box(100);
    box.came_up();
    CHECK(box.offer(line(10)) == outbox::offered::queued);
    CHECK(box.start_repair() == 0);
    CHECK_FALSE(box.empty());
}
