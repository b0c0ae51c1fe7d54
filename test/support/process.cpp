#include "support/process.hpp"

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <stdexcept>
#include <system_error>

#include <fcntl.h>
#include <poll.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

namespace herd::test {

namespace {

bool wait_readable(int fd, std::chrono::milliseconds limit)
{
    pollfd p{fd, POLLIN, 0};
    int rc = 0;
    do {
        rc = ::poll(&p, 1, static_cast<int>(limit.count()));
    } while (rc < 0 && errno == EINTR);
    return rc > 0;
}

} // namespace

child_process::child_process(const std::vector<std::string>& argv, const std::filesystem::path& cwd,
                             const std::vector<std::string>& env)
{
    // Built before fork: the child only execs.
    std::vector<std::string> environment = env;
    for (char** e = environ; *e != nullptr; ++e) {
        const std::string_view entry(*e);
        const auto name = entry.substr(0, entry.find('=') + 1);
        if (std::none_of(env.begin(), env.end(), [&](const auto& x) { return x.rfind(name, 0) == 0; })) {
            environment.emplace_back(entry);
        }
    }
    std::vector<char*> envp;
    envp.reserve(environment.size() + 1);
    for (auto& e : environment) {
        envp.push_back(e.data());
    }
    envp.push_back(nullptr);
    std::vector<char*> args;
    args.reserve(argv.size() + 1);
    for (const auto& a : argv) {
        args.push_back(const_cast<char*>(a.c_str()));
    }
    args.push_back(nullptr);

    int out[2];
    int err[2];
    if (::pipe2(out, O_CLOEXEC) != 0 || ::pipe2(err, O_CLOEXEC) != 0) {
        throw std::system_error(errno, std::generic_category(), "pipe2");
    }
    pid_ = ::fork();
    if (pid_ < 0) {
        throw std::system_error(errno, std::generic_category(), "fork");
    }
    if (pid_ == 0) {
        ::dup2(out[1], STDOUT_FILENO);
        ::dup2(err[1], STDERR_FILENO);
        if (::chdir(cwd.c_str()) != 0) {
            ::_exit(126);
        }
        ::execvpe(args[0], args.data(), envp.data()); // searches PATH, for "node"
        ::_exit(127);
    }
    ::close(out[1]);
    ::close(err[1]);
    out_ = out[0];
    err_ = err[0];
    pidfd_ = static_cast<int>(::syscall(SYS_pidfd_open, pid_, 0));
    if (pidfd_ < 0) {
        throw std::system_error(errno, std::generic_category(), "pidfd_open");
    }
}

child_process::~child_process()
{
    if (!status_) {
        signal(SIGKILL);
        wait(std::chrono::seconds(10));
    }
    for (int fd : {out_, err_, pidfd_}) {
        if (fd >= 0) {
            ::close(fd);
        }
    }
}

std::optional<std::string> child_process::stdout_line(std::chrono::milliseconds limit)
{
    const auto deadline = std::chrono::steady_clock::now() + limit;
    for (;;) {
        if (auto nl = out_buffer_.find('\n'); nl != std::string::npos) {
            std::string line = out_buffer_.substr(0, nl);
            out_buffer_.erase(0, nl + 1);
            return line;
        }
        const auto left =
            std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0 || !wait_readable(out_, left)) {
            return std::nullopt;
        }
        char buf[4096];
        const auto n = ::read(out_, buf, sizeof buf);
        if (n <= 0) {
            return std::nullopt;
        }
        out_buffer_.append(buf, static_cast<std::size_t>(n));
    }
}

void child_process::signal(int signo)
{
    if (!status_) {
        ::kill(pid_, signo);
    }
}

std::optional<int> child_process::wait(std::chrono::milliseconds limit)
{
    if (status_) {
        return status_;
    }
    if (!wait_readable(pidfd_, limit)) {
        return std::nullopt;
    }
    int status = 0;
    if (::waitpid(pid_, &status, 0) != pid_) {
        return std::nullopt;
    }
    status_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    return status_;
}

std::string child_process::stderr_text()
{
    std::string text;
    char buf[4096];
    ssize_t n = 0;
    while ((n = ::read(err_, buf, sizeof buf)) > 0) {
        text.append(buf, static_cast<std::size_t>(n));
    }
    return text;
}

std::pair<int, std::string> run_command(const std::vector<std::string>& argv, const std::filesystem::path& cwd,
                                        std::string* stdout_text)
{
    child_process child(argv, cwd);
    if (stdout_text != nullptr) {
        while (auto line = child.stdout_line(std::chrono::seconds(10))) {
            *stdout_text += *line + "\n";
        }
    }
    const auto status = child.wait(std::chrono::seconds(10));
    if (!status) {
        throw std::runtime_error("command did not finish: " + argv.front());
    }
    return {*status, child.stderr_text()};
}

} // namespace herd::test
