// The plugin's gRPC service: signal.integration.v1.Integration over the vendor logic
// in plugin/src. It holds no per-install state; the only caches are the parsed form
// of the most recent configs and a pool of reusable Translators.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "config.h"
#include "options.h"
#include "signal/integration/v1/integration.grpc.pb.h"
#include "translate.h"

namespace signal_hightouch {

class IntegrationService final : public signal::integration::v1::Integration::Service {
 public:
  // `entry` must outlive the service (the embedded catalog lives for the process).
  IntegrationService(PluginOptions options, const signal::integration::v1::CatalogEntry* entry);
  ~IntegrationService() override;

  grpc::Status Handshake(grpc::ServerContext* context,
                         const signal::integration::v1::HandshakeRequest* request,
                         signal::integration::v1::HandshakeResponse* response) override;
  grpc::Status Describe(grpc::ServerContext* context,
                        const signal::integration::v1::DescribeRequest* request,
                        signal::integration::v1::DescribeResponse* response) override;
  grpc::Status ValidateConfig(grpc::ServerContext* context,
                              const signal::integration::v1::ValidateConfigRequest* request,
                              signal::integration::v1::ValidateConfigResponse* response) override;
  grpc::Status CheckCredentials(
      grpc::ServerContext* context, const signal::integration::v1::CheckCredentialsRequest* request,
      signal::integration::v1::CheckCredentialsResponse* response) override;
  grpc::Status Translate(grpc::ServerContext* context,
                         const signal::integration::v1::TranslateRequest* request,
                         signal::integration::v1::TranslateResponse* response) override;
  grpc::Status Classify(grpc::ServerContext* context,
                        const signal::integration::v1::ClassifyRequest* request,
                        signal::integration::v1::ClassifyResponse* response) override;

 private:
  // A config parsed once and shared by every Translate call that sends its bytes.
  struct ParsedConfig {
    std::string config_json;
    HightouchConfig config;
    std::string authorization;  // precomputed Authorization header value
  };
  // A Translator with its output buffers, lent to one call at a time.
  struct TranslateSlot {
    Translator translator;
    TranslateOutput output;
    std::vector<std::string_view> events;
  };

  grpc::Status TranslateUnguarded(const signal::integration::v1::TranslateRequest& request,
                                  signal::integration::v1::TranslateResponse& response);
  absl::StatusOr<std::shared_ptr<const ParsedConfig>> ParsedConfigFor(const std::string& json);
  std::unique_ptr<TranslateSlot> AcquireSlot();
  void ReleaseSlot(std::unique_ptr<TranslateSlot> slot);

  const PluginOptions options_;
  const signal::integration::v1::CatalogEntry* const entry_;
  const std::string user_agent_;

  std::mutex config_mutex_;
  // Most recently used first; a handful of installs is the common case.
  std::vector<std::shared_ptr<const ParsedConfig>> config_cache_;

  std::mutex slot_mutex_;
  std::vector<std::unique_ptr<TranslateSlot>> free_slots_;
};

}  // namespace signal_hightouch
