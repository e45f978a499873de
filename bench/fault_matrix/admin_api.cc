#include "admin_api.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "rapidjson/document.h"

namespace fault_matrix {
namespace {

absl::Status Unexpected(std::string_view what, const bench_harness::HttpResult& answer) {
  return absl::UnavailableError(absl::StrCat(std::string(what), " answered ", answer.status, ": ",
                                             answer.body.substr(0, 300), answer.error));
}

std::string StringMember(const rapidjson::Value& object, const char* name) {
  auto it = object.FindMember(name);
  return it != object.MemberEnd() && it->value.IsString() ? it->value.GetString() : "";
}

}  // namespace

absl::StatusOr<IntegrationState> GetIntegrationState(bench_harness::HttpClient& admin,
                                                     const std::string& admin_url,
                                                     const std::string& integration_id) {
  const bench_harness::HttpResult answer =
      admin.Get(admin_url + "/v1/admin/integrations/" + integration_id);
  if (answer.status != 200) return Unexpected("GET integration", answer);
  rapidjson::Document doc;
  doc.Parse(answer.body.data(), answer.body.size());
  if (doc.HasParseError() || !doc.IsObject() || !doc.HasMember("integration") ||
      !doc["integration"].IsObject()) {
    return Unexpected("GET integration (unreadable)", answer);
  }
  const rapidjson::Value& integration = doc["integration"];
  IntegrationState state;
  state.status = StringMember(integration, "status");
  state.status_reason = StringMember(integration, "status_reason");
  auto depth = integration.FindMember("queue_depth");
  if (depth == integration.MemberEnd() || !depth->value.IsUint64()) {
    return Unexpected("GET integration (no queue_depth)", answer);
  }
  state.queue_depth = depth->value.GetUint64();
  return state;
}

absl::StatusOr<std::vector<DeadLetter>> ListDeadLetters(bench_harness::HttpClient& admin,
                                                        const std::string& admin_url,
                                                        const std::string& integration_id) {
  std::vector<DeadLetter> out;
  std::string cursor;
  // A bound well above any scenario's dead letters (100 a page), so a cursor bug ends.
  for (int page = 0; page < 100000; ++page) {
    std::string url = absl::StrCat(admin_url, "/v1/admin/dead-letters?limit=100&integration_id=",
                                   integration_id);
    if (!cursor.empty()) absl::StrAppend(&url, "&cursor=", cursor);
    const bench_harness::HttpResult answer = admin.Get(url);
    if (answer.status != 200) return Unexpected("GET dead-letters", answer);
    rapidjson::Document doc;
    doc.Parse(answer.body.data(), answer.body.size());
    if (doc.HasParseError() || !doc.IsObject() || !doc.HasMember("data") ||
        !doc["data"].IsArray()) {
      return Unexpected("GET dead-letters (unreadable)", answer);
    }
    for (const rapidjson::Value& item : doc["data"].GetArray()) {
      if (!item.IsObject()) continue;
      out.push_back({StringMember(item, "message_id"), StringMember(item, "reason")});
    }
    cursor = doc.HasMember("next_cursor") && doc["next_cursor"].IsString()
                 ? doc["next_cursor"].GetString()
                 : "";
    if (cursor.empty()) return out;
  }
  return absl::DeadlineExceededError("GET dead-letters: too many pages");
}

bench_harness::HttpResult PostRevision(bench_harness::HttpClient& admin,
                                       const std::string& admin_url,
                                       const std::string& integration_id,
                                       const std::string& config_members) {
  const std::string body =
      absl::StrCat(R"({"config":{)", config_members,
                   R"(},"change_summary":"fault matrix: credentials confirmed again"})");
  return admin.Post(admin_url + "/v1/admin/integrations/" + integration_id + "/revisions", body);
}

}  // namespace fault_matrix
