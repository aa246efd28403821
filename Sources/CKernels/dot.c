// Single-query scan kernel: -2 * q . x for a run of row-major vectors.
//
// Why C: Swift compiles portable SIMD for the baseline x86-64 target (SSE2, no FMA), and a
// per-function `target` attribute with a runtime CPU check is how a C library ships AVX2/FMA code
// without raising the deployment baseline. Nothing here is exact arithmetic: these are the
// approximate scan scores, whose error the caller bounds (see ckernels.h).

#include "ckernels.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define RADB_HAVE_X86 1
#endif

// MARK: - Portable

void radb_minus_two_dot_products_portable(const float *query, const float *rows, size_t n, size_t d,
                                          float *out) {
    for (size_t j = 0; j < n; j++) {
        const float *row = rows + j * d;
        // Eight independent partial sums so the loop is not one long latency chain.
        float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
        size_t c = 0;
        for (; c + 8 <= d; c += 8) {
            for (int l = 0; l < 8; l++) acc[l] += row[c + l] * query[c + l];
        }
        float sum = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
        for (; c < d; c++) sum += row[c] * query[c];
        out[j] = -2.0f * sum;
    }
}

// MARK: - AVX2 + FMA

#ifdef RADB_HAVE_X86
__attribute__((target("avx2,fma")))
static inline float radb_hsum256(__m256 v) {
    __m128 lo = _mm256_castps256_ps128(v);
    __m128 hi = _mm256_extractf128_ps(v, 1);
    __m128 s = _mm_add_ps(lo, hi);
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

__attribute__((target("avx2,fma")))
static void radb_minus_two_dot_products_avx2(const float *query, const float *rows, size_t n, size_t d,
                                             float *out) {
    const size_t wide = d & ~(size_t)31, narrow = d & ~(size_t)7;
    for (size_t j = 0; j < n; j++) {
        const float *row = rows + j * d;
        // Four 8-wide accumulators: FMA latency is 4 cycles, two issue per cycle.
        __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
        __m256 a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
        size_t c = 0;
        for (; c < wide; c += 32) {
            a0 = _mm256_fmadd_ps(_mm256_loadu_ps(row + c), _mm256_loadu_ps(query + c), a0);
            a1 = _mm256_fmadd_ps(_mm256_loadu_ps(row + c + 8), _mm256_loadu_ps(query + c + 8), a1);
            a2 = _mm256_fmadd_ps(_mm256_loadu_ps(row + c + 16), _mm256_loadu_ps(query + c + 16), a2);
            a3 = _mm256_fmadd_ps(_mm256_loadu_ps(row + c + 24), _mm256_loadu_ps(query + c + 24), a3);
        }
        for (; c < narrow; c += 8) {
            a0 = _mm256_fmadd_ps(_mm256_loadu_ps(row + c), _mm256_loadu_ps(query + c), a0);
        }
        float sum = radb_hsum256(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
        for (; c < d; c++) sum = __builtin_fmaf(row[c], query[c], sum);
        out[j] = -2.0f * sum;
    }
}
#endif

// MARK: - Dispatch

typedef void (*radb_dot_fn)(const float *, const float *, size_t, size_t, float *);

static int radb_detect_avx2_fma(void) {
#ifdef RADB_HAVE_X86
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
    return 0;
#endif
}

// Resolved on first use; the race is benign (every thread computes the same value).
static volatile int radb_choice = -1;

int radb_kernels_use_avx2_fma(void) {
    int c = radb_choice;
    if (c < 0) {
        c = radb_detect_avx2_fma();
        radb_choice = c;
    }
    return c;
}

void radb_minus_two_dot_products(const float *query, const float *rows, size_t n, size_t d, float *out) {
#ifdef RADB_HAVE_X86
    if (radb_kernels_use_avx2_fma()) {
        radb_minus_two_dot_products_avx2(query, rows, n, d, out);
        return;
    }
#endif
    radb_minus_two_dot_products_portable(query, rows, n, d, out);
}
