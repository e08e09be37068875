#ifndef TALLY_CLIBCRYPTO_SHIM_H
#define TALLY_CLIBCRYPTO_SHIM_H
// OpenSSL 3 libcrypto only (no libssl: TLS lives in the transport layer).
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/core_names.h>
#include <openssl/params.h>
#include <openssl/rand.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/ec.h>
#include <openssl/obj_mac.h>
#include <openssl/crypto.h>

static inline void tally_openssl_free(void *p) { OPENSSL_free(p); }
static inline void tally_openssl_cleanse_free(void *p, size_t n) { OPENSSL_clear_free(p, n); }
#endif
