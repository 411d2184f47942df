// Tests for etc/orderflow/rules.schema.json, the JSON Schema that editors use
// to validate and complete rule files: it is plain JSON for draft 2020-12
// whose every $ref resolves, and it stays in step with the loader. The lists
// it offers (top-level and rule keys, actions and their parameters, once_per
// scopes, modes, guard keys, severities, events, operators) are compared
// with what the loader (rules/ruleset.cpp, rules/detail/rule_compiler.cpp,
// rules/detail/condition_compiler.cpp) accepts, read from its own "allowed
// keys: ..." and "known ...: ..." messages where it prints them, and every
// name, default and example the schema gives is loaded to show the loader
// takes it; each pattern the schema uses gives the same verdict as the loader
// on a table of samples. Every catalogue field (rules/fields.hpp) and line
// item field is a field test in the schema with exactly the operators the
// loader accepts for its type, and the example rules in etc/orderflow/rules/
// use only keys, actions, fields and operators the schema lists. What a
// schema cannot check (templates existing, regexes compiling, ...) stays
// with the loader, `orderflowctl check`, as the schema's description says.
#include "rules/fields.hpp"
#include "rules/jsonc.hpp"
#include "rules/ruleset.hpp"

#include "support.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace ORDERFLOW_TEST_FILE {  // see orderflow_test() in tests/CMakeLists.txt

using namespace orderflow::rules;
using json = nlohmann::json;
using orderflow::rules::test::all_diagnostics;

