#include "host/metrics/metrics.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <thread>

#include "absl/strings/str_cat.h"

namespace signal_host::metrics {
namespace {

bool IsValidMetricName(std::string_view name) {
  if (name.empty()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
    const bool digit = c >= '0' && c <= '9';
    if (!(alpha || (i > 0 && digit))) return false;
  }
  return true;
}

bool IsValidLabelName(std::string_view name) {
  if (name.empty() || name.substr(0, 2) == "__") return false;
  for (size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
    const bool digit = c >= '0' && c <= '9';
    if (!(alpha || (i > 0 && digit))) return false;
  }
  return true;
}

std::string EscapeHelp(std::string_view help) {
  std::string out;
  out.reserve(help.size());
  for (char c : help) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

const char* TypeName(MetricType type) {
  switch (type) {
    case MetricType::kCounter:
      return "counter";
    case MetricType::kGauge:
      return "gauge";
    case MetricType::kHistogram:
      return "histogram";
  }
  return "untyped";
}

// `{a="x",b="y"` without the closing brace, or "" when there are no labels.
std::string OpenLabels(const std::vector<std::string>& names,
                       const std::vector<std::string>& values) {
  if (names.empty()) return "";
  std::string out = "{";
  for (size_t i = 0; i < names.size(); ++i) {
    if (i > 0) out += ',';
    absl::StrAppend(&out, names[i], "=\"", EscapeLabelValue(values[i]), "\"");
  }
  return out;
}

std::string CloseLabels(const std::string& open) { return open.empty() ? "" : open + "}"; }

void RenderHeader(std::string& out, const std::string& name, const std::string& help,
                  MetricType type) {
  absl::StrAppend(&out, "# HELP ", name, " ", EscapeHelp(help), "\n");
  absl::StrAppend(&out, "# TYPE ", name, " ", TypeName(type), "\n");
}

void RenderChild(std::string& out, const std::string& name, const std::string& labels,
                 const Counter& counter) {
  absl::StrAppend(&out, name, CloseLabels(labels), " ", counter.Value(), "\n");
}

void RenderChild(std::string& out, const std::string& name, const std::string& labels,
                 const Gauge& gauge) {
  absl::StrAppend(&out, name, CloseLabels(labels), " ", FormatValue(gauge.Value()), "\n");
}

void RenderChild(std::string& out, const std::string& name, const std::string& labels,
                 const Histogram& histogram) {
  const Histogram::Snapshot snapshot = histogram.Read();
  const std::string prefix = labels.empty() ? "{" : labels + ",";
  const auto& bounds = histogram.bounds();
  for (size_t i = 0; i <= bounds.size(); ++i) {
    const std::string le = i < bounds.size() ? FormatValue(bounds[i]) : "+Inf";
    absl::StrAppend(&out, name, "_bucket", prefix, "le=\"", le, "\"} ",
                    snapshot.cumulative_counts[i], "\n");
  }
  absl::StrAppend(&out, name, "_sum", CloseLabels(labels), " ", FormatValue(snapshot.sum), "\n");
  absl::StrAppend(&out, name, "_count", CloseLabels(labels), " ", snapshot.count, "\n");
}

}  // namespace

uint64_t Counter::Value() const {
  uint64_t total = 0;
  for (const Stripe& stripe : stripes_) total += stripe.value.load(std::memory_order_relaxed);
  return total;
}

size_t Counter::StripeIndex() {
  thread_local const size_t index = std::hash<std::thread::id>()(std::this_thread::get_id());
  return index % kStripes;
}

Histogram::Histogram(std::shared_ptr<const std::vector<double>> bounds)
    : bounds_(std::move(bounds)),
      counts_(new std::atomic<uint64_t>[bounds_->size() + 1]) {
  for (size_t i = 0; i <= bounds_->size(); ++i) counts_[i].store(0, std::memory_order_relaxed);
}

void Histogram::Observe(double value) {
  // A NaN is counted in +Inf only; it would poison the sum.
  const auto& bounds = *bounds_;
  const size_t index = std::isnan(value)
                           ? bounds.size()
                           : std::lower_bound(bounds.begin(), bounds.end(), value) - bounds.begin();
  counts_[index].fetch_add(1, std::memory_order_relaxed);
  if (!std::isnan(value)) sum_.fetch_add(value, std::memory_order_relaxed);
}

Histogram::Snapshot Histogram::Read() const {
  Snapshot snapshot;
  snapshot.cumulative_counts.resize(bounds_->size() + 1);
  uint64_t running = 0;
  for (size_t i = 0; i <= bounds_->size(); ++i) {
    running += counts_[i].load(std::memory_order_relaxed);
    snapshot.cumulative_counts[i] = running;
  }
  snapshot.count = running;
  snapshot.sum = sum_.load(std::memory_order_relaxed);
  return snapshot;
}

const std::vector<double>& LatencyBucketsSeconds() {
  static const std::vector<double> kBuckets = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                               0.5,   1,    2.5,   5,    10};
  return kBuckets;
}

template <typename T>
void Family<T>::RenderTo(std::string& out) const {
  RenderHeader(out, name_, help_, type_);
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& [values, child] : children_) {
    RenderChild(out, name_, OpenLabels(label_names_, values), *child);
  }
}

