// The request and response the API services work on, free of any HTTP library.
//
// Why this layer exists: cpp-httplib includes <csignal>, whose global function
// signal() clashes with the generated protobuf namespace `signal` (package
// signal.integration.v1). No translation unit may include both, so the services
// (which speak gRPC to plugins) see only these types, and http_frontend.cc (which
// owns the httplib servers) sees no generated code.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "json_util.h"

namespace signal_host::api {

struct ApiRequest {
  std::string method;
  std::string path;
  std::vector<std::string> path_params;      // the route pattern's captures, in order
  std::map<std::string, std::string> query;  // first value of each query parameter
  std::string authorization;                 // the Authorization header ("" when absent)
  std::string body;

  // The query parameter, or "" when absent.
  std::string Query(const std::string& name) const {
    auto it = query.find(name);
    return it == query.end() ? std::string() : it->second;
  }
};

// A response body produced over time (Server-Sent Events).
class ResponseStream {
 public:
  virtual ~ResponseStream() = default;
  // Waits briefly for more output and appends it to `chunk` (possibly nothing).
  // Returns false once the stream has ended.
  virtual bool Next(std::string& chunk) = 0;
  // Called once when the response is finished or the client has gone.
  virtual void Close() = 0;
};

struct ApiResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  // When set, the body is streamed (chunked) from it instead of `body`.
  std::shared_ptr<ResponseStream> stream;

  void SetHeader(std::string name, std::string value) {
    headers.emplace_back(std::move(name), std::move(value));
  }
};

inline void SendJson(ApiResponse& res, int status, std::string body) {
  res.status = status;
  res.content_type = "application/json";
  res.body = std::move(body);
}

inline void SendError(ApiResponse& res, int status, std::string_view code, std::string_view message,
                      const std::vector<FieldDetail>& details = {},
                      std::string_view extra_members = {}) {
  SendJson(res, status, ErrorBody(code, message, details, extra_members));
}

}  // namespace signal_host::api
