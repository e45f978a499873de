#include "host/http/connection.h"

#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http/chunk_encode.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/serializer.hpp>
#include <boost/beast/http/write.hpp>
#include <chrono>
#include <cstdio>
#include <future>
#include <limits>
#include <utility>

#include "host/http/ascii.h"
#include "host/http/text.h"

namespace signal_host::http {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;

namespace {

constexpr size_t kScratchBytes = 64 * 1024;
constexpr size_t kIdleReadBytes = 4096;
// Refused connections linger only briefly: they are refused because there are too many.
constexpr std::chrono::milliseconds kRefusedLinger{250};
constexpr size_t kRefusedLingerBytes = 64 * 1024;
constexpr char kContinue[] = "HTTP/1.1 100 Continue\r\n\r\n";

std::string Seconds(std::chrono::milliseconds ms) {
  char text[32];
  std::snprintf(text, sizeof(text), "%g", static_cast<double>(ms.count()) / 1000.0);
  return text;
}

bool IsQuietEnd(const beast::error_code& ec) {
  return ec == bhttp::error::end_of_stream || ec == net::error::eof ||
         ec == net::error::connection_reset || ec == net::error::operation_aborted ||
         ec == net::error::broken_pipe || ec == net::error::not_connected ||
         ec == net::error::bad_descriptor;
}

}  // namespace

std::string_view RequestHead::HeaderValue(std::string_view name) const {
  for (const Header& header : headers) {
    if (EqualsIgnoringCase(header.name, name)) return header.value;
  }
  return {};
}

Connection::Connection(net::ip::tcp::socket socket, HttpServer::Core* core, std::string client,
                       bool counted)
    : stream_(std::move(socket)),
      // The head may not outgrow its limit, and a body is consumed as it is read.
      buffer_(core->options().limits.max_header_bytes + kScratchBytes),
      core_(core),
      deadline_(stream_.get_executor()),
      client_(std::move(client)),
      counted_(counted) {
  if (!counted_) core_->BeginRefused();
}

Connection::~Connection() {
  if (counted_) {
    core_->ReleaseConnection(client_);
  } else {
    core_->EndRefused();
  }
}

void Connection::Start() {
  net::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->WaitForRequest(); });
}

void Connection::Refuse(Response response) {
  net::dispatch(stream_.get_executor(), [self = shared_from_this(), response]() mutable {
    self->keep_alive_ = false;
    self->body_complete_ = false;  // whatever the client sent stays unread
    self->Send(std::move(response));
  });
}

void Connection::Close() {
  net::post(stream_.get_executor(), [self = shared_from_this()] { self->DropSocket(); });
}

void Connection::DropSocket() {
  if (closed_) return;
  closed_ = true;
  deadline_.cancel();
  beast::error_code ignored;
  stream_.socket().shutdown(net::ip::tcp::socket::shutdown_both, ignored);
  stream_.close();
}

// ---- Reading a request ------------------------------------------------------------

void Connection::WaitForRequest() {
  if (closed_) return;
  if (core_->stopping()) return DropSocket();
  if (buffer_.size() > 0) return ReadHead();  // the next request is already here
  // Waiting for the first byte is the keep-alive idle time, not the head's deadline.
  stream_.expires_after(core_->options().limits.idle_timeout);
  stream_.async_read_some(buffer_.prepare(kIdleReadBytes),
                          [self = shared_from_this()](beast::error_code ec, size_t n) {
                            if (ec) {
                              if (ec == beast::error::timeout)
                                ++self->core_->counters().idle_closes;
                              return self->DropSocket();
                            }
                            self->buffer_.commit(n);
                            self->ReadHead();
                          });
}

void Connection::ReadHead() {
  const Limits& limits = core_->options().limits;
  parser_.emplace();
  // Nothing of the previous request may shape the answers to this one (an error
  // answered before this head is parsed must not be taken for a HEAD's answer).
  is_head_ = false;
  parser_->header_limit(static_cast<uint32_t>(limits.max_header_bytes));
  // The body's limits are counted in OnBodyRead (Beast 1.74 mishandles "no limit").
  parser_->body_limit(std::numeric_limits<std::uint64_t>::max());
  body_complete_ = true;
  stream_.expires_never();
  ArmDeadline(limits.header_timeout);
  bhttp::async_read_header(
      stream_, buffer_, *parser_,
      [self = shared_from_this()](beast::error_code ec, size_t) { self->OnHead(ec); });
}

