// The encrypted vault and its key file (vault.hpp).
//
// Every secret file is read under one rule (read_secret_bytes): a regular
// file, not readable or writable by group or others, not empty; the vault key
// must also be well formed. Messages name the config key, the file and the
// fix but never contain secret material: not even the offending character of
// a malformed key, only its position.
#include "storage/vault.hpp"

#include "storage/detail/sodium.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

namespace orderflow::storage {

namespace fs = std::filesystem;

namespace {

constexpr std::size_t key_bytes = crypto_secretbox_KEYBYTES;  // 32
constexpr std::size_t key_hex = key_bytes * 2;                // 64

static_assert(key_bytes == 32);

// Closes a file descriptor on scope exit.
class fd_guard {
public:
    explicit fd_guard(int fd) : fd_(fd) {}
    fd_guard(const fd_guard&) = delete;
    fd_guard& operator=(const fd_guard&) = delete;
    ~fd_guard() {
        if (fd_ >= 0) ::close(fd_);
    }
    int get() const { return fd_; }
    int release() { return std::exchange(fd_, -1); }

private:
    int fd_;
};

// Wipes a buffer on scope exit.
template <class Buffer>
class wipe_on_exit {
public:
    explicit wipe_on_exit(Buffer& b) : b_(b) {}
    wipe_on_exit(const wipe_on_exit&) = delete;
    wipe_on_exit& operator=(const wipe_on_exit&) = delete;
    ~wipe_on_exit() { sodium_memzero(std::data(b_), std::size(b_) * sizeof(*std::data(b_))); }

private:
    Buffer& b_;
};

std::string mode_string(mode_t mode) {
    char buf[8];
    std::snprintf(buf, sizeof buf, "%04o", static_cast<unsigned>(mode & 07777));
    return buf;
}

const unsigned char* bytes(const std::string& s) { return reinterpret_cast<const unsigned char*>(s.data()); }

}  // namespace

orderflow::secret read_secret_bytes(const fs::path& file, std::string_view config_key, std::string_view advice,
                                    std::size_t max_bytes) {
    const std::string name = file.string();
    const std::string what = (config_key.empty() ? "" : std::string(config_key) + ": ") + "secret file " + name;

    // O_NONBLOCK: a FIFO planted in place of the file must not hang the start.
    fd_guard fd(::open(name.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK));
    if (fd.get() < 0) {
        int err = errno;
        if (err == ENOENT) throw std::runtime_error(what + " does not exist; " + std::string(advice));
        throw std::runtime_error(what + " cannot be read: " + std::strerror(err) +
                                 "; make it readable (mode 0600) by the user orderflowd runs as, and run orderflowctl "
                                 "as that user or as root");
    }
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) throw std::runtime_error(what + " cannot be examined: " + std::strerror(errno));
    if (!S_ISREG(st.st_mode)) {
        throw std::runtime_error(what + " is not a regular file; point " + std::string(config_key) +
                                 " at the file that holds the secret");
    }
    // Group as well as others: staff join the service's group to use the
    // review commands (docs/operations.md) and must not thereby read secrets.
    if ((st.st_mode & 077) != 0) {
        throw std::runtime_error(what + " is readable or writable by group or others (mode " + mode_string(st.st_mode) +
                                 "); run `chmod 600 " + name +
                                 "` and, if someone else may have read it, treat the secret as compromised and replace it");
    }

    std::string content(max_bytes, '\0');
    std::size_t len = 0;
    while (len < max_bytes) {
        ssize_t n = ::read(fd.get(), content.data() + len, max_bytes - len);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            int err = errno;
            sodium_memzero(content.data(), content.size());
            throw std::runtime_error(what + " cannot be read: " + std::strerror(err));
        }
        if (n == 0) break;
        len += static_cast<std::size_t>(n);
    }
    // Shortening never reallocates, so no unwiped copy is left behind; the
    // holder wipes the buffer.
    content.resize(len);
    orderflow::secret out(std::move(content));
    if (out.reveal().find_first_not_of(" \t\r\n") == std::string::npos)
        throw std::runtime_error(what + " is empty; " + std::string(advice));
    return out;
}

