#ifndef TALLY_CZSTD_SHIM_H
#define TALLY_CZSTD_SHIM_H
#include <zstd.h>

// ZSTD_CONTENTSIZE_* are macros of an unsigned long long cast; expose them as values.
static inline unsigned long long tally_zstd_contentsize_unknown(void) { return ZSTD_CONTENTSIZE_UNKNOWN; }
static inline unsigned long long tally_zstd_contentsize_error(void) { return ZSTD_CONTENTSIZE_ERROR; }
#endif