void Connection::OnHead(beast::error_code ec) {
  const Limits& limits = core_->options().limits;
  const bool timed_out = DisarmDeadline();
  if (ec) {
    keep_alive_ = false;
    body_complete_ = false;
    if (timed_out) {
      ++core_->counters().header_timeouts;
      return SendError(
          408, "REQUEST_TIMEOUT",
          Cat("the request head did not arrive within ", Seconds(limits.header_timeout), " s"));
    }
    if (ec == bhttp::error::header_limit || ec == bhttp::error::buffer_overflow ||
        ec == net::error::no_buffer_space) {
      ++core_->counters().headers_too_large;
      return SendError(
          431, "HEADERS_TOO_LARGE",
          Cat("the request head is larger than the limit of ", limits.max_header_bytes, " bytes"));
    }
    if (IsQuietEnd(ec) || ec == bhttp::error::partial_message) return DropSocket();
    ++core_->counters().malformed_requests;
    return SendError(400, "BAD_REQUEST", Cat("malformed HTTP request: ", ec.message()));
  }
  ++core_->counters().requests;
  ++served_;
  const auto& message = parser_->get();
  head_ = RequestHead{};
  head_.method = std::string(message.method_string());
  head_.target = std::string(message.target());
  head_.peer_address = client_;
  for (const auto& field : message) {
    head_.headers.push_back({std::string(field.name_string()), std::string(field.value())});
  }
  const boost::optional<uint64_t> length = parser_->content_length();
  head_.has_body = parser_->chunked() || (length && *length > 0);
  body_complete_ = !head_.has_body;
  version_ = message.version();
  keep_alive_ = message.keep_alive() && served_ < limits.max_requests_per_connection;
  is_head_ = message.method() == bhttp::verb::head;

  Admission admission;
  try {
    admission = core_->handler()->Admit(head_);
  } catch (...) {
    keep_alive_ = false;
    return SendError(500, "INTERNAL", "the request failed inside the host; see its log");
  }
  if (admission.refusal) return Send(std::move(*admission.refusal));
  BeginBody(std::move(admission));
}

void Connection::BeginBody(Admission admission) {
  const Limits& limits = core_->options().limits;
  size_t max_body = limits.max_body_bytes;
  if (admission.max_body_bytes != 0 && admission.max_body_bytes < max_body) {
    max_body = admission.max_body_bytes;
  }
  if (!head_.has_body) {
    return Dispatch(std::move(admission.handler), std::string(), admission.inline_handler);
  }
  const std::optional<ContentCoding> coding =
      ParseContentEncoding(head_.HeaderValue("Content-Encoding"));
  if (!coding) {
    keep_alive_ = false;
    return SendError(415, "UNSUPPORTED_MEDIA_TYPE",
                     Cat("Content-Encoding \"", head_.HeaderValue("Content-Encoding"),
                         "\" is not supported; send identity, gzip or deflate"));
  }
  Limits route_limits = limits;
  if (max_body != limits.max_body_bytes) {
    route_limits.max_body_bytes = max_body;
    route_limits.max_wire_body_bytes = 0;
  }
  wire_limit_ = route_limits.WireBodyLimit();
  wire_read_ = 0;
  const boost::optional<uint64_t> length = parser_->content_length();
  if (length && *length > wire_limit_) {
    ++core_->counters().bodies_too_large;
    keep_alive_ = false;
    return SendError(413, "PAYLOAD_TOO_LARGE",
                     Cat("the request body (Content-Length ", *length,
                         ") is larger than the limit of ", wire_limit_, " bytes"));
  }
  decoder_ = std::make_unique<BodyDecoder>(*coding, max_body, limits.max_inflate_ratio);
  if (length) decoder_->ExpectWireBytes(*length);
  pending_handler_ = std::move(admission.handler);
  pending_inline_ = admission.inline_handler;
  if (!scratch_) scratch_ = std::make_unique<char[]>(kScratchBytes);
  ArmDeadline(limits.body_timeout);  // one deadline for the whole body
  if (EqualsIgnoringCase(head_.HeaderValue("Expect"), "100-continue")) {
    stream_.expires_after(limits.write_timeout);
    net::async_write(stream_, net::buffer(kContinue, sizeof(kContinue) - 1),
                     [self = shared_from_this()](beast::error_code ec, size_t) {
                       if (ec) return self->DropSocket();
                       self->ReadBody();
                     });
    return;
  }
  ReadBody();
}

void Connection::ReadBody() {
  stream_.expires_never();  // the body's deadline is deadline_
  auto& body = parser_->get().body();
  body.data = scratch_.get();
  body.size = kScratchBytes;
  bhttp::async_read(stream_, buffer_, *parser_,
                    [self = shared_from_this()](beast::error_code ec, size_t consumed) {
                      self->OnBodyRead(ec, consumed);
                    });
}

