// A /v1/stream subscriber's outgoing messages, bounded in bytes. Past the
// bound the queue overflows once and for good: it drops what it held and
// takes nothing more, so a subscriber that reads too slowly is closed (with
// 1008) rather than shown a stream with a hole in it. Pure: tested in
// test/http_rules_test.cpp.
#pragma once

#include <cstddef>
#include <deque>
#include <optional>
#include <string>

namespace herd::stream {

class event_queue {
public:
    explicit event_queue(std::size_t bound) : bound_(bound) {}

    // False if the message would take the queue past its bound: the queue
    // has then overflowed, and is empty.
    bool push(std::string message)
    {
        if (overflowed_) {
            return false;
        }
        if (bytes_ + message.size() > bound_) {
            overflowed_ = true;
            messages_.clear();
            bytes_ = 0;
            return false;
        }
        bytes_ += message.size();
        messages_.push_back(std::move(message));
        return true;
    }

    std::optional<std::string> pop()
    {
        if (messages_.empty()) {
            return std::nullopt;
        }
        std::string front = std::move(messages_.front());
        messages_.pop_front();
        bytes_ -= front.size();
        return front;
    }

    bool empty() const noexcept { return messages_.empty(); }
    bool overflowed() const noexcept { return overflowed_; }
    std::size_t bytes() const noexcept { return bytes_; }
    std::size_t bound() const noexcept { return bound_; }

private:
    std::size_t bound_;
    std::size_t bytes_ = 0;
    bool overflowed_ = false;
    std::deque<std::string> messages_;
};

} // namespace herd::stream
