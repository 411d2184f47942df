// The sandbox over HTTPS (server_options tls_cert_file / tls_key_file in
// tikapi/http_server.cpp, --tls-cert / --tls-key): a CA and a certificate for
// 127.0.0.1 are generated here with OpenSSL's C API, and the real client,
// verifying the chain against that CA, signs and sends Open API calls.
#include "tikapi/sandbox/server.hpp"

#include "tests/sandbox/helpers.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <random>

namespace ORDERFLOW_TEST_FILE {  // see orderflow_test() in tests/CMakeLists.txt

using namespace sandbox_test;
namespace asio = boost::asio;
using namespace std::chrono_literals;

namespace {

struct key_deleter {
    void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
struct cert_deleter {
    void operator()(X509* x) const { X509_free(x); }
};

void add_extension(X509* cert, X509* issuer, int nid, const char* value) {
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
    REQUIRE(ext != nullptr);
    X509_add_ext(cert, ext, -1);
    X509_EXTENSION_free(ext);
}

std::unique_ptr<X509, cert_deleter> make_cert(EVP_PKEY* key, EVP_PKEY* signer_key, X509* issuer, const char* cn,
                                              const char* san = "IP:127.0.0.1,DNS:localhost") {
    std::unique_ptr<X509, cert_deleter> cert(X509_new());
    X509* x = cert.get();
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), issuer ? 2 : 1);
    X509_gmtime_adj(X509_getm_notBefore(x), -3600);
    X509_gmtime_adj(X509_getm_notAfter(x), 24 * 3600);
    X509_set_pubkey(x, key);
    X509_NAME* name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(cn), -1, -1, 0);
    X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name);
    if (!issuer) {
        add_extension(x, x, NID_basic_constraints, "critical,CA:TRUE");
        add_extension(x, x, NID_key_usage, "critical,keyCertSign,cRLSign");
    } else {
        add_extension(x, issuer, NID_basic_constraints, "CA:FALSE");
        add_extension(x, issuer, NID_ext_key_usage, "serverAuth");
        add_extension(x, issuer, NID_subject_alt_name, san);
    }
    REQUIRE(X509_sign(x, signer_key, EVP_sha256()) > 0);
    return cert;
}

template <class Write>
void write_pem(const std::filesystem::path& path, Write write) {
    BIO* bio = BIO_new(BIO_s_mem());
    write(bio);
    char* data = nullptr;
    long n = BIO_get_mem_data(bio, &data);
    std::ofstream(path, std::ios::binary) << std::string(data, static_cast<std::size_t>(n));
    BIO_free(bio);
}

struct pki {
    std::filesystem::path dir;
    std::filesystem::path ca, cert, key;
    // `san`: the names the server certificate is for.
    explicit pki(const char* san = "IP:127.0.0.1,DNS:localhost") {
        dir = std::filesystem::temp_directory_path() / ("orderflow-sandbox-tls-" + std::to_string(std::random_device{}()));
        std::filesystem::create_directories(dir);
        ca = dir / "ca.pem";
        cert = dir / "cert.pem";
        key = dir / "key.pem";
        std::unique_ptr<EVP_PKEY, key_deleter> ca_key(EVP_EC_gen("P-256")), server_key(EVP_EC_gen("P-256"));
        REQUIRE(ca_key);
        REQUIRE(server_key);
        auto ca_cert = make_cert(ca_key.get(), ca_key.get(), nullptr, "sandbox test CA");
        auto server_cert = make_cert(server_key.get(), ca_key.get(), ca_cert.get(), "sandbox", san);
        write_pem(ca, [&](BIO* b) { PEM_write_bio_X509(b, ca_cert.get()); });
        write_pem(cert, [&](BIO* b) { PEM_write_bio_X509(b, server_cert.get()); });
        write_pem(key, [&](BIO* b) { PEM_write_bio_PrivateKey(b, server_key.get(), nullptr, nullptr, 0, nullptr, nullptr); });
    }
    ~pki() {
        std::error_code ec;
        std::filesystem::remove_all(dir, ec);
    }
};

}  // namespace

