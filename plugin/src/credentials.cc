#include "credentials.h"

#include <curl/curl.h>

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "classify.h"
#include "operator_text.h"
#include "rapidjson/document.h"
#include "time_iso8601.h"
#include "translate.h"
#include "vendor_error.h"

// Decisions beyond credentials.h:
// - A 2xx source lookup whose body carries no readable workspaceId does not block the
//   install: the ingest probe still runs, and the OK message says the workspace could
//   not be confirmed.
// - A 404 from the Events API is reported as INVALID_WRITE_KEY (the ingest target
//   refused the key as given), with a message about the region and host.
// - Each probe may take up to probe_timeout_ms, so a check takes at most twice that.

namespace signal_hightouch {
namespace {

using signal::integration::v1::CheckCredentialsResponse;

constexpr size_t kMaxBodyKept = 64 * 1024;

struct HttpResult {
  long status = 0;          // 0: no response.
  std::string body;         // First kMaxBodyKept bytes.
  std::string retry_after;  // The Retry-After header's value, if any.
  std::string transport_error;
};

void InitCurlOnce() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

size_t CollectBody(char* data, size_t size, size_t count, void* user) {
  auto* body = static_cast<std::string*>(user);
  const size_t bytes = size * count;
  if (body->size() < kMaxBodyKept) {
    body->append(data, std::min(bytes, kMaxBodyKept - body->size()));
  }
  return bytes;  // Keep reading (and discarding) so the connection ends cleanly.
}

size_t CollectHeader(char* data, size_t size, size_t count, void* user) {
  auto* retry_after = static_cast<std::string*>(user);
  const std::string_view line(data, size * count);
  const size_t colon = line.find(':');
  if (colon != std::string_view::npos &&
      EqualsNoCase(TrimWhitespace(line.substr(0, colon)), "retry-after")) {
    *retry_after = std::string(TrimWhitespace(line.substr(colon + 1)));
  }
  return size * count;
}

struct CurlDeleter {
  void operator()(CURL* curl) const { curl_easy_cleanup(curl); }
};
struct HeaderListDeleter {
  void operator()(curl_slist* list) const { curl_slist_free_all(list); }
};

// One request. `authorization` is the header's value; it never leaves this function.
HttpResult Send(const PluginOptions& options, const std::string& method, const std::string& url,
                const std::string& authorization, const std::string* body) {
  InitCurlOnce();
  HttpResult result;
  std::unique_ptr<CURL, CurlDeleter> curl(curl_easy_init());
  if (!curl) {
    result.transport_error = "could not create an HTTP client";
    return result;
  }
  std::unique_ptr<curl_slist, HeaderListDeleter> headers;
  auto add_header = [&headers](const std::string& header) {
    curl_slist* grown = curl_slist_append(headers.get(), header.c_str());
    if (grown != nullptr) {
      (void)headers.release();
      headers.reset(grown);
    }
  };
  add_header("Authorization: " + authorization);
  add_header("Accept: application/json");
  add_header(Cat("User-Agent: signal-hightouch/", SIGNAL_HIGHTOUCH_VERSION));
  if (body != nullptr) add_header("Content-Type: application/json");
  add_header("Expect:");  // No 100-continue round trip for a tiny body.

  char error_buffer[CURL_ERROR_SIZE] = {0};
  CURL* handle = curl.get();
  curl_easy_setopt(handle, CURLOPT_URL, url.c_str());
  curl_easy_setopt(handle, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(handle, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(handle, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(handle, CURLOPT_CONNECTTIMEOUT_MS,
                   static_cast<long>(options.probe_connect_timeout_ms));
  curl_easy_setopt(handle, CURLOPT_TIMEOUT_MS, static_cast<long>(options.probe_timeout_ms));
  curl_easy_setopt(handle, CURLOPT_SSL_VERIFYPEER, options.tls_verify ? 1L : 0L);
  curl_easy_setopt(handle, CURLOPT_SSL_VERIFYHOST, options.tls_verify ? 2L : 0L);
  curl_easy_setopt(handle, CURLOPT_HTTPHEADER, headers.get());
  curl_easy_setopt(handle, CURLOPT_ERRORBUFFER, error_buffer);
  curl_easy_setopt(handle, CURLOPT_WRITEFUNCTION, &CollectBody);
  curl_easy_setopt(handle, CURLOPT_WRITEDATA, &result.body);
  curl_easy_setopt(handle, CURLOPT_HEADERFUNCTION, &CollectHeader);
  curl_easy_setopt(handle, CURLOPT_HEADERDATA, &result.retry_after);
  if (body != nullptr) {
    curl_easy_setopt(handle, CURLOPT_POSTFIELDS, body->data());
    curl_easy_setopt(handle, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body->size()));
  }
  if (method != "GET" && method != "POST") {
    curl_easy_setopt(handle, CURLOPT_CUSTOMREQUEST, method.c_str());
  }

  const CURLcode code = curl_easy_perform(handle);
  if (code != CURLE_OK) {
    // libcurl's text names the host and the failure, never our headers.
    result.transport_error = PrintableText(
        error_buffer[0] != '\0' ? std::string_view(error_buffer) : curl_easy_strerror(code), 300);
    result.status = 0;
    return result;
  }
  curl_easy_getinfo(handle, CURLINFO_RESPONSE_CODE, &result.status);
  return result;
}

std::string EscapePath(std::string_view segment) {
  InitCurlOnce();
  std::unique_ptr<CURL, CurlDeleter> curl(curl_easy_init());
  if (!curl) return "";
  char* escaped = curl_easy_escape(curl.get(), segment.data(), static_cast<int>(segment.size()));
  if (escaped == nullptr) return "";
  std::string out(escaped);
  curl_free(escaped);
  return out;
}

std::string Seen(const HttpResult& result, const HightouchConfig& config) {
  const std::string detail = VendorErrorText(result.body, {config.api_key, config.write_key});
  return detail.empty() ? Cat("HTTP ", result.status) : Cat("HTTP ", result.status, ": ", detail);
}

uint32_t RetryAfterSeconds(const HttpResult& result) {
  if (result.retry_after.empty()) return 0;
  const std::optional<uint64_t> wait_ms =
      ParseRetryAfterMs(result.retry_after, absl::ToUnixMillis(absl::Now()));
  if (!wait_ms) return 0;
  return static_cast<uint32_t>(
      std::min<uint64_t>((*wait_ms + 999) / 1000, kDefaultMaxRetryAfterSeconds));
}

CheckCredentialsResponse MakeResponse(CheckCredentialsResponse::Outcome outcome,
                                      std::string_view probe, long status, std::string message) {
  CheckCredentialsResponse response;
  response.set_outcome(outcome);
  response.set_probe(std::string(probe));
  response.set_vendor_status(static_cast<int32_t>(status));
  response.set_message(std::move(message));
  return response;
}

CheckCredentialsResponse RateLimited(std::string_view probe, const HttpResult& result,
                                     std::string_view api_name, const HightouchConfig& config) {
  CheckCredentialsResponse response =
      MakeResponse(CheckCredentialsResponse::RATE_LIMITED, probe, result.status,
                   Cat("Hightouch's ", api_name, " is rate limiting this workspace (",
                       Seen(result, config), "). Wait ",
                       RetryAfterSeconds(result) > 0 ? Cat(RetryAfterSeconds(result), " seconds")
                                                     : std::string("a minute"),
                       " and check the credentials again; nothing is wrong with them so far."));
  response.set_retry_after_s(RetryAfterSeconds(result));
  return response;
}

CheckCredentialsResponse Unreachable(std::string_view probe, const HttpResult& result,
                                     std::string_view api_name, std::string_view url,
                                     const HightouchConfig& config) {
  std::string what;
  if (result.status == 0) {
    what = Cat("could not be reached at ", url, " (", result.transport_error, ")");
  } else if (result.status >= 500) {
    what = Cat("had a server error (", Seen(result, config), ")");
  } else {
    what = Cat("gave an unexpected answer (", Seen(result, config), ") at ", url);
  }
  return MakeResponse(CheckCredentialsResponse::UNREACHABLE, probe, result.status,
                      Cat("Hightouch's ", api_name, " ", what,
                          ". The credentials were not judged. Try again in a few minutes; if "
                          "it persists, check this host's network access to Hightouch and "
                          "the plugin's base URL options."));
}

bool WorkspaceMatches(const rapidjson::Value& value, const std::string& expected,
                      std::string& found) {
  if (value.IsUint64()) {
    found = Cat(value.GetUint64());
  } else if (value.IsInt64()) {
    found = Cat(value.GetInt64());
  } else if (value.IsString()) {
    std::string_view text(value.GetString(), value.GetStringLength());
    if (StartsWithNoCase(text, "ws-")) text.remove_prefix(3);
    found = PrintableText(text, 40);
  } else {
    return false;
  }
  // Compare as numbers so that leading zeros do not matter.
  auto strip = [](std::string_view digits) {
    while (digits.size() > 1 && digits.front() == '0') digits.remove_prefix(1);
    return digits;
  };
  return strip(found) == strip(expected);
}

}  // namespace

CheckCredentialsResponse CheckCredentials(const HightouchConfig& config,
                                          const PluginOptions& options) {
  constexpr std::string_view kLookup = "source_lookup";
  constexpr std::string_view kIngest = "ingest_probe";
  if (config.api_key.empty()) {
    return MakeResponse(
        CheckCredentialsResponse::INVALID_API_KEY, kLookup, 0,
        "No API key was given. Create one in Hightouch under Settings > API Keys and "
        "enter it in the integration's config.");
  }

  // 1. The REST API: does the key work, and does the source belong to the workspace?
  std::string_view api_base = options.api_base_url;
  while (api_base.ends_with('/')) api_base.remove_suffix(1);
  const std::string source_url = Cat(api_base, "/api/v1/sources/", EscapePath(config.source_id));
  const HttpResult lookup =
      Send(options, "GET", source_url, Cat("Bearer ", config.api_key), nullptr);
  const std::string source_text = Cat("source ", PrintableText(config.source_id, 128));
  std::string workspace_note;
  if (lookup.status == 401 || lookup.status == 403) {
    return MakeResponse(
        CheckCredentialsResponse::INVALID_API_KEY, kLookup, lookup.status,
        Cat("Hightouch refused the API key (", Seen(lookup, config),
            "). Create a new key in Hightouch under Settings > API Keys (it is shown only once; ",
            "it must belong to workspace ", config.workspace_id,
            " and its creator must still be active), then enter it again."));
  }
  if (lookup.status == 404 || lookup.status == 422 || lookup.status == 400) {
    return MakeResponse(
        CheckCredentialsResponse::WRONG_SOURCE, kLookup, lookup.status,
        Cat("Hightouch has no ", source_text, " that this API key can see (", Seen(lookup, config),
            "). Copy the Source ID from the HTTP Events source's detail page in "
            "Hightouch, and check that the API key belongs to the same workspace."));
  }
  if (lookup.status == 429) return RateLimited(kLookup, lookup, "REST API", config);
  if (lookup.status < 200 || lookup.status >= 300) {
    return Unreachable(kLookup, lookup, "REST API", source_url, config);
  }
  {
    rapidjson::Document doc;
    doc.Parse<rapidjson::kParseIterativeFlag>(lookup.body.data(), lookup.body.size());
    const rapidjson::Value* workspace = nullptr;
    if (!doc.HasParseError() && doc.IsObject()) {
      const auto member = doc.FindMember("workspaceId");
      if (member != doc.MemberEnd()) workspace = &member->value;
    }
    std::string found;
    if (workspace == nullptr) {
      workspace_note =
          " (the workspace could not be confirmed: Hightouch's answer for the source carried no "
          "workspaceId)";
    } else if (!WorkspaceMatches(*workspace, config.workspace_id, found)) {
      return MakeResponse(
          CheckCredentialsResponse::WRONG_WORKSPACE, kLookup, lookup.status,
          Cat("The ", source_text, " belongs to workspace ",
              found.empty() ? std::string("(unreadable)") : found,
              ", but the config says workspace ", config.workspace_id,
              ". Enter the workspace ID from app.hightouch.com/workspaces/<id>, or use an API key ",
              "and source from workspace ", config.workspace_id, "."));
    }
  }

  // 2. The Events API: does the ingest key work in this region? An empty batch
  // carries no event.
  const bool api_key_ingests = config.write_key.empty();
  // The region becomes part of a host name: anything but a plain region name could send
  // the key elsewhere. Validated configs only hold the catalog's options.
  const bool plain_region =
      !config.region.empty() &&
      config.region.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789-") == std::string::npos;
  if (!plain_region) {
    return MakeResponse(CheckCredentialsResponse::UNREACHABLE, kIngest, 0,
                        Cat("The region '", PrintableText(config.region, 40),
                            "' is not a Hightouch region, so the Events API address cannot be ",
                            "built. Choose us-east-1, eu-west-1 or ap-south-1 and check again."));
  }
  const std::string events_url = Cat(options.EventsBaseUrl(config.region), "/v1/batch");
  char sent_at[kIso8601MillisLength];
  FormatIso8601Millis(absl::ToUnixMillis(absl::Now()), sent_at);
  const std::string probe_body =
      Cat("{\"batch\":[],\"sentAt\":\"", std::string_view(sent_at, sizeof(sent_at)), "\"}");
  // The same Authorization header Translate puts on every delivery request.
  const HttpResult ingest = Send(options, "POST", events_url,
                                 Translator::AuthorizationHeader(config), &probe_body);
  if (ingest.status == 401 || ingest.status == 403) {
    const std::string advice =
        api_key_ingests
            ? std::string(
                  "No write key was given, so the API key was sent as the ingest key, and "
                  "the Events API refused it. Copy the write key from the HTTP Events "
                  "source's setup page into the write_key field.")
            : Cat("Copy the write key again from the HTTP Events source's setup page, and check "
                  "that the source lives in region ",
                  config.region, ".");
    return MakeResponse(CheckCredentialsResponse::INVALID_WRITE_KEY, kIngest, ingest.status,
                        Cat("Hightouch's Events API in ", config.region,
                            " refused the ingest key (", Seen(ingest, config), "). ", advice));
  }
  if (ingest.status == 404) {
    return MakeResponse(
        CheckCredentialsResponse::INVALID_WRITE_KEY, kIngest, ingest.status,
        Cat("Hightouch's Events API answered 404 Not Found at ", events_url,
            ": the host or region is wrong for this source. Set region to the one the workspace ",
            "was created in (", config.region, " was used), and check that the key is the ",
            "write key of an HTTP Events source."));
  }
  if (ingest.status == 429) return RateLimited(kIngest, ingest, "Events API", config);
  if (!(ingest.status >= 200 && ingest.status < 300) && ingest.status != 400) {
    return Unreachable(kIngest, ingest, "Events API", events_url, config);
  }

  // A 400 answers an empty batch after the key was accepted.
  return MakeResponse(
      CheckCredentialsResponse::OK, kIngest, ingest.status,
      Cat("Verified: the API key can read ", source_text, " in workspace ", config.workspace_id,
          workspace_note, ", and Hightouch's Events API in ", config.region, " accepted the ",
          api_key_ingests ? "API key as the ingest key" : "write key",
          ". The integration is ready to deliver events."));
}

}  // namespace signal_hightouch
