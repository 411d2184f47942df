// Request signing against the published vectors (docs/tiktok-shop-api.md §2)
// and against values computed independently with Python's hmac module.
#include "tikapi/signing.hpp"

#include "tikapi/detail/hmac.hpp"

#include <catch2/catch.hpp>

namespace ORDERFLOW_TEST_FILE {  // see orderflow_test() in tests/CMakeLists.txt

using orderflow::tikapi::hmac_sha256_hex;
using orderflow::tikapi::sign_request;
using orderflow::tikapi::signature_equals;
using orderflow::tikapi::string_to_sign;

TEST_CASE("the official documentation vector V1 signs to the published value", "[signing]") {
    std::map<std::string, std::string> query{{"app_key", "29a39d"}, {"timestamp", "1623812664"}};
    CHECK(string_to_sign("e59af819cc", "/authorization/202309/shops", query, "") ==
          "e59af819cc/authorization/202309/shopsapp_key29a39dtimestamp1623812664e59af819cc");
    CHECK(sign_request("e59af819cc", "/authorization/202309/shops", query, "") ==
          "b596b73e0cc6de07ac26f036364178ab16b0a907af13d43f0a0cd2345f582dc8");
}

TEST_CASE("the PHP SDK vector V2 signs to the published value", "[signing]") {
    CHECK(sign_request("app_secret", "/test-api", {{"foo", "bar"}}, "") ==
          "d3cb7fe11ecae942802ceeca67e7cf10120cc12f1517d45fbc1c8cfe5413c80f");
}

TEST_CASE("a request body is appended after the sorted parameters", "[signing]") {
    std::map<std::string, std::string> query{
        {"timestamp", "1623812664"}, {"shop_cipher", "GCP_XF90"}, {"app_key", "29a39d"}};
    const std::string body = R"({"buyer_user_id":"7494"})";
    // Expected value from Python: hmac.new(secret, secret + path + params + body + secret, sha256)
    CHECK(sign_request("e59af819cc", "/customer_service/202309/conversations", query, body) ==
          "b33250d80dbb27371d6777290bc6a72468a581ce19e995b3d61c5615b44ae1e4");

    SECTION("and changing one byte of the body changes the signature") {
        CHECK(sign_request("e59af819cc", "/customer_service/202309/conversations", query,
                           R"({"buyer_user_id": "7494"})") !=
              "b33250d80dbb27371d6777290bc6a72468a581ce19e995b3d61c5615b44ae1e4");
    }
}

TEST_CASE("sign and access_token are not part of the signed parameters", "[signing]") {
    std::map<std::string, std::string> base{{"app_key", "29a39d"}, {"timestamp", "1623812664"}};
    auto with_extras = base;
    with_extras["sign"] = "deadbeef";
    with_extras["access_token"] = "TTP_secret_token";
    CHECK(sign_request("e59af819cc", "/authorization/202309/shops", with_extras, "") ==
          sign_request("e59af819cc", "/authorization/202309/shops", base, ""));

    SECTION("but any other parameter is") {
        auto with_version = base;
        with_version["version"] = "202309";
        CHECK(sign_request("e59af819cc", "/authorization/202309/shops", with_version, "") !=
              sign_request("e59af819cc", "/authorization/202309/shops", base, ""));
    }
}

TEST_CASE("decoded parameter values are signed as they are", "[signing]") {
    std::map<std::string, std::string> query{{"page_token", "a/b+c="}};
    CHECK(string_to_sign("s", "/p", query, "") == "s/ppage_tokena/b+c=s");
}

TEST_CASE("signatures compare equal regardless of case and surrounding whitespace", "[signing]") {
    const std::string expected = "b596b73e0cc6de07ac26f036364178ab16b0a907af13d43f0a0cd2345f582dc8";
    CHECK(signature_equals(expected, expected));
    CHECK(signature_equals(expected, "  B596B73E0CC6DE07AC26F036364178AB16B0A907AF13D43F0A0CD2345F582DC8\r\n"));
    CHECK_FALSE(signature_equals(expected, ""));
    CHECK_FALSE(signature_equals(expected, expected.substr(0, 63)));
    CHECK_FALSE(signature_equals(expected, expected.substr(0, 63) + "9"));
}

// RFC 4231's vectors, and keys at and past SHA-256's 64-byte block (a longer
// key is hashed first); values checked with Python's hmac module.
TEST_CASE("HMAC-SHA256 gives RFC 4231's values for keys shorter than, as long as and longer than a block", "[signing]") {
    CHECK(hmac_sha256_hex(std::string(20, '\x0b'), "Hi There") == "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
    CHECK(hmac_sha256_hex("Jefe", "what do ya want for nothing?") == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    CHECK(hmac_sha256_hex(std::string(131, '\xaa'), "Test Using Larger Than Block-Size Key - Hash Key First") ==
          "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
    CHECK(hmac_sha256_hex(std::string(64, 'k'), "exactly a block of key") == "d4229b87e09c5dba84a00e3679ece32b5de4bb58a64d28afe3800adb898c6920");
    CHECK(hmac_sha256_hex("", "") == "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad");
}

TEST_CASE("a message signed in pieces signs as the pieces joined", "[signing]") {
    using orderflow::tikapi::detail::hmac_sha256_hex;
    CHECK(hmac_sha256_hex("Jefe", {"what do ya ", "", "want for nothing?"}) == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    CHECK(hmac_sha256_hex(std::string(131, '\xaa'), {"Test Using Larger Than Block-Size Key", " - Hash Key First"}) ==
          "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
}

TEST_CASE("signatures longer than the stack buffer still compare by content", "[signing]") {
    const std::string long_hex(200, 'a');
    CHECK(signature_equals(long_hex, std::string(200, 'A')));
    CHECK_FALSE(signature_equals(long_hex, std::string(199, 'a') + "b"));
}

}  // namespace ORDERFLOW_TEST_FILE
