// A test inferlet: its first argument picks a scenario that exercises one part of the runtime.
// The runtime tests launch it and check the events it produces.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "pie/pie.h"

namespace {

using Args = std::vector<std::string>;

pie::Result<std::string> hello(const Args& args) {
  std::printf("hello stdout\npartial");  // the partial line is flushed at exit
  std::fprintf(stderr, "to the engine log\n");
  for (size_t i = 1; i < args.size(); ++i) pie::send(args[i]);
  return std::string("done:") + std::to_string(args.size() - 1);
}

pie::Result<std::string> spin(const Args&) {
  volatile uint64_t x = 0;
  for (;;) x = x + 1;
}

pie::Result<std::string> grow(const Args&) {
  std::vector<char*> blocks;
  blocks.reserve(1000);
  while (blocks.size() < 1000) {
    char* block = new char[8 << 20];
    block[0] = 1;
    blocks.push_back(block);
    pie::send(std::to_string(blocks.size()));
  }
  return std::string("the memory never ran out");
}

pie::Result<std::string> echo(const Args& args) {
  const int n = std::atoi(args.at(1).c_str());
  for (int i = 0; i < n; ++i) pie::send("echo:" + pie::receive().get());
  return std::string("echoed");
}

pie::Result<std::string> wait_forever(const Args&) {
  pie::send("waiting");
  pie::receive().get();
  return std::string("unexpected");
}

pie::Result<std::string> blob(const Args&) {
  pie::Blob in = pie::receive_blob().get();
  std::string data = in.read_all();
  std::string reversed(data.rbegin(), data.rend());
  pie::Blob out(reversed.substr(0, 1));
  out.write(reversed.substr(1));
  pie::send_blob(out);
  return std::to_string(out.size());  // emptied by send_blob
}

pie::Result<std::string> subscriber(const Args& args) {
  pie::Subscription sub(args.at(1));
  const int n = std::atoi(args.at(2).c_str());
  pie::store::set("subscribed:" + pie::instance_id(), "1");
  pie::send("subscribed");
  std::string all;
  for (int i = 0; i < n; ++i) all += sub.next() + ";";
  return all;
}

pie::Result<std::string> publisher(const Args& args) {
  const int n = std::atoi(args.at(2).c_str());
  for (int i = 0; i < n; ++i) pie::broadcast(args.at(1), "m" + std::to_string(i));
  return std::string("published");
}

pie::Result<std::string> kvs(const Args&) {
  std::string log;
  log += pie::store::get("k").value_or("<none>") + ",";
  pie::store::set("k", "v1");
  log += pie::store::get("k").value_or("<none>") + ",";
  log += std::string(pie::store::exists("k") ? "yes" : "no") + ",";
  pie::store::set("big", std::string(2000, 'x'));
  log += std::to_string(pie::store::get("big")->size()) + ",";
  pie::store::remove("k");
  log += std::string(pie::store::exists("k") ? "yes" : "no") + ",";
  for (const auto& key : pie::store::keys()) log += key + "|";
  return log;
}

pie::Result<std::string> bad_handle(const Args&) {
  pie_drop(12345);
  return std::string("unexpected");
}

pie::Result<std::string> wrong_kind(const Args&) {
  pie::Blob b("x");
  pie_model_kv_page_size(b.handle());
  return std::string("unexpected");
}

pie::Result<std::string> bad_pointer(const Args&) {
  pie_send(reinterpret_cast<const char*>(0xFFFFFF00u), 1000);
  return std::string("unexpected");
}

pie::Result<std::string> not_ready(const Args&) {
  const pie_handle f = pie_receive();
  char buffer[8];
  pie_future_bytes(f, buffer, sizeof buffer);
  return std::string("unexpected");
}

pie::Result<std::string> wait_timeout(const Args&) {
  pie::Future<std::string> f = pie::receive();
  return std::string(f.wait_for(std::chrono::milliseconds(5)) ? "ready" : "timeout");
}

pie::Result<std::string> sleep_briefly(const Args&) {
  usleep(20000);
  return std::string("slept");
}

pie::Result<std::string> debug(const Args& args) {
  return pie::debug_query(args.at(1)).get();
}

pie::Result<std::string> fail(const Args&) {
  return pie::Error{"custom failure"};
}

pie::Result<std::string> exit3(const Args&) {
  std::exit(3);
}

pie::Result<std::string> big_result(const Args&) {
  // Arguments longer than the SDK's first buffer come back through pie_result_fetch.
  std::string all;
  for (const auto& a : pie::arguments()) all += std::to_string(a.size()) + ",";
  return all;
}

pie::Result<std::string> identity(const Args&) {
  return pie::runtime_version() + "|" + pie::instance_id();
}

pie::Result<std::string> http(const Args& args) {
  pie::http::Request r = pie::http::request();
  pie::http::set_status(201);
  pie::http::add_header("X-Instance", pie::instance_id());
  pie::http::write_body(r.method + " " + r.target + " " + r.header("x-test") + " " + r.body + " " +
                        (args.size() > 1 ? args[1] : ""));
  return std::string("served");
}

// ---- Scenarios with a model (the engine's fake backend: page size 4, output of input token i =
// (sum of the tokens it attends to + position of i) mod 1000) ----------------------------------

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& s : items) out += (out.empty() ? "" : ",") + s;
  return out;
}

