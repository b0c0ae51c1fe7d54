#include "peer/outbox.hpp"

#include <utility>

namespace herd::peer {

outbox::offered outbox::offer(std::shared_ptr<const std::string> at_line)
{
    const std::size_t size = at_line->size() + 1;
    if (bytes_ + size <= max_bytes_) {
        bytes_ += size;
        lines_.push_back(std::move(at_line));
        return offered::queued;
    }
    ++owed_;
    if (overflowed_) {
        return offered::dropped;
    }
    overflowed_ = true;
    dirty_ = true;
    return offered::overflowed;
}

std::size_t outbox::take(std::string& batch, std::size_t max_batch)
{
    std::size_t taken = 0;
    while (!lines_.empty() && batch.size() < max_batch) {
        const auto& line = *lines_.front();
        batch += line;
        batch += '\n';
        bytes_ -= line.size() + 1;
        lines_.pop_front();
        ++taken;
    }
    return taken;
}

void outbox::went_down() noexcept
{
    up_ = false;
    dirty_ = true;
}

std::uint64_t outbox::start_repair() noexcept
{
    dirty_ = false;
    overflowed_ = false;
    return std::exchange(owed_, 0);
}

} // namespace herd::peer
