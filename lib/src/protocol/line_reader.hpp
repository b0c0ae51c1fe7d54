// The byte buffer behind every connection: bytes go in at the back, whole
// lines come out at the front. I/O-free, so the framing rules (many lines
// per read, a line split across reads, a last line with no '\n') are
// tested synchronously; the coroutines only read into prepare().
#pragma once

#include "protocol/protocol.hpp"

#include <algorithm>
#include <cstring>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace herd::detail {

class line_reader {
public:
    // Space for the next read, after the bytes not yet taken as lines: at
    // least `size` bytes, or `min_read` when 0. The buffer is allocated on
    // first use, grows only when a partial line needs it, and is never
    // zero-filled: a read costs no allocation and no memset.
    std::span<char> prepare(std::size_t size = 0)
    {
        if (size == 0) {
            size = min_read;
        }
        if (begin_ > 0) {
            std::memmove(buffer_.get(), buffer_.get() + begin_, end_ - begin_);
            end_ -= begin_;
            begin_ = 0;
        }
        if (capacity_ - end_ < size) {
            const std::size_t wanted = std::max(end_ + size, 2 * capacity_);
            auto bigger = std::make_unique_for_overwrite<char[]>(wanted);
            if (end_ > 0) {
                std::memcpy(bigger.get(), buffer_.get(), end_);
            }
            buffer_ = std::move(bigger);
            capacity_ = wanted;
        }
        return {buffer_.get() + end_, capacity_ - end_};
    }

    void commit(std::size_t bytes) noexcept { end_ += bytes; }

    // End of input: whatever follows the last '\n' is one more line.
    void finish() noexcept { finished_ = true; }

    // The next line without its '\n'; valid until the next prepare().
    std::optional<std::string_view> next_line() noexcept
    {
        std::string_view rest(buffer_.get() + begin_, end_ - begin_);
        if (auto line = take_line(rest)) {
            begin_ = end_ - rest.size();
            return line;
        }
        if (finished_ && !rest.empty()) {
            begin_ = end_;
            return rest;
        }
        return std::nullopt;
    }

    // Bytes received but not yet returned as a line.
    std::size_t pending() const noexcept { return end_ - begin_; }

    // 4 KiB: a pipelined batch of IAMATs fits many times over, and ten
    // thousand idle connections hold 40 MiB of buffers, not 160.
    static constexpr std::size_t min_read = 4096;

private:
    std::unique_ptr<char[]> buffer_;
    std::size_t capacity_ = 0;
    std::size_t begin_ = 0; // the first byte not yet returned
    std::size_t end_ = 0;   // one past the last byte read
    bool finished_ = false;
};

} // namespace herd::detail
