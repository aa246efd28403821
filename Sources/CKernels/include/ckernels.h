#ifndef RADB_CKERNELS_H
#define RADB_CKERNELS_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/// out[j] = -2 * (query . rows[j]) for n row-major rows of width d (single precision).
///
/// Rounding: each out[j] is a float dot product over d terms (any summation tree, products fused
/// into the additions on the AVX2/FMA path), so |out[j] - exact| <= 2 * gamma_d * |q| |x_j| with
/// gamma_d = d*u / (1 - d*u), u = 2^-24; the factor -2 is exact. See L2Kernels.roundingBound.
///
/// The implementation is chosen once per process: AVX2 + FMA when the CPU has both, otherwise a
/// portable loop.
void radb_minus_two_dot_products(const float *query, const float *rows, size_t n, size_t d, float *out);

/// The portable loop alone (for tests comparing both paths on the same CPU).
void radb_minus_two_dot_products_portable(const float *query, const float *rows, size_t n, size_t d,
                                          float *out);

/// 1 when `radb_minus_two_dot_products` runs the AVX2/FMA kernel on this CPU, else 0.
int radb_kernels_use_avx2_fma(void);

#ifdef __cplusplus
}
#endif

#endif
