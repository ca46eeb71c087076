// An HTTP server instance: the engine runs main once per request. `/` greets, `/echo` returns the
// POSTed body, anything else is 404 (the same answers as the C++ `http-server` inferlet).
import * as pie from "pie";

export async function main(args) {
  const request = pie.http.request();
  const path = request.target.split("?")[0];
  if (path === "/") {
    pie.http.addHeader("Content-Type", "text/plain");
    pie.http.write("Hello from a Pie server instance\n");
    return "200";
  }
  if (path === "/echo") {
    if (request.method !== "POST") {
      pie.http.setStatus(405);
      pie.http.addHeader("Allow", "POST");
      pie.http.write("POST a body to /echo\n");
      return "405";
    }
    const type = request.headers.find(([name]) => name.toLowerCase() === "content-type");
    pie.http.addHeader("Content-Type", type ? type[1] : "application/octet-stream");
    pie.http.write(request.body);
    return "200";
  }
  pie.http.setStatus(404);
  pie.http.addHeader("Content-Type", "text/plain");
  pie.http.write(`not found: ${path}\n`);
  return "404";
}
