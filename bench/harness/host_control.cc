#include "host_control.h"

#include "absl/strings/str_cat.h"
#include "rapidjson/document.h"
#include "system_info.h"

namespace bench_harness {

absl::StatusOr<HostEndpoints> WaitForHostEndpoints(ChildProcess& host,
                                                   std::chrono::seconds timeout) {
  HostEndpoints endpoints;
  absl::StatusOr<std::string> line = host.WaitForLine("admin listening on ", timeout);
  if (!line.ok()) return line.status();
  endpoints.admin_url = *line;
  line = host.WaitForLine("events listening on ", timeout);
  if (!line.ok()) return line.status();
  endpoints.events_url = *line;
  line = host.WaitForLine("pipeline default key: ", timeout);
  if (!line.ok()) return line.status();
  endpoints.pipeline_key = *line;
  return endpoints;
}

std::string MintEditorToken(const std::string& host_bin, const std::string& data_dir) {
  return RunCommand(absl::StrCat(ShellQuote(host_bin), " token --role editor --data-dir ",
                                 ShellQuote(data_dir), " --ttl 86400"));
}

Installed InstallHightouch(HttpClient& admin, const std::string& admin_url,
                           const std::string& config_members) {
  const std::string install_body =
      absl::StrCat(R"({"name":"Hightouch","variant":"default","config":{)", config_members,
                   R"(},"delivery_mode":"server_side"})");
  Installed installed;
  installed.answer =
      admin.Post(admin_url + "/v1/admin/integration-catalog/hightouch/install", install_body);
  const std::string& body = installed.answer.body;
  rapidjson::Document doc;
  doc.Parse(body.data(), body.size());
  if (!doc.HasParseError() && doc.IsObject() && doc.HasMember("integration") &&
      doc["integration"].IsObject() && doc["integration"].HasMember("id") &&
      doc["integration"]["id"].IsString()) {
    installed.integration_id = doc["integration"]["id"].GetString();
  }
  const size_t at = body.find("\"delivery_settings\":");
  if (at != std::string::npos) {
    const size_t end = body.find(",\"retry\"", at);
    installed.delivery_settings = body.substr(at + 20, end == std::string::npos ? 200 : end - at - 20);
  }
  return installed;
}

}  // namespace bench_harness
