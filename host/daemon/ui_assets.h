// The Management UI files (host/ui/*), compiled into the binary at build time.
#pragma once

#include <vector>

#include "static_assets.h"

namespace signal_host::daemon {

std::vector<api::StaticAsset> UiAssets();

}  // namespace signal_host::daemon