std::string join_ids(const std::vector<uint32_t>& ids) {
  std::string out;
  for (uint32_t id : ids) out += (out.empty() ? "" : ",") + std::to_string(id);
  return out;
}

pie::Result<std::string> models(const Args&) {
  pie::Model m = pie::Model::first();
  const std::vector<std::string> fake = {"fake"};
  const std::vector<std::string> nope = {"nope"};
  auto other = pie::Model::get("other");
  return join(pie::Model::names()) + "|" + join(pie::Model::with_traits(fake)) + "|" +
         join(pie::Model::with_traits(nope)) + "|" + m.name() + "|" + m.description() + "|" +
         join(m.traits()) + "|" + std::to_string(m.kv_page_size()) + "|" +
         std::to_string(m.service_id()) + "|" + std::to_string(other->service_id()) + "|" +
         std::to_string(other->create_queue().service_id()) + "|" +
         (pie::Model::get("missing") ? "found" : "none") + "|" + m.prompt_template() + "|" +
         join(m.stop_tokens());
}

// A conversation rendered with the first model's chat template; "prompt" adds the generation
// prompt. Quotes, a backslash and a newline in the content cross the JSON the engine takes.
pie::Result<std::string> chat(const Args& args) {
  const std::vector<pie::ChatMessage> messages = {{"system", "Be brief."},
                                                  {"user", "Say \"hi\" \\ then\nstop."}};
  const bool prompt = args.size() > 1 && args[1] == "prompt";
  return pie::ChatFormatter::render(pie::Model::first(), messages, prompt, true);
}

// Allocates N pages; with "hold", then waits for a message: a number of pages to allocate more.
pie::Result<std::string> alloc(const Args& args) {
  pie::Queue q = pie::Model::first().create_queue();
  auto ids = q.allocate_ids(pie::Resource::KvPage, std::stoul(args.at(1))).get();
  pie::send(join_ids(ids));
  if (args.size() > 2 && args[2] == "hold") {
    const std::string more = pie::receive().get();
    auto extra = q.allocate_ids(pie::Resource::KvPage, std::stoul(more)).get();
    ids.insert(ids.end(), extra.begin(), extra.end());
  }
  return join_ids(ids);
}

// Holds N embedding slots until told to end.
pie::Result<std::string> hold_embeds(const Args& args) {
  pie::Queue q = pie::Model::first().create_queue();
  auto embeds = q.allocate_embeds(std::stoul(args.at(1)));
  pie::send("holding");
  pie::receive().get();
  return std::string("released");
}

// Every builder call that only the backend's request shows (inspected by the test).
pie::Result<std::string> builder(const Args&) {
  pie::Queue q = pie::Model::first().create_queue();
  auto pages = q.allocate_kv_pages(1);
  auto embeds = q.allocate_embeds(2);
  auto adapters = q.allocate_adapters(1);
  const uint32_t tokens[] = {1, 2, 3};
  const uint32_t positions[] = {0, 1, 2};
  const uint32_t embed_in[] = {embeds[0].id()};
  const uint32_t embed_pos[] = {3};
  const uint32_t embed_out[] = {embeds[1].id()};
  const uint32_t at0[] = {0};
  const uint32_t at1[] = {1};
  const uint32_t at2[] = {2};
  auto fp = q.forward_pass();
  fp.input_tokens(tokens, positions)
      .input_embeddings(embed_in, embed_pos)
      .output_embeddings(embed_out, at0)
      .kv_cache(pages, 3)
      .output_tokens_top_k(at0, 0.5F, 5)
      .output_tokens_top_p(at1, 0.7F, 0.9F)
      .output_tokens_min_p(at2, 0.8F, 0.1F)
      .output_tokens_top_k_top_p(at0, 1.0F, 3, 0.5F)
      .adapter(adapters[0])
      .adapter_seed(42);
  const auto first = fp.execute()->get();
  // Adapter and seed persist into the next pass of the same builder; the inputs do not.
  const uint32_t next[] = {4};
  const uint32_t next_pos[] = {3};
  fp.input_tokens(next, next_pos).kv_cache(pages, 4).output_tokens(at0, 0.0F);
  const auto second = fp.execute()->get();
  return std::to_string(first.tokens.size()) + "," + std::to_string(second.tokens.size());
}

