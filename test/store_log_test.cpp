// The store on disk: replay, a torn or corrupt tail cut off, compaction.
#include "durability/store_log.hpp"
#include "support/process_herd.hpp"

#include <catch2/catch.hpp>

#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <fstream>
#include <functional>
#include <mutex>

#include <unistd.h>

using namespace herd;
using namespace herd::test;

namespace {

const std::string kiwi = "AT Goloman +0.100000000 kiwi +34-118 1700000000";
const std::string plum = "AT Hands +0.200000000 plum +1+1 1700000001";
const std::string kiwi_newer = "AT Hands +0.300000000 kiwi +35-119 1700000002";

} // namespace

TEST_CASE("log lines carry a checksum and round-trip", "[store-log]")
{
    const auto line = format_log_line(kiwi);
    CHECK(line.size() == kiwi.size() + 9);
    const auto back = parse_log_line(line);
    REQUIRE(back);
    CHECK(back->client == "kiwi");
    std::string flipped = line;
    flipped[20] ^= 1;
    CHECK_FALSE(parse_log_line(flipped));
    CHECK_FALSE(parse_log_line("00000000 " + kiwi));
    CHECK_FALSE(parse_log_line("garbage"));
}

TEST_CASE("the checksum is zlib's CRC-32, for lines of every length", "[store-log]")
{
    // The standard check value, and lines longer and shorter than the
    // eight bytes the fast path takes at a time.
    CHECK(format_log_line("123456789").starts_with("cbf43926 "));
    CHECK(format_log_line("").starts_with("00000000 "));
    CHECK(format_log_line("The quick brown fox jumps over the lazy dog").starts_with("414fa339 "));
    CHECK(format_log_line("a").starts_with("e8b7be43 "));
}

TEST_CASE("replay stops at a torn or corrupt tail and says how much follows", "[store-log]")
{
    const std::string good = format_log_line(kiwi) + "\n" + format_log_line(plum) + "\n";
    location_store store;
    const auto whole = replay_log(good + format_log_line(kiwi_newer) + "\n", store);
    CHECK(whole.records == 3);
    CHECK(whole.cut_bytes == 0);
    CHECK(store.find("kiwi")->at_line == kiwi_newer);

    location_store torn_store;
    const auto torn_tail = format_log_line(kiwi_newer).substr(0, 30);
    const auto torn = replay_log(good + torn_tail, torn_store);
    CHECK(torn.records == 2);
    CHECK(torn.cut_bytes == torn_tail.size());
    CHECK_THAT(torn.cut_reason, Catch::Contains("torn"));
    CHECK(torn_store.find("kiwi")->at_line == kiwi);

    location_store corrupt_store;
    std::string bad = format_log_line(kiwi_newer);
    bad[15] = 'X';
    const auto corrupt = replay_log(good + bad + "\n" + format_log_line(plum) + "\n", corrupt_store);
    CHECK(corrupt.records == 2);
    CHECK(corrupt.cut_bytes == bad.size() + 1 + format_log_line(plum).size() + 1);
    CHECK_THAT(corrupt.cut_reason, Catch::Contains("corrupt"));
}

TEST_CASE("a store log survives reopening and loses its bad tail for good", "[store-log]")
{
    const auto dir = scratch_dir("herd-store-");
    const auto file = dir / "Goloman.store";
    {
        location_store store;
        store_log log(file, store, fsync_policy::always);
        CHECK(log.replayed().records == 0);
        log.append(kiwi);
        log.append(plum);
        log.sync();
    }
    std::ofstream(file, std::ios::app) << "0badc0de AT torn";
    {
        location_store store;
        store_log log(file, store, fsync_policy::always);
        CHECK(log.replayed().records == 2);
        CHECK(log.replayed().cut_bytes == 16);
        CHECK(store.size() == 2);
        log.append(kiwi_newer); // follows the last good record
    }
    location_store store;
    store_log log(file, store, fsync_policy::batch);
    CHECK(log.replayed().records == 3);
    CHECK(log.replayed().cut_bytes == 0);
    CHECK(store.find("kiwi")->at_line == kiwi_newer);
    std::filesystem::remove_all(dir);
}

