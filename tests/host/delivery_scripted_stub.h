// A plugin stub for delivery tests: Translate, Classify and CheckCredentials answer
// from scripts, or are passed through to a real plugin's stub when no script is set.
// Calls are counted, so tests can show that a failure path does not loop.
#pragma once

#include <atomic>
#include <functional>
#include <mutex>
#include <utility>

#include "signal/integration/v1/integration.grpc.pb.h"

namespace signal_host::delivery::delivery_test {

namespace v1 = signal::integration::v1;

class ScriptedStub : public v1::Integration::StubInterface {
 public:
  using TranslateScript =
      std::function<grpc::Status(const v1::TranslateRequest&, v1::TranslateResponse*)>;
  using ClassifyScript =
      std::function<grpc::Status(const v1::ClassifyRequest&, v1::ClassifyResponse*)>;
  using CheckScript = std::function<grpc::Status(const v1::CheckCredentialsRequest&,
                                                 v1::CheckCredentialsResponse*)>;

  // `real` answers whatever has no script; may be null (then such calls are UNIMPLEMENTED).
  explicit ScriptedStub(v1::Integration::StubInterface* real = nullptr) : real_(real) {}

  void SetTranslate(TranslateScript script) {
    std::lock_guard<std::mutex> lock(mu_);
    translate_ = std::move(script);
  }
  void SetClassify(ClassifyScript script) {
    std::lock_guard<std::mutex> lock(mu_);
    classify_ = std::move(script);
  }
  void SetCheckCredentials(CheckScript script) {
    std::lock_guard<std::mutex> lock(mu_);
    check_ = std::move(script);
  }

  std::atomic<int> translate_calls{0};
  std::atomic<int> classify_calls{0};
  std::atomic<int> check_calls{0};

  grpc::Status Translate(grpc::ClientContext* context, const v1::TranslateRequest& request,
                         v1::TranslateResponse* response) override {
    ++translate_calls;
    TranslateScript script;
    {
      std::lock_guard<std::mutex> lock(mu_);
      script = translate_;
    }
    if (script) return script(request, response);
    if (real_ == nullptr) return Unimplemented();
    return real_->Translate(context, request, response);
  }

  grpc::Status Classify(grpc::ClientContext* context, const v1::ClassifyRequest& request,
                        v1::ClassifyResponse* response) override {
    ++classify_calls;
    ClassifyScript script;
    {
      std::lock_guard<std::mutex> lock(mu_);
      script = classify_;
    }
    if (script) return script(request, response);
    if (real_ == nullptr) return Unimplemented();
    return real_->Classify(context, request, response);
  }

  grpc::Status CheckCredentials(grpc::ClientContext* context,
                                const v1::CheckCredentialsRequest& request,
                                v1::CheckCredentialsResponse* response) override {
    ++check_calls;
    CheckScript script;
    {
      std::lock_guard<std::mutex> lock(mu_);
      script = check_;
    }
    if (script) return script(request, response);
    if (real_ == nullptr) return Unimplemented();
    return real_->CheckCredentials(context, request, response);
  }

  grpc::Status Handshake(grpc::ClientContext* context, const v1::HandshakeRequest& request,
                         v1::HandshakeResponse* response) override {
    return real_ == nullptr ? Unimplemented() : real_->Handshake(context, request, response);
  }
  grpc::Status Describe(grpc::ClientContext* context, const v1::DescribeRequest& request,
                        v1::DescribeResponse* response) override {
    return real_ == nullptr ? Unimplemented() : real_->Describe(context, request, response);
  }
  grpc::Status ValidateConfig(grpc::ClientContext* context,
                              const v1::ValidateConfigRequest& request,
                              v1::ValidateConfigResponse* response) override {
    return real_ == nullptr ? Unimplemented() : real_->ValidateConfig(context, request, response);
  }

 private:
  static grpc::Status Unimplemented() {
    return grpc::Status(grpc::StatusCode::UNIMPLEMENTED, "not scripted");
  }

  // The engine uses the synchronous calls only.
  template <typename Response>
  using Reader = ::grpc::ClientAsyncResponseReaderInterface<Response>;
  Reader<v1::HandshakeResponse>* AsyncHandshakeRaw(grpc::ClientContext*,
                                                   const v1::HandshakeRequest&,
                                                   grpc::CompletionQueue*) override {
    return nullptr;
  }
  Reader<v1::HandshakeResponse>* PrepareAsyncHandshakeRaw(grpc::ClientContext*,
                                                          const v1::HandshakeRequest&,
                                                          grpc::CompletionQueue*) override {
    return nullptr;
  }
  Reader<v1::DescribeResponse>* AsyncDescribeRaw(grpc::ClientContext*, const v1::DescribeRequest&,
                                                 grpc::CompletionQueue*) override {
    return nullptr;
  }
  Reader<v1::DescribeResponse>* PrepareAsyncDescribeRaw(grpc::ClientContext*,
                                                        const v1::DescribeRequest&,
                                                        grpc::CompletionQueue*) override {
    return nullptr;
  }
  Reader<v1::ValidateConfigResponse>* AsyncValidateConfigRaw(grpc::ClientContext*,
                                                             const v1::ValidateConfigRequest&,
                                                             grpc::CompletionQueue*) override {
    return nullptr;
  }
  Reader<v1::ValidateConfigResponse>* PrepareAsyncValidateConfigRaw(
      grpc::ClientContext*, const v1::ValidateConfigRequest&, grpc::CompletionQueue*) override {
    return nullptr;
  }
  Reader<v1::CheckCredentialsResponse>* AsyncCheckCredentialsRaw(grpc::ClientContext*,
                                                                 const v1::CheckCredentialsRequest&,
                                                                 grpc::CompletionQueue*) override {
    return nullptr;
  }
  Reader<v1::CheckCredentialsResponse>* PrepareAsyncCheckCredentialsRaw(
      grpc::ClientContext*, const v1::CheckCredentialsRequest&, grpc::CompletionQueue*) override {
    return nullptr;
  }
  Reader<v1::TranslateResponse>* AsyncTranslateRaw(grpc::ClientContext*,
                                                   const v1::TranslateRequest&,
                                                   grpc::CompletionQueue*) override {
    return nullptr;
  }
  Reader<v1::TranslateResponse>* PrepareAsyncTranslateRaw(grpc::ClientContext*,
                                                          const v1::TranslateRequest&,
                                                          grpc::CompletionQueue*) override {
    return nullptr;
  }
  Reader<v1::ClassifyResponse>* AsyncClassifyRaw(grpc::ClientContext*, const v1::ClassifyRequest&,
                                                 grpc::CompletionQueue*) override {
    return nullptr;
  }
  Reader<v1::ClassifyResponse>* PrepareAsyncClassifyRaw(grpc::ClientContext*,
                                                        const v1::ClassifyRequest&,
                                                        grpc::CompletionQueue*) override {
    return nullptr;
  }

  v1::Integration::StubInterface* const real_;
  std::mutex mu_;
  TranslateScript translate_;
  ClassifyScript classify_;
  CheckScript check_;
};

}  // namespace signal_host::delivery::delivery_test