pie::Result<std::string> unsubscribed(const Args&) {
  pie::Subscription sub("quiet");
  sub.unsubscribe();
  pie::broadcast("quiet", "lost");
  return std::string(sub.next_for(std::chrono::milliseconds(20)) ? "delivered" : "none");
}

pie::Result<std::string> dealloc(const Args&) {
  pie::Queue q = pie::Model::first().create_queue();
  auto first = q.allocate_ids(pie::Resource::KvPage, 3).get();
  const uint32_t middle[] = {first[1], 77};  // 77 is not held: ignored
  q.deallocate_ids(pie::Resource::KvPage, middle);
  q.deallocate_ids(pie::Resource::KvPage, middle);  // twice: ignored
  auto again = q.allocate_ids(pie::Resource::KvPage, 2).get();
  return join_ids(first) + "|" + join_ids(again);
}

pie::Result<std::string> foreign(const Args& args) {
  pie::Queue q = pie::Model::first().create_queue();
  auto pages = q.allocate_kv_pages(1);
  const uint32_t ids[] = {static_cast<uint32_t>(std::stoul(args.at(1)))};
  const uint32_t tokens[] = {1};
  const uint32_t positions[] = {0};
  q.forward_pass().input_tokens(tokens, positions).kv_cache(ids, 1).execute();
  return std::string("unexpected");
}

pie::Result<std::string> prefill(const Args&) {
  pie::Queue q = pie::Model::first().create_queue();
  auto pages = q.allocate_kv_pages(1);
  const uint32_t tokens[] = {10, 20, 30};
  const uint32_t positions[] = {0, 1, 2};
  const uint32_t sample_at[] = {2};
  const uint32_t dist_at[] = {1};
  auto fp = q.forward_pass();
  auto result = fp.input_tokens(tokens, positions)
                    .kv_cache(pages, 3)
                    .output_tokens(sample_at, 0.0F)
                    .output_distributions(dist_at, 1.0F, 3)
                    .execute()
                    ->get();
  std::string dist;
  for (size_t i = 0; i < result.distributions.at(0).ids.size(); ++i) {
    dist += std::to_string(result.distributions[0].ids[i]) + ":" +
            std::to_string(result.distributions[0].probs[i]) + " ";
  }
  // The same builder runs the next pass: one more token in slot 3 of the page.
  const uint32_t next[] = {result.tokens.at(0)};
  const uint32_t next_pos[] = {3};
  const uint32_t first[] = {0};
  auto more = fp.input_tokens(next, next_pos)
                  .kv_cache(pages, 4)
                  .output_tokens(first, 0.0F)
                  .execute()
                  ->get();
  return "tok:" + std::to_string(result.tokens.at(0)) + " dist:" + dist +
         "next:" + std::to_string(more.tokens.at(0));
}

// Greedy decoding from token 5 for N steps, growing the page table as tokens accumulate.
pie::Result<std::string> decode(const Args& args) {
  pie::Model model = pie::Model::first();
  pie::Queue q = model.create_queue();
  const uint32_t page_size = model.kv_page_size();
  const uint32_t steps = std::stoul(args.at(1));
  std::vector<pie::KvPage> pages;
  uint32_t token = 5;
  std::vector<uint32_t> out;
  auto fp = q.forward_pass();
  for (uint32_t pos = 0; pos < steps; ++pos) {
    if (pos % page_size == 0) {
      for (auto& p : q.allocate_kv_pages(1)) pages.push_back(p);
    }
    const uint32_t input[] = {token};
    const uint32_t position[] = {pos};
    const uint32_t at[] = {0};
    auto r = fp.input_tokens(input, position)
                 .kv_cache(pages, pos % page_size + 1)
                 .output_tokens(at, 0.0F)
                 .execute()
                 ->get();
    token = r.tokens.at(0);
    out.push_back(token);
  }
  return join_ids(out);
}