TEST_CASE("a log grown past twice the store is rewritten as a snapshot", "[store-log]")
{
    const auto dir = scratch_dir("herd-store-");
    const auto file = dir / "Goloman.store";
    location_store store;
    {
        store_log log(file, store, fsync_policy::batch);
        bool compacted = false;
        for (int i = 0; i < 12000; ++i) {
            const std::string at = "AT Goloman +0.000000000 kiwi +1+1 " + std::to_string(1000 + i);
            auto record = parse_at_line(at);
            store.update(location_record::from(*record, at));
            log.append(at);
            compacted = log.compact_if_large(store) || compacted;
        }
        CHECK(compacted);
    }
    const std::string text = read_file(file);
    CHECK(std::count(text.begin(), text.end(), '\n') < 3000);
    location_store reread;
    store_log again(file, reread, fsync_policy::batch);
    CHECK(reread.size() == 1);
    CHECK(reread.find("kiwi")->at_line == "AT Goloman +0.000000000 kiwi +1+1 12999");
    std::filesystem::remove_all(dir);
}

TEST_CASE("records appended while a snapshot is written follow it in the new log", "[store-log]")
{
    const auto policy = GENERATE(fsync_policy::batch, fsync_policy::always);
    const auto dir = scratch_dir("herd-store-");
    const auto file = dir / "Goloman.store";
    location_store store;
    const auto add = [&](store_log& log, const std::string& at) {
        auto record = parse_at_line(at);
        store.update(location_record::from(*record, at));
        log.append(at);
    };
    {
        store_log log(file, store, policy);
        for (int i = 0; i < 10000; ++i) {
            add(log, "AT Goloman +0.000000000 kiwi +1+1 " + std::to_string(1000 + i));
        }
        log.flush();
        REQUIRE(log.compact_if_large(store));
        CHECK_FALSE(log.compact_if_large(store)); // one at a time
        // While its thread writes, the old log keeps taking records.
        add(log, "AT Goloman +0.000000000 apple +2+2 5");
        add(log, "AT Goloman +0.000000000 kiwi +1+1 20000");
        log.flush();
        log.finish_compaction();
        add(log, "AT Goloman +0.000000000 plum +3+3 6");
        log.sync();
        const std::string text = read_file(file);
        CHECK(std::count(text.begin(), text.end(), '\n') == 4); // kiwi's snapshot, apple, kiwi, plum
        CHECK_FALSE(std::filesystem::exists(dir / "Goloman.store.new"));
    }
    location_store reread;
    store_log again(file, reread, policy);
    CHECK(reread.size() == 3);
    CHECK(reread.find("kiwi")->at_line == "AT Goloman +0.000000000 kiwi +1+1 20000");
    CHECK(reread.find("apple") != nullptr);
    CHECK(reread.find("plum") != nullptr);
    CHECK(reread.digest() == store.digest());
    std::filesystem::remove_all(dir);
}

namespace {

// An fdatasync that waits for the test to open its gate, and says when it
// has been entered: a sync in flight, for as long as the test wants.
struct sync_gate {
    std::mutex mutex;
    std::condition_variable changed;
    bool open = false;
    int entered = 0;

    std::shared_ptr<disk_io> io()
    {
        auto calls = std::make_shared<disk_io>();
        calls->fdatasync = [this](int fd) {
            std::unique_lock lock(mutex);
            ++entered;
            changed.notify_all();
            changed.wait(lock, [&] { return open; });
            return ::fdatasync(fd);
        };
        return calls;
    }
    // The test's thread waits for the log's: an event, with a bound only so
    // a bug fails the test rather than hanging it.
    bool wait_entered(int count)
    {
        std::unique_lock lock(mutex);
        return changed.wait_for(lock, std::chrono::seconds(30), [&] { return entered >= count; });
    }
    void let_through()
    {
        const std::lock_guard lock(mutex);
        open = true;
        changed.notify_all();
    }
};

// What the log's thread tells its owner. It tells after it wakes sync(),
// so a test waits for the telling itself rather than assume the order.
struct progress_seen {
    std::mutex mutex;
    std::condition_variable changed;
    int times = 0;
    std::function<void()> callback()
    {
        return [this] {
            const std::lock_guard lock(mutex);
            ++times;
            changed.notify_all();
        };
    }
    bool told()
    {
        std::unique_lock lock(mutex);
        return changed.wait_for(lock, std::chrono::seconds(10), [this] { return times > 0; });
    }
};

} // namespace

