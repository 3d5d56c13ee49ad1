// Signatures for attestations: ECDSA over NIST P-256 with SHA-256 (what
// cosign and Tekton Chains use for a key pair), and DSSE's pre-authentication
// encoding (github.com/secure-systems-lab/dsse, protocol.md), which is what a
// DSSE envelope's signature covers:
//
//   PAE(type, body) = "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body
//
// with LEN the decimal byte length. A signature is ASN.1 DER (as cosign and
// `openssl dgst -sha256 -sign` write it). Keys are PEM: the private key as
// PKCS#8 ("PRIVATE KEY", unencrypted) or SEC 1 ("EC PRIVATE KEY"), the
// public key as SubjectPublicKeyInfo ("PUBLIC KEY", cosign.pub's form).
//
// EcKey is immutable after construction and thread-safe; an invalid key,
// a key of another curve or kind, or a bad signature is an error value
// (ErrorCode::kInvalid), never an exception.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "base/result.h"

namespace strake {

// DSSE's pre-authentication encoding of a payload of `type`.
std::string DssePae(std::string_view type, std::string_view body);

class EcKey {
 public:
  // A new P-256 key pair from OpenSSL's random generator.
  static Result<EcKey> Generate();
  // A private key (PKCS#8 or SEC 1 PEM) or, for verifying only, a public
  // key (SubjectPublicKeyInfo PEM); `name` is for errors.
  static Result<EcKey> FromPem(std::string_view pem, const std::string& name);

  EcKey(EcKey&&) noexcept;
  EcKey& operator=(EcKey&&) noexcept;
  ~EcKey();

  bool has_private() const { return has_private_; }
  // PKCS#8 PEM of the private key (an error for a public key alone).
  Result<std::string> PrivatePem() const;
  // Writes PrivatePem() to `path`, mode 0600, durably (the file and its
  // directory synced before it is used: a key must outlive what it signed)
  // and atomically (renamed into place).
  Status SavePrivate(const std::string& path) const;
  // SubjectPublicKeyInfo PEM of the public key.
  std::string PublicPem() const;
  // The hex SHA-256 of the public key's DER: a key id.
  std::string KeyId() const;

  // An ASN.1 DER ECDSA signature of SHA-256(data).
  Result<std::string> Sign(std::string_view data) const;
  // Whether `der` is this key's signature of SHA-256(data): Ok, or why not.
  Status Verify(std::string_view data, std::string_view der) const;

 private:
  struct Impl;
  explicit EcKey(std::unique_ptr<Impl> impl, bool has_private);
  std::unique_ptr<Impl> impl_;
  bool has_private_ = false;
};

}  // namespace strake
