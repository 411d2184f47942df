// Tests for `orderflowctl rules test` and `orderflowctl rules explain`
// (daemon/ctl.cpp): the real binary on temporary rule and fixture files, its
// output and exit status. The fixture logic itself is unit-tested in
// tests/rules/fixture_test.cpp; this checks what an operator sees.
#include "daemon/ctl.hpp"

#include <catch2/catch.hpp>

#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>

namespace {

namespace fs = std::filesystem;

fs::path bin_dir() {
    const char* p = std::getenv("ORDERFLOW_BIN");
    return p && *p ? p : ORDERFLOW_BIN_DIR;
}

class temp_dir {
public:
    temp_dir() {
        std::random_device rd;
        path_ = fs::temp_directory_path() / ("orderflow-ctl-" + std::to_string(rd()) + std::to_string(rd()));
        fs::create_directories(path_ / "rules");
    }
    ~temp_dir() {
        std::error_code ec;
        fs::remove_all(path_, ec);
    }
    temp_dir(const temp_dir&) = delete;
    temp_dir& operator=(const temp_dir&) = delete;

    fs::path write(const std::string& name, const std::string& text) const {
        auto p = path_ / name;
        std::ofstream(p, std::ios::binary) << text;
        return p;
    }
    const fs::path& path() const { return path_; }

private:
    fs::path path_;
};

struct run_result {
    int exit_code = -1;
    std::string output;   // stdout and stderr together
};

// Runs orderflowctl with `args` (already shell-safe: temp paths have no spaces or quotes).
run_result ctl(const std::string& args) {
    std::string command = (bin_dir() / "orderflowctl").string() + " " + args + " 2>&1";
    run_result r;
    FILE* pipe = ::popen(command.c_str(), "r");
    REQUIRE(pipe != nullptr);
    char buffer[4096];
    std::size_t n;
    while ((n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0) r.output.append(buffer, n);
    int status = ::pclose(pipe);
    r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return r;
}

const char* rules_text = R"({
  "templates": {"thanks": "{{order.buyer_name}}様、ありがとうございます。"},
  "rules": [
    {"id": "thanks", "on": "order.status_changed",
     "if": {"order.status": {"changed_to": "AWAITING_SHIPMENT"}},
     "then": [{"send_message": {"template": "thanks"}}]},
    {"id": "on-message", "on": "message.received", "then": [{"send_message": {"template": "thanks"}}]}
  ]})";

std::string fixture_with_text(const std::string& text) {
    return R"({"cases": [
  {"name": "thanks on the edge", "event": "order.status_changed", "now": "2026-11-23T10:00:00+09:00",
   "previous_order": {"status": "ON_HOLD"}, "order": {"id": "1", "status": "AWAITING_SHIPMENT", "buyer_name": "山田"},
   "expect": [{"rule": "thanks", "action": "send_message", "text": ")" + text + R"("}]},
  {"name": "nothing on a repeat", "event": "order.status_changed",
   "previous_order": {"status": "AWAITING_SHIPMENT"}, "order": {"id": "1", "status": "AWAITING_SHIPMENT", "buyer_name": "山田"},
   "expect": []}
]})";
}

}  // namespace

TEST_CASE("rules test passes a correct fixture with PASS lines and exit 0", "[ctl]") {
    temp_dir dir;
    dir.write("rules/10-a.json", rules_text);
    auto fixture = dir.write("a.test.json", fixture_with_text("山田様、ありがとうございます。"));
    auto r = ctl("rules test " + fixture.string() + " --rules " + (dir.path() / "rules").string());
    INFO(r.output);
    CHECK(r.exit_code == 0);
    CHECK(r.output == "PASS thanks on the edge\nPASS nothing on a repeat\n2 passed, 0 failed\n");
}

TEST_CASE("rules test exits 1 with FAIL and a diff when an expectation is wrong", "[ctl]") {
    temp_dir dir;
    dir.write("rules/10-a.json", rules_text);
    auto fixture = dir.write("a.test.json", fixture_with_text("山田様、ありがとう！"));
    auto r = ctl("rules test " + fixture.string() + " --rules " + (dir.path() / "rules").string());
    INFO(r.output);
    CHECK(r.exit_code == 1);
    CHECK(r.output.find("FAIL thanks on the edge (" + fixture.string() + ":2:3)\n") != std::string::npos);
    CHECK(r.output.find("  - thanks send_message \"山田様、ありがとう！\"\n"
                        "  + thanks send_message \"山田様、ありがとうございます。\"\n"
                        "    ^ the text differs from character 10\n") != std::string::npos);
    CHECK(r.output.find("PASS nothing on a repeat\n") != std::string::npos);
    CHECK(r.output.find("1 passed, 1 failed\n") != std::string::npos);
}

