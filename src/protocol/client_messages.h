// Client <-> server messages of Pie's user protocol (reference §3.2-3.3) [WIRE]. Each message is
// one MessagePack map with a "type" key naming the kind and that kind's fields beside it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace pie::protocol {

// Upload and download chunk size (reference Appendix D).
inline constexpr size_t kChunkSize = 262144;

// Chunks a payload of `bytes` is sent in: at least one, so an empty payload is one empty chunk.
inline constexpr uint64_t chunk_count(size_t bytes) {
  return bytes == 0 ? 1 : (bytes + kChunkSize - 1) / kChunkSize;
}

// --- client -> server ---

struct Authenticate {
  uint32_t corr_id = 0;
  std::string token;
};
struct Query {
  uint32_t corr_id = 0;
  std::string subject;
  std::string record;
};
struct UploadProgram {
  uint32_t corr_id = 0;
  std::string program_hash;
  uint64_t chunk_index = 0;
  uint64_t total_chunks = 0;
  std::string chunk_data;  // bin
};
struct LaunchInstance {
  uint32_t corr_id = 0;
  std::string program_hash;
  std::vector<std::string> arguments;
};
struct LaunchServerInstance {
  uint32_t corr_id = 0;
  uint32_t port = 0;
  std::string program_hash;
  std::vector<std::string> arguments;
};
struct SignalInstance {
  std::string instance_id;
  std::string message;
};
struct UploadBlob {
  uint32_t corr_id = 0;
  std::string instance_id;
  std::string blob_hash;
  uint64_t chunk_index = 0;
  uint64_t total_chunks = 0;
  std::string chunk_data;  // bin
};
struct TerminateInstance {
  std::string instance_id;
};
struct AttachRemoteService {
  uint32_t corr_id = 0;
  std::string endpoint;
  std::string service_type;
  std::string service_name;
};

using ClientMessage =
    std::variant<Authenticate, Query, UploadProgram, LaunchInstance, LaunchServerInstance,
                 SignalInstance, UploadBlob, TerminateInstance, AttachRemoteService>;

// The "type" tag of a message, e.g. "upload_program".
std::string_view type_name(const ClientMessage& message);
// The correlation id of a request that expects a response (none for signal/terminate).
std::optional<uint32_t> corr_id_of(const ClientMessage& message);

// Throws pie::Error with the reason when `bytes` is not exactly one well-formed client message.
ClientMessage decode_client_message(std::string_view bytes);
std::string encode(const ClientMessage& message);

// --- server -> client ---

// Event codes of `instance_event` (reference §3.4).
enum class EventCode : uint32_t {
  Message = 0,
  Completed = 1,
  Aborted = 2,
  Exception = 3,
  ServerError = 4,
  OutOfResources = 5,
};

struct Response {
  uint32_t corr_id = 0;
  bool successful = false;
  std::string result;
};
struct InstanceEvent {
  std::string instance_id;
  uint32_t event = 0;  // EventCode; kept numeric so unknown codes from newer servers survive
  std::string message;
};
struct DownloadBlob {
  uint32_t corr_id = 0;
  std::string instance_id;
  std::string blob_hash;
  uint64_t chunk_index = 0;
  uint64_t total_chunks = 0;
  std::string chunk_data;  // bin
};
struct ServerEvent {
  std::string message;
};

using ServerMessage = std::variant<Response, InstanceEvent, DownloadBlob, ServerEvent>;

ServerMessage decode_server_message(std::string_view bytes);
std::string encode(const ServerMessage& message);

}  // namespace pie::protocol
