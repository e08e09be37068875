#ifndef TALLY_CSYSTEM_SHIM_H
#define TALLY_CSYSTEM_SHIM_H
// libc facilities the Swift overlay does not expose (glibc's allocator tuning).
#if defined(__linux__)
#include <malloc.h>
static inline void tally_keep_large_buffers(void) {
    mallopt(M_MMAP_THRESHOLD, 1 << 30);
    mallopt(M_TRIM_THRESHOLD, 0x7fffffff);
}
#else
static inline void tally_keep_large_buffers(void) {}
#endif
#include <stdio.h>
static inline void tally_line_buffer_stdout(void) { setvbuf(stdout, NULL, _IOLBF, 0); }
#endif
