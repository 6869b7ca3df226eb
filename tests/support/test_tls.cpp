#include "tests/support/test_tls.h"

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdlib.h>

#include <memory>
#include <stdexcept>
#include <string>
#include <system_error>

namespace rotor::testing {

namespace {

struct KeyDeleter {
  void operator()(EVP_PKEY* key) const noexcept { EVP_PKEY_free(key); }
};
struct CertDeleter {
  void operator()(X509* cert) const noexcept { X509_free(cert); }
};
struct BioDeleter {
  void operator()(BIO* bio) const noexcept { BIO_free_all(bio); }
};
struct ExtDeleter {
  void operator()(X509_EXTENSION* ext) const noexcept { X509_EXTENSION_free(ext); }
};
using Key = std::unique_ptr<EVP_PKEY, KeyDeleter>;
using Cert = std::unique_ptr<X509, CertDeleter>;
using Bio = std::unique_ptr<BIO, BioDeleter>;
using Ext = std::unique_ptr<X509_EXTENSION, ExtDeleter>;

void check(bool ok, const char* what) {
  if (!ok) {
    throw std::runtime_error(std::string("test PKI: ") + what + " failed");
  }
}

Key make_key() {
  Key key(EVP_EC_gen("P-256"));
  check(key != nullptr, "EC key generation");
  return key;
}

void add_extension(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  Ext ext(X509V3_EXT_conf_nid(nullptr, &ctx, nid, value));
  check(ext != nullptr, "extension creation");
  check(X509_add_ext(cert, ext.get(), -1) == 1, "adding an extension");
}

Cert make_cert(EVP_PKEY* key, const char* common_name, long serial,  // NOLINT(google-runtime-int)
               X509* issuer, EVP_PKEY* issuer_key, bool ca) {
  Cert cert(X509_new());
  check(cert != nullptr, "X509_new");
  check(X509_set_version(cert.get(), 2) == 1, "set version");
  check(ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), serial) == 1, "set serial");
  check(X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600) != nullptr, "notBefore");
  check(X509_gmtime_adj(X509_getm_notAfter(cert.get()), 86400) != nullptr, "notAfter");
  check(X509_set_pubkey(cert.get(), key) == 1, "set public key");
  X509_NAME* name = X509_get_subject_name(cert.get());
  const auto* cn = reinterpret_cast<const unsigned char*>(common_name);  // OpenSSL's byte type
  check(X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
                                   reinterpret_cast<const unsigned char*>("Rotor tests"), -1, -1,
                                   0) == 1,
        "subject O");
  check(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, cn, -1, -1, 0) == 1, "subject CN");
  X509* signer = issuer != nullptr ? issuer : cert.get();
  check(X509_set_issuer_name(cert.get(), X509_get_subject_name(signer)) == 1, "set issuer");
  add_extension(cert.get(), signer, NID_subject_key_identifier, "hash");
  if (ca) {
    add_extension(cert.get(), signer, NID_basic_constraints, "critical,CA:TRUE");
    add_extension(cert.get(), signer, NID_key_usage, "critical,keyCertSign,cRLSign");
  } else {
    add_extension(cert.get(), signer, NID_authority_key_identifier, "keyid:always");
    add_extension(cert.get(), signer, NID_basic_constraints, "critical,CA:FALSE");
    add_extension(cert.get(), signer, NID_key_usage, "critical,digitalSignature");
    add_extension(cert.get(), signer, NID_ext_key_usage, "serverAuth");
    add_extension(cert.get(), signer, NID_subject_alt_name, "DNS:localhost,IP:127.0.0.1");
  }
  check(X509_sign(cert.get(), issuer_key != nullptr ? issuer_key : key, EVP_sha256()) > 0,
        "signing");
  return cert;
}

void write_cert(const std::filesystem::path& path, X509* cert) {
  Bio out(BIO_new_file(path.c_str(), "w"));
  check(out != nullptr, "opening a certificate file");
  check(PEM_write_bio_X509(out.get(), cert) == 1, "writing a certificate");
}

void write_key(const std::filesystem::path& path, EVP_PKEY* key) {
  Bio out(BIO_new_file(path.c_str(), "w"));
  check(out != nullptr, "opening a key file");
  check(PEM_write_bio_PrivateKey(out.get(), key, nullptr, nullptr, 0, nullptr, nullptr) == 1,
        "writing a key");
}

}  // namespace

TestPki make_test_pki() {
  std::string pattern = (std::filesystem::temp_directory_path() / "rotor-pki-XXXXXX").string();
  if (mkdtemp(pattern.data()) == nullptr) {
    throw std::system_error(errno, std::generic_category(), "test PKI: mkdtemp");
  }
  TestPki pki;
  pki.dir = pattern;
  pki.ca_cert = pki.dir / "ca.pem";
  pki.server_cert = pki.dir / "server.pem";
  pki.server_key = pki.dir / "server-key.pem";
  pki.other_ca_cert = pki.dir / "other-ca.pem";

  const Key ca_key = make_key();
  const Cert ca = make_cert(ca_key.get(), "Rotor Test CA", 1, nullptr, nullptr, true);
  const Key server_key = make_key();
  const Cert server = make_cert(server_key.get(), "localhost", 2, ca.get(), ca_key.get(), false);
  const Key other_key = make_key();
  const Cert other = make_cert(other_key.get(), "Rotor Other CA", 3, nullptr, nullptr, true);

  write_cert(pki.ca_cert, ca.get());
  write_cert(pki.server_cert, server.get());
  write_key(pki.server_key, server_key.get());
  write_cert(pki.other_ca_cert, other.get());
  return pki;
}

void remove_test_pki(const TestPki& pki) noexcept {
  std::error_code ignored;
  if (!pki.dir.empty()) {
    std::filesystem::remove_all(pki.dir, ignored);
  }
}

}  // namespace rotor::testing
