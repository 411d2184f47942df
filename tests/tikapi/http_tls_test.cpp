// http_client over HTTPS: a CA and a server certificate are generated in the
// test with OpenSSL's C API, a one-shot TLS server answers on 127.0.0.1, and
// the client must accept exactly the chain and host names it should.
#include "tikapi/http.hpp"

#include "tests/tikapi/test_support.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <catch2/catch.hpp>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <filesystem>
#include <fstream>
#include <random>

namespace ORDERFLOW_TEST_FILE {  // see orderflow_test() in tests/CMakeLists.txt

namespace asio = boost::asio;
namespace ssl = boost::asio::ssl;
using namespace orderflow::tikapi;
using orderflow::tikapi::test::run;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;

namespace {

struct key_deleter {
    void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
struct cert_deleter {
    void operator()(X509* x) const { X509_free(x); }
};
using key_ptr = std::unique_ptr<EVP_PKEY, key_deleter>;
using cert_ptr = std::unique_ptr<X509, cert_deleter>;

void add_extension(X509* cert, X509* issuer, int nid, const char* value) {
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
    REQUIRE(ext != nullptr);
    X509_add_ext(cert, ext, -1);
    X509_EXTENSION_free(ext);
}

// issuer == nullptr: self-signed CA.
cert_ptr make_cert(EVP_PKEY* key, EVP_PKEY* issuer_key, X509* issuer, const char* common_name, const char* san) {
    static long serial = 1;
    cert_ptr cert(X509_new());
    X509* x = cert.get();
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), serial++);
    X509_gmtime_adj(X509_getm_notBefore(x), -3600);
    X509_gmtime_adj(X509_getm_notAfter(x), 24 * 3600);
    X509_set_pubkey(x, key);
    X509_NAME* name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(common_name), -1, -1, 0);
    X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name);
    X509* signer = issuer ? issuer : x;
    if (!issuer) {
        add_extension(x, signer, NID_basic_constraints, "critical,CA:TRUE");
        add_extension(x, signer, NID_key_usage, "critical,keyCertSign,cRLSign");
    } else {
        add_extension(x, signer, NID_basic_constraints, "CA:FALSE");
        add_extension(x, signer, NID_ext_key_usage, "serverAuth");
        add_extension(x, signer, NID_subject_alt_name, san);
    }
    REQUIRE(X509_sign(x, issuer_key, EVP_sha256()) > 0);
    return cert;
}

std::string pem(X509* cert) {
    BIO* bio = BIO_new(BIO_s_mem());
    PEM_write_bio_X509(bio, cert);
    char* data = nullptr;
    long n = BIO_get_mem_data(bio, &data);
    std::string out(data, static_cast<std::size_t>(n));
    BIO_free(bio);
    return out;
}

std::string pem(EVP_PKEY* key) {
    BIO* bio = BIO_new(BIO_s_mem());
    PEM_write_bio_PrivateKey(bio, key, nullptr, nullptr, 0, nullptr, nullptr);
    char* data = nullptr;
    long n = BIO_get_mem_data(bio, &data);
    std::string out(data, static_cast<std::size_t>(n));
    BIO_free(bio);
    return out;
}

// A CA, a server certificate for `san` signed by it, and the CA in a temp file.
struct test_pki {
    key_ptr ca_key{EVP_EC_gen("P-256")};
    cert_ptr ca_cert;
    key_ptr server_key{EVP_EC_gen("P-256")};
    cert_ptr server_cert;
    std::filesystem::path ca_file;

    explicit test_pki(const char* san) {
        REQUIRE(ca_key);
        REQUIRE(server_key);
        ca_cert = make_cert(ca_key.get(), ca_key.get(), nullptr, "orderflow test CA", nullptr);
        server_cert = make_cert(server_key.get(), ca_key.get(), ca_cert.get(), "orderflow test server", san);
        std::random_device rd;
        ca_file = std::filesystem::temp_directory_path() / ("orderflow-test-ca-" + std::to_string(rd()) + ".pem");
        std::ofstream(ca_file) << pem(ca_cert.get());
    }
    ~test_pki() {
        std::error_code ec;
        std::filesystem::remove(ca_file, ec);
    }

    ssl::context server_context() const {
        ssl::context ctx(ssl::context::tls_server);
        std::string cert = pem(server_cert.get());
        std::string key = pem(server_key.get());
        ctx.use_certificate(asio::buffer(cert), ssl::context::pem);
        ctx.use_private_key(asio::buffer(key), ssl::context::pem);
        return ctx;
    }
};

