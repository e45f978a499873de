#include "host/metrics/metrics.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <thread>
#include <vector>

#include "host/metrics/host_metrics.h"

namespace signal_host::metrics {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

TEST(CounterTest, SumsIncrementsFromManyThreads) {
  Counter counter;
  constexpr int kThreads = 8;
  constexpr int kPerThread = 100000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&counter] {
      for (int i = 0; i < kPerThread; ++i) counter.Inc();
    });
  }
  for (auto& thread : threads) thread.join();
  counter.Inc(5);
  EXPECT_EQ(counter.Value(), uint64_t{kThreads} * kPerThread + 5);
}

TEST(GaugeTest, SetAndAddGoBothWays) {
  Gauge gauge;
  gauge.Set(10);
  gauge.Add(-12.5);
  EXPECT_DOUBLE_EQ(gauge.Value(), -2.5);
}

TEST(HistogramTest, CountsIntoCumulativeBuckets) {
  auto bounds = std::make_shared<const std::vector<double>>(std::vector<double>{0.1, 1, 10});
  Histogram histogram(bounds);
  histogram.Observe(0.05);
  histogram.Observe(0.1);  // on the bound: le="0.1"
  histogram.Observe(0.5);
  histogram.Observe(100);
  histogram.Observe(std::nan(""));  // counted, not summed
  const Histogram::Snapshot snapshot = histogram.Read();
  EXPECT_EQ(snapshot.cumulative_counts, (std::vector<uint64_t>{2, 3, 3, 5}));
  EXPECT_EQ(snapshot.count, 5u);
  EXPECT_DOUBLE_EQ(snapshot.sum, 100.65);
}

TEST(RegistryTest, RendersCountersWithLabelsInTextFormat) {
  Registry registry;
  auto family = registry.AddCounter("signal_test_total", "Things counted.", {"integration", "reason"});
  ASSERT_TRUE(family.ok()) << family.status();
  (*family)->WithLabels({"tmpl_b", "x"}).Inc(2);
  (*family)->WithLabels({"tmpl_a", "y"}).Inc();
  const std::string text = registry.Render();
  EXPECT_EQ(text,
            "# HELP signal_test_total Things counted.\n"
            "# TYPE signal_test_total counter\n"
            "signal_test_total{integration=\"tmpl_a\",reason=\"y\"} 1\n"
            "signal_test_total{integration=\"tmpl_b\",reason=\"x\"} 2\n");
}

