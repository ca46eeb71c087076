#include "backend/backend.h"

#include "common/error.h"

namespace pie::backend {

void Backend::embed_image(const protocol::EmbedImageRequest& /*request*/) {
  throw Error("this backend has no vision encoder: embed_image is not supported");
}

void Backend::initialize_adapter(const protocol::InitializeAdapterRequest& /*request*/) {
  throw Error("this backend does not support adapters");
}

void Backend::update_adapter(const protocol::UpdateAdapterRequest& /*request*/) {
  throw Error("this backend does not support adapters");
}

}  // namespace pie::backend