namespace {

using names = std::set<std::string>;

std::filesystem::path source_dir() {
    const char* source = std::getenv("ORDERFLOW_SOURCE");
    if (source == nullptr || *source == '\0') source = ORDERFLOW_SOURCE_DIR;
    return source;
}

std::string schema_text() {
    std::ifstream in(source_dir() / "etc/orderflow/rules.schema.json", std::ios::binary);
    REQUIRE(in);
    std::ostringstream out;
    out << in.rdbuf();
    return out.str();
}

// Parsed once; nlohmann's parser refuses comments, so this also proves plain JSON.
const json& schema() {
    static const json parsed = json::parse(schema_text());
    return parsed;
}

const json& def(const std::string& name) {
    INFO("$defs/" << name);
    REQUIRE(schema().at("$defs").contains(name));
    return schema()["$defs"][name];
}

// Follows "$ref": "#/..." until a schema without one.
const json& resolve(const json& node) {
    const json* cur = &node;
    for (int hops = 0; cur->is_object() && cur->contains("$ref"); ++hops) {
        REQUIRE(hops < 16);
        const auto& ref = cur->at("$ref").get_ref<const std::string&>();
        REQUIRE(ref.rfind("#/", 0) == 0);
        cur = &schema().at(json::json_pointer(ref.substr(1)));
    }
    return *cur;
}

names keys_of(const json& object) {
    names out;
    for (const auto& [key, value] : object.items()) out.insert(key);
    return out;
}

names enum_of(const json& node) {
    const json& n = resolve(node);
    REQUIRE(n.contains("enum"));
    return n["enum"].get<names>();
}

// The operators a field test's schema allows: its "properties".
names operators_of(const json& field_schema) { return keys_of(resolve(field_schema).at("properties")); }

// The comma-separated list in `message` after `marker`, up to `end` (or the end).
names list_in(const std::string& message, const std::string& marker, const std::string& end = ";") {
    auto start = message.find(marker);
    INFO(message);
    REQUIRE(start != std::string::npos);
    start += marker.size();
    auto stop = message.find(end, start);
    std::string list = message.substr(start, stop == std::string::npos ? std::string::npos : stop - start);
    names out;
    std::size_t at = 0;
    while (true) {
        auto comma = list.find(", ", at);
        out.insert(list.substr(at, comma == std::string::npos ? std::string::npos : comma - at));
        if (comma == std::string::npos) break;
        at = comma + 2;
    }
    return out;
}

bool has_error(const load_result& r) {
    return std::any_of(r.diagnostics.begin(), r.diagnostics.end(), [](const diagnostic& d) { return !d.warning; });
}

// The first error message containing `part`; empty when there is none.
std::string error_with(const load_result& r, const std::string& part) {
    for (const auto& d : r.diagnostics) {
        if (!d.warning && d.message.find(part) != std::string::npos) return d.message;
    }
    return {};
}

// The templates a rule's messages name, each defined in ja and en.
json templates_for(const json& rule) {
    json templates = {{"t", {{"ja", "こんにちは"}, {"en", "hello"}}}};
    if (rule.contains("then") && rule["then"].is_array()) {
        for (const auto& action : rule["then"]) {
            for (const char* kind : {"send_message", "reply"}) {
                if (action.is_object() && action.contains(kind) && action[kind].is_object() && action[kind].contains("template") &&
                    action[kind]["template"].is_string()) {
                    templates[action[kind]["template"].get<std::string>()] = {{"ja", "こんにちは"}, {"en", "hello"}};
                }
            }
        }
    }
    return templates;
}

load_result load_rule(const json& rule) {
    json file = {{"templates", templates_for(rule)}, {"rules", json::array({rule})}};
    return load_text(file.dump(), "f.json");
}

json base_rule() {
    return {{"id", "a"}, {"on", "order.status_changed"}, {"then", json::array({{{"send_message", {{"template", "t"}}}}})}};
}

json rule_with(const std::string& key, json value) {
    json r = base_rule();
    r[key] = std::move(value);
    return r;
}

// The event an action's example is loaded under: a reply answers
// message.received, update_tracking handles tracking.received.
std::string event_for(const std::string& action) {
    return action == "update_tracking" ? "tracking.received" : "message.received";
}

// The condition's patternProperties entry for a map field of order.* ("sku_counts", "attributes"):
// its pattern and its operator object.
std::pair<std::string, json> entry_pattern(const std::string& map) {
    for (const auto& [pattern, test] : def("condition").at("patternProperties").items())
        if (pattern.find(map) != std::string::npos) return {pattern, test};
    FAIL("no pattern for order." << map << ".<...> in the schema");
    return {};
}

json rule_then(json action, const std::string& on = "order.status_changed") {
    json r = base_rule();
    r["on"] = on;
    r["then"] = json::array({std::move(action)});
    return r;
}

json rule_if(json condition) { return rule_with("if", std::move(condition)); }

// An operand of the right shape for `op`, and a value the field can hold
// (of its type, one of its `closed` values if it has them), so that only the
// operator vs field type check can refuse it.
json operand_for(const std::string& op, field_type type, const std::vector<std::string_view>& closed = {},
                 const std::string& list = "order.line_items") {
    const json value = type == field_type::boolean                                     ? json(true)
                       : type == field_type::number || type == field_type::timestamp ? json(1)
                       : closed.empty()                                               ? json("x")
                                                                                       : json(std::string(closed.front()));
    if (op == "in" || op == "not_in") return json::array({value});
    if (op == "exists" || op == "empty") return true;
    if (op == "gt" || op == "gte" || op == "lt" || op == "lte") return 1;
    if (op == "older_than" || op == "within") return "1h";
    if (op == "any" || op == "all") {
        if (type == field_type::object_list && list == "order.packages") return {{"id", {{"eq", "x"}}}};
        if (type == field_type::object_list) return {{"seller_sku", {{"eq", "x"}}}};
        return {{"eq", "x"}};
    }
    if (op == "contains" || op == "matches") return closed.empty() ? json("x") : json(std::string(closed.front()));
    return value;  // eq, ne, changed_to, changed_from
}

std::string loader_verdict(const load_result& r) { return has_error(r) ? "refused:\n" + all_diagnostics(r) : "accepted"; }

}  // namespace

