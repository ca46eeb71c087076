// MessagePack codecs of the engine <-> backend messages (reference §4.2-4.4) [WIRE], and the ZeroMQ
// frame helpers. Each struct of backend_messages.h is one map keyed by field name; optional fields
// are written only when set (or as nil where Pie writes nil), unknown keys are ignored on decode,
// and decode throws pie::Error naming the offending field.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "protocol/backend_messages.h"

namespace pie::protocol {

std::string encode(const HandshakeRequest& m);
std::string encode(const HandshakeResponse& m);
std::string encode(const HeartbeatRequest& m);
std::string encode(const HeartbeatResponse& m);
std::string encode(const QueryRequest& m);
std::string encode(const QueryResponse& m);
std::string encode(const ForwardPassRequest& m);
std::string encode(const ForwardPassResponse& m);
std::string encode(const EmbedImageRequest& m);
std::string encode(const InitializeAdapterRequest& m);
std::string encode(const UpdateAdapterRequest& m);

// decode<T>(payload) for each message type above.
template <class T>
T decode(std::string_view payload);

template <>
HandshakeRequest decode<HandshakeRequest>(std::string_view payload);
template <>
HandshakeResponse decode<HandshakeResponse>(std::string_view payload);
template <>
HeartbeatRequest decode<HeartbeatRequest>(std::string_view payload);
template <>
HeartbeatResponse decode<HeartbeatResponse>(std::string_view payload);
template <>
QueryRequest decode<QueryRequest>(std::string_view payload);
template <>
QueryResponse decode<QueryResponse>(std::string_view payload);
template <>
ForwardPassRequest decode<ForwardPassRequest>(std::string_view payload);
template <>
ForwardPassResponse decode<ForwardPassResponse>(std::string_view payload);
template <>
EmbedImageRequest decode<EmbedImageRequest>(std::string_view payload);
template <>
InitializeAdapterRequest decode<InitializeAdapterRequest>(std::string_view payload);
template <>
UpdateAdapterRequest decode<UpdateAdapterRequest>(std::string_view payload);

// The correlation id and handler id frames: 4 bytes, big-endian u32 (reference §4.2).
inline constexpr uint32_t kHeartbeatCorrId = 0xFFFFFFFF;
std::string encode_u32_frame(uint32_t value);
// Throws pie::Error unless `frame` is exactly 4 bytes.
uint32_t decode_u32_frame(std::string_view frame);

}  // namespace pie::protocol