TEST_CASE("rules test reports a malformed fixture at file:line:column and exits 1", "[ctl]") {
    temp_dir dir;
    dir.write("rules/10-a.json", rules_text);
    auto good = dir.write("a.test.json", fixture_with_text("山田様、ありがとうございます。"));
    auto bad = dir.write("b.test.json", "{\"cases\": [\n  {\"name\": \"x\", \"event\": \"order.status_chanegd\", \"expect\": []}\n]}");
    auto r = ctl("rules test " + good.string() + " " + bad.string() + " --rules " + (dir.path() / "rules").string());
    INFO(r.output);
    CHECK(r.exit_code == 1);
    CHECK(r.output.find(bad.string() + ":2:26: error: unknown event \"order.status_chanegd\"; did you mean order.status_changed?") !=
          std::string::npos);
    CHECK(r.output.find("2 passed, 0 failed\n") != std::string::npos);
}

TEST_CASE("rules test refuses rules that do not load", "[ctl]") {
    temp_dir dir;
    dir.write("rules/10-a.json", R"({"rules": [{"id": "x", "on": "order.status_changed", "then": []}]})");
    auto fixture = dir.write("a.test.json", fixture_with_text("x"));
    auto r = ctl("rules test " + fixture.string() + " --rules " + (dir.path() / "rules").string());
    INFO(r.output);
    CHECK(r.exit_code == 1);
    CHECK(r.output.find("10-a.json:1:") != std::string::npos);
    CHECK(r.output.find("PASS") == std::string::npos);
}

TEST_CASE("rules explain shows each rule's verdict, the failed condition and rendered texts", "[ctl]") {
    temp_dir dir;
    dir.write("rules/10-a.json", rules_text);
    auto rules = (dir.path() / "rules").string();
    auto event = dir.write("event.json", R"({"event": "order.status_changed", "now": 1700000000})");
    auto order = dir.write("order.json", R"({"id": "7", "status": "AWAITING_SHIPMENT", "buyer_name": "山田"})");
    auto previous = dir.write("previous.json", R"({"id": "7", "status": "AWAITING_SHIPMENT"})");
    auto before = dir.write("before.json", R"({"id": "7", "status": "ON_HOLD"})");

    SECTION("not matched: the condition, its place and the values seen") {
        auto r = ctl("rules explain --event " + event.string() + " --order " + order.string() + " --previous " + previous.string() +
                     " --rules " + rules);
        INFO(r.output);
        CHECK(r.exit_code == 0);
        CHECK(r.output.find("thanks (" + rules + "/10-a.json:4:5): not matched\n"
                            "  first failed: " + rules + "/10-a.json:5:30: order.status changed_to \"AWAITING_SHIPMENT\": "
                            "saw \"AWAITING_SHIPMENT\", before \"AWAITING_SHIPMENT\"\n") != std::string::npos);
        CHECK(r.output.find("on-message (" + rules + "/10-a.json:7:5): does not listen to order.status_changed (on: message.received)\n") !=
              std::string::npos);
        CHECK(r.output.find("0 of 2 rule(s) matched, 0 action(s) planned; nothing was sent\n") != std::string::npos);
    }
    SECTION("matched: the rendered text") {
        auto r = ctl("rules explain --event " + event.string() + " --order " + order.string() + " --previous " + before.string() +
                     " --rules " + rules);
        INFO(r.output);
        CHECK(r.exit_code == 0);
        CHECK(r.output.find("thanks (" + rules + "/10-a.json:4:5): MATCHED\n  send_message thanks (ja):\n    | 山田様、ありがとうございます。\n") !=
              std::string::npos);
        CHECK(r.output.find("1 of 2 rule(s) matched, 1 action(s) planned; nothing was sent\n") != std::string::npos);
    }
    SECTION("a bad event file is an error with its place") {
        auto bad = dir.write("bad.json", R"({"event": "order.shipped"})");
        auto r = ctl("rules explain --event " + bad.string() + " --rules " + rules);
        CHECK(r.exit_code == 1);
        CHECK(r.output.find(bad.string() + ":1:11: error: unknown event \"order.shipped\"") != std::string::npos);
    }
    SECTION("without --event it prints the usage") {
        auto r = ctl("rules explain --rules " + rules);
        CHECK(r.exit_code == 2);
        CHECK(r.output.find("usage: orderflowctl rules explain --event FILE") != std::string::npos);
    }
}
