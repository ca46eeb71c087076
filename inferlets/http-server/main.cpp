// An HTTP server instance: the engine runs this program once per request. `/` greets, `/echo`
// returns the POSTed body, anything else is 404.
#include <string>

#include "pie/pie.h"

PIE_MAIN(args) {
  static_cast<void>(args);  // the answers do not depend on the launch arguments
  const pie::http::Request request = pie::http::request();
  const std::string path = request.target.substr(0, request.target.find('?'));
  if (path == "/") {
    pie::http::add_header("Content-Type", "text/plain");
    pie::http::write_body("Hello from a Pie server instance\n");
  } else if (path == "/echo") {
    if (request.method != "POST") {
      pie::http::set_status(405);
      pie::http::add_header("Allow", "POST");
      pie::http::write_body("POST a body to /echo\n");
      return std::string("405");
    }
    const std::string type = request.header("content-type");
    pie::http::add_header("Content-Type", type.empty() ? "application/octet-stream" : type);
    pie::http::write_body(request.body);
  } else {
    pie::http::set_status(404);
    pie::http::add_header("Content-Type", "text/plain");
    pie::http::write_body("not found: " + path + "\n");
    return std::string("404");
  }
  return std::string("200");
}
