// See account_cli.hpp.
#include "daemon/account_cli.hpp"

#include "daemon/detail/local_time.hpp"
#include "storage/accounts.hpp"
#include "storage/database.hpp"
#include "storage/store.hpp"

#include <algorithm>
#include <iomanip>
#include <optional>
#include <ostream>

namespace orderflow::daemon {

namespace {

constexpr const char* usage =
    "usage: orderflowctl account add NAME --role staff|operator --config FILE   (the password is asked for)\n"
    "       orderflowctl account list --config FILE\n"
    "       orderflowctl account remove NAME --config FILE\n";

int add_one(storage::database& db, storage::store& store, const account_request& r, std::ostream& out, std::ostream& err,
            std::int64_t now) {
    const std::string& name = r.argv[2];
    if (const std::string problem = storage::account_name_problem(name); !problem.empty()) {
        err << "orderflowctl account add: '" << name << "' cannot name an account: " << problem << "\n";
        return 2;
    }
    if (!storage::valid_role(r.role)) {
        err << "orderflowctl account add: "
            << (r.role.empty() ? std::string("the account needs a role") : "'" + r.role + "' is not a role")
            << "; give --role staff (review, look orders up) or --role operator (also what changes the daemon)\n";
        return 2;
    }
    // Never echoed: whatever it is, it may be someone's password sent by mistake.
    if (!storage::looks_like_password_hash(r.password_hash)) {
        err << "orderflowctl account add: the request carries no password hash made by orderflowctl (libsodium "
               "crypto_pwhash_str, Argon2id); orderflowctl account add asks for the password and sends only its hash\n";
        return 2;
    }
    const bool is_new = db.transaction([&] {
        storage::account a;
        a.name = name;
        a.role = r.role;
        a.password_hash = r.password_hash;
        const bool fresh = storage::put_account(db, a, now);
        store.audit(now, "orderflowctl", "account.add", "", {{"by", r.by}, {"account", name}, {"role", r.role}, {"new", fresh}});
        return fresh;
    });
    if (is_new) out << "added account " << name << " (" << r.role << ")\n";
    else out << "updated account " << name << ": role " << r.role << ", new password\n";
    return 0;
}

int list_all(storage::database& db, std::ostream& out) {
    const auto accounts = storage::list_accounts(db);
    if (accounts.empty()) {
        out << "no console accounts; orderflowctl account add NAME --role staff|operator adds one\n";
        return 0;
    }
    std::size_t width = 4;
    for (const auto& a : accounts) width = std::max(width, a.name.size());
    out << std::left << std::setw(static_cast<int>(width + 2)) << "NAME" << std::setw(10) << "ROLE" << std::setw(27) << "CREATED"
        << "UPDATED\n";
    for (const auto& a : accounts)
        out << std::setw(static_cast<int>(width + 2)) << a.name << std::setw(10) << a.role << std::setw(27)
            << detail::local_time_text(a.created_at) << detail::local_time_text(a.updated_at) << "\n";
    return 0;
}

int remove_one(storage::database& db, storage::store& store, const account_request& r, std::ostream& out,
               std::ostream& err, std::int64_t now) {
    const std::string& name = r.argv[2];
    const auto removed = db.transaction([&]() -> std::optional<storage::account> {
        auto a = storage::get_account(db, name);
        if (!a) return std::nullopt;
        storage::remove_account(db, name);
        store.audit(now, "orderflowctl", "account.remove", "", {{"by", r.by}, {"account", name}, {"role", a->role}});
        return a;
    });
    if (!removed) {
        err << "orderflowctl account remove: there is no account '" << name << "' (orderflowctl account list shows them)\n";
        return 1;
    }
    out << "removed account " << name << " (" << removed->role << ")\n";
    return 0;
}

}  // namespace

int account_command(storage::database& db, storage::store& store, const account_request& r, std::ostream& out,
                    std::ostream& err, std::int64_t now) {
    const std::string sub = r.argv.size() > 1 ? r.argv[1] : "";
    if (sub == "add" && r.argv.size() == 3) return add_one(db, store, r, out, err, now);
    if (sub == "list" && r.argv.size() == 2) return list_all(db, out);
    if (sub == "remove" && r.argv.size() == 3) return remove_one(db, store, r, out, err, now);
    err << usage;
    return 2;
}

}  // namespace orderflow::daemon
