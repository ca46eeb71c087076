// HTTP server instances: a program launched with launch_server_instance runs once per request and
// answers it through these calls.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "pie/core.h"

namespace pie::http {

struct Request {
  std::string method;
  std::string target;  // path and query
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;

  // The first header named `name` (case-insensitive), or "".
  std::string header(std::string_view name) const;
};

// The request this instance serves.
Request request();

// The response (status 200 and an empty body unless set).
void set_status(uint32_t status);
void add_header(std::string_view name, std::string_view value);
void write_body(std::string_view data);

}  // namespace pie::http
