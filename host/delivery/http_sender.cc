#include "host/delivery/http_sender.h"

#include <curl/curl.h>
#include <pthread.h>

#include <algorithm>
#include <chrono>
#include <string_view>

#include "absl/strings/str_cat.h"

namespace signal_host::delivery {
namespace {

std::once_flag curl_init_once;
CURLcode curl_init_result = CURLE_OK;

std::string_view Trim(std::string_view text) {
  const auto space = [](char c) { return c == ' ' || c == '\t'; };
  while (!text.empty() && space(text.front())) text.remove_prefix(1);
  while (!text.empty() && space(text.back())) text.remove_suffix(1);
  return text;
}

bool HasLineBreak(std::string_view text) {
  return text.find_first_of("\r\n") != std::string_view::npos;
}

}  // namespace

struct HttpSender::Transfer {
  HttpSender* sender = nullptr;
  HttpRequest request;
  HttpResponse response;
  Callback done;
  CURL* easy = nullptr;
  curl_slist* header_list = nullptr;
  size_t header_bytes = 0;
  char error[CURL_ERROR_SIZE] = {0};

  static size_t OnBody(char* data, size_t size, size_t count, void* user) {
    auto* transfer = static_cast<Transfer*>(user);
    const size_t length = size * count;
    HttpResponse& response = transfer->response;
    const size_t limit = transfer->sender->options_.max_response_body_bytes;
    response.body_bytes_received += length;
    const size_t room = limit > response.body.size() ? limit - response.body.size() : 0;
    const size_t kept = std::min(room, length);
    response.body.append(data, kept);
    if (kept < length) response.body_truncated = true;
    // Everything is consumed either way, so the connection stays reusable.
    return length;
  }

  static size_t OnHeader(char* data, size_t size, size_t count, void* user) {
    auto* transfer = static_cast<Transfer*>(user);
    const size_t length = size * count;
    std::string_view line(data, length);
    while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.remove_suffix(1);
    HttpResponse& response = transfer->response;
    if (line.substr(0, 5) == "HTTP/") {
      // A new status line (after a 100 Continue, say): only the final response counts.
      response.headers.clear();
      transfer->header_bytes = 0;
      return length;
    }
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0) return length;
    const Options& options = transfer->sender->options_;
    if (response.headers.size() >= options.max_response_headers ||
        transfer->header_bytes + line.size() > options.max_response_header_bytes) {
      return length;
    }
    transfer->header_bytes += line.size();
    response.headers.emplace_back(
        std::string(Trim(line.substr(0, colon))), std::string(Trim(line.substr(colon + 1))));
    return length;
  }
};

HttpSender::HttpSender(const Options& options) : options_(options) {}

absl::StatusOr<std::unique_ptr<HttpSender>> HttpSender::Create(const Options& options) {
  std::call_once(curl_init_once, [] { curl_init_result = curl_global_init(CURL_GLOBAL_DEFAULT); });
  if (curl_init_result != CURLE_OK) {
    return absl::InternalError(
        absl::StrCat("curl_global_init failed: ", curl_easy_strerror(curl_init_result)));
  }
  if (options.max_in_flight == 0) {
    return absl::InvalidArgumentError("HttpSender max_in_flight must be at least 1");
  }
  std::unique_ptr<HttpSender> sender(new HttpSender(options));
  if (absl::Status status = sender->Init(); !status.ok()) return status;
  return sender;
}

absl::Status HttpSender::Init() {
  CURLM* multi = curl_multi_init();
  if (multi == nullptr) return absl::InternalError("curl_multi_init failed");
  multi_ = multi;
  curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS, options_.max_cached_connections);
  thread_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "http-sender");
    Run();
  });
  return absl::OkStatus();
}

HttpSender::~HttpSender() {
  Shutdown();
  for (void* easy : idle_easy_handles_) curl_easy_cleanup(static_cast<CURL*>(easy));
  if (multi_ != nullptr) curl_multi_cleanup(static_cast<CURLM*>(multi_));
}

absl::Status HttpSender::Submit(HttpRequest request, Callback done) {
  auto transfer = std::make_unique<Transfer>();
  transfer->sender = this;
  transfer->request = std::move(request);
  transfer->done = std::move(done);
  {
    std::unique_lock<std::mutex> lock(mu_);
    capacity_cv_.wait(lock, [this] { return stopping_ || in_flight_ < options_.max_in_flight; });
    if (stopping_) return absl::FailedPreconditionError("the HTTP sender is shutting down");
    ++in_flight_;
    submitted_.push_back(std::move(transfer));
  }
  curl_multi_wakeup(static_cast<CURLM*>(multi_));
  return absl::OkStatus();
}

