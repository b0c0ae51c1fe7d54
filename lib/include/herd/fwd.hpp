// Types the public headers name but need not define. Declaring them here
// keeps Asio's and spdlog's headers out of every file that includes Herd's.
#pragma once

namespace boost::asio {
class io_context;
}

namespace spdlog {
class logger;
}
