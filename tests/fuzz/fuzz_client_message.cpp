// libFuzzer target: the decoder of everything a client (or a hostile peer) can send the server,
// and of the server's replies as the clients decode them. Whatever decodes must survive a
// re-encode/decode round trip unchanged.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "common/error.h"
#include "protocol/client_messages.h"

namespace {

template <class Message, class Decode>
void round_trip(std::string_view bytes, Decode decode) {
  Message message;
  try {
    message = decode(bytes);
  } catch (const pie::Error&) {
    return;  // rejected with a reason: fine
  }
  const std::string encoded = pie::protocol::encode(message);
  const Message again = decode(encoded);
  if (pie::protocol::encode(again) != encoded) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  round_trip<pie::protocol::ClientMessage>(bytes, pie::protocol::decode_client_message);
  round_trip<pie::protocol::ServerMessage>(bytes, pie::protocol::decode_server_message);
  return 0;
}
