// One client connection: reads requests one at a time (idle wait, head, admission,
// body), hands each to the worker pool and writes the answer. Every step runs on the
// connection's strand with a deadline. Internal to host/http.
#pragma once

#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>

#include "host/http/body_decoder.h"
#include "host/http/server_core.h"

namespace signal_host::http {

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  // `counted`: the connection holds one of `client`'s slots, released when it ends.
  // `core` outlives every connection (its Stop() waits for them).
  Connection(boost::asio::ip::tcp::socket socket, HttpServer::Core* core, std::string client,
             bool counted);
  ~Connection();

  void Start();
  // Answers at once (the connection was over a limit) and closes.
  void Refuse(Response response);
  // Closes the socket from any thread (server stop); pending operations end.
  void Close();

 private:
  using Parser = boost::beast::http::request_parser<boost::beast::http::buffer_body>;

  void WaitForRequest();
  void ReadHead();
  void OnHead(boost::beast::error_code ec);
  void BeginBody(Admission admission);
  void ReadBody();
  void OnBodyRead(boost::beast::error_code ec, size_t consumed);
  void Dispatch(BodyHandler handler, std::string body, bool inline_handler);
  void Send(Response response);
  void SendError(int status, std::string_view code, std::string_view message);
  void SendStream(Response response);
  void OnSent(boost::beast::error_code ec, bool close);
  void Linger(std::chrono::milliseconds timeout, size_t bytes);
  void LingerRead();
  void DropSocket();
  void ArmDeadline(std::chrono::milliseconds timeout);
  // Cancels the deadline; true when it had expired.
  bool DisarmDeadline();
  bool BodyLeftUnread() const;
  void PumpStream(std::shared_ptr<BodyStream> stream);
  bool WriteChunk(const std::string& chunk);

  boost::beast::tcp_stream stream_;
  boost::beast::flat_buffer buffer_;
  std::optional<Parser> parser_;
  HttpServer::Core* const core_;
  boost::asio::steady_timer deadline_;
  uint64_t deadline_generation_ = 0;
  bool timed_out_ = false;
  const std::string client_;
  const bool counted_;

  RequestHead head_;
  unsigned version_ = 11;
  bool keep_alive_ = true;
  bool is_head_ = false;
  size_t served_ = 0;
  // Set once the body has been read to its end (or there was none).
  bool body_complete_ = true;

  std::unique_ptr<BodyDecoder> decoder_;
  std::unique_ptr<char[]> scratch_;
  size_t wire_limit_ = 0;
  size_t wire_read_ = 0;
  BodyHandler pending_handler_;
  bool pending_inline_ = false;

  std::shared_ptr<void> response_;  // the message being written, kept alive
  std::unique_ptr<char[]> linger_buffer_;
  size_t linger_budget_ = 0;
  bool closed_ = false;
};

}  // namespace signal_host::http
