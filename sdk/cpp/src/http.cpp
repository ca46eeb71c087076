#include "pie/http.h"

namespace pie::http {

namespace {

bool same_name(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? char(c - 'A' + 'a') : c; };
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

}  // namespace

std::string Request::header(std::string_view name) const {
  for (const auto& [k, v] : headers) {
    if (same_name(k, name)) return v;
  }
  return {};
}

Request request() {
  Request r;
  r.method = detail::read_bytes(pie_http_request_method);
  r.target = detail::read_bytes(pie_http_request_path);
  const auto flat = detail::decode_strings(detail::read_bytes(
      [](char* out, uint32_t cap) { return pie_http_request_headers(out, cap); }));
  for (size_t i = 0; i + 1 < flat.size(); i += 2) r.headers.emplace_back(flat[i], flat[i + 1]);
  r.body =
      detail::read_bytes([](char* out, uint32_t cap) { return pie_http_request_body(out, cap); });
  return r;
}

void set_status(uint32_t status) {
  pie_http_response_status(status);
}

void add_header(std::string_view name, std::string_view value) {
  pie_http_response_header(name.data(), static_cast<uint32_t>(name.size()), value.data(),
                           static_cast<uint32_t>(value.size()));
}

void write_body(std::string_view data) {
  pie_http_response_body(data.data(), static_cast<uint32_t>(data.size()));
}

}  // namespace pie::http