template class Family<Counter>;
template class Family<Gauge>;
template class Family<Histogram>;

absl::Status Registry::CheckNew(const std::string& name,
                                const std::vector<std::string>& label_names,
                                MetricType type) const {
  if (!IsValidMetricName(name)) {
    return absl::InvalidArgumentError(absl::StrCat("invalid metric name '", name, "'"));
  }
  for (const std::string& label : label_names) {
    if (!IsValidLabelName(label) || (type == MetricType::kHistogram && label == "le")) {
      return absl::InvalidArgumentError(
          absl::StrCat("invalid label name '", label, "' for metric ", name));
    }
  }
  for (size_t i = 0; i < label_names.size(); ++i) {
    for (size_t j = i + 1; j < label_names.size(); ++j) {
      if (label_names[i] == label_names[j]) {
        return absl::InvalidArgumentError(
            absl::StrCat("label '", label_names[i], "' repeated for metric ", name));
      }
    }
  }
  for (const auto& family : families_) {
    if (family->name() == name) {
      return absl::AlreadyExistsError(absl::StrCat("metric ", name, " is already registered"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<Family<Counter>*> Registry::AddCounter(std::string name, std::string help,
                                                      std::vector<std::string> label_names) {
  std::lock_guard<std::mutex> lock(mu_);
  if (absl::Status status = CheckNew(name, label_names, MetricType::kCounter); !status.ok()) {
    return status;
  }
  auto family = std::make_unique<Family<Counter>>(std::move(name), std::move(help),
                                                  std::move(label_names), MetricType::kCounter,
                                                  [] { return std::make_unique<Counter>(); });
  Family<Counter>* raw = family.get();
  families_.push_back(std::move(family));
  return raw;
}

absl::StatusOr<Family<Gauge>*> Registry::AddGauge(std::string name, std::string help,
                                                  std::vector<std::string> label_names) {
  std::lock_guard<std::mutex> lock(mu_);
  if (absl::Status status = CheckNew(name, label_names, MetricType::kGauge); !status.ok()) {
    return status;
  }
  auto family = std::make_unique<Family<Gauge>>(std::move(name), std::move(help),
                                                std::move(label_names), MetricType::kGauge,
                                                [] { return std::make_unique<Gauge>(); });
  Family<Gauge>* raw = family.get();
  families_.push_back(std::move(family));
  return raw;
}

absl::StatusOr<Family<Histogram>*> Registry::AddHistogram(std::string name, std::string help,
                                                          std::vector<std::string> label_names,
                                                          std::vector<double> bounds) {
  std::lock_guard<std::mutex> lock(mu_);
  if (absl::Status status = CheckNew(name, label_names, MetricType::kHistogram); !status.ok()) {
    return status;
  }
  if (bounds.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("histogram ", name, " has no buckets"));
  }
  for (size_t i = 0; i < bounds.size(); ++i) {
    if (!std::isfinite(bounds[i]) || (i > 0 && bounds[i] <= bounds[i - 1])) {
      return absl::InvalidArgumentError(
          absl::StrCat("histogram ", name, " buckets must be finite and strictly ascending"));
    }
  }
  auto shared_bounds = std::make_shared<const std::vector<double>>(std::move(bounds));
  auto family = std::make_unique<Family<Histogram>>(
      std::move(name), std::move(help), std::move(label_names), MetricType::kHistogram,
      [shared_bounds] { return std::make_unique<Histogram>(shared_bounds); });
  Family<Histogram>* raw = family.get();
  families_.push_back(std::move(family));
  return raw;
}

int Registry::AddCollectHook(std::function<void()> hook) {
  std::lock_guard<std::mutex> lock(hooks_mu_);
  const int id = next_hook_id_++;
  hooks_.emplace(id, std::move(hook));
  return id;
}

void Registry::RemoveCollectHook(int id) {
  std::lock_guard<std::mutex> lock(hooks_mu_);
  hooks_.erase(id);
}

std::string Registry::Render() const {
  {
    // Held while hooks run so that RemoveCollectHook() returning means the hook is
    // not running and will not run again.
    std::lock_guard<std::mutex> lock(hooks_mu_);
    for (const auto& [id, hook] : hooks_) hook();
  }
  std::string out;
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& family : families_) family->RenderTo(out);
  return out;
}

std::string EscapeLabelValue(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string FormatValue(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  if (value == std::floor(value) && std::fabs(value) < 9007199254740992.0) {
    return absl::StrCat(static_cast<int64_t>(value));
  }
  char buffer[32];
  std::snprintf(buffer, sizeof(buffer), "%.17g", value);
  // Prefer the shortest form that reads back the same value.
  for (int precision = 1; precision < 17; ++precision) {
    char shorter[32];
    std::snprintf(shorter, sizeof(shorter), "%.*g", precision, value);
    if (std::strtod(shorter, nullptr) == value) return shorter;
  }
  return buffer;
}

}  // namespace signal_host::metrics
