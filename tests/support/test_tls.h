#pragma once
// A throwaway PKI for loopback HTTPS in tests and simulators: a CA, a server certificate for
// 127.0.0.1 and localhost (subjectAltName) signed by it, and a second, unrelated CA that must be
// refused. Everything is written as PEM into a fresh temporary directory (mode 0700).

#include <filesystem>

namespace rotor::testing {

struct TestPki {
  std::filesystem::path dir;
  std::filesystem::path ca_cert;        // trust this to accept server_cert
  std::filesystem::path server_cert;    // CN=localhost, SAN DNS:localhost, IP:127.0.0.1
  std::filesystem::path server_key;     // unencrypted PEM private key of server_cert
  std::filesystem::path other_ca_cert;  // a CA that did not sign server_cert
};

// Generates a new PKI (P-256 keys, valid from one hour ago for one day). Throws
// std::runtime_error when OpenSSL or the file system fails.
TestPki make_test_pki();

// Removes the directory of a TestPki (best effort).
void remove_test_pki(const TestPki& pki) noexcept;

}  // namespace rotor::testing
