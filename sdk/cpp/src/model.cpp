#include "pie/model.h"

namespace pie {

namespace {

uint32_t size32(size_t n) {
  return static_cast<uint32_t>(n);
}

std::vector<std::string> read_strings(pie_handle h, uint32_t (*call)(pie_handle, void*, uint32_t)) {
  return detail::decode_strings(
      detail::read_bytes([h, call](char* out, uint32_t cap) { return call(h, out, cap); }));
}

std::string read_string(pie_handle h, uint32_t (*call)(pie_handle, char*, uint32_t)) {
  return detail::read_bytes([h, call](char* out, uint32_t cap) { return call(h, out, cap); });
}

}  // namespace

// ---- Model --------------------------------------------------------------------------------------

std::optional<Model> Model::get(std::string_view name) {
  const pie_handle h = pie_model_get(name.data(), size32(name.size()));
  if (h == 0) return std::nullopt;
  return Model(h);
}

Model Model::first() {
  const auto all = names();
  if (all.empty()) fail("no model is registered with the engine");
  auto model = get(all.front());
  if (!model) fail("the first model disappeared");
  return *model;
}

std::vector<std::string> Model::names() {
  return detail::decode_strings(
      detail::read_bytes([](char* out, uint32_t cap) { return pie_models(out, cap); }));
}

std::vector<std::string> Model::with_traits(std::span<const std::string> traits) {
  const std::string encoded = detail::encode_strings(traits);
  return detail::decode_strings(detail::read_bytes([&](char* out, uint32_t cap) {
    return pie_models_with_traits(encoded.data(), size32(encoded.size()), out, cap);
  }));
}

std::string Model::name() const {
  return read_string(handle(), pie_model_name);
}
std::string Model::description() const {
  return read_string(handle(), pie_model_description);
}
std::string Model::prompt_template() const {
  return read_string(handle(), pie_model_prompt_template);
}
std::vector<std::string> Model::traits() const {
  return read_strings(handle(), pie_model_traits);
}
std::vector<std::string> Model::stop_tokens() const {
  return read_strings(handle(), pie_model_stop_tokens);
}
uint32_t Model::service_id() const {
  return pie_model_service_id(handle());
}
uint32_t Model::kv_page_size() const {
  return pie_model_kv_page_size(handle());
}
Queue Model::create_queue() const {
  return Queue(pie_model_create_queue(handle()));
}
Tokenizer Model::tokenizer() const {
  return Tokenizer(pie_model_tokenizer(handle()));
}

// ---- Queue --------------------------------------------------------------------------------------

uint32_t Queue::service_id() const {
  return pie_queue_service_id(handle());
}

Future<void> Queue::synchronize() const {
  return Future<void>(pie_queue_synchronize(handle()));
}

void Queue::set_priority(Priority priority) const {
  pie_queue_set_priority(handle(), static_cast<uint32_t>(priority));
}

Future<std::string> Queue::debug_query(std::string_view query) const {
  return {pie_queue_debug_query(handle(), query.data(), size32(query.size())), [](pie_handle h) {
            return detail::read_bytes(
                [h](char* out, uint32_t cap) { return pie_future_bytes(h, out, cap); });
          }};
}

Future<std::vector<uint32_t>> Queue::allocate_ids(Resource type, uint32_t count) const {
  return {pie_allocate(handle(), static_cast<uint32_t>(type), count), [](pie_handle h) {
            return detail::read_ids(
                [h](uint32_t* out, uint32_t cap) { return pie_future_bytes(h, out, cap); });
          }};
}

void Queue::deallocate_ids(Resource type, std::span<const uint32_t> ids) const {
  pie_deallocate(handle(), static_cast<uint32_t>(type), ids.data(), size32(ids.size()));
}

std::vector<uint32_t> Queue::import_ids(Resource type, std::string_view name) const {
  return detail::read_ids([&](uint32_t* out, uint32_t cap) {
    return pie_import_resources(handle(), static_cast<uint32_t>(type), name.data(),
                                size32(name.size()), out, cap);
  });
}

void Queue::export_ids(Resource type, std::span<const uint32_t> ids, std::string_view name) const {
  pie_export_resources(handle(), static_cast<uint32_t>(type), ids.data(), size32(ids.size()),
                       name.data(), size32(name.size()));
}

std::vector<std::pair<std::string, uint32_t>> Queue::exported(Resource type) const {
  const std::string data = detail::read_bytes([&](char* out, uint32_t cap) {
    return pie_exported_resources(handle(), static_cast<uint32_t>(type), out, cap);
  });
  detail::Reader r(data);
  const uint32_t n = r.u32();
  std::vector<std::pair<std::string, uint32_t>> out;
  out.reserve(n);
  for (uint32_t i = 0; i < n; ++i) {
    std::string name = r.bytes();
    out.emplace_back(std::move(name), r.u32());
  }
  return out;
}

void Queue::release_exported(Resource type, std::string_view name) const {
  pie_release_exported(handle(), static_cast<uint32_t>(type), name.data(), size32(name.size()));
}

void Queue::embed_image(std::span<const Embed> embeds, std::string_view image,
                        uint32_t position_offset) const {
  const std::vector<uint32_t> ids = ids_of<Resource::Embed>(embeds);
  pie_embed_image(handle(), ids.data(), size32(ids.size()), image.data(), size32(image.size()),
                  position_offset);
}

void Queue::initialize_adapter(const Adapter& adapter, uint32_t rank, float alpha,
                               uint32_t population_size, float mu_fraction,
                               float initial_sigma) const {
  pie_initialize_adapter(handle(), adapter.id(), rank, alpha, population_size, mu_fraction,
                         initial_sigma);
}

void Queue::update_adapter(const Adapter& adapter, std::span<const float> scores,
                           std::span<const int64_t> seeds, float max_sigma) const {
  if (scores.size() != seeds.size()) fail("update_adapter: scores and seeds differ in length");
  pie_update_adapter(handle(), adapter.id(), scores.data(), seeds.data(), size32(scores.size()),
                     max_sigma);
}

ForwardPass Queue::forward_pass() const {
  return ForwardPass(pie_fp_create(handle()));
}

// ---- ForwardPass --------------------------------------------------------------------------------

namespace {

void check_same(size_t a, size_t b, const char* what) {
  if (a != b) fail(std::string(what) + ": the two lists differ in length");
}

ForwardResult read_forward_result(pie_handle h) {
  ForwardResult result;
  result.tokens =
      detail::read_ids([h](uint32_t* out, uint32_t cap) { return pie_future_tokens(h, out, cap); });
  const std::string data = detail::read_bytes(
      [h](char* out, uint32_t cap) { return pie_future_distributions(h, out, cap); });
  detail::Reader r(data);
  const uint32_t n = r.u32();
  result.distributions.resize(n);
  for (auto& d : result.distributions) {
    const uint32_t k = r.u32();
    d.ids.resize(k);
    d.probs.resize(k);
    for (auto& id : d.ids) id = r.u32();
    for (auto& p : d.probs) p = r.f32();
  }
  return result;
}

}  // namespace

ForwardPass& ForwardPass::input_tokens(std::span<const uint32_t> tokens,
                                       std::span<const uint32_t> positions) {
  check_same(tokens.size(), positions.size(), "input_tokens");
  pie_fp_input_tokens(handle(), tokens.data(), positions.data(), size32(tokens.size()));
  return *this;
}

ForwardPass& ForwardPass::input_embeddings(std::span<const uint32_t> embeds,
                                           std::span<const uint32_t> positions) {
  check_same(embeds.size(), positions.size(), "input_embeddings");
  pie_fp_input_embeddings(handle(), embeds.data(), positions.data(), size32(embeds.size()));
  return *this;
}

ForwardPass& ForwardPass::output_embeddings(std::span<const uint32_t> embeds,
                                            std::span<const uint32_t> indices) {
  check_same(embeds.size(), indices.size(), "output_embeddings");
  pie_fp_output_embeddings(handle(), embeds.data(), indices.data(), size32(embeds.size()));
  return *this;
}

ForwardPass& ForwardPass::kv_cache(std::span<const uint32_t> pages, uint32_t last_page_len) {
  pie_fp_kv_cache(handle(), pages.data(), size32(pages.size()), last_page_len);
  return *this;
}

ForwardPass& ForwardPass::kv_cache(std::span<const KvPage> pages, uint32_t last_page_len) {
  const std::vector<uint32_t> ids = ids_of<Resource::KvPage>(pages);
  return kv_cache(ids, last_page_len);
}

ForwardPass& ForwardPass::attention_mask(std::span<const std::vector<uint32_t>> rows) {
  std::vector<uint32_t> lens;
  std::vector<uint32_t> runs;
  lens.reserve(rows.size());
  for (const auto& row : rows) {
    lens.push_back(size32(row.size()));
    runs.insert(runs.end(), row.begin(), row.end());
  }
  pie_fp_attention_mask(handle(), lens.data(), size32(lens.size()), runs.data());
  return *this;
}

ForwardPass& ForwardPass::output_distributions(std::span<const uint32_t> indices, float temperature,
                                               std::optional<uint32_t> top_k) {
  pie_fp_output_distributions(handle(), indices.data(), size32(indices.size()), temperature,
                              top_k.value_or(0));
  return *this;
}

ForwardPass& ForwardPass::output_tokens(std::span<const uint32_t> indices, float temperature) {
  pie_fp_output_tokens(handle(), indices.data(), size32(indices.size()), temperature);
  return *this;
}

ForwardPass& ForwardPass::output_tokens_top_k(std::span<const uint32_t> indices, float temperature,
                                              uint32_t top_k) {
  pie_fp_output_tokens_top_k(handle(), indices.data(), size32(indices.size()), temperature, top_k);
  return *this;
}

ForwardPass& ForwardPass::output_tokens_top_p(std::span<const uint32_t> indices, float temperature,
                                              float top_p) {
  pie_fp_output_tokens_top_p(handle(), indices.data(), size32(indices.size()), temperature, top_p);
  return *this;
}

ForwardPass& ForwardPass::output_tokens_min_p(std::span<const uint32_t> indices, float temperature,
                                              float min_p) {
  pie_fp_output_tokens_min_p(handle(), indices.data(), size32(indices.size()), temperature, min_p);
  return *this;
}

ForwardPass& ForwardPass::output_tokens_top_k_top_p(std::span<const uint32_t> indices,
                                                    float temperature, uint32_t top_k,
                                                    float top_p) {
  pie_fp_output_tokens_top_k_top_p(handle(), indices.data(), size32(indices.size()), temperature,
                                   top_k, top_p);
  return *this;
}

ForwardPass& ForwardPass::adapter(const Adapter& adapter) {
  pie_fp_set_adapter(handle(), adapter.id());
  return *this;
}

ForwardPass& ForwardPass::adapter_seed(int64_t seed) {
  pie_fp_set_adapter_seed(handle(), seed);
  return *this;
}

std::optional<Future<ForwardResult>> ForwardPass::execute() {
  const pie_handle h = pie_fp_execute(handle());
  if (h == 0) return std::nullopt;
  return Future<ForwardResult>(h, read_forward_result);
}

// ---- Tokenizer ----------------------------------------------------------------------------------

std::vector<uint32_t> Tokenizer::tokenize(std::string_view text) const {
  return detail::read_ids([&](uint32_t* out, uint32_t cap) {
    return pie_tokenize(handle(), text.data(), size32(text.size()), out, cap);
  });
}

std::string Tokenizer::detokenize(std::span<const uint32_t> ids) const {
  return detail::read_bytes([&](char* out, uint32_t cap) {
    return pie_detokenize(handle(), ids.data(), size32(ids.size()), out, cap);
  });
}

std::vector<std::pair<uint32_t, std::string>> Tokenizer::vocabulary() const {
  const std::string data = detail::read_bytes(
      [&](char* out, uint32_t cap) { return pie_vocabulary(handle(), out, cap); });
  detail::Reader r(data);
  const uint32_t n = r.u32();
  std::vector<std::pair<uint32_t, std::string>> out;
  out.reserve(n);
  for (uint32_t i = 0; i < n; ++i) {
    const uint32_t id = r.u32();
    out.emplace_back(id, r.bytes());
  }
  return out;
}

}  // namespace pie