TEST_CASE("The rule file schema is plain JSON for draft 2020-12 whose every reference resolves", "[schema]") {
    const std::string text = schema_text();
    REQUIRE_NOTHROW(json::parse(text));
    // The project's parser refuses duplicate keys, which nlohmann would silently merge.
    auto strict = parse_jsonc(text, "rules.schema.json");
    if (auto* d = std::get_if<diagnostic>(&strict)) FAIL(d->to_string());

    const json& s = schema();
    CHECK(s.at("$schema") == "https://json-schema.org/draft/2020-12/schema");
    CHECK(s.at("type") == "object");
    CHECK(s.at("additionalProperties") == false);
    CHECK(s.at("description").get<std::string>().find("orderflowctl check") != std::string::npos);

    std::size_t refs = 0;
    std::vector<std::pair<std::string, const json*>> todo = {{"", &s}};
    while (!todo.empty()) {
        auto [where, node] = todo.back();
        todo.pop_back();
        if (node->is_object()) {
            if (auto ref = node->find("$ref"); ref != node->end() && ref->is_string()) {
                const auto& target = ref->get_ref<const std::string&>();
                INFO(where << ": $ref " << target);
                REQUIRE(target.rfind("#/", 0) == 0);
                CHECK(s.contains(json::json_pointer(target.substr(1))));
                ++refs;
            }
            for (const auto& [key, value] : node->items()) todo.push_back({where + "/" + key, &value});
        } else if (node->is_array()) {
            for (std::size_t i = 0; i < node->size(); ++i) todo.push_back({where + "/" + std::to_string(i), &(*node)[i]});
        }
    }
    CHECK(refs > 50u);
}

TEST_CASE("The schema's top-level and rule keys are exactly the keys the loader allows", "[schema]") {
    SECTION("top level") {
        auto r = load_text(R"({"rule": []})", "f.json");
        auto message = error_with(r, "unknown top-level key");
        REQUIRE_FALSE(message.empty());
        CHECK(keys_of(schema().at("properties")) == list_in(message, "allowed keys: "));
    }
    const json& rule = def("rule");
    const names schema_keys = keys_of(rule.at("properties"));
    CHECK(rule.at("additionalProperties") == false);

    SECTION("the loader's list of rule keys is the schema's") {
        auto r = load_rule(rule_with("zzz_not_a_key", 1));
        auto message = error_with(r, "unknown rule key \"zzz_not_a_key\"");
        REQUIRE_FALSE(message.empty());
        CHECK(schema_keys == list_in(message, "allowed keys: "));
    }
    SECTION("no key the schema allows is an unknown rule key") {
        const json samples = {{"description", "d"},      {"if", {{"order.status", {{"eq", "DELIVERED"}}}}},
                              {"enabled", false},         {"mode", "shadow"},
                              {"once_per", "order"},      {"locale", "en"},
                              {"guards", {{"cancelled", true}}}};
        for (const auto& key : schema_keys) {
            json r = base_rule();
            if (samples.contains(key)) r[key] = samples[key];
            auto result = load_rule(r);
            CAPTURE(key);
            CHECK(error_with(result, "unknown rule key").empty());
            CHECK(loader_verdict(result) == "accepted");
        }
    }
    SECTION("each required key is one the loader requires") {
        const names required = rule.at("required").get<names>();
        CHECK(required == names{"id", "on", "then"});
        for (const auto& key : required) {
            json r = base_rule();
            r.erase(key);
            CAPTURE(key);
            CHECK_FALSE(error_with(load_rule(r), "rule has no \"" + key + "\"").empty());
        }
    }
    SECTION("the defaults the schema shows load") {
        for (const auto& [key, value] : rule.at("properties").items()) {
            if (!value.contains("default")) continue;
            CAPTURE(key);
            CHECK(loader_verdict(load_rule(rule_with(key, value["default"]))) == "accepted");
        }
    }
}

