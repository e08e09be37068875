#ifndef TALLY_CGMP_SHIM_H
#define TALLY_CGMP_SHIM_H
// GMP exposes mpn_* / mpz_* as macros over __gmpn_* / __gmpz_*; Swift does not import
// function-like macros, so the few we use get inline wrappers with the documented names.
#include <gmp.h>
#include <stdint.h>

// Tally stores limbs as uint64_t; GMP's limb must be exactly that.
_Static_assert(sizeof(mp_limb_t) == sizeof(uint64_t), "GMP limbs must be 64-bit");

static inline uint64_t tally_mpn_add_n(uint64_t *rp, const uint64_t *up, const uint64_t *vp, long n) {
    return __gmpn_add_n((mp_limb_t *)rp, (const mp_limb_t *)up, (const mp_limb_t *)vp, n);
}
static inline uint64_t tally_mpn_sub_n(uint64_t *rp, const uint64_t *up, const uint64_t *vp, long n) {
    return __gmpn_sub_n((mp_limb_t *)rp, (const mp_limb_t *)up, (const mp_limb_t *)vp, n);
}
static inline uint64_t tally_mpn_add_1(uint64_t *rp, const uint64_t *up, long n, uint64_t v) {
    return __gmpn_add_1((mp_limb_t *)rp, (const mp_limb_t *)up, n, v);
}
static inline uint64_t tally_mpn_sub_1(uint64_t *rp, const uint64_t *up, long n, uint64_t v) {
    return __gmpn_sub_1((mp_limb_t *)rp, (const mp_limb_t *)up, n, v);
}
#endif
