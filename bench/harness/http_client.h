// A blocking HTTP/1.1 client on libcurl: one easy handle per thread, so the connection is
// kept alive between requests.
#pragma once

#include <curl/curl.h>

#include <string>
#include <vector>

namespace bench_harness {

struct HttpResult {
  long status = 0;  // 0: transport error
  std::string body;
  std::string error;
  // CURLE_COULDNT_CONNECT means the request never left; other errors leave its fate unknown.
  CURLcode curl_code = CURLE_OK;
};

class HttpClient {
 public:
  HttpClient();  // dies (exit 2) if libcurl cannot make a handle
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // Headers sent with every request of this client ("Expect:" is always added: curl
  // would otherwise wait for "100 Continue" before sending a large body).
  void SetHeaders(const std::vector<std::string>& headers);
  // Whole-request timeout (default 60 s).
  void SetTimeoutMs(long timeout_ms);

  HttpResult Get(const std::string& url) { return Perform(url, nullptr, 0); }
  HttpResult Post(const std::string& url, const char* body, size_t size) {
    return Perform(url, body, size);
  }
  HttpResult Post(const std::string& url, const std::string& body) {
    return Perform(url, body.data(), body.size());
  }

 private:
  HttpResult Perform(const std::string& url, const char* body, size_t size);

  CURL* curl_;
  curl_slist* headers_ = nullptr;
  char error_[CURL_ERROR_SIZE];
};

}  // namespace bench_harness