TEST_CASE("The schema lists exactly the actions the loader knows and their parameters", "[schema]") {
    const json& action = def("action");
    const names listed = enum_of(action.at("propertyNames"));
    CHECK(keys_of(action.at("properties")) == listed);
    CHECK(action.at("additionalProperties") == false);
    CHECK(action.at("minProperties") == 1);
    CHECK(action.at("maxProperties") == 1);

    SECTION("an action the schema does not list is refused, and the loader's list is the schema's") {
        CHECK_FALSE(listed.count("send_email"));
        auto message = error_with(load_rule(rule_then({{"send_email", {{"template", "t"}}}})), "unknown action \"send_email\"");
        REQUIRE_FALSE(message.empty());
        CHECK(list_in(message, "known actions: ") == listed);
        CHECK(listed.count("update_tracking"));
    }
    SECTION("each action loads with the schema's example") {
        for (const auto& name : listed) {
            const json& params = resolve(action["properties"][name]);
            CAPTURE(name);
            REQUIRE(params.contains("examples"));
            for (const auto& example : params["examples"]) {
                CAPTURE(example.dump());
                // message.received: the one event a reply may answer; tag and schedule only warn there.
                CHECK(loader_verdict(load_rule(rule_then({{name, example}}, event_for(name)))) == "accepted");
            }
        }
    }
    SECTION("each action's parameter keys are the loader's, and its required ones are required") {
        std::size_t with_keys = 0;
        for (const auto& name : listed) {
            const json& params = resolve(action["properties"][name]);
            if (!params.contains("properties")) continue;
            ++with_keys;
            CAPTURE(name);
            CHECK(params.at("additionalProperties") == false);
            json example = params.at("examples").at(0);
            json extra = example;
            extra["zzz_not_a_key"] = 1;
            auto message = error_with(load_rule(rule_then({{name, extra}}, event_for(name))), "unknown " + name + " key");
            REQUIRE_FALSE(message.empty());
            CHECK(list_in(message, "allowed keys: ") == keys_of(params["properties"]));
            for (const auto& key : params.value("required", json::array()).get<names>()) {
                json missing = example;
                missing.erase(key);
                CAPTURE(key);
                CHECK_FALSE(error_with(load_rule(rule_then({{name, missing}}, event_for(name))), name + " has no \"" + key + "\"").empty());
            }
        }
        CHECK(with_keys == 6u);  // send_message, reply, update_tracking, flag_review, schedule, capture
    }
    SECTION("flag_review's severities are the loader's") {
        const json& severity = resolve(action["properties"]["flag_review"]).at("properties").at("severity");
        auto message = error_with(load_rule(rule_then({{"flag_review", {{"reason", "x"}, {"severity", "zzz"}}}})), "\"severity\"");
        REQUIRE_FALSE(message.empty());
        CHECK(list_in(message, "to be one of ", ", found") == enum_of(severity));
        CHECK(enum_of(severity).count(severity.at("default").get<std::string>()));
    }
    SECTION("a reply is refused in a rule that listens to other events, as the schema's condition says") {
        CHECK(loader_verdict(load_rule(rule_then({{"reply", {{"template", "t"}}}}, "message.received"))) == "accepted");
        json r = rule_then({{"reply", {{"template", "t"}}}});
        r["on"] = {"message.received", "order.status_changed"};
        CHECK_FALSE(error_with(load_rule(r), "\"reply\" answers a buyer message").empty());
        CHECK(def("rule").at("allOf").dump().find("\"required\":[\"reply\"]") != std::string::npos);
    }
}

TEST_CASE("The schema offers exactly the once_per scopes and modes and guard keys and events the loader accepts", "[schema]") {
    const json& props = def("rule").at("properties");
    SECTION("once_per") {
        const names scopes = enum_of(props.at("once_per"));
        auto message = error_with(load_rule(rule_with("once_per", "buyer")), "\"once_per\"");
        REQUIRE_FALSE(message.empty());
        CHECK(list_in(message, "to be one of ", ", found") == scopes);
        for (const auto& scope : scopes) {
            CAPTURE(scope);
            CHECK(loader_verdict(load_rule(rule_with("once_per", scope))) == "accepted");
        }
    }
    SECTION("mode") {
        const names modes = enum_of(props.at("mode"));
        CHECK(modes == names{"live", "shadow"});
        for (const auto& mode : modes) {
            CAPTURE(mode);
            CHECK(loader_verdict(load_rule(rule_with("mode", mode))) == "accepted");
        }
        CHECK(has_error(load_rule(rule_with("mode", "dry-run"))));
    }
    SECTION("guards") {
        const json& guards = resolve(props.at("guards"));
        CHECK(guards.at("additionalProperties") == false);
        auto message = error_with(load_rule(rule_with("guards", {{"zzz_not_a_guard", true}})), "unknown guard");
        REQUIRE_FALSE(message.empty());
        CHECK(list_in(message, "allowed: ") == keys_of(guards.at("properties")));
        for (const auto& [key, guard] : guards["properties"].items()) {
            CAPTURE(key);
            REQUIRE(guard.contains("examples"));
            for (const auto& example : guard["examples"]) {
                CAPTURE(example.dump());
                CHECK(loader_verdict(load_rule(rule_with("guards", {{key, example}}))) == "accepted");
            }
            if (guard.contains("minimum")) {
                const auto low = guard["minimum"].get<std::int64_t>(), high = guard["maximum"].get<std::int64_t>();
                CHECK(loader_verdict(load_rule(rule_with("guards", {{key, low}}))) == "accepted");
                CHECK(loader_verdict(load_rule(rule_with("guards", {{key, high}}))) == "accepted");
                CHECK(has_error(load_rule(rule_with("guards", {{key, low - 1}}))));
                CHECK(has_error(load_rule(rule_with("guards", {{key, high + 1}}))));
            }
        }
    }
    SECTION("events") {
        const json& event = def("event");
        names listed;
        for (const auto& alternative : event.at("anyOf")) {
            if (alternative.contains("enum")) listed = alternative["enum"].get<names>();
        }
        names known;
        for (auto e : known_events()) known.insert(std::string(e));
        CHECK(listed == known);
        for (const auto& e : listed) {
            CAPTURE(e);
            CHECK(loader_verdict(load_rule(rule_with("on", e))) == "accepted");
        }
        CHECK(has_error(load_rule(rule_with("on", "order.status_change"))));
    }
}

