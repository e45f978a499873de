// What the PostgreSQL store's lists share with the SQLite store's: cursors of the
// same shape, page limits and JSON string arrays (host/store/list_codec.h).
#pragma once

#include "host/store/list_codec.h"

namespace signal_host::pg {

using store_lists::CheckLimit;
using store_lists::DecodeCursor;
using store_lists::EncodeCursor;
using store_lists::JsonStringArray;
using store_lists::kNoUpperBound;
using store_lists::ParseJsonStringArray;

}  // namespace signal_host::pg