void HttpSender::Shutdown(absl::Duration drain_timeout) {
  std::lock_guard<std::mutex> shutdown_lock(shutdown_mu_);
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (joined_) return;
    stopping_ = true;
    drain_deadline_ = std::chrono::steady_clock::now() + absl::ToChronoNanoseconds(drain_timeout);
  }
  capacity_cv_.notify_all();
  if (multi_ != nullptr) curl_multi_wakeup(static_cast<CURLM*>(multi_));
  if (thread_.joinable()) thread_.join();
  std::lock_guard<std::mutex> lock(mu_);
  joined_ = true;
}

size_t HttpSender::in_flight() const {
  std::lock_guard<std::mutex> lock(mu_);
  return in_flight_;
}

HttpSender::Stats HttpSender::stats() const {
  return Stats{requests_completed_.load(), connections_opened_.load()};
}

void* HttpSender::TakeEasyHandle() {
  if (!idle_easy_handles_.empty()) {
    void* easy = idle_easy_handles_.back();
    idle_easy_handles_.pop_back();
    return easy;
  }
  return curl_easy_init();
}

void HttpSender::StartTransfer(std::unique_ptr<Transfer> transfer) {
  Transfer* t = transfer.get();
  const HttpRequest& request = t->request;
  for (const auto& [name, value] : request.headers) {
    if (name.empty() || HasLineBreak(name) || HasLineBreak(value) ||
        name.find(':') != std::string::npos) {
      t->response.transport_error = "invalid request header (empty name or line break)";
      FinishTransfer(transfer.release(), CURLE_OK);
      return;
    }
  }
  CURL* easy = static_cast<CURL*>(TakeEasyHandle());
  if (easy == nullptr) {
    t->response.transport_error = "could not allocate a curl handle";
    FinishTransfer(transfer.release(), CURLE_OK);
    return;
  }
  t->easy = easy;
  curl_easy_setopt(easy, CURLOPT_URL, request.url.c_str());
  curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(easy, CURLOPT_PRIVATE, t);
  curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, t->error);
  curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, &Transfer::OnBody);
  curl_easy_setopt(easy, CURLOPT_WRITEDATA, t);
  curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, &Transfer::OnHeader);
  curl_easy_setopt(easy, CURLOPT_HEADERDATA, t);
  curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(request.connect_timeout_ms));
  curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, static_cast<long>(request.timeout_ms));
  curl_easy_setopt(easy, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(easy, CURLOPT_TCP_KEEPIDLE, 30L);
  curl_easy_setopt(easy, CURLOPT_TCP_KEEPINTVL, 15L);
  curl_easy_setopt(easy, CURLOPT_SSL_VERIFYPEER, 1L);
  curl_easy_setopt(easy, CURLOPT_SSL_VERIFYHOST, 2L);
  if (!options_.ca_file.empty()) curl_easy_setopt(easy, CURLOPT_CAINFO, options_.ca_file.c_str());
  curl_easy_setopt(easy, CURLOPT_USERAGENT, options_.user_agent.c_str());
  curl_easy_setopt(easy, CURLOPT_FOLLOWLOCATION, 0L);

  // "Expect:" stops curl from waiting for a 100 Continue before sending a large body.
  curl_slist* list = curl_slist_append(nullptr, "Expect:");
  for (const auto& [name, value] : request.headers) {
    // curl drops "Name:" with an empty value; "Name;" sends it empty.
    const std::string line = value.empty() ? absl::StrCat(name, ";") : absl::StrCat(name, ": ", value);
    if (curl_slist* grown = curl_slist_append(list, line.c_str())) list = grown;
  }
  t->header_list = list;
  curl_easy_setopt(easy, CURLOPT_HTTPHEADER, list);

  if (request.method == "GET") {
    curl_easy_setopt(easy, CURLOPT_HTTPGET, 1L);
  } else {
    if (request.method != "POST") {
      curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, request.method.c_str());
    }
    if (request.method == "POST" || !request.body.empty()) {
      // The body lives in the transfer until the request ends, so curl need not copy it.
      curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE,
                       static_cast<curl_off_t>(request.body.size()));
      curl_easy_setopt(easy, CURLOPT_POSTFIELDS, request.body.data());
    }
  }

  const CURLMcode added = curl_multi_add_handle(static_cast<CURLM*>(multi_), easy);
  if (added != CURLM_OK) {
    t->response.transport_error =
        absl::StrCat("could not start the request: ", curl_multi_strerror(added));
    curl_slist_free_all(t->header_list);
    t->header_list = nullptr;
    curl_easy_reset(easy);
    idle_easy_handles_.push_back(easy);
    t->easy = nullptr;
    FinishTransfer(transfer.release(), CURLE_OK);
    return;
  }
  active_.emplace(easy, std::move(transfer));
}