TEST_CASE("Each pattern in the schema gives the loader's verdict on a table of samples", "[schema]") {
    const json& actions = def("action").at("properties");
    const json& schedule = resolve(actions.at("schedule")).at("properties");
    const json& quiet = resolve(def("guards").at("properties").at("quiet_hours"));
    std::string timer_pattern;
    for (const auto& alternative : def("event").at("anyOf")) {
        if (alternative.contains("pattern")) timer_pattern = alternative["pattern"];
    }
    auto pattern_of = [](const json& node) { return resolve(node).at("pattern").get<std::string>(); };
    auto template_file = [](const json& templates) { return load_text(json{{"templates", templates}}.dump(), "f.json"); };

    struct check {
        std::string what;
        std::string pattern;
        std::vector<std::string> samples;
        std::function<load_result(const std::string&)> load;
    };
    const std::vector<check> checks = {
        {"rule id", pattern_of(def("rule").at("properties").at("id")),
         {"a", "thanks-awaiting-shipment", "0.x_y-z", "Bad", "-a", "a b", "é", ""},
         [](const std::string& s) { return load_rule(rule_with("id", s)); }},
        {"timer event", timer_pattern,
         {"timer.engraving.reminder", "timer.x", "timer.", "timer.Bad", "timer.-x", "timers.x", "timer"},
         [](const std::string& s) { return load_rule(rule_with("on", s)); }},
        {"locale", pattern_of(def("locale")),
         {"ja", "en", "zh-Hant", "pt-BR", "zh-Hant-TW", "JA", "j", "jpan", "en-", "en-a", "en-abcdefghi", "en_US"},
         [](const std::string& s) { return load_rule(rule_with("locale", s)); }},
        {"duration", pattern_of(def("duration")),
         {"90s", "10m", "24h", "7d", "1h30m", "0s", "1 day", "h", "10", "1w", "", "1H"},
         [](const std::string& s) { return load_rule(rule_if({{"order.create_time", {{"older_than", s}}}})); }},
        {"tag", pattern_of(actions.at("tag")),
         {"gift", "VIP", "a:b.c_d-e", "vip customer", "", std::string(64, 'x'), std::string(65, 'x'), "ギフト"},
         [](const std::string& s) { return load_rule(rule_then({{"tag", s}})); }},
        {"untag", pattern_of(actions.at("untag")), {"awaiting_reply", "A:b", "a b", ""},
         [](const std::string& s) { return load_rule(rule_then({{"untag", s}})); }},
        {"flag_review reason", pattern_of(resolve(actions.at("flag_review")).at("properties").at("reason")),
         {"damage_reported", "a.b:c-d", "Damage", "a b", "", std::string(64, 'r'), std::string(65, 'r')},
         [](const std::string& s) { return load_rule(rule_then({{"flag_review", {{"reason", s}}}})); }},
        {"schedule after", pattern_of(schedule.at("after")), {"30m", "24h", "1h30m", "0s", "0h0m", "0h1m", "soon", "1", "-1h"},
         [](const std::string& s) { return load_rule(rule_then({{"schedule", {{"after", s}, {"event", "x"}}}})); }},
        {"schedule event", pattern_of(schedule.at("event")),
         {"engraving.reminder", "timer.engraving.reminder", "timer", "timerx", "timer.", "timer.Bad", "Remind Me", ".x", "x"},
         [](const std::string& s) { return load_rule(rule_then({{"schedule", {{"after", "1h"}, {"event", s}}}})); }},
        {"template name", pattern_of(def("templateName")), {"thanks_for_order", "a.b-c", "A1", "bad name", "ギフト", ""},
         [&](const std::string& s) { return template_file({{s, "hi"}}); }},
        {"template text", pattern_of(def("templateText")), {"hi", " a", " ", "\t\n", "\u3000", "\u3000\u3001"},
         [&](const std::string& s) { return template_file({{"x", {{"en", s}}}}); }},
        {"quiet_hours from", pattern_of(quiet.at("anyOf").at(1).at("properties").at("from")),
         {"21:00", "00:00", "23:59", "24:00", "9:00", "12:60", "ab:cd", "21:00:00"},
         [](const std::string& s) { return load_rule(rule_with("guards", {{"quiet_hours", {{"from", s}, {"to", "09:00"}}}})); }},
    };
    for (const auto& c : checks) {
        CAPTURE(c.what, c.pattern);
        const std::regex re(c.pattern, std::regex::ECMAScript);
        for (const auto& sample : c.samples) {
            CAPTURE(sample);
            const bool schema_accepts = std::regex_search(sample, re);
            auto result = c.load(sample);
            INFO("loader: " << loader_verdict(result));
            CHECK(has_error(result) == !schema_accepts);
        }
    }
}

