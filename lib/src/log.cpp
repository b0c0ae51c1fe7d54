#include "herd/log.hpp"

#include "detail/escaped.hpp"

#include <spdlog/logger.h>
#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/null_sink.h>


namespace herd {
namespace {

std::shared_ptr<spdlog::logger> with_format(std::shared_ptr<spdlog::logger> log)
{
    log->set_formatter(
        std::make_unique<spdlog::pattern_formatter>("%Y-%m-%dT%H:%M:%S.%fZ %-5l %v", spdlog::pattern_time_type::utc));
    log->set_level(spdlog::level::info);
    // Warnings reach the file at once; the server flushes the rest on a
    // timer so that logging every line does not cost a write(2) each.
    log->flush_on(spdlog::level::warn);
    return log;
}

} // namespace

std::shared_ptr<spdlog::logger> make_server_log(const std::string& server, const std::filesystem::path& dir)
{
    std::filesystem::create_directories(dir);
    auto sink = std::make_shared<spdlog::sinks::basic_file_sink_mt>((dir / (server + ".log")).string());
    return with_format(std::make_shared<spdlog::logger>(server, std::move(sink)));
}

std::shared_ptr<spdlog::logger> make_null_log(const std::string& server)
{
    return with_format(std::make_shared<spdlog::logger>(server, std::make_shared<spdlog::sinks::null_sink_mt>()));
}

std::string escape_for_log(std::string_view bytes)
{
    return fmt::format("{}", detail::escaped{bytes});
}

} // namespace herd
