#include "base/signing.h"

#include <fcntl.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>

#include "base/fd.h"
#include "base/sha256.h"

namespace strake {

namespace {

struct PkeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct MdCtxFree {
  void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};
using Pkey = std::unique_ptr<EVP_PKEY, PkeyFree>;
using Bio = std::unique_ptr<BIO, BioFree>;
using MdCtx = std::unique_ptr<EVP_MD_CTX, MdCtxFree>;

// An error naming what failed and OpenSSL's reason; the thread's OpenSSL
// error queue is left empty (TLS reads on this thread consult it).
tl::unexpected<Error> OpensslFail(ErrorCode code, const std::string& what) {
  unsigned long e = ERR_peek_last_error();
  std::array<char, 256> reason{};
  if (e != 0) ERR_error_string_n(e, reason.data(), reason.size());
  ERR_clear_error();
  return Fail(code, e == 0 ? what : fmt::format("{} ({})", what, reason.data()));
}

// Never asks for a passphrase (OpenSSL's default would read the terminal).
int NoPassphrase(char* /*buf*/, int /*size*/, int /*rwflag*/, void* /*u*/) { return -1; }

std::string BioText(BIO* bio) {
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  return n > 0 ? std::string(data, static_cast<size_t>(n)) : std::string();
}

// The key is an EC key on P-256 (OpenSSL names it prime256v1).
Status CheckCurve(EVP_PKEY* key, const std::string& name) {
  if (EVP_PKEY_get_base_id(key) != EVP_PKEY_EC)
    return OpensslFail(ErrorCode::kInvalid, name + ": not an ECDSA key");
  std::array<char, 64> group{};
  size_t len = 0;
  if (EVP_PKEY_get_group_name(key, group.data(), group.size(), &len) != 1 ||
      (std::string_view(group.data(), len) != "prime256v1" &&
       std::string_view(group.data(), len) != "P-256"))
    return OpensslFail(ErrorCode::kInvalid, fmt::format("{}: not a P-256 key ({})", name,
                                                        std::string_view(group.data(), len)));
  return Ok();
}

}  // namespace

struct EcKey::Impl {
  Pkey key;
};

std::string DssePae(std::string_view type, std::string_view body) {
  return fmt::format("DSSEv1 {} {} {} {}", type.size(), type, body.size(), body);
}

EcKey::EcKey(std::unique_ptr<Impl> impl, bool has_private)
    : impl_(std::move(impl)), has_private_(has_private) {}
EcKey::EcKey(EcKey&&) noexcept = default;
EcKey& EcKey::operator=(EcKey&&) noexcept = default;
EcKey::~EcKey() = default;

Result<EcKey> EcKey::Generate() {
  Pkey key(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
  if (!key) return OpensslFail(ErrorCode::kUnknown, "generating a P-256 key failed");
  return EcKey(std::make_unique<Impl>(Impl{std::move(key)}), true);
}

Result<EcKey> EcKey::FromPem(std::string_view pem, const std::string& name) {
  Bio bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) return Fail("out of memory");
  bool is_private = pem.find("PRIVATE KEY-----") != std::string_view::npos;
  // PKCS#8's "ENCRYPTED PRIVATE KEY", SEC 1's "Proc-Type: 4,ENCRYPTED",
  // cosign's "ENCRYPTED SIGSTORE PRIVATE KEY": refused, never prompted for.
  if (pem.find("ENCRYPTED") != std::string_view::npos)
    return Failf(ErrorCode::kInvalid, "{}: an encrypted key (give it unencrypted)", name);
  Pkey key(is_private ? PEM_read_bio_PrivateKey(bio.get(), nullptr, NoPassphrase, nullptr)
                      : PEM_read_bio_PUBKEY(bio.get(), nullptr, NoPassphrase, nullptr));
  if (!key) {
    return OpensslFail(ErrorCode::kInvalid, fmt::format("{}: not a PEM {} key", name,
                                                        is_private ? "private" : "public"));
  }
  STRAKE_TRY(CheckCurve(key.get(), name));
  return EcKey(std::make_unique<Impl>(Impl{std::move(key)}), is_private);
}

Result<std::string> EcKey::PrivatePem() const {
  if (!has_private_) return Fail(ErrorCode::kInvalid, "a public key has no private part");
  Bio bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_PKCS8PrivateKey(bio.get(), impl_->key.get(), nullptr, nullptr, 0,
                                            nullptr, nullptr) != 1)
    return OpensslFail(ErrorCode::kUnknown, "writing a private key failed");
  return BioText(bio.get());
}

