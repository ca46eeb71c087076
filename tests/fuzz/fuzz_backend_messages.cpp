// libFuzzer target: the decoders of the engine <-> backend messages, which arrive from another
// process (possibly another machine). Whatever decodes must survive a re-encode/decode round trip.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "common/error.h"
#include "protocol/backend_codec.h"

namespace {

template <class T>
void round_trip(std::string_view bytes) {
  T message;
  try {
    message = pie::protocol::decode<T>(bytes);
  } catch (const pie::Error&) {
    return;
  }
  const std::string encoded = pie::protocol::encode(message);
  const T again = pie::protocol::decode<T>(encoded);
  if (pie::protocol::encode(again) != encoded) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace pie::protocol;
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  round_trip<HandshakeRequest>(bytes);
  round_trip<HandshakeResponse>(bytes);
  round_trip<HeartbeatRequest>(bytes);
  round_trip<QueryRequest>(bytes);
  round_trip<QueryResponse>(bytes);
  round_trip<ForwardPassRequest>(bytes);
  round_trip<ForwardPassResponse>(bytes);
  round_trip<EmbedImageRequest>(bytes);
  round_trip<InitializeAdapterRequest>(bytes);
  round_trip<UpdateAdapterRequest>(bytes);
  try {
    decode_u32_frame(bytes);
  } catch (const pie::Error&) {
  }
  return 0;
}
