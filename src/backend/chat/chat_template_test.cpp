#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "backend/chat/chat.h"
#include "backend/chat/template.h"
#include "common/error.h"
#include "shared_data.h"

namespace pie::chat {
namespace {

std::string shared_template(const std::string& family) {
  const auto path = pie::testing::shared_file("tokenizers/" + family + "/tokenizer_config.json");
  if (path.empty()) return "";
  std::ifstream in(path);
  return nlohmann::json::parse(in)["chat_template"].get<std::string>();
}

std::string render(std::string_view source, const std::string& context_json = "{}") {
  return Template(source).render(Value::parse_json(context_json));
}

const std::vector<ChatMessage> kConversation = {
    {"system", "You are helpful.", std::nullopt, {}},
    {"user", "Hi!", std::nullopt, {}},
    {"assistant", "Hello! How can I help?", std::nullopt, {}},
};

TEST(ChatTemplate, Llama3) {
  const std::string source = shared_template("llama3");
  if (source.empty()) GTEST_SKIP() << "shared tokenizers missing";
  const Template t(source);
  ChatOptions o;
  o.bos_token = "<|begin_of_text|>";
  const std::string expected =
      "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nYou are helpful.<|eot_id|>"
      "<|start_header_id|>user<|end_header_id|>\n\nHi!<|eot_id|>"
      "<|start_header_id|>assistant<|end_header_id|>\n\nHello! How can I help?<|eot_id|>"
      "<|start_header_id|>assistant<|end_header_id|>\n\n";
  EXPECT_EQ(render_chat(t, kConversation, o), expected);
  // This (base) template always ends with the assistant header.
  o.add_generation_prompt = false;
  EXPECT_EQ(render_chat(t, kConversation, o), expected);
  // Content is trimmed.
  EXPECT_EQ(render_chat(t, {{"user", "  padded \n", std::nullopt, {}}}, o),
            "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\npadded<|eot_id|>"
            "<|start_header_id|>assistant<|end_header_id|>\n\n");
}

TEST(ChatTemplate, Qwen3) {
  const std::string source = shared_template("qwen3");
  if (source.empty()) GTEST_SKIP() << "shared tokenizers missing";
  const Template t(source);
  ChatOptions o;
  EXPECT_EQ(render_chat(t, kConversation, o),
            "<|im_start|>system\nYou are helpful.<|im_end|>\n"
            "<|im_start|>user\nHi!<|im_end|>\n"
            "<|im_start|>assistant\n<think>\n\n</think>\n\nHello! How can I help?<|im_end|>\n"
            "<|im_start|>assistant\n");
  o.add_generation_prompt = false;
  EXPECT_EQ(render_chat(t, kConversation, o),
            "<|im_start|>system\nYou are helpful.<|im_end|>\n"
            "<|im_start|>user\nHi!<|im_end|>\n"
            "<|im_start|>assistant\n<think>\n\n</think>\n\nHello! How can I help?<|im_end|>\n");
}

TEST(ChatTemplate, Qwen3ThinkingHistoryAndDisabledThinking) {
  const std::string source = shared_template("qwen3");
  if (source.empty()) GTEST_SKIP() << "shared tokenizers missing";
  ChatOptions o;
  o.enable_thinking = false;
  const std::vector<ChatMessage> messages = {
      {"user", "Q1", std::nullopt, {}},
      {"assistant", "<think>\nreasoning here\n</think>\n\nA1", std::nullopt, {}},
      {"user", "Q2", std::nullopt, {}},
  };
  EXPECT_EQ(render_chat(Template(source), messages, o),
            "<|im_start|>user\nQ1<|im_end|>\n<|im_start|>assistant\nA1<|im_end|>\n"
            "<|im_start|>user\nQ2<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n");
}

TEST(ChatTemplate, Qwen3ReasoningToolCallsAndToolResults) {
  const std::string source = shared_template("qwen3");
  if (source.empty()) GTEST_SKIP() << "shared tokenizers missing";
  const std::vector<ChatMessage> messages = {
      {"user", "What's x?", std::nullopt, {}},
      {"assistant", "", "R", {Value::parse_json(R"({"name": "get", "arguments": {"x": 1}})")}},
      {"tool", "42", std::nullopt, {}},
  };
  EXPECT_EQ(render_chat(Template(source), messages, {}),
            "<|im_start|>user\nWhat's x?<|im_end|>\n"
            "<|im_start|>assistant\n<think>\nR\n</think>\n\n"
            "<tool_call>\n{\"name\": \"get\", \"arguments\": {\"x\": 1}}\n</tool_call><|im_end|>\n"
            "<|im_start|>user\n<tool_response>\n42\n</tool_response><|im_end|>\n"
            "<|im_start|>assistant\n");
}

// Mistral's template: alternation enforced with raise_exception.
TEST(ChatTemplate, MistralAlternationAndRaiseException) {
  const Template t(
      "{{ bos_token }}{% for message in messages %}{% if (message['role'] == 'user') != "
      "(loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate "
      "user/assistant/user/assistant/...') }}{% endif %}{% if message['role'] == 'user' %}{{ "
      "'[INST] ' + message['content'] + ' [/INST]' }}{% elif message['role'] == 'assistant' %}{{ "
      "message['content'] + eos_token}}{% else %}{{ raise_exception('Only user and assistant roles "
      "are supported!') }}{% endif %}{% endfor %}");
  ChatOptions o;
  o.bos_token = "<s>";
  o.eos_token = "</s>";
  EXPECT_EQ(render_chat(t,
                        {{"user", "Hi", std::nullopt, {}},
                         {"assistant", "Hello", std::nullopt, {}},
                         {"user", "Bye", std::nullopt, {}}},
                        o),
            "<s>[INST] Hi [/INST]Hello</s>[INST] Bye [/INST]");
  try {
    render_chat(t, {{"assistant", "first", std::nullopt, {}}}, o);
    FAIL() << "expected raise_exception to throw";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("Conversation roles must alternate"), std::string::npos);
  }
}

// The shape of Llama 3.1 / 3.2's template: system message extraction, dates, tests, slicing.
TEST(ChatTemplate, Llama32Style) {
  const char* source = R"({{- bos_token }}
{%- if not date_string is defined %}
    {%- set date_string = "26 Jul 2024" %}
{%- endif %}
{%- if not tools is defined %}
    {%- set tools = none %}
{%- endif %}

{#- This block extracts the system message, so we can slot it into the right place. #}
{%- if messages[0]['role'] == 'system' %}
    {%- set system_message = messages[0]['content']|trim %}
    {%- set messages = messages[1:] %}
{%- else %}
    {%- set system_message = "" %}
{%- endif %}

{{- "<|start_header_id|>system<|end_header_id|>\n\n" }}
{%- if tools is not none %}
    {{- "Environment: ipython\n" }}
{%- endif %}
{{- "Cutting Knowledge Date: December 2023\n" }}
{{- "Today Date: " + date_string + "\n\n" }}
{{- system_message }}
{{- "<|eot_id|>" }}

{%- for message in messages %}
    {%- if not (message.role == 'ipython' or message.role == 'tool' or 'tool_calls' in message) %}
        {{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' }}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|start_header_id|>assistant<|end_header_id|>\n\n' }}
{%- endif %}
)";
  const Template t(source);
  ChatOptions o;
  o.bos_token = "<|begin_of_text|>";
  Value context = chat_context({kConversation[0], kConversation[1]}, o);
  context.set("date_string", Value("1 Jan 2025"));
  EXPECT_EQ(t.render(context),
            "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n"
            "Cutting Knowledge Date: December 2023\nToday Date: 1 Jan 2025\n\nYou are helpful."
            "<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHi!<|eot_id|>"
            "<|start_header_id|>assistant<|end_header_id|>\n\n");
  o.add_generation_prompt = false;
  EXPECT_EQ(render_chat(t, {kConversation[1]}, o),
            "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n"
            "Cutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n"
            "<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHi!<|eot_id|>");
}

TEST(ChatTemplate, Expressions) {
  EXPECT_EQ(render("{{ 1 + 2 * 3 }} {{ (1 + 2) * 3 }} {{ 7 // 2 }} {{ -7 // 2 }} {{ 7 % 3 }} "
                   "{{ 2 ** 10 }} {{ 7 / 2 }} {{ 'a' ~ 1 ~ none }}"),
            "7 9 3 -4 1 1024 3.5 a1None");
  EXPECT_EQ(render("{{ 'yes' if x else 'no' }}{{ 'x' if not x }}", R"({"x": 0})"), "nox");
  EXPECT_EQ(
      render("{{ [1, 2, 3][-1] }} {{ 'hello'[1:3] }} {{ [1,2,3,4][::-1] }} {{ 'abc'[::-1] }}"),
      "3 el [4, 3, 2, 1] cba");
  EXPECT_EQ(render("{{ {'a': 1, 'b': [true, none]} }} {{ (1, 'x') }}"),
            "{'a': 1, 'b': [True, None]} [1, 'x']");
  EXPECT_EQ(render("{{ 'b' in 'abc' }} {{ 2 not in [1, 2] }} {{ 'k' in {'k': 1} }} {{ 1 == 1.0 }}"),
            "True False True True");
  EXPECT_EQ(render("{{ x is defined }} {{ y is not defined }} {{ x is string }} {{ 3 is odd }} "
                   "{{ 9 is divisibleby 3 }} {{ none is none }} {{ false is false }}",
                   R"({"x": "s"})"),
            "True True True True True True True");
  EXPECT_EQ(render("{{ undefined_name }}|{{ d.missing }}|{{ d['missing'] }}", R"({"d": {}})"),
            "||");
}

TEST(ChatTemplate, FiltersAndMethods) {
  EXPECT_EQ(
      render("{{ '  x  ' | trim }}|{{ 'a,b,c'.split(',') | length }}|{{ 'Hello'.startswith('He') }}"
             "|{{ 'x.txt'.endswith(('.md', '.txt')) }}|{{ 'aXbX'.replace('X', '-') }}"
             "|{{ '\n\nhi\n'.lstrip('\n') }}|{{ 'hi'.upper() }}|{{ 'ab' | upper }}"),
      "x|3|True|True|a-b-|hi\n|HI|AB");
  EXPECT_EQ(
      render("{{ d | tojson }}|{{ d | tojson(indent=2) }}|{{ 'é\"' | tojson }}",
             R"({"d": {"b": 1, "a": [1.5, null, "x"]}})"),
      "{\"b\": 1, \"a\": [1.5, null, \"x\"]}|{\n  \"b\": 1,\n  \"a\": [\n    1.5,\n    null,\n"
      "    \"x\"\n  ]\n}|\"é\\\"\"");
  EXPECT_EQ(render("{% for k, v in d | items %}{{ k }}={{ v }};{% endfor %}"
                   "{% for k, v in d.items() %}{{ k }}{% endfor %}",
                   R"({"d": {"z": 1, "a": 2}})"),
            "z=1;a=2;za");
  EXPECT_EQ(
      render(
          "{{ xs | join(', ') }}|{{ xs | first }}|{{ xs | last }}|{{ xs | reverse | list }}"
          "|{{ xs | sort }}|{{ xs | map('string') | join }}|{{ xs | select('odd') | list }}"
          "|{{ m | map(attribute='r') | join }}|{{ m | selectattr('r', 'equalto', 'u') | length }}"
          "|{{ missing | default('dflt') }}|{{ xs | sum }}|{{ xs | max }}",
          R"({"xs": [3, 1, 2], "m": [{"r": "u"}, {"r": "a"}]})"),
      "3, 1, 2|3|2|[2, 1, 3]|[1, 2, 3]|312|[3, 1]|ua|1|dflt|6|3");
}

TEST(ChatTemplate, LoopsNamespacesAndMacros) {
  EXPECT_EQ(render("{% for x in xs %}{{ loop.index }}/{{ loop.length }}{{ ',' if not loop.last }}"
                   "{% endfor %}",
                   R"({"xs": ["a", "b", "c"]})"),
            "1/3,2/3,3/3");
  EXPECT_EQ(render("{% for x in [] %}x{% else %}empty{% endfor %}"), "empty");
  EXPECT_EQ(render("{% for x in range(10) if x is even %}{% if x > 5 %}{% break %}{% endif %}"
                   "{% if x == 2 %}{% continue %}{% endif %}{{ x }}{% endfor %}"),
            "04");
  // set inside a loop does not leak; namespace attributes do.
  EXPECT_EQ(render("{% set n = 0 %}{% set ns = namespace(n=0) %}{% for i in range(3) %}"
                   "{% set n = n + 1 %}{% set ns.n = ns.n + 1 %}{% endfor %}{{ n }} {{ ns.n }}"),
            "0 3");
  EXPECT_EQ(render("{% macro greet(name, punct='!') %}Hi {{ name }}{{ punct }}{% endmacro %}"
                   "{{ greet('A') }} {{ greet('B', punct='?') }}"),
            "Hi A! Hi B?");
  EXPECT_EQ(render("{% set a, b = [1, 2] %}{{ b }}{{ a }}"), "21");
  EXPECT_EQ(render("{% set block %}in{{ 1 }}{% endset %}[{{ block }}]"), "[in1]");
  EXPECT_EQ(render("{% raw %}{{ not evaluated }}{% endraw %}"), "{{ not evaluated }}");
}

// Hugging Face renders with trim_blocks and lstrip_blocks.
TEST(ChatTemplate, WhitespaceControl) {
  EXPECT_EQ(render("{% if true %}\n  yes\n{% endif %}\nafter"), "  yes\nafter");
  EXPECT_EQ(render("a\n    {% if true %}b{% endif %}"), "a\nb");
  EXPECT_EQ(render("a   {{- ' b ' -}}   c"), "a b c");
  EXPECT_EQ(render("a\n{#- comment -#}\nb"), "ab");
  EXPECT_EQ(render("x  {%+ if true %}y{% endif %}"), "x  y");
  EXPECT_EQ(render("{{ 'a' }}\n{{ 'b' }}"), "a\nb");  // no trimming after expressions
}

TEST(ChatTemplate, ClearErrors) {
  auto message = [](std::string_view source, const std::string& context = "{}") {
    try {
      render(source, context);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_EQ(message("line1\n{{ x | xmlattr }}"),
            "chat template line 2: unsupported filter 'xmlattr'");
  EXPECT_EQ(message("{% include 'other' %}"),
            "chat template line 1: unsupported statement {% include %}");
  EXPECT_EQ(message("{% if x %}open"), "chat template line 1: missing {% elif or else or endif %}");
  EXPECT_EQ(message("{{ x is prime }}"), "chat template line 1: unsupported test 'prime'");
  EXPECT_EQ(message("{{ 'unclosed }}"), "chat template line 1: unclosed tag or string");
  EXPECT_EQ(message("{{ 1 + }}"), "chat template line 1: unexpected end of expression");
  EXPECT_EQ(message("{{ x.y.z }}"), "chat template line 1: 'x' is undefined");
  EXPECT_EQ(message("{{ 'a' + 1 }}"),
            "chat template line 1: cannot apply '+' to a string and a integer");
  EXPECT_EQ(message("{{ 'a'.nosuch() }}"), "chat template line 1: strings have no method 'nosuch'");
  EXPECT_EQ(message("{{ f() }}"), "chat template line 1: 'f' is not a function (it is undefined)");
  EXPECT_EQ(message("{% endfor %}"), "chat template line 1: unexpected {% endfor %}");
  EXPECT_THROW(Value::parse_json("{bad"), Error);
  EXPECT_EQ(message("{{ " + std::string(100000, '(') + "1" + std::string(100000, ')') + " }}"),
            "chat template line 1: nested too deeply");
  std::string ifs;
  for (int i = 0; i < 100000; ++i) ifs += "{% if true %}";
  EXPECT_EQ(message(ifs), "chat template line 1: nested too deeply");
  EXPECT_EQ(message("{{ " + std::string(5000, '-') + "1 }}"),
            "chat template line 1: nested too deeply");
  EXPECT_EQ(message("{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}"),
            "chat template line 1: macro calls nested too deeply");
  EXPECT_EQ(message("{% set ns = namespace(v=[]) %}{% for i in range(150) %}"
                    "{% set ns.v = [ns.v] %}{% endfor %}{{ ns.v }}"),
            "chat template: value nested too deeply (does it contain itself?)");
}

}  // namespace
}  // namespace pie::chat
