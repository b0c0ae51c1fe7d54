// The byte buffer behind every connection: bytes go in at the back, whole
// lines come out at the front. I/O-free, so the framing rules (many lines
// per read, a line split across reads, a last line with no '\n') are
// tested synchronously; the coroutines only read into prepare().
#pragma once

#include "herd/protocol.hpp"

#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace herd::detail {

class line_reader {
public:
    // Space for the next read, after the lines already taken.
    std::span<char> prepare(std::size_t size = std::size_t{16} * 1024)
    {
        if (consumed_ > 0) {
            data_.erase(0, consumed_);
            consumed_ = 0;
        }
        filled_ = data_.size();
        data_.resize(filled_ + size);
        return {data_.data() + filled_, size};
    }

    void commit(std::size_t bytes) { data_.resize(filled_ + bytes); }

    // End of input: whatever follows the last '\n' is one more line.
    void finish() noexcept { finished_ = true; }

    // The next line without its '\n'; valid until the next prepare().
    std::optional<std::string_view> next_line() noexcept
    {
        std::string_view rest = std::string_view(data_).substr(consumed_);
        if (auto line = take_line(rest)) {
            consumed_ = data_.size() - rest.size();
            return line;
        }
        if (finished_ && !rest.empty()) {
            consumed_ = data_.size();
            return rest;
        }
        return std::nullopt;
    }

    // Bytes received but not yet returned as a line.
    std::size_t pending() const noexcept { return data_.size() - consumed_; }

private:
    std::string data_;
    std::size_t consumed_ = 0;
    std::size_t filled_ = 0;
    bool finished_ = false;
};

} // namespace herd::detail