void HttpSender::FinishTransfer(Transfer* t, int curl_code) {
  std::unique_ptr<Transfer> owned;
  if (t->easy != nullptr) {
    CURL* easy = static_cast<CURL*>(t->easy);
    auto it = active_.find(easy);
    if (it != active_.end()) {
      owned = std::move(it->second);
      active_.erase(it);
    }
    HttpResponse& response = t->response;
    const CURLcode code = static_cast<CURLcode>(curl_code);
    long status = 0;
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
    curl_off_t total_us = 0;
    curl_easy_getinfo(easy, CURLINFO_TOTAL_TIME_T, &total_us);
    long connects = 0;
    curl_easy_getinfo(easy, CURLINFO_NUM_CONNECTS, &connects);
    response.latency_us = total_us;
    response.new_connections = static_cast<uint32_t>(std::max(0L, connects));
    connections_opened_.fetch_add(response.new_connections, std::memory_order_relaxed);
    if (code == CURLE_OK && response.transport_error.empty()) {
      response.status = static_cast<int32_t>(status);
    } else if (response.transport_error.empty()) {
      // A response cut short is no response: its status says nothing about the body.
      response.status = 0;
      response.timed_out = code == CURLE_OPERATION_TIMEDOUT;
      response.transport_error = t->error[0] != '\0'
                                     ? absl::StrCat(curl_easy_strerror(code), ": ", t->error)
                                     : std::string(curl_easy_strerror(code));
    }
    curl_multi_remove_handle(static_cast<CURLM*>(multi_), easy);
    curl_slist_free_all(t->header_list);
    t->header_list = nullptr;
    curl_easy_reset(easy);
    if (idle_easy_handles_.size() < options_.max_in_flight) {
      idle_easy_handles_.push_back(easy);
    } else {
      curl_easy_cleanup(easy);
    }
    t->easy = nullptr;
  } else {
    owned.reset(t);  // never started: it was not in active_
  }
  requests_completed_.fetch_add(1, std::memory_order_relaxed);
  if (owned->done) owned->done(std::move(owned->response));
  owned.reset();
  {
    std::lock_guard<std::mutex> lock(mu_);
    --in_flight_;
  }
  capacity_cv_.notify_all();
}

void HttpSender::AbortAll() {
  std::vector<Transfer*> transfers;
  transfers.reserve(active_.size());
  for (auto& [easy, transfer] : active_) transfers.push_back(transfer.get());
  for (Transfer* t : transfers) {
    t->response.aborted = true;
    t->response.transport_error = "aborted: the sender shut down before the response arrived";
    FinishTransfer(t, CURLE_OK);
  }
}

void HttpSender::Run() {
  CURLM* multi = static_cast<CURLM*>(multi_);
  while (true) {
    std::deque<std::unique_ptr<Transfer>> incoming;
    bool stopping;
    std::chrono::steady_clock::time_point deadline;
    {
      std::lock_guard<std::mutex> lock(mu_);
      incoming.swap(submitted_);
      stopping = stopping_;
      deadline = drain_deadline_;
    }
    for (auto& transfer : incoming) StartTransfer(std::move(transfer));
    int running = 0;
    curl_multi_perform(multi, &running);
    int queued = 0;
    while (CURLMsg* message = curl_multi_info_read(multi, &queued)) {
      if (message->msg != CURLMSG_DONE) continue;
      Transfer* t = nullptr;
      curl_easy_getinfo(message->easy_handle, CURLINFO_PRIVATE, &t);
      const CURLcode code = message->data.result;
      if (t != nullptr) FinishTransfer(t, code);
    }
    if (stopping) {
      bool nothing_submitted;
      {
        std::lock_guard<std::mutex> lock(mu_);
        nothing_submitted = submitted_.empty();
      }
      if (active_.empty() && nothing_submitted) break;
      if (std::chrono::steady_clock::now() >= deadline) {
        AbortAll();
        continue;
      }
    }
    int wait_ms = 100;
    if (stopping) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      wait_ms = static_cast<int>(std::clamp<int64_t>(left.count(), 0, 100));
    }
    curl_multi_poll(multi, nullptr, 0, wait_ms, nullptr);
  }
}

}  // namespace signal_host::delivery