// Accepts one connection, answers one request with "secure", and closes.
// Returns whether the handshake succeeded.
asio::awaitable<bool> serve_once(tcp::acceptor& acceptor, ssl::context& ctx) {
    auto accepted = co_await acceptor.async_accept(asio::as_tuple(asio::use_awaitable));
    if (std::get<0>(accepted)) co_return false;
    ssl::stream<tcp::socket> stream(std::move(std::get<1>(accepted)), ctx);
    auto handshake = co_await stream.async_handshake(ssl::stream_base::server, asio::as_tuple(asio::use_awaitable));
    if (std::get<0>(handshake)) co_return false;
    std::string request;
    auto read = co_await asio::async_read_until(stream, asio::dynamic_buffer(request), "\r\n\r\n",
                                                asio::as_tuple(asio::use_awaitable));
    if (std::get<0>(read)) co_return true;
    std::string response = "HTTP/1.1 200 OK\r\nContent-Length: 6\r\nConnection: close\r\n\r\nsecure";
    co_await asio::async_write(stream, asio::buffer(response), asio::as_tuple(asio::use_awaitable));
    co_await stream.async_shutdown(asio::as_tuple(asio::use_awaitable));
    co_return true;
}

struct tls_outcome {
    result<http_response> response;
    bool server_handshake_ok;
};

tls_outcome exchange(const test_pki& pki, const std::string& host, tls_options tls) {
    asio::io_context ioc;
    auto server_ctx = pki.server_context();
    tcp::acceptor acceptor(ioc, {asio::ip::make_address("127.0.0.1"), 0});
    const auto port = acceptor.local_endpoint().port();
    http_client client(ioc.get_executor(), std::move(tls));
    std::optional<bool> handshake_ok;
    asio::co_spawn(ioc, serve_once(acceptor, server_ctx), [&](std::exception_ptr, bool ok) { handshake_ok = ok; });
    auto base = *url::parse("https://" + host + ":" + std::to_string(port));
    http_request req;
    req.target = "/hello";
    auto res = run(ioc, [&]() -> asio::awaitable<result<http_response>> {
        auto r = co_await client.send(base, req, 5s);
        if (!handshake_ok) acceptor.close();   // the server may still wait; let run() return
        co_return r;
    }());
    return {std::move(res), handshake_ok.value_or(false)};
}

}  // namespace

TEST_CASE("HTTPS works with a certificate from the configured CA for the host name", "[http][tls]") {
    test_pki pki("DNS:localhost,IP:127.0.0.1");
    tls_options tls;
    tls.ca_file = pki.ca_file.string();

    SECTION("by name, with SNI") {
        auto outcome = exchange(pki, "localhost", tls);
        REQUIRE(outcome.response.ok());
        CHECK(outcome.response.value().status == 200);
        CHECK(outcome.response.value().body == "secure");
    }
    SECTION("by IP address") {
        auto outcome = exchange(pki, "127.0.0.1", tls);
        REQUIRE(outcome.response.ok());
        CHECK(outcome.response.value().body == "secure");
    }
}

TEST_CASE("HTTPS refuses a certificate for another host name", "[http][tls]") {
    test_pki pki("DNS:other.example");
    tls_options tls;
    tls.ca_file = pki.ca_file.string();
    auto outcome = exchange(pki, "localhost", tls);
    REQUIRE_FALSE(outcome.response.ok());
    CHECK(outcome.response.error().kind == error_kind::tls);
    CHECK_FALSE(outcome.response.error().retryable());
    CHECK_FALSE(outcome.server_handshake_ok);
}

TEST_CASE("HTTPS refuses a certificate from an unknown CA", "[http][tls]") {
    test_pki pki("DNS:localhost");
    test_pki other("DNS:localhost");
    tls_options tls;
    tls.ca_file = other.ca_file.string();   // trusts a different CA
    auto outcome = exchange(pki, "localhost", tls);
    REQUIRE_FALSE(outcome.response.ok());
    CHECK(outcome.response.error().kind == error_kind::tls);
    CHECK(outcome.response.error().message.find("certificate") != std::string::npos);
}

TEST_CASE("with verification off any certificate is accepted", "[http][tls]") {
    test_pki pki("DNS:other.example");
    tls_options tls;
    tls.verify = false;
    auto outcome = exchange(pki, "localhost", tls);
    REQUIRE(outcome.response.ok());
    CHECK(outcome.response.value().body == "secure");
}

TEST_CASE("a CA file that cannot be read is refused when the client is built", "[http][tls]") {
    asio::io_context ioc;
    tls_options tls;
    tls.ca_file = "/nonexistent/orderflow-ca.pem";
    CHECK_THROWS_WITH(http_client(ioc.get_executor(), tls), Catch::Contains("/nonexistent/orderflow-ca.pem"));
}

}  // namespace ORDERFLOW_TEST_FILE
