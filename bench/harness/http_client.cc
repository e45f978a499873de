#include "http_client.h"

#include "fatal.h"

namespace bench_harness {
namespace {

size_t AppendBody(char* data, size_t size, size_t count, void* out) {
  static_cast<std::string*>(out)->append(data, size * count);
  return size * count;
}

}  // namespace

HttpClient::HttpClient() : curl_(curl_easy_init()) {
  if (curl_ == nullptr) Die("curl_easy_init failed");
  curl_easy_setopt(curl_, CURLOPT_WRITEFUNCTION, AppendBody);
  curl_easy_setopt(curl_, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl_, CURLOPT_TCP_NODELAY, 1L);
  curl_easy_setopt(curl_, CURLOPT_TIMEOUT_MS, 60000L);
  curl_easy_setopt(curl_, CURLOPT_ERRORBUFFER, error_);
}

HttpClient::~HttpClient() {
  curl_easy_cleanup(curl_);
  curl_slist_free_all(headers_);
}

void HttpClient::SetHeaders(const std::vector<std::string>& headers) {
  curl_slist_free_all(headers_);
  headers_ = curl_slist_append(nullptr, "Expect:");
  for (const std::string& header : headers) headers_ = curl_slist_append(headers_, header.c_str());
}

void HttpClient::SetTimeoutMs(long timeout_ms) {
  curl_easy_setopt(curl_, CURLOPT_TIMEOUT_MS, timeout_ms);
}

HttpResult HttpClient::Perform(const std::string& url, const char* body, size_t size) {
  HttpResult result;
  error_[0] = '\0';
  curl_easy_setopt(curl_, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl_, CURLOPT_HTTPHEADER, headers_);
  curl_easy_setopt(curl_, CURLOPT_WRITEDATA, &result.body);
  if (body != nullptr) {
    curl_easy_setopt(curl_, CURLOPT_POST, 1L);
    curl_easy_setopt(curl_, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(curl_, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(size));
  } else {
    curl_easy_setopt(curl_, CURLOPT_HTTPGET, 1L);
  }
  const CURLcode code = curl_easy_perform(curl_);
  result.curl_code = code;
  if (code != CURLE_OK) {
    result.error = error_[0] != '\0' ? error_ : curl_easy_strerror(code);
    return result;
  }
  curl_easy_getinfo(curl_, CURLINFO_RESPONSE_CODE, &result.status);
  return result;
}

}  // namespace bench_harness
