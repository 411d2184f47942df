// Fuzzes the rules door: a rule file as an operator writes it (JSON with
// comments, rules/jsonc.hpp, loaded by rules/ruleset.hpp with every rule
// and template compiled), then evaluated and explained against the events
// of the shipped fixtures (etc/orderflow/rules-tests); the same bytes as
// one message template (rules/template.hpp), rendered for those events; and
// as a fixture or event file (rules/fixture.hpp) run against the shipped rules.
//
// Invariants: nothing throws or crashes; a load without errors gives
// rules and one with errors none; explain plans exactly what evaluate
// plans; a render either has text or an error, never both.
#include "rules/engine.hpp"
#include "rules/fixture.hpp"
#include "rules/jsonc.hpp"
#include "rules/ruleset.hpp"
#include "rules/template.hpp"
#include "tests/fuzz/fuzz_support.hpp"

#include <memory>
#include <vector>

namespace {

using namespace orderflow;

struct shipped {
    std::shared_ptr<const rules::ruleset> rules;
    std::vector<rules::context> events;   // one per fixture case
};

const shipped& shipped_rules() {
    static const shipped s = [] {
        shipped out;
        const std::filesystem::path etc = std::filesystem::path(ORDERFLOW_SOURCE_DIR) / "etc/orderflow";
        auto loaded = rules::load_directory(etc / "rules");
        if (!loaded.ok()) fuzz::broken("the shipped rules in etc/orderflow/rules load without errors");
        out.rules = loaded.rules;
        for (const char* file : {"10-order-flow.test.json", "20-cookbook.test.json"}) {
            auto fixture = rules::read_fixture_file(etc / "rules-tests" / file, rules::fixture_defaults{1700000000, "ja", 9 * 3600});
            if (!fixture.ok()) fuzz::broken("the shipped fixtures in etc/orderflow/rules-tests parse");
            for (auto& c : fixture.cases) out.events.push_back(std::move(c.ctx));
        }
        if (out.events.empty()) fuzz::broken("the shipped fixtures hold cases");
        return out;
    }();
    return s;
}

bool same_actions(const std::vector<rules::planned_action>& a, const std::vector<rules::planned_action>& b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        if (a[i].rule_id != b[i].rule_id || a[i].index != b[i].index || a[i].kind != b[i].kind ||
            a[i].key_material != b[i].key_material || a[i].error != b[i].error || a[i].params != b[i].params ||
            a[i].shadow != b[i].shadow)
            return false;
    }
    return true;
}

// evaluate and explain must agree: explain is what an operator is shown.
void evaluate_and_explain(const rules::ruleset& rules, const rules::context& ctx) {
    const auto evaluation = rules::evaluate(rules, ctx);
    const auto traces = rules::explain(rules, ctx);
    std::vector<std::string> matched;
    std::vector<rules::planned_action> actions;
    for (const auto& t : traces) {
        if (t.verdict != rules::rule_verdict::matched) continue;
        matched.push_back(t.rule_id);
        actions.insert(actions.end(), t.actions.begin(), t.actions.end());
        (void)(t.failure ? t.failure->to_string() : std::string());
    }
    for (const auto& t : traces)
        if (t.failure) (void)t.failure->to_string();
    ORDERFLOW_FUZZ_CHECK(matched == evaluation.matched_rules);
    ORDERFLOW_FUZZ_CHECK(same_actions(actions, evaluation.actions));
    for (const auto& a : evaluation.actions) (void)rules::describe_action(a);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    fuzz::quiet_logs();
    const auto& ship = shipped_rules();
    const auto text = fuzz::as_text(data, size);

    // A rule file.
    auto loaded = rules::load_text(text, "fuzz.json");
    bool errors = false;
    for (const auto& d : loaded.diagnostics) {
        errors = errors || !d.warning;
        ORDERFLOW_FUZZ_CHECK(!d.to_string().empty());
    }
    ORDERFLOW_FUZZ_CHECK(loaded.ok() == !errors);
    ORDERFLOW_FUZZ_CHECK((loaded.rules != nullptr) == !errors);
    if (loaded.rules) {
        (void)loaded.rules->rule_ids();
        (void)loaded.rules->template_names();
        for (const auto& ctx : ship.events) evaluate_and_explain(*loaded.rules, ctx);
    }

    // A message template.
    auto compiled = rules::template_text::compile(text);
    if (auto* t = std::get_if<rules::template_text>(&compiled)) {
        for (const auto& ctx : ship.events) {
            const auto r = t->render(ctx);
            ORDERFLOW_FUZZ_CHECK(r.ok() || r.text.empty());
        }
    } else {
        ORDERFLOW_FUZZ_CHECK(!std::get<std::string>(compiled).empty());
    }

    // A fixture file and an event file, run against the shipped rules.
    auto doc = rules::parse_jsonc(text, "fuzz.test.json");
    if (auto* d = std::get_if<rules::jsonc_document>(&doc)) {
        const rules::fixture_defaults defaults{1700000000, "ja", 9 * 3600};
        auto fixture = rules::parse_fixture(*d, defaults);
        if (fixture.ok()) {
            for (const auto& c : fixture.cases) (void)rules::run_case(*ship.rules, c);
        }
        auto event = rules::parse_event(*d, defaults);
        if (event.ctx) evaluate_and_explain(*ship.rules, *event.ctx);
    }
    return 0;
}