Status EcKey::SavePrivate(const std::string& path) const {
  STRAKE_TRY_ASSIGN(pem, PrivatePem());
  const std::string tmp = path + ".tmp";
  Fd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
  if (!fd) return Failf("{}: {}", tmp, std::strerror(errno));
  if (::write(fd.get(), pem.data(), pem.size()) != static_cast<ssize_t>(pem.size()) ||
      ::fsync(fd.get()) != 0)
    return Failf("{}: {}", tmp, std::strerror(errno));
  if (::rename(tmp.c_str(), path.c_str()) != 0) return Failf("{}: {}", path, std::strerror(errno));
  size_t slash = path.rfind('/');
  Fd dir(::open(slash == std::string::npos ? "." : path.substr(0, slash).c_str(),
                O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dir || ::fsync(dir.get()) != 0) return Failf("{}: {}", path, std::strerror(errno));
  return Ok();
}

std::string EcKey::PublicPem() const {
  Bio bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_PUBKEY(bio.get(), impl_->key.get()) != 1) {
    ERR_clear_error();
    return "";
  }
  return BioText(bio.get());
}

std::string EcKey::KeyId() const {
  unsigned char* der = nullptr;
  int n = i2d_PUBKEY(impl_->key.get(), &der);
  if (n <= 0) {
    ERR_clear_error();
    return "";
  }
  std::string out = Sha256Hex(std::string_view(reinterpret_cast<const char*>(der), n));
  OPENSSL_free(der);
  return out;
}

Result<std::string> EcKey::Sign(std::string_view data) const {
  if (!has_private_) return Fail(ErrorCode::kInvalid, "a public key cannot sign");
  MdCtx ctx(EVP_MD_CTX_new());
  size_t len = 0;
  if (!ctx ||
      EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, impl_->key.get()) != 1 ||
      EVP_DigestSign(ctx.get(), nullptr, &len, reinterpret_cast<const unsigned char*>(data.data()),
                     data.size()) != 1)
    return OpensslFail(ErrorCode::kUnknown,
                       "signing with key " + KeyId().substr(0, 16) + " failed");
  std::string sig(len, '\0');
  if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len,
                     reinterpret_cast<const unsigned char*>(data.data()), data.size()) != 1)
    return OpensslFail(ErrorCode::kUnknown,
                       "signing with key " + KeyId().substr(0, 16) + " failed");
  sig.resize(len);
  return sig;
}

Status EcKey::Verify(std::string_view data, std::string_view der) const {
  MdCtx ctx(EVP_MD_CTX_new());
  if (!ctx ||
      EVP_DigestVerifyInit(ctx.get(), nullptr, EVP_sha256(), nullptr, impl_->key.get()) != 1)
    return OpensslFail(ErrorCode::kUnknown,
                       "verifying with key " + KeyId().substr(0, 16) + " failed");
  int ok =
      EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(der.data()), der.size(),
                       reinterpret_cast<const unsigned char*>(data.data()), data.size());
  if (ok != 1) {
    ERR_clear_error();  // a bad signature leaves OpenSSL's queue for the next TLS read
    return Fail(ErrorCode::kInvalid,
                "the signature does not verify with key " + KeyId().substr(0, 16));
  }
  return Ok();
}

}  // namespace strake
