#include "protocol/client_messages.h"

#include "common/error.h"
#include "protocol/msgpack_io.h"

namespace pie::protocol {

namespace {

// No client message legitimately holds more than a few fields or very long argument lists.
constexpr DecodeLimits kClientLimits{.max_elements = 65536, .max_depth = 4};

template <class... F>
struct Overloaded : F... {
  using F::operator()...;
};
template <class... F>
Overloaded(F...) -> Overloaded<F...>;

std::string message_type(const Fields& f) {
  const msgpack::object* t = f.find("type");
  if (t == nullptr) throw Error("message has no 'type' field");
  if (t->type != msgpack::type::STR) fail_type("message.type", "a str", *t);
  return std::string(t->via.str.ptr, t->via.str.size);
}

ClientMessage decode_client_fields(const std::string& type, const Fields& f) {
  if (type == "authenticate") {
    return Authenticate{f.get<uint32_t>("corr_id"), f.get<std::string>("token")};
  }
  if (type == "query") {
    return Query{f.get<uint32_t>("corr_id"), f.get<std::string>("subject"),
                 f.get<std::string>("record")};
  }
  if (type == "upload_program") {
    return UploadProgram{f.get<uint32_t>("corr_id"), f.get<std::string>("program_hash"),
                         f.get<uint64_t>("chunk_index"), f.get<uint64_t>("total_chunks"),
                         f.get_bin("chunk_data")};
  }
  if (type == "launch_instance") {
    return LaunchInstance{f.get<uint32_t>("corr_id"), f.get<std::string>("program_hash"),
                          f.get_or<std::vector<std::string>>("arguments", {})};
  }
  if (type == "launch_server_instance") {
    return LaunchServerInstance{f.get<uint32_t>("corr_id"), f.get<uint32_t>("port"),
                                f.get<std::string>("program_hash"),
                                f.get_or<std::vector<std::string>>("arguments", {})};
  }
  if (type == "signal_instance") {
    return SignalInstance{f.get<std::string>("instance_id"), f.get<std::string>("message")};
  }
  if (type == "upload_blob") {
    return UploadBlob{f.get<uint32_t>("corr_id"),      f.get<std::string>("instance_id"),
                      f.get<std::string>("blob_hash"), f.get<uint64_t>("chunk_index"),
                      f.get<uint64_t>("total_chunks"), f.get_bin("chunk_data")};
  }
  if (type == "terminate_instance") {
    return TerminateInstance{f.get<std::string>("instance_id")};
  }
  if (type == "attach_remote_service") {
    return AttachRemoteService{f.get<uint32_t>("corr_id"), f.get<std::string>("endpoint"),
                               f.get<std::string>("service_type"),
                               f.get<std::string>("service_name")};
  }
  throw Error("unknown message type '" + type + "'");
}

ServerMessage decode_server_fields(const std::string& type, const Fields& f) {
  if (type == "response") {
    return Response{f.get<uint32_t>("corr_id"), f.get<bool>("successful"),
                    f.get<std::string>("result")};
  }
  if (type == "instance_event") {
    return InstanceEvent{f.get<std::string>("instance_id"), f.get<uint32_t>("event"),
                         f.get<std::string>("message")};
  }
  if (type == "download_blob") {
    return DownloadBlob{f.get_or<uint32_t>("corr_id", 0), f.get<std::string>("instance_id"),
                        f.get<std::string>("blob_hash"),  f.get<uint64_t>("chunk_index"),
                        f.get<uint64_t>("total_chunks"),  f.get_bin("chunk_data")};
  }
  if (type == "server_event") return ServerEvent{f.get<std::string>("message")};
  throw Error("unknown message type '" + type + "'");
}

}  // namespace

std::string_view type_name(const ClientMessage& message) {
  return std::visit(Overloaded{
                        [](const Authenticate&) { return "authenticate"; },
                        [](const Query&) { return "query"; },
                        [](const UploadProgram&) { return "upload_program"; },
                        [](const LaunchInstance&) { return "launch_instance"; },
                        [](const LaunchServerInstance&) { return "launch_server_instance"; },
                        [](const SignalInstance&) { return "signal_instance"; },
                        [](const UploadBlob&) { return "upload_blob"; },
                        [](const TerminateInstance&) { return "terminate_instance"; },
                        [](const AttachRemoteService&) { return "attach_remote_service"; },
                    },
                    message);
}

std::optional<uint32_t> corr_id_of(const ClientMessage& message) {
  return std::visit(Overloaded{
                        [](const SignalInstance&) -> std::optional<uint32_t> { return {}; },
                        [](const TerminateInstance&) -> std::optional<uint32_t> { return {}; },
                        [](const auto& m) -> std::optional<uint32_t> { return m.corr_id; },
                    },
                    message);
}

ClientMessage decode_client_message(std::string_view bytes) {
  const auto handle = parse_msgpack(bytes, "client message", kClientLimits);
  const Fields top(handle.get(), "client message");
  const std::string type = message_type(top);
  return decode_client_fields(type, Fields(handle.get(), type));
}

ServerMessage decode_server_message(std::string_view bytes) {
  const auto handle = parse_msgpack(bytes, "server message", kClientLimits);
  const Fields top(handle.get(), "server message");
  const std::string type = message_type(top);
  return decode_server_fields(type, Fields(handle.get(), type));
}

std::string encode(const ClientMessage& message) {
  return std::visit(Overloaded{
                        [](const Authenticate& m) {
                          return MapWriter(3)
                              .add("type", "authenticate")
                              .add("corr_id", m.corr_id)
                              .add("token", m.token)
                              .finish();
                        },
                        [](const Query& m) {
                          return MapWriter(4)
                              .add("type", "query")
                              .add("corr_id", m.corr_id)
                              .add("subject", m.subject)
                              .add("record", m.record)
                              .finish();
                        },
                        [](const UploadProgram& m) {
                          return MapWriter(6)
                              .add("type", "upload_program")
                              .add("corr_id", m.corr_id)
                              .add("program_hash", m.program_hash)
                              .add("chunk_index", m.chunk_index)
                              .add("total_chunks", m.total_chunks)
                              .add("chunk_data", Bin{m.chunk_data})
                              .finish();
                        },
                        [](const LaunchInstance& m) {
                          return MapWriter(4)
                              .add("type", "launch_instance")
                              .add("corr_id", m.corr_id)
                              .add("program_hash", m.program_hash)
                              .add("arguments", m.arguments)
                              .finish();
                        },
                        [](const LaunchServerInstance& m) {
                          return MapWriter(5)
                              .add("type", "launch_server_instance")
                              .add("corr_id", m.corr_id)
                              .add("port", m.port)
                              .add("program_hash", m.program_hash)
                              .add("arguments", m.arguments)
                              .finish();
                        },
                        [](const SignalInstance& m) {
                          return MapWriter(3)
                              .add("type", "signal_instance")
                              .add("instance_id", m.instance_id)
                              .add("message", m.message)
                              .finish();
                        },
                        [](const UploadBlob& m) {
                          return MapWriter(7)
                              .add("type", "upload_blob")
                              .add("corr_id", m.corr_id)
                              .add("instance_id", m.instance_id)
                              .add("blob_hash", m.blob_hash)
                              .add("chunk_index", m.chunk_index)
                              .add("total_chunks", m.total_chunks)
                              .add("chunk_data", Bin{m.chunk_data})
                              .finish();
                        },
                        [](const TerminateInstance& m) {
                          return MapWriter(2)
                              .add("type", "terminate_instance")
                              .add("instance_id", m.instance_id)
                              .finish();
                        },
                        [](const AttachRemoteService& m) {
                          return MapWriter(5)
                              .add("type", "attach_remote_service")
                              .add("corr_id", m.corr_id)
                              .add("endpoint", m.endpoint)
                              .add("service_type", m.service_type)
                              .add("service_name", m.service_name)
                              .finish();
                        },
                    },
                    message);
}

std::string encode(const ServerMessage& message) {
  return std::visit(
      Overloaded{
          [](const Response& m) {
            return MapWriter(4)
                .add("type", "response")
                .add("corr_id", m.corr_id)
                .add("successful", m.successful)
                .add("result", m.result)
                .finish();
          },
          [](const InstanceEvent& m) {
            return MapWriter(4)
                .add("type", "instance_event")
                .add("instance_id", m.instance_id)
                .add("event", m.event)
                .add("message", m.message)
                .finish();
          },
          [](const DownloadBlob& m) {
            return MapWriter(7)
                .add("type", "download_blob")
                .add("corr_id", m.corr_id)
                .add("instance_id", m.instance_id)
                .add("blob_hash", m.blob_hash)
                .add("chunk_index", m.chunk_index)
                .add("total_chunks", m.total_chunks)
                .add("chunk_data", Bin{m.chunk_data})
                .finish();
          },
          [](const ServerEvent& m) {
            return MapWriter(2).add("type", "server_event").add("message", m.message).finish();
          },
      },
      message);
}

}  // namespace pie::protocol