pie::Result<std::string> masked(const Args&) {
  pie::Queue q = pie::Model::first().create_queue();
  auto pages = q.allocate_kv_pages(1);
  const uint32_t tokens[] = {100, 200, 300};
  const uint32_t positions[] = {0, 1, 2};
  const uint32_t at[] = {2};
  // Row i covers the i + 1 slots up to itself; runs alternate attend / masked, starting with
  // attend. Token 2 attends to slot 0 and itself only.
  const std::vector<std::vector<uint32_t>> rows = {{1}, {2}, {1, 1, 1}};
  auto r = q.forward_pass()
               .input_tokens(tokens, positions)
               .kv_cache(pages, 3)
               .attention_mask(rows)
               .output_tokens(at, 0.0F)
               .execute()
               ->get();
  return std::to_string(r.tokens.at(0));
}

// The same pass with no mask: causal, so token 2 attends to every slot up to itself.
pie::Result<std::string> unmasked(const Args&) {
  pie::Queue q = pie::Model::first().create_queue();
  auto pages = q.allocate_kv_pages(1);
  const uint32_t tokens[] = {100, 200, 300};
  const uint32_t positions[] = {0, 1, 2};
  const uint32_t at[] = {2};
  auto r = q.forward_pass()
               .input_tokens(tokens, positions)
               .kv_cache(pages, 3)
               .output_tokens(at, 0.0F)
               .execute()
               ->get();
  return std::to_string(r.tokens.at(0));
}

pie::Result<std::string> bad_pass(const Args& args) {
  pie::Queue q = pie::Model::first().create_queue();
  auto pages = q.allocate_kv_pages(1);
  const uint32_t tokens[] = {1, 2};
  const uint32_t positions[] = {0, 1};
  auto fp = q.forward_pass();
  fp.input_tokens(tokens, positions).kv_cache(pages, 2);
  if (args.at(1) == "index") {
    const uint32_t at[] = {2};
    fp.output_tokens(at, 0.0F);
  } else if (args.at(1) == "mask") {
    const std::vector<std::vector<uint32_t>> rows = {{1}};
    const uint32_t at[] = {0};
    fp.attention_mask(rows).output_tokens(at, 0.0F);
  } else if (args.at(1) == "temperature") {
    const uint32_t at[] = {0};
    fp.output_tokens(at, -1.0F);
  } else if (args.at(1) == "backend") {
    const uint32_t at[] = {0};
    fp.kv_cache(pages, 9).output_tokens(at, 0.0F);  // last page length > page size
    fp.execute()->get();
  }
  fp.execute();
  return std::string("unexpected");
}

pie::Result<std::string> share(const Args& args) {
  pie::Queue q = pie::Model::first().create_queue();
  const std::string& name = args.at(1);
  if (args.at(2) == "export") {
    auto pages = q.allocate_kv_pages(1);
    const uint32_t tokens[] = {7, 8};
    const uint32_t positions[] = {0, 1};
    if (q.forward_pass().input_tokens(tokens, positions).kv_cache(pages, 2).execute()) {
      return pie::Error{"a pass without outputs returned a future"};
    }
    q.synchronize().get();
    q.export_slots<pie::Resource::KvPage>(pages, name);
    return std::string("exported");
  }
  // import: attend to the exported page, then release the export.
  std::string listing;
  for (const auto& [export_name, slots] : q.exported(pie::Resource::KvPage)) {
    listing += export_name + "=" + std::to_string(slots) + " ";
  }
  auto imported = q.import <pie::Resource::KvPage>(name);
  std::vector<pie::KvPage> pages = imported;
  for (auto& p : q.allocate_kv_pages(1)) pages.push_back(p);
  const uint32_t tokens[] = {9};
  const uint32_t positions[] = {4};  // after the page of 4 slots
  const uint32_t at[] = {0};
  // The exported page holds 7, 8 in its first two slots (the rest is whatever it held).
  auto r = q.forward_pass()
               .input_tokens(tokens, positions)
               .kv_cache(pages, 1)
               .output_tokens(at, 0.0F)
               .execute()
               ->get();
  q.release_exported(pie::Resource::KvPage, name);
  return listing + "| " + std::to_string(r.tokens.at(0)) + " | " +
         std::to_string(q.exported(pie::Resource::KvPage).size());
}

pie::Result<std::string> queue_ops(const Args&) {
  pie::Queue q = pie::Model::first().create_queue();
  q.set_priority(pie::Priority::High);
  const std::string reply = q.debug_query("ping").get();
  q.synchronize().get();
  auto embeds = q.allocate_embeds(2);
  auto adapters = q.allocate_adapters(1);
  q.embed_image(embeds, "image bytes", 0);
  q.initialize_adapter(adapters[0], 8, 1.0F, 4, 0.5F, 0.1F);
  const float scores[] = {1, 2, 3, 4};
  const int64_t seeds[] = {11, 12, 13, 14};
  q.update_adapter(adapters[0], scores, seeds, 1.0F);
  q.synchronize().get();
  return reply + "," + std::to_string(embeds[0].id()) + "," + std::to_string(adapters[0].id());
}