orderflow::secret read_vault_key(const fs::path& file) {
    detail::ensure_sodium();
    const std::string name = file.string();
    const std::string keygen = "`orderflowctl keygen " + name + "`";
    const std::string what = "storage.vault_key_file: vault key file " + name;

    // 64 hex characters, then "\n" or "\r\n". Read a little more than that so
    // an over-long file is seen as such.
    constexpr std::size_t max_bytes = key_hex + 8;
    const orderflow::secret raw = read_secret_bytes(
        file, "storage.vault_key_file",
        "create one with " + keygen + " (remove an empty file first), or point storage.vault_key_file at the existing key", max_bytes);
    const std::string& buf = raw.reveal();
    std::size_t len = buf.size();
    const bool over_long = len == max_bytes;
    if (len > 0 && buf[len - 1] == '\n') --len;
    if (len > 0 && buf[len - 1] == '\r') --len;

    const std::string fix = "; restore the right key file, or remove it and write a new one with " + keygen +
                            " (tokens stored under the old key are then lost and the shop must be re-authorized)";
    if (len != key_hex) {
        std::string found = over_long ? "more than " + std::to_string(key_hex + 2) : std::to_string(len);
        throw std::runtime_error(what + " is malformed: expected " + std::to_string(key_hex) +
                                 " hex characters (32 bytes) and an optional newline, found " + found +
                                 " characters" + fix);
    }
    for (std::size_t i = 0; i < key_hex; ++i) {
        unsigned char c = static_cast<unsigned char>(buf[i]);
        bool hex = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
        if (!hex) {
            throw std::runtime_error(what + " is malformed: character " + std::to_string(i + 1) +
                                     " is not a hex digit" + fix);
        }
    }
    std::string key(key_bytes, '\0');
    std::size_t bin_len = 0;
    if (sodium_hex2bin(reinterpret_cast<unsigned char*>(key.data()), key.size(), buf.data(), key_hex, nullptr, &bin_len,
                       nullptr) != 0 ||
        bin_len != key_bytes) {
        sodium_memzero(key.data(), key.size());
        throw std::runtime_error(what + " is malformed: not 32 bytes of hex" + fix);
    }
    return orderflow::secret(std::move(key));  // 32 bytes: heap-allocated, moved without a copy
}

void write_vault_key(const fs::path& file) {
    detail::ensure_sodium();
    const std::string name = file.string();
    // O_EXCL: never replace a key (and with it every stored token); O_NOFOLLOW:
    // never write through a planted symlink.
    fd_guard fd(::open(name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, 0600));
    if (fd.get() < 0) {
        int err = errno;
        struct stat st {};
        if (err == EEXIST && ::lstat(name.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
            throw std::runtime_error(name + " is a directory; name the key file to create, e.g. " + (file / "vault_key").string());
        }
        if (err == EEXIST) {
            throw std::runtime_error("refusing to overwrite existing vault key file " + name +
                                     ": the stored tokens are encrypted with it; remove it first only if you mean "
                                     "to discard them");
        }
        throw std::runtime_error("cannot create vault key file " + name + ": " + std::strerror(err) +
                                 "; check that its directory exists and is writable");
    }
    auto fail = [&](const char* what, int err) {
        ::unlink(name.c_str());
        throw std::runtime_error("cannot write vault key file " + name + ": " + what + ": " + std::strerror(err));
    };
    // The umask can only remove bits, but make the mode explicit anyway.
    if (::fchmod(fd.get(), 0600) != 0) fail("chmod", errno);

    unsigned char key[key_bytes];
    char hex[key_hex + 2];  // 64 hex + '\n' + sodium's NUL
    wipe_on_exit wipe_key(key);
    wipe_on_exit wipe_hex(hex);
    randombytes_buf(key, sizeof key);
    sodium_bin2hex(hex, key_hex + 1, key, sizeof key);
    hex[key_hex] = '\n';

    std::size_t done = 0;
    while (done < key_hex + 1) {
        ssize_t n = ::write(fd.get(), hex + done, key_hex + 1 - done);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) fail("write", errno);
        done += static_cast<std::size_t>(n);
    }
    if (::fsync(fd.get()) != 0) fail("fsync", errno);
    if (::close(fd.release()) != 0) fail("close", errno);
}

