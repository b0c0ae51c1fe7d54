// A child process for end-to-end tests: the real herd-server binary, its
// stdout and stderr on pipes, waited for with pidfd and poll (an event, not
// a sleep loop).
#pragma once

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <sys/types.h>

namespace herd::test {

class child_process {
public:
    // `env` adds to (or overrides) this process's environment: "NAME=value".
    child_process(const std::vector<std::string>& argv, const std::filesystem::path& cwd,
                  const std::vector<std::string>& env = {});
    ~child_process(); // SIGKILL if still running
    child_process(const child_process&) = delete;
    child_process& operator=(const child_process&) = delete;

    // The next line the child printed on stdout, or nothing after `limit`
    // or at end of output.
    std::optional<std::string> stdout_line(std::chrono::milliseconds limit);
    void signal(int signo);
    pid_t pid() const noexcept { return pid_; }
    // The exit status, or nothing if it is still running after `limit`;
    // a child killed by a signal reports 128 + the signal.
    std::optional<int> wait(std::chrono::milliseconds limit);
    // Everything on stderr so far (reads until the child closes it).
    std::string stderr_text();

private:
    pid_t pid_ = -1;
    int pidfd_ = -1;
    int out_ = -1;
    int err_ = -1;
    std::string out_buffer_;
    std::optional<int> status_;
};

// Runs a command to completion: its exit status and stderr.
std::pair<int, std::string> run_command(const std::vector<std::string>& argv, const std::filesystem::path& cwd,
                                        std::string* stdout_text = nullptr);

} // namespace herd::test