pie::Result<std::string> empty_image(const Args&) {
  pie::Queue q = pie::Model::first().create_queue();
  auto embeds = q.allocate_embeds(1);
  q.embed_image(embeds, "", 0);  // the fake backend refuses it: the instance ends
  q.synchronize().get();
  pie::receive().get();
  return std::string("unexpected");
}

pie::Result<std::string> no_tokenizer(const Args&) {
  pie::Model::first().tokenizer();
  return std::string("unexpected");
}

pie::Result<std::string> tokens(const Args& args) {
  pie::Tokenizer tok = pie::Model::first().tokenizer();
  auto ids = tok.tokenize(args.at(1));
  return join_ids(ids) + "|" + tok.detokenize(ids) + "|" + std::to_string(tok.vocabulary().size());
}

// Greedy generation from BOS (id 1) as llama2.c's `run -t 0 -n STEPS` does, decoded by the
// model's tokenizer.
pie::Result<std::string> story(const Args& args) {
  constexpr uint32_t kBos = 1;
  pie::Model model = pie::Model::first();
  pie::Queue q = model.create_queue();
  const uint32_t page_size = model.kv_page_size();
  const uint32_t steps = std::stoul(args.at(1));
  std::vector<pie::KvPage> pages;
  std::vector<uint32_t> text = {kBos};
  auto fp = q.forward_pass();
  for (uint32_t pos = 0; pos < steps; ++pos) {
    if (pos % page_size == 0) {
      for (auto& p : q.allocate_kv_pages(1)) pages.push_back(p);
    }
    const uint32_t input[] = {text.back()};
    const uint32_t position[] = {pos};
    const uint32_t at[] = {0};
    const std::vector<std::vector<uint32_t>> causal = {{pos + 1}};  // attend to all pos + 1 slots
    auto r = fp.input_tokens(input, position)
                 .kv_cache(pages, pos % page_size + 1)
                 .attention_mask(causal)
                 .output_tokens(at, 0.0F)
                 .execute()
                 ->get();
    if (r.tokens.at(0) == kBos) break;
    text.push_back(r.tokens[0]);
  }
  return model.tokenizer().detokenize(std::span(text).subspan(1));  // special tokens print as text
}

}  // namespace

PIE_MAIN(args) {
  if (args.empty()) return pie::Error{"no scenario"};
  const std::string& s = args[0];
  if (s == "hello") return hello(args);
  if (s == "spin") return spin(args);
  if (s == "grow") return grow(args);
  if (s == "echo") return echo(args);
  if (s == "wait_forever") return wait_forever(args);
  if (s == "blob") return blob(args);
  if (s == "subscriber") return subscriber(args);
  if (s == "publisher") return publisher(args);
  if (s == "kvs") return kvs(args);
  if (s == "bad_handle") return bad_handle(args);
  if (s == "wrong_kind") return wrong_kind(args);
  if (s == "bad_pointer") return bad_pointer(args);
  if (s == "not_ready") return not_ready(args);
  if (s == "wait_timeout") return wait_timeout(args);
  if (s == "sleep") return sleep_briefly(args);
  if (s == "debug") return debug(args);
  if (s == "fail") return fail(args);
  if (s == "exit3") return exit3(args);
  if (s == "big_result") return big_result(args);
  if (s == "identity") return identity(args);
  if (s == "http") return http(args);
  if (s == "models") return models(args);
  if (s == "chat") return chat(args);
  if (s == "alloc") return alloc(args);
  if (s == "dealloc") return dealloc(args);
  if (s == "hold_embeds") return hold_embeds(args);
  if (s == "builder") return builder(args);
  if (s == "unsubscribed") return unsubscribed(args);
  if (s == "foreign") return foreign(args);
  if (s == "prefill") return prefill(args);
  if (s == "decode") return decode(args);
  if (s == "masked") return masked(args);
  if (s == "unmasked") return unmasked(args);
  if (s == "bad_pass") return bad_pass(args);
  if (s == "share") return share(args);
  if (s == "queue_ops") return queue_ops(args);
  if (s == "empty_image") return empty_image(args);
  if (s == "no_tokenizer") return no_tokenizer(args);
  if (s == "tokens") return tokens(args);
  if (s == "story") return story(args);
  return pie::Error{"unknown scenario " + s};
}