TEST(RegistryTest, RendersUnlabelledGaugeAndHistogram) {
  Registry registry;
  auto gauge = registry.AddGauge("held", "Held things.");
  ASSERT_TRUE(gauge.ok());
  (*gauge)->WithLabels({}).Set(3);
  auto histogram = registry.AddHistogram("latency_seconds", "Latency.", {"integration"}, {0.005, 0.5});
  ASSERT_TRUE(histogram.ok());
  (*histogram)->WithLabels({"t1"}).Observe(0.25);
  (*histogram)->WithLabels({"t1"}).Observe(2);
  const std::string text = registry.Render();
  EXPECT_THAT(text, HasSubstr("# TYPE held gauge\nheld 3\n"));
  EXPECT_THAT(text, HasSubstr("# TYPE latency_seconds histogram\n"));
  EXPECT_THAT(text, HasSubstr("latency_seconds_bucket{integration=\"t1\",le=\"0.005\"} 0\n"));
  EXPECT_THAT(text, HasSubstr("latency_seconds_bucket{integration=\"t1\",le=\"0.5\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("latency_seconds_bucket{integration=\"t1\",le=\"+Inf\"} 2\n"));
  EXPECT_THAT(text, HasSubstr("latency_seconds_sum{integration=\"t1\"} 2.25\n"));
  EXPECT_THAT(text, HasSubstr("latency_seconds_count{integration=\"t1\"} 2\n"));
}

TEST(RegistryTest, EscapesLabelValuesAndHelp) {
  Registry registry;
  auto family = registry.AddCounter("escaped_total", "Line one\nback\\slash", {"v"});
  ASSERT_TRUE(family.ok());
  (*family)->WithLabels({"quote\" back\\ nl\n end"}).Inc();
  const std::string text = registry.Render();
  EXPECT_THAT(text, HasSubstr("# HELP escaped_total Line one\\nback\\\\slash\n"));
  EXPECT_THAT(text, HasSubstr("escaped_total{v=\"quote\\\" back\\\\ nl\\n end\"} 1\n"));
}

TEST(RegistryTest, OversizedLabelValueIsKeptWhole) {
  Registry registry;
  auto family = registry.AddCounter("big_total", "Big.", {"v"});
  ASSERT_TRUE(family.ok());
  const std::string big(100000, 'x');
  (*family)->WithLabels({big}).Inc();
  EXPECT_THAT(registry.Render(), HasSubstr("big_total{v=\"" + big + "\"} 1\n"));
}

TEST(RegistryTest, RefusesBadNamesAndDuplicates) {
  Registry registry;
  EXPECT_EQ(registry.AddCounter("", "h").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(registry.AddCounter("9starts_with_digit", "h").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(registry.AddCounter("has-dash", "h").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(registry.AddCounter("ok_total", "h", {"__reserved"}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(registry.AddCounter("ok_total", "h", {"a:b"}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(registry.AddCounter("ok_total", "h", {"a", "a"}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(registry.AddHistogram("h_seconds", "h", {"le"}, {1}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(registry.AddHistogram("h_seconds", "h", {}, {}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(registry.AddHistogram("h_seconds", "h", {}, {1, 1}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(registry.AddHistogram("h_seconds", "h", {}, {1, std::numeric_limits<double>::infinity()})
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
  ASSERT_TRUE(registry.AddCounter("ok_total", "h", {"a"}).ok());
  EXPECT_EQ(registry.AddGauge("ok_total", "h").status().code(), absl::StatusCode::kAlreadyExists);
  // Nothing half-registered is rendered.
  EXPECT_EQ(registry.Render(), "# HELP ok_total h\n# TYPE ok_total counter\n");
}

TEST(RegistryTest, WrongLabelCountStillYieldsAUsableChild) {
  Registry registry;
  auto family = registry.AddCounter("pad_total", "h", {"a", "b"});
  ASSERT_TRUE(family.ok());
  (*family)->WithLabels({"only_a"}).Inc();
  (*family)->WithLabels({"x", "y", "extra"}).Inc();
  const std::string text = registry.Render();
  EXPECT_THAT(text, HasSubstr("pad_total{a=\"only_a\",b=\"\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("pad_total{a=\"x\",b=\"y\"} 1\n"));
  EXPECT_THAT(text, Not(HasSubstr("extra")));
}

TEST(RegistryTest, SameLabelsReturnTheSameChildAndRemoveDropsIt) {
  Registry registry;
  auto family = registry.AddGauge("depth", "h", {"integration"});
  ASSERT_TRUE(family.ok());
  Gauge& first = (*family)->WithLabels({"t1"});
  EXPECT_EQ(&first, &(*family)->WithLabels({"t1"}));
  first.Set(7);
  (*family)->WithLabels({"t2"}).Set(1);
  (*family)->Remove({"t1"});
  const std::string text = registry.Render();
  EXPECT_THAT(text, Not(HasSubstr("t1")));
  EXPECT_THAT(text, HasSubstr("depth{integration=\"t2\"} 1\n"));
}

TEST(RegistryTest, CollectHooksRunBeforeRenderUntilRemoved) {
  Registry registry;
  auto family = registry.AddGauge("sampled", "h");
  ASSERT_TRUE(family.ok());
  int runs = 0;
  const int id = registry.AddCollectHook([&] { (*family)->WithLabels({}).Set(++runs); });
  EXPECT_THAT(registry.Render(), HasSubstr("sampled 1\n"));
  EXPECT_THAT(registry.Render(), HasSubstr("sampled 2\n"));
  registry.RemoveCollectHook(id);
  EXPECT_THAT(registry.Render(), HasSubstr("sampled 2\n"));
  EXPECT_EQ(runs, 2);
}

TEST(FormatValueTest, SpellsSpecialValuesAndShortestDecimals) {
  EXPECT_EQ(FormatValue(std::nan("")), "NaN");
  EXPECT_EQ(FormatValue(std::numeric_limits<double>::infinity()), "+Inf");
  EXPECT_EQ(FormatValue(-std::numeric_limits<double>::infinity()), "-Inf");
  EXPECT_EQ(FormatValue(42), "42");
  EXPECT_EQ(FormatValue(-3), "-3");
  EXPECT_EQ(FormatValue(0.005), "0.005");
  EXPECT_EQ(FormatValue(2.5), "2.5");
  EXPECT_EQ(FormatValue(1e300), "1e+300");
}

TEST(HostMetricsTest, RegistersEveryHostMetricOnce) {
  Registry registry;
  auto metrics = HostMetrics::Create(registry);
  ASSERT_TRUE(metrics.ok()) << metrics.status();
  (*metrics)->events_accepted->WithLabels({"t"}).Inc(3);
  (*metrics)->events_rejected->WithLabels({"t", "missing_identity"}).Inc();
  (*metrics)->delivery_retries->WithLabels({"t", "5xx"}).Inc();
  (*metrics)->integrations_held->WithLabels({}).Set(1);
  (*metrics)->request_duration->WithLabels({"t"}).Observe(0.02);
  const std::string text = registry.Render();
  for (const char* name :
       {"signal_events_accepted_total", "signal_events_delivered_total",
        "signal_events_rejected_total", "signal_events_dead_lettered_total",
        "signal_delivery_retries_total", "signal_queue_depth", "signal_integrations_held",
        "signal_delivery_request_duration_seconds"}) {
    EXPECT_THAT(text, HasSubstr(std::string("# TYPE ") + name + " ")) << name;
  }
  EXPECT_THAT(text, HasSubstr("signal_events_accepted_total{integration=\"t\"} 3\n"));
  EXPECT_THAT(text, HasSubstr(
                        "signal_events_rejected_total{integration=\"t\",reason=\"missing_identity\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("signal_delivery_request_duration_seconds_bucket{integration=\"t\","
                              "le=\"0.025\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("le=\"10\""));
  // A second set in the same registry would collide.
  EXPECT_EQ(HostMetrics::Create(registry).status().code(), absl::StatusCode::kAlreadyExists);
}

}  // namespace
}  // namespace signal_host::metrics
