#ifndef TALLY_CFFTW_SHIM_H
#define TALLY_CFFTW_SHIM_H
// FFTW3 (double precision) for the privacy-loss-distribution convolutions of the accountant.
#include <fftw3.h>
#endif
