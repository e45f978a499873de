// A small Prometheus registry: counters, gauges and histograms with labels,
// rendered in the text exposition format 0.0.4.
//
// Increments are on the delivery hot path, so a metric child is a few atomics:
// counters are striped over cache lines (threads rarely share a line), gauges and
// histograms are single relaxed atomics. Callers look a child up once with
// WithLabels() and keep the pointer; children live as long as the registry unless
// Remove() drops them.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace signal_host::metrics {

// A monotonically increasing count.
class Counter {
 public:
  void Inc(uint64_t n = 1) {
    stripes_[StripeIndex()].value.fetch_add(n, std::memory_order_relaxed);
  }
  uint64_t Value() const;

 private:
  static constexpr size_t kStripes = 8;
  struct alignas(64) Stripe {
    std::atomic<uint64_t> value{0};
  };
  static size_t StripeIndex();
  std::array<Stripe, kStripes> stripes_;
};

// A value that goes up and down.
class Gauge {
 public:
  void Set(double value) { value_.store(value, std::memory_order_relaxed); }
  void Add(double delta) { value_.fetch_add(delta, std::memory_order_relaxed); }
  double Value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

// Observations counted into fixed buckets (upper bounds, ascending, +Inf implied).
class Histogram {
 public:
  explicit Histogram(std::shared_ptr<const std::vector<double>> bounds);
  void Observe(double value);

  struct Snapshot {
    std::vector<uint64_t> cumulative_counts;  // one per bound, then +Inf
    double sum = 0;
    uint64_t count = 0;
  };
  Snapshot Read() const;
  const std::vector<double>& bounds() const { return *bounds_; }

 private:
  std::shared_ptr<const std::vector<double>> bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> counts_;  // bounds_->size() + 1 entries
  std::atomic<double> sum_{0};
};

// Request-latency buckets in seconds, 5 ms to 10 s.
const std::vector<double>& LatencyBucketsSeconds();

enum class MetricType { kCounter, kGauge, kHistogram };

// The metrics of one name, one child per distinct set of label values.
class FamilyBase {
 public:
  FamilyBase(std::string name, std::string help, std::vector<std::string> label_names,
             MetricType type)
      : name_(std::move(name)),
        help_(std::move(help)),
        label_names_(std::move(label_names)),
        type_(type) {}
  virtual ~FamilyBase() = default;

  const std::string& name() const { return name_; }
  const std::vector<std::string>& label_names() const { return label_names_; }
  MetricType type() const { return type_; }
  virtual void RenderTo(std::string& out) const = 0;

 protected:
  std::string name_;
  std::string help_;
  std::vector<std::string> label_names_;
  MetricType type_;
};

template <typename T>
class Family final : public FamilyBase {
 public:
  using Factory = std::function<std::unique_ptr<T>()>;
  Family(std::string name, std::string help, std::vector<std::string> label_names,
         MetricType type, Factory factory)
      : FamilyBase(std::move(name), std::move(help), std::move(label_names), type),
        factory_(std::move(factory)) {}

  // The child for these label values (in label_names order), created on first use.
  // A wrong number of values is a programming error: the values are padded with ""
  // or cut to fit, so the call still returns a usable child.
  T& WithLabels(std::initializer_list<std::string_view> values) {
    return WithLabels(std::vector<std::string_view>(values));
  }
  T& WithLabels(const std::vector<std::string_view>& values) {
    std::vector<std::string> key;
    key.reserve(label_names_.size());
    for (size_t i = 0; i < label_names_.size(); ++i) {
      key.emplace_back(i < values.size() ? values[i] : std::string_view());
    }
    std::lock_guard<std::mutex> lock(mu_);
    auto& slot = children_[std::move(key)];
    if (!slot) slot = factory_();
    return *slot;
  }
  // Drops a child (e.g. the integration was deleted). Pointers to it become invalid.
  void Remove(const std::vector<std::string_view>& values) {
    std::vector<std::string> key(values.begin(), values.end());
    std::lock_guard<std::mutex> lock(mu_);
    children_.erase(key);
  }
  size_t size() const {
    std::lock_guard<std::mutex> lock(mu_);
    return children_.size();
  }

  void RenderTo(std::string& out) const override;

 private:
  Factory factory_;
  mutable std::mutex mu_;
  std::map<std::vector<std::string>, std::unique_ptr<T>> children_;
};

extern template class Family<Counter>;
extern template class Family<Gauge>;
extern template class Family<Histogram>;

class Registry {
 public:
  Registry() = default;
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // Registration fails (InvalidArgument / AlreadyExists) for a bad metric or label
  // name, or a name already registered.
  absl::StatusOr<Family<Counter>*> AddCounter(std::string name, std::string help,
                                              std::vector<std::string> label_names = {});
  absl::StatusOr<Family<Gauge>*> AddGauge(std::string name, std::string help,
                                          std::vector<std::string> label_names = {});
  // bounds: ascending finite upper bounds; "le" may not be a label name.
  absl::StatusOr<Family<Histogram>*> AddHistogram(std::string name, std::string help,
                                                  std::vector<std::string> label_names,
                                                  std::vector<double> bounds);

  // Hooks run at the start of every Render(), e.g. to sample a queue depth. A hook
  // must not call Render() or register hooks.
  int AddCollectHook(std::function<void()> hook);
  void RemoveCollectHook(int id);

  // Text exposition format 0.0.4 (Content-Type: text/plain; version=0.0.4).
  std::string Render() const;

  static constexpr std::string_view kContentType = "text/plain; version=0.0.4; charset=utf-8";

 private:
  absl::Status CheckNew(const std::string& name, const std::vector<std::string>& label_names,
                        MetricType type) const;

  mutable std::mutex mu_;
  std::vector<std::unique_ptr<FamilyBase>> families_;
  mutable std::mutex hooks_mu_;
  std::map<int, std::function<void()>> hooks_;
  int next_hook_id_ = 1;
};

// Formatting helpers, exposed for tests.
std::string EscapeLabelValue(std::string_view value);
std::string FormatValue(double value);

}  // namespace signal_host::metrics
