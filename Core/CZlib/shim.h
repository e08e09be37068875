#ifndef TALLY_CZLIB_SHIM_H
#define TALLY_CZLIB_SHIM_H
// zlib, for the gzip-compressed IDX files of Debian's dataset-fashion-mnist.
#include <zlib.h>
static inline int tally_inflate_init_gzip(z_streamp strm) { return inflateInit2(strm, 16 + MAX_WBITS); }
#endif