TEST_CASE("Every catalogue field is a field test in the schema with exactly the operators the loader accepts for it", "[schema]") {
    const json& condition = def("condition");
    const json& props = condition.at("properties");
    CHECK(condition.at("additionalProperties") == false);
    const names combinators = {"all", "any", "not"};
    const names all_operators = enum_of(def("operator"));

    SECTION("the schema's operators are the loader's") {
        auto message = error_with(load_rule(rule_if({{"order.status", {{"equals", "x"}}}})), "unknown operator");
        REQUIRE_FALSE(message.empty());
        CHECK(list_in(message, "known operators: ") == all_operators);
    }
    SECTION("the field tests are the catalogue, the <SKU> entry a pattern") {
        names catalogue;
        for (const auto& f : field_catalogue()) {
            if (is_entry_pattern(f.path)) continue;
            catalogue.insert(std::string(f.path));
        }
        names fields = keys_of(props);
        for (const auto& c : combinators) CHECK(fields.erase(c) == 1u);
        CHECK(fields == catalogue);
        const json& patterns = condition.at("patternProperties");
        REQUIRE(patterns.size() == 2u);
        const std::regex sku(entry_pattern("sku_counts").first, std::regex::ECMAScript);
        CHECK(std::regex_search("order.sku_counts.ENG-001", sku));
        CHECK(std::regex_search("order.sku_counts.A.B", sku));
        CHECK_FALSE(std::regex_search("order.sku_counts", sku));
        CHECK_FALSE(std::regex_search("order.sku_counts.", sku));
        const std::regex attribute(entry_pattern("attributes").first, std::regex::ECMAScript);
        CHECK(std::regex_search("order.attributes.engraving", attribute));
        CHECK_FALSE(std::regex_search("order.attributes", attribute));
        CHECK_FALSE(std::regex_search("order.attributes.", attribute));
    }
    SECTION("the line item fields are the loader's element fields") {
        names fields = keys_of(def("lineItemCondition").at("properties"));
        for (const auto& c : combinators) CHECK(fields.erase(c) == 1u);
        names elements;
        for (const auto& f : element_fields("order.line_items")) elements.insert(std::string(f.path));
        CHECK(fields == elements);
        CHECK(def("lineItemCondition").at("additionalProperties") == false);
    }
    SECTION("the package fields are the loader's element fields of order.packages") {
        names fields = keys_of(def("packageCondition").at("properties"));
        for (const auto& c : combinators) CHECK(fields.erase(c) == 1u);
        names elements;
        for (const auto& f : element_fields("order.packages")) elements.insert(std::string(f.path));
        CHECK(fields == elements);
        CHECK(def("packageCondition").at("additionalProperties") == false);
        for (const auto& f : element_fields("order.packages")) {
            const std::string name(f.path);
            const names allowed = operators_of(def("packageCondition")["properties"][name]);
            for (const auto& op : all_operators) {
                CAPTURE(name, op);
                auto result = load_rule(rule_if({{"order.packages", {{"any", {{name, {{op, operand_for(op, f.type, closed_element_values("order.packages", name))}}}}}}}}));
                INFO("loader: " << loader_verdict(result));
                CHECK(has_error(result) == !allowed.count(op));
            }
        }
    }
    SECTION("each field's operators are the ones the loader accepts for its type") {
        names used;
        std::size_t tested = 0;
        for (const auto& f : field_catalogue()) {
            const bool per_sku = f.path == "order.sku_counts.<SKU>", per_attribute = f.path == "order.attributes.<NAME>";
            const std::string path = per_sku ? "order.sku_counts.ENG-001" : per_attribute ? "order.attributes.engraving" : std::string(f.path);
            const names allowed = operators_of(per_sku         ? entry_pattern("sku_counts").second
                                               : per_attribute ? entry_pattern("attributes").second
                                                               : props.at(path));
            used.insert(allowed.begin(), allowed.end());
            for (const auto& op : all_operators) {
                CAPTURE(path, op);
                auto result = load_rule(rule_if({{path, {{op, operand_for(op, f.type, closed_values(path), path)}}}}));
                INFO("loader: " << loader_verdict(result));
                CHECK(has_error(result) == !allowed.count(op));
                ++tested;
            }
        }
        for (const auto& f : element_fields("order.line_items")) {
            const std::string name(f.path);
            const names allowed = operators_of(def("lineItemCondition")["properties"][name]);
            used.insert(allowed.begin(), allowed.end());
            for (const auto& op : all_operators) {
                CAPTURE(name, op);
                auto result = load_rule(rule_if({{"order.line_items", {{"any", {{name, {{op, operand_for(op, f.type)}}}}}}}}));
                INFO("loader: " << loader_verdict(result));
                CHECK(has_error(result) == !allowed.count(op));
                ++tested;
            }
        }
        // Each tag of order.tags: an operator object on the string itself.
        const names per_tag = operators_of(resolve(props.at("order.tags")).at("properties").at("any"));
        for (const auto& op : all_operators) {
            INFO("order.tags any " << op);
            auto result = load_rule(rule_if({{"order.tags", {{"any", {{op, operand_for(op, field_type::string)}}}}}}));
            INFO("loader: " << loader_verdict(result));
            CHECK(has_error(result) == !per_tag.count(op));
        }
        CHECK(used == all_operators);
        CHECK(tested > 500u);
    }
}

