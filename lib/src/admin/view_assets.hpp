// The live view's page, script and style (lib/src/admin/view/), generated
// into view_assets.cpp at build time.
#pragma once

#include <string_view>

namespace herd {
extern const std::string_view view_index_html; // "/"
extern const std::string_view view_script;     // "/view.js"
extern const std::string_view view_style;      // "/view.css"
} // namespace herd