void Connection::OnBodyRead(beast::error_code ec, size_t consumed) {
  const Limits& limits = core_->options().limits;
  if (ec == bhttp::error::need_buffer) ec = {};
  wire_read_ += consumed;
  const size_t produced = kScratchBytes - parser_->get().body().size;
  if (ec) {
    keep_alive_ = false;
    if (DisarmDeadline()) {
      ++core_->counters().body_timeouts;
      return SendError(
          408, "REQUEST_TIMEOUT",
          Cat("the request body did not arrive within ", Seconds(limits.body_timeout), " s"));
    }
    if (IsQuietEnd(ec) || ec == bhttp::error::partial_message) return DropSocket();
    ++core_->counters().malformed_requests;
    return SendError(400, "BAD_REQUEST", Cat("malformed request body: ", ec.message()));
  }
  if (wire_read_ > wire_limit_) {
    ++core_->counters().bodies_too_large;
    keep_alive_ = false;
    return SendError(413, "PAYLOAD_TOO_LARGE",
                     Cat("the request body is larger than the limit of ", wire_limit_, " bytes"));
  }
  BodyDecoder::Result result = decoder_->Feed(std::string_view(scratch_.get(), produced));
  if (result == BodyDecoder::Result::kOk && parser_->is_done()) result = decoder_->Finish();
  switch (result) {
    case BodyDecoder::Result::kOk:
      break;
    case BodyDecoder::Result::kTooLarge:
    case BodyDecoder::Result::kRatioTooHigh:
      ++core_->counters().bodies_too_large;
      keep_alive_ = false;
      return SendError(413, "PAYLOAD_TOO_LARGE", decoder_->error());
    case BodyDecoder::Result::kCorrupt:
      ++core_->counters().malformed_requests;
      keep_alive_ = false;
      return SendError(400, "BAD_REQUEST", decoder_->error());
  }
  if (!parser_->is_done()) return ReadBody();
  DisarmDeadline();
  body_complete_ = true;
  std::string body = std::move(decoder_->body());
  decoder_.reset();
  Dispatch(std::move(pending_handler_), std::move(body), pending_inline_);
}

// The head's and the body's deadlines: on expiry the pending read is cancelled and the
// read's handler, seeing timed_out_, answers 408 (an expiry of the stream's own timer
// would close the socket before an answer could be written).
void Connection::ArmDeadline(std::chrono::milliseconds timeout) {
  timed_out_ = false;
  const uint64_t generation = ++deadline_generation_;
  deadline_.expires_after(timeout);
  deadline_.async_wait([self = shared_from_this(), generation](beast::error_code ec) {
    if (ec || generation != self->deadline_generation_ || self->closed_) return;
    self->timed_out_ = true;
    beast::error_code ignored;
    self->stream_.socket().cancel(ignored);
  });
}

bool Connection::DisarmDeadline() {
  ++deadline_generation_;
  deadline_.cancel();
  const bool timed_out = timed_out_;
  timed_out_ = false;
  return timed_out;
}

// ---- Answering --------------------------------------------------------------------

void Connection::Dispatch(BodyHandler handler, std::string body, bool inline_handler) {
  stream_.expires_never();  // the handler's time is not the client's
  auto run = [handler = std::move(handler), body = std::move(body), core = core_]() mutable {
    try {
      return handler(std::move(body));
    } catch (...) {
      return core->handler()->Error(500, "INTERNAL",
                                    "the request failed inside the host; see its log");
    }
  };
  if (inline_handler) return Send(run());
  core_->BeginWork();
  net::post(core_->workers(), [self = shared_from_this(), run = std::move(run)]() mutable {
    Response response = run();
    net::dispatch(self->stream_.get_executor(), [self, response = std::move(response)]() mutable {
      self->Send(std::move(response));
      self->core_->EndWork();
    });
  });
}

void Connection::SendError(int status, std::string_view code, std::string_view message) {
  Response response = core_->handler()->Error(status, code, message);
  response.close = true;
  Send(std::move(response));
}

bool Connection::BodyLeftUnread() const { return !body_complete_; }

void Connection::Send(Response response) {
  if (closed_) return;
  DisarmDeadline();
  if (response.stream) return SendStream(std::move(response));
  const bool close = response.close || !keep_alive_ || BodyLeftUnread() || core_->stopping();
  auto message = std::make_shared<bhttp::response<bhttp::string_body>>();
  message->version(version_);
  message->result(static_cast<unsigned>(response.status));
  for (Header& header : response.headers) message->insert(header.name, header.value);
  const bool no_content = response.status == 204 || response.status == 304 ||
                          (response.status >= 100 && response.status < 200);
  if (!no_content) {
    message->set(bhttp::field::content_type, response.content_type);
    message->content_length(response.body.size());
    if (!is_head_) message->body() = std::move(response.body);
  }
  message->keep_alive(!close);
  response_ = message;
  stream_.expires_after(core_->options().limits.write_timeout);
  bhttp::async_write(stream_, *message,
                     [self = shared_from_this(), close](beast::error_code ec, size_t) {
                       self->OnSent(ec, close);
                     });
}

