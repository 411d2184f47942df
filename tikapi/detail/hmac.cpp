// HMAC-SHA256 (see detail/hmac.hpp), built on OpenSSL's SHA-256, which uses
// the CPU's SHA extensions where it has them: a webhook's signature costs
// about 0.4 µs instead of 1.5 µs with libsodium's portable SHA-256, and every
// webhook pays it on the listener's thread (bench/README.md, "Eleventh
// round"). The construction is RFC 2104's: H((K0 ^ opad) || H((K0 ^ ipad) ||
// message)), K0 being the key padded to a block, or its hash when longer.
#include "tikapi/detail/hmac.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <sodium.h>

#include <array>
#include <cstring>
#include <memory>
#include <stdexcept>

namespace orderflow::tikapi::detail {

namespace {

constexpr std::size_t block_size = 64;    // SHA-256's
constexpr std::size_t digest_size = 32;

// Fetched once: a digest named per call is looked up again every time.
const EVP_MD* sha256() {
    static EVP_MD* md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
    if (!md) throw std::runtime_error("OpenSSL has no SHA-256");
    return md;
}

struct md_ctx_free {
    void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};

// One context per thread, reused: allocating it is a good part of a call.
EVP_MD_CTX* thread_ctx() {
    thread_local std::unique_ptr<EVP_MD_CTX, md_ctx_free> ctx(EVP_MD_CTX_new());
    if (!ctx) throw std::runtime_error("out of memory for a SHA-256 context");
    return ctx.get();
}

void digest(EVP_MD_CTX* ctx, const unsigned char* pad, std::initializer_list<std::string_view> pieces, unsigned char* out) {
    unsigned int length = 0;
    bool ok = EVP_DigestInit_ex2(ctx, sha256(), nullptr) == 1 && EVP_DigestUpdate(ctx, pad, block_size) == 1;
    for (auto piece : pieces) ok = ok && EVP_DigestUpdate(ctx, piece.data(), piece.size()) == 1;
    ok = ok && EVP_DigestFinal_ex(ctx, out, &length) == 1 && length == digest_size;
    if (!ok) throw std::runtime_error("SHA-256 failed");
}

// Wipes the key material of one call, however it ends.
template <std::size_t N>
struct wiped : std::array<unsigned char, N> {
    ~wiped() { OPENSSL_cleanse(this->data(), N); }
};

}  // namespace

std::string hmac_sha256_hex(std::string_view key, std::initializer_list<std::string_view> message) {
    EVP_MD_CTX* ctx = thread_ctx();
    wiped<block_size> k0{};   // zero-padded
    if (key.size() > block_size) {
        unsigned int length = 0;
        if (EVP_Digest(key.data(), key.size(), k0.data(), &length, sha256(), nullptr) != 1) throw std::runtime_error("SHA-256 failed");
    } else if (!key.empty()) {
        std::memcpy(k0.data(), key.data(), key.size());
    }
    wiped<block_size> pad;
    wiped<digest_size> inner;
    for (std::size_t i = 0; i < block_size; ++i) pad[i] = k0[i] ^ 0x36;
    digest(ctx, pad.data(), message, inner.data());
    for (std::size_t i = 0; i < block_size; ++i) pad[i] = k0[i] ^ 0x5c;
    std::array<unsigned char, digest_size> mac;
    digest(ctx, pad.data(), {std::string_view(reinterpret_cast<const char*>(inner.data()), inner.size())}, mac.data());

    char hex[digest_size * 2 + 1];
    sodium_bin2hex(hex, sizeof hex, mac.data(), mac.size());
    return std::string(hex, digest_size * 2);
}

}  // namespace orderflow::tikapi::detail
