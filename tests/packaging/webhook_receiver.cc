// webhook_receiver: a local HTTP endpoint for the example webhook plugin's delivery test.
// Prints "listening on http://127.0.0.1:PORT" once it accepts connections, then one line
// per POST: "<path> <Authorization header> <body>", and answers 200. SIGTERM ends it.
#include <httplib.h>

#include <iostream>
#include <string>

int main() {
  httplib::Server server;
  server.Post(".*", [](const httplib::Request& request, httplib::Response& response) {
    std::string body = request.body;
    for (char& c : body) {
      if (c == '\n' || c == '\r') c = ' ';  // one request, one line
    }
    std::cout << request.path << " " << request.get_header_value("Authorization") << " "
              << body << std::endl;
    response.set_content("{\"ok\":true}", "application/json");
  });
  const int port = server.bind_to_any_port("127.0.0.1");
  if (port <= 0) {
    std::cerr << "webhook_receiver: cannot bind a loopback port\n";
    return 1;
  }
  std::cout << "listening on http://127.0.0.1:" << port << std::endl;
  return server.listen_after_bind() ? 0 : 1;
}