// ------------------------------------------------------------------------ vault

vault::vault(database& db, orderflow::secret key) : db_(db), key_(std::move(key)) {
    detail::ensure_sodium();
    if (key_.reveal().size() != key_bytes) {
        throw std::invalid_argument("vault key must be 32 bytes, got " + std::to_string(key_.reveal().size()));
    }
}

orderflow::secret vault::derived_key(std::string_view purpose) const {
    unsigned char k[32];
    crypto_generichash(k, sizeof k, reinterpret_cast<const unsigned char*>(purpose.data()), purpose.size(),
                       reinterpret_cast<const unsigned char*>(key_.reveal().data()), key_.reveal().size());
    orderflow::secret out(std::string(reinterpret_cast<const char*>(k), sizeof k));
    sodium_memzero(k, sizeof k);
    return out;
}

void vault::put(std::string_view name, const orderflow::secret& plaintext, std::int64_t now) {
    const std::string& m = plaintext.reveal();
    unsigned char nonce[crypto_secretbox_NONCEBYTES];
    randombytes_buf(nonce, sizeof nonce);
    std::vector<unsigned char> sealed(crypto_secretbox_MACBYTES + m.size());
    crypto_secretbox_easy(sealed.data(), bytes(m), m.size(), nonce, bytes(key_.reveal()));

    auto st = db_.prepare(
        "INSERT INTO vault (name, nonce, ciphertext, updated_at) VALUES (?1, ?2, ?3, ?4) "
        "ON CONFLICT (name) DO UPDATE SET nonce = excluded.nonce, ciphertext = excluded.ciphertext, "
        "updated_at = excluded.updated_at");
    st.bind(1, name).bind_blob(2, nonce).bind_blob(3, sealed).bind(4, now);
    st.step();
}

std::optional<orderflow::secret> vault::get(std::string_view name) {
    auto st = db_.prepare("SELECT nonce, ciphertext FROM vault WHERE name = ?1");
    st.bind(1, name);
    if (!st.step()) return std::nullopt;
    const std::vector<unsigned char> nonce = st.blob(0);
    const std::vector<unsigned char> sealed = st.blob(1);
    st.reset();

    const std::string where = "vault entry '" + std::string(name) + "' in " + db_.path().string();
    if (nonce.size() != crypto_secretbox_NONCEBYTES || sealed.size() < crypto_secretbox_MACBYTES) {
        throw storage_error(0, where + " is damaged (bad nonce or ciphertext length); store the secret again "
                                       "(e.g. re-authorize the shop)");
    }
    std::string plain(sealed.size() - crypto_secretbox_MACBYTES, '\0');
    if (crypto_secretbox_open_easy(reinterpret_cast<unsigned char*>(plain.data()), sealed.data(), sealed.size(),
                                   nonce.data(), bytes(key_.reveal())) != 0) {
        throw wrong_key_error(0, "cannot decrypt " + where +
                                   ": wrong vault key? Check that storage.vault_key_file is the key this database "
                                   "was written with");
    }
    orderflow::secret out(std::move(plain));
    // A short string lives inside the object (SSO) and a move copies it;
    // overwrite what the moved-from object may still hold.
    plain.assign(plain.capacity(), '\0');
    return out;
}

bool vault::stored(database& db, std::string_view name) {
    auto st = db.prepare("SELECT 1 FROM vault WHERE name = ?1");
    st.bind(1, name);
    return st.step();
}

bool vault::erase(std::string_view name) {
    auto st = db_.prepare("DELETE FROM vault WHERE name = ?1");
    st.bind(1, name);
    st.step();
    return db_.changes() == 1;
}

}  // namespace orderflow::storage