TEST_CASE("With a certificate and key the sandbox serves the Open API over HTTPS", "[server][tls]") {
    pki files;
    asio::io_context io;
    fixture f;
    f.authorize();
    orderflow::sandbox::server sandbox(io.get_executor(), f.shop, "127.0.0.1", 0, files.cert.string(), files.key.string());
    sandbox.start();

    auto send = [&](const std::string& scheme, orderflow::tikapi::tls_options tls, http_request request) {
        std::optional<orderflow::tikapi::result<http_response>> answer;
        asio::co_spawn(
            io,
            [&, request, tls]() mutable -> asio::awaitable<void> {
                orderflow::tikapi::http_client client(io.get_executor(), tls);
                auto base = *orderflow::tikapi::url::parse(scheme + "://127.0.0.1:" + std::to_string(sandbox.port()));
                auto r = co_await client.send(base, std::move(request), 5s);
                answer.emplace(std::move(r));
            },
            asio::detached);
        auto deadline = std::chrono::steady_clock::now() + 10s;
        while (!answer && std::chrono::steady_clock::now() < deadline) io.run_one_for(50ms);
        REQUIRE(answer.has_value());
        return std::move(*answer);
    };

    orderflow::tikapi::tls_options trusted;
    trusted.ca_file = files.ca.string();
    auto shops = send("https", trusted, f.signed_request("GET", "/authorization/202309/shops", {}, "", false));
    REQUIRE(shops.ok());
    CHECK(shops.value().status == 200);
    CHECK(body_of(shops.value())["data"]["shops"][0]["cipher"] == cipher);

    SECTION("the client refuses it without the CA") {
        auto refused = send("https", orderflow::tikapi::tls_options{}, plain("GET", "/control/orders"));
        REQUIRE_FALSE(refused.ok());
        CHECK(refused.error().kind == orderflow::tikapi::error_kind::tls);
    }
    SECTION("the client refuses a certificate for another host name, even from the trusted CA") {
        pki other("DNS:open-api.tiktokglobalshop.com");
        orderflow::sandbox::server misnamed(io.get_executor(), f.shop, "127.0.0.1", 0, other.cert.string(), other.key.string());
        misnamed.start();
        orderflow::tikapi::tls_options trusts_other;
        trusts_other.ca_file = other.ca.string();
        std::optional<orderflow::tikapi::result<http_response>> answer;
        asio::co_spawn(
            io,
            [&]() -> asio::awaitable<void> {
                orderflow::tikapi::http_client client(io.get_executor(), trusts_other);
                auto base = *orderflow::tikapi::url::parse("https://127.0.0.1:" + std::to_string(misnamed.port()));
                auto request = plain("GET", "/control/orders");
                auto r = co_await client.send(base, std::move(request), 5s);
                answer.emplace(std::move(r));
            },
            asio::detached);
        auto deadline = std::chrono::steady_clock::now() + 10s;
        while (!answer && std::chrono::steady_clock::now() < deadline) io.run_one_for(50ms);
        REQUIRE(answer.has_value());
        REQUIRE_FALSE(answer->ok());
        CHECK(answer->error().kind == orderflow::tikapi::error_kind::tls);
        misnamed.stop();
    }
    SECTION("plain HTTP gets no answer") {
        auto plain_http = send("http", trusted, plain("GET", "/control/orders"));
        CHECK_FALSE(plain_http.ok());
    }
    sandbox.stop();
    io.run_for(2s);
}

TEST_CASE("A missing certificate file fails at start-up naming the file", "[server][tls]") {
    asio::io_context io;
    fixture f;
    try {
        orderflow::sandbox::server sandbox(io.get_executor(), f.shop, "127.0.0.1", 0, "/nonexistent/cert.pem", "/nonexistent/key.pem");
        FAIL("no exception");
    } catch (const std::system_error& e) {
        CHECK_THAT(e.what(), Catch::Contains("/nonexistent/cert.pem"));
    }
}

}  // namespace ORDERFLOW_TEST_FILE
