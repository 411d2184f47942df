// Fuzzes the config door: the daemon's config file (daemon/config.hpp,
// parse_config: what load_config does once the file is read). Invariants:
// nothing throws or crashes; a config comes back exactly when no diagnostic
// is an error, and it then has every required key; every diagnostic
// points into the text (line 1.. the number of lines).
#include "daemon/config.hpp"
#include "tests/fuzz/fuzz_support.hpp"

#include <algorithm>
#include <cstdlib>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace orderflow;
    fuzz::quiet_logs();
    // "credential:NAME" resolves against this when set; keep runs alike.
    static const bool unset = (::unsetenv("CREDENTIALS_DIRECTORY"), true);
    (void)unset;
    const auto text = fuzz::as_text(data, size);
    const auto result = daemon::parse_config(text, "/etc/orderflow/orderflow.json");
    const int lines = 1 + static_cast<int>(std::count(text.begin(), text.end(), '\n'));
    bool errors = false;
    for (const auto& d : result.diagnostics) {
        errors = errors || !d.warning;
        ORDERFLOW_FUZZ_CHECK(!d.message.empty());
        ORDERFLOW_FUZZ_CHECK(d.line >= 0 && d.line <= lines);
        ORDERFLOW_FUZZ_CHECK(d.column >= 0);
        (void)d.to_string();
    }
    ORDERFLOW_FUZZ_CHECK(result.ok() == !errors);
    if (result.ok()) {
        const auto& cfg = *result.value;
        ORDERFLOW_FUZZ_CHECK(!cfg.tiktok.app_key.empty() && !cfg.tiktok.shop_cipher.empty());
        ORDERFLOW_FUZZ_CHECK(!cfg.tiktok.app_secret_file.empty() && !cfg.storage.vault_key_file.empty());
        ORDERFLOW_FUZZ_CHECK(!cfg.storage.path.empty() && !cfg.rules.dir.empty());
        ORDERFLOW_FUZZ_CHECK(cfg.webhook.path.empty() || cfg.webhook.path.front() == '/');
        ORDERFLOW_FUZZ_CHECK(cfg.admin.socket.native().size() <= 107);
    }
    return 0;
}