TEST_CASE("The example rule files use nothing the schema does not list", "[schema]") {
    const json& rule_props = def("rule").at("properties");
    const json& action_props = def("action").at("properties");
    const names actions = enum_of(def("action").at("propertyNames"));
    std::string timer_pattern;
    for (const auto& alternative : def("event").at("anyOf")) {
        if (alternative.contains("pattern")) timer_pattern = alternative["pattern"];
    }
    const std::regex timer(timer_pattern, std::regex::ECMAScript);
    const names events = [] {
        names out;
        for (const auto& alternative : def("event").at("anyOf"))
            if (alternative.contains("enum")) out = alternative["enum"].get<names>();
        return out;
    }();

    // Checks a condition against the schema `cond` describes (condition or lineItemCondition).
    std::function<void(const json&, const json&)> walk_condition = [&](const json& node, const json& cond) {
        REQUIRE(node.is_object());
        for (const auto& [key, value] : node.items()) {
            CAPTURE(key);
            if (key == "all" || key == "any") {
                for (const auto& child : value) walk_condition(child, cond);
                continue;
            }
            if (key == "not") {
                walk_condition(value, cond);
                continue;
            }
            const json* field = nullptr;
            if (cond.at("properties").contains(key)) {
                field = &cond["properties"][key];
            } else if (cond.contains("patternProperties")) {
                for (const auto& [pattern, schema_of] : cond["patternProperties"].items()) {
                    if (std::regex_search(key, std::regex(pattern, std::regex::ECMAScript))) field = &schema_of;
                }
            }
            REQUIRE(field != nullptr);
            const json& ops = resolve(*field).at("properties");
            for (const auto& [op, operand] : value.items()) {
                CAPTURE(op);
                REQUIRE(ops.contains(op));
                if (op != "any" && op != "all") continue;
                const json& nested = resolve(ops[op]);
                if (nested.at("properties").contains("all")) {
                    walk_condition(operand, nested);  // a condition on each line item
                } else {
                    for (const auto& [inner, ignored] : operand.items()) {  // operators on each tag
                        CAPTURE(inner);
                        CHECK(nested["properties"].contains(inner));
                    }
                }
            }
        }
    };

    std::size_t rules = 0;
    for (const auto& entry : std::filesystem::directory_iterator(source_dir() / "etc/orderflow/rules")) {
        if (entry.path().extension() != ".json") continue;
        CAPTURE(entry.path().string());
        auto parsed = read_jsonc_file(entry.path());
        if (auto* d = std::get_if<diagnostic>(&parsed)) FAIL(d->to_string());
        const json& root = std::get<jsonc_document>(parsed).root();
        for (const auto& [key, value] : root.items()) CHECK(schema().at("properties").contains(key));
        for (const auto& r : root.value("rules", json::array())) {
            ++rules;
            CAPTURE(r.value("id", ""));
            for (const auto& [key, value] : r.items()) CHECK(rule_props.contains(key));
            for (const auto& e : r.at("on").is_array() ? r["on"] : json::array({r["on"]})) {
                CAPTURE(e.dump());
                CHECK((events.count(e.get<std::string>()) || std::regex_search(e.get<std::string>(), timer)));
            }
            if (r.contains("if")) walk_condition(r["if"], def("condition"));
            for (const auto& a : r.at("then")) {
                REQUIRE(a.size() == 1u);
                const std::string name = a.begin().key();
                CAPTURE(name);
                REQUIRE(actions.count(name));
                const json& params = resolve(action_props.at(name));
                if (params.contains("properties") && a.begin().value().is_object()) {
                    for (const auto& [key, value] : a.begin().value().items()) CHECK(params["properties"].contains(key));
                }
            }
        }
    }
    CHECK(rules > 0u);
}