TEST_CASE("under always a record counts as durable only once the log's thread has synced it", "[store-log]")
{
    const auto dir = scratch_dir("herd-store-");
    location_store store;
    sync_gate gate;
    progress_seen progress;
    {
        store_log log(dir / "Goloman.store", store, fsync_policy::always, progress.callback(), gate.io());
        CHECK(log.append(kiwi) == 1);
        log.flush();
        REQUIRE(gate.wait_entered(1));
        // In the kernel, not yet on the disk: nothing may be acknowledged.
        CHECK(log.written() == 1);
        CHECK(log.durable() == 0);
        CHECK(log.acknowledgeable() == 0);
        // While that sync runs, the next record is still written at once
        // (the loop never waits for the disk), and waits for the next sync.
        CHECK(log.append(plum) == 2);
        log.flush();
        CHECK(log.written() == 2);
        CHECK(log.durable() == 0);
        gate.let_through();
        log.sync();
        CHECK(log.durable() == 2);
        CHECK(log.acknowledgeable() == 2);
        CHECK(progress.told());
        CHECK_FALSE(log.failed());
    }
    location_store reread;
    const store_log again(dir / "Goloman.store", reread, fsync_policy::always);
    CHECK(reread.size() == 2);
    std::filesystem::remove_all(dir);
}

TEST_CASE("under batch a record may be acknowledged once written, and the sync comes later", "[store-log]")
{
    const auto dir = scratch_dir("herd-store-");
    location_store store;
    sync_gate gate;
    {
        store_log log(dir / "Goloman.store", store, fsync_policy::batch, {}, gate.io());
        log.append(kiwi);
        log.flush();
        CHECK(log.acknowledgeable() == 1);
        CHECK(log.durable() == 0);
        CHECK(gate.entered == 0); // flush() asks for no sync under batch
        log.sync_soon();
        REQUIRE(gate.wait_entered(1));
        gate.let_through();
        log.sync();
        CHECK(log.durable() == 1);
    }
    std::filesystem::remove_all(dir);
}

TEST_CASE("a failed write or fdatasync is final: reported, never acknowledged, never thrown", "[store-log]")
{
    const auto dir = scratch_dir("herd-store-");
    const bool sync_fails = GENERATE(false, true);
    auto calls = std::make_shared<disk_io>();
    if (sync_fails) {
        calls->fdatasync = [](int) {
            errno = EIO;
            return -1;
        };
    } else {
        calls->write = [](int, const char*, std::size_t) -> long {
            errno = ENOSPC;
            return -1;
        };
    }
    location_store store;
    progress_seen progress;
    {
        store_log log(dir / "Goloman.store", store, fsync_policy::always, progress.callback(), calls);
        log.append(kiwi);
        CHECK_NOTHROW(log.flush());
        CHECK_NOTHROW(log.sync()); // returns: the failure ends the wait
        CHECK(log.failed());
        CHECK(log.durable() == 0);
        CHECK(log.acknowledgeable() == 0);
        CHECK_THAT(log.failure(), Catch::Contains((dir / "Goloman.store").string()));
        CHECK_THAT(log.failure(),
                   Catch::Contains(sync_fails ? "fdatasync: Input/output error" : "write: No space left on device"));
        CHECK(progress.told());
        // Nothing after the failure is written or counted.
        log.append(plum);
        CHECK_NOTHROW(log.flush());
        CHECK(log.acknowledgeable() == 0);
    } // and the destructor neither throws nor ends the process
    std::filesystem::remove_all(dir);
}
