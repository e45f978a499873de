// Word that an integration changed (installed, new revision, deleted, held, resumed),
// from whichever host changed it. One host alone needs none of this (its admin API
// tells its own engine); hosts sharing PostgreSQL learn of each other's writes here
// and refresh their delivery engine, so an install or a new revision on one host takes
// effect on all of them within seconds.
//
// Notices may repeat and may be coalesced; after a lost connection the feed reports
// `everything` once it is back (a full re-sync), so a listener never misses a change
// for good.
#pragma once

#include <functional>
#include <string_view>

namespace signal_host {

class ConfigChangeFeed {
 public:
  // `integration_id` empty means "anything may have changed": refresh everything.
  using Listener = std::function<void(std::string_view integration_id)>;

  virtual ~ConfigChangeFeed() = default;

  // Calls `listener` from the feed's own thread for every change seen after this
  // returns; one listener (a later call replaces it; an empty one stops the calls).
  virtual void SetListener(Listener listener) = 0;
};

}  // namespace signal_host