TEST_CASE("The schema's schedule \"at\" lists exactly the timestamp fields, and its shape rules are the loader's", "[schema][deadline]") {
    const json& schedule = resolve(def("action").at("properties").at("schedule"));
    names timestamps;
    for (const auto& f : field_catalogue())
        if (f.type == field_type::timestamp) timestamps.insert(std::string(f.path));
    CHECK(enum_of(schedule.at("properties").at("at")) == timestamps);
    CHECK(schedule.at("required") == json{"event"});
    CHECK(schedule.at("dependentRequired") == json{{"before", {"at"}}});
    CHECK(schedule.at("not") == json{{"required", {"after", "before"}}});
    CHECK(schedule.at("anyOf") == json{{{"required", {"after"}}}, {{"required", {"at"}}}});
    // The same four shapes through the loader.
    CHECK(loader_verdict(load_rule(rule_then({{"schedule", {{"at", "order.rts_sla_time"}, {"event", "x"}}}}))) == "accepted");
    CHECK(has_error(load_rule(rule_then({{"schedule", {{"event", "x"}}}}))));
    CHECK(has_error(load_rule(rule_then({{"schedule", {{"before", "1h"}, {"event", "x"}}}}))));
    CHECK(has_error(load_rule(rule_then({{"schedule", {{"before", "1h"}, {"after", "1h"}, {"at", "order.paid_time"}, {"event", "x"}}}}))));
}

}  // namespace ORDERFLOW_TEST_FILE
