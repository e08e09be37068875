#ifndef TALLY_CBLAS_SHIM_H
#define TALLY_CBLAS_SHIM_H
// OpenBLAS's CBLAS interface: the single-precision GEMMs of the built-in multilayer perceptron.
// pkg-config's openblas include directory comes first, so this is OpenBLAS's own cblas.h (which
// also declares openblas_set_num_threads and openblas_get_num_threads).
#include <cblas.h>
#endif