void Connection::OnSent(beast::error_code ec, bool close) {
  response_.reset();
  if (ec) return DropSocket();
  if (!close) return WaitForRequest();
  if (BodyLeftUnread()) {
    if (served_ == 0) return Linger(kRefusedLinger, kRefusedLingerBytes);
    const Limits& limits = core_->options().limits;
    return Linger(limits.linger_timeout, limits.linger_bytes);
  }
  beast::error_code ignored;
  stream_.socket().shutdown(net::ip::tcp::socket::shutdown_send, ignored);
  Linger(std::chrono::milliseconds(200), kIdleReadBytes);
}

// After the answer, reads and drops what the client still sends (up to a bound), so
// that closing does not reset the connection before the client has read the answer.
void Connection::Linger(std::chrono::milliseconds timeout, size_t bytes) {
  if (closed_) return;
  beast::error_code ignored;
  stream_.socket().shutdown(net::ip::tcp::socket::shutdown_send, ignored);
  if (!linger_buffer_) linger_buffer_ = std::make_unique<char[]>(kIdleReadBytes);
  linger_budget_ = bytes;
  stream_.expires_after(timeout);
  LingerRead();
}

void Connection::LingerRead() {
  stream_.async_read_some(net::buffer(linger_buffer_.get(), kIdleReadBytes),
                          [self = shared_from_this()](beast::error_code ec, size_t n) {
                            if (ec || n >= self->linger_budget_) return self->DropSocket();
                            self->linger_budget_ -= n;
                            self->LingerRead();
                          });
}

// ---- Streamed answers (Server-Sent Events) ------------------------------------------

void Connection::SendStream(Response response) {
  if (!core_->TryReserveStream()) {
    response.stream->Close();
    Response busy =
        core_->handler()->Error(503, "UNAVAILABLE", "too many open streams; try again later");
    busy.SetHeader("Retry-After", "5");
    busy.close = true;
    return Send(std::move(busy));
  }
  auto message = std::make_shared<bhttp::response<bhttp::empty_body>>();
  message->version(version_);
  message->result(static_cast<unsigned>(response.status));
  for (Header& header : response.headers) message->insert(header.name, header.value);
  message->set(bhttp::field::content_type, response.content_type);
  message->keep_alive(false);  // a stream ends its connection
  message->chunked(true);
  auto serializer = std::make_shared<bhttp::response_serializer<bhttp::empty_body>>(*message);
  response_ =
      std::make_shared<std::pair<decltype(message), decltype(serializer)>>(message, serializer);
  stream_.expires_after(core_->options().limits.write_timeout);
  bhttp::async_write_header(
      stream_, *serializer,
      [self = shared_from_this(), body = response.stream](beast::error_code ec, size_t) {
        if (ec) {
          body->Close();
          self->core_->ReleaseStream();
          return self->DropSocket();
        }
        self->core_->RunStream([self, body] { self->PumpStream(body); });
      });
}

// On a stream thread: moves chunks from the body stream to the socket until either
// side ends or the server stops.
void Connection::PumpStream(std::shared_ptr<BodyStream> stream) {
  std::string chunk;
  while (!core_->stopping()) {
    chunk.clear();
    if (!stream->Next(chunk)) break;
    if (chunk.empty()) continue;
    if (!WriteChunk(chunk)) break;
  }
  stream->Close();
  WriteChunk(std::string());  // the last chunk, then the connection closes
}

// Writes one chunk on the strand and waits for it (at most the write timeout). An
// empty chunk writes the terminating chunk and closes.
bool Connection::WriteChunk(const std::string& chunk) {
  auto done = std::make_shared<std::promise<bool>>();
  std::future<bool> written = done->get_future();
  auto data = std::make_shared<std::string>(chunk);
  net::post(stream_.get_executor(), [self = shared_from_this(), done, data] {
    if (self->closed_) return done->set_value(false);
    self->stream_.expires_after(self->core_->options().limits.write_timeout);
    auto finish = [self, done, data](beast::error_code ec, size_t) {
      done->set_value(!ec);
      if (ec || data->empty()) self->DropSocket();
    };
    if (data->empty()) {
      net::async_write(self->stream_, bhttp::make_chunk_last(), finish);
    } else {
      net::async_write(self->stream_, bhttp::make_chunk(net::buffer(*data)), finish);
    }
  });
  const auto limit = core_->options().limits.write_timeout + std::chrono::seconds(2);
  if (written.wait_for(limit) != std::future_status::ready) return false;
  return written.get();
}

}  // namespace signal_host::http
