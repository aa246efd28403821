#ifndef RADB_CKERNELS_H
#define RADB_CKERNELS_H

#include <stddef.h>
#include <stdint.h>

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

/// out[j] = norms[j] - 2 * (q . rows[j]) for n row-major rows of width d: the anchor-ranking score
/// (|a|^2 - 2 q.a; the query's norm is left out, it does not change the ranking). Rounding as above,
/// plus one rounding for the addition.
void radb_norms_minus_two_dot(const float *q, const float *rows, const float *norms, size_t n, size_t d,
                              float *out);
void radb_norms_minus_two_dot_portable(const float *q, const float *rows, const float *norms, size_t n,
                                       size_t d, float *out);

/// The scan of one run of vectors for one query: s_j = ((-2 q.x_j) + norms[j]) + qn, and every row
/// with s_j <= threshold is appended to (out_rows, out_scores). Returns how many. The order of the
/// returned rows is unspecified: the AVX2 path reads the run as four interleaved quarter streams
/// (more prefetch streams in flight on a cold run). out_rows and out_scores must have room for n
/// entries. The caller keeps the k best of them, by (score, id), whatever the order.
/// `ids` (may be NULL) is only prefetched for the rows returned, since the caller reads them next.
size_t radb_scan_below(const float *q, float qn, const float *rows, const float *norms, const uint64_t *ids,
                       size_t n, size_t d, float threshold, uint32_t *out_rows, float *out_scores);
size_t radb_scan_below_portable(const float *q, float qn, const float *rows, const float *norms,
                                const uint64_t *ids, size_t n, size_t d, float threshold, uint32_t *out_rows,
                                float *out_scores);

/// The collect step after a GEMM: s_j = (minus_two_dots[j] + norms[j]) + qn, and every j with
/// s_j <= threshold is appended to (out_rows, out_scores) in order. Returns how many (room for n).
size_t radb_scores_below(const float *minus_two_dots, const float *norms, float qn, size_t n, float threshold,
                         uint32_t *out_rows, float *out_scores);

/// Writes to out the indices of the `limit` smallest scores, ordered by (score, index) ascending
/// (ties: lower index first); `scratch` needs room for `limit` floats. Returns min(limit, n).
/// O(n log limit): a bounded max-heap, then heap sort of the kept items.
size_t radb_select_smallest(const float *scores, size_t n, size_t limit, int32_t *out, float *scratch);

/// Exact squared L2 distance: sum of (a[i] - b[i])^2 in double, rounded once to float. The summation
/// order is part of the definition (`L2Kernels.exactSquaredDistance` documents it): lane l = i mod 8
/// accumulates its dimensions in increasing i (difference, square, add: never fused), then
/// ((l0 + l1) + (l2 + l3)) + ((l4 + l5) + (l6 + l7)). Every path returns the same bits.
float radb_exact_squared_l2(const float *a, const float *b, size_t d);
float radb_exact_squared_l2_portable(const float *a, const float *b, size_t d);

/// Offers `found` scanned rows (row indices `rows`, scores `scores`, as `radb_scan_below` returns
/// them) to one bounded max-heap keyed by (score, id), whose root is the worst kept entry: the C
/// twin of `CandidateHeaps.offer`, for unfiltered scans. Row j's id is ids[j] and its vector
/// starts at vectors + j * d. `*count` and `*threshold` (the root's score once the heap is full,
/// else +inf) are updated; equal scores keep the smaller id.
void radb_heap_offer_rows(float *heap_scores, uint64_t *heap_ids, const float **heap_vectors, int64_t *count,
                          int64_t capacity, float *threshold, const uint32_t *rows, const float *scores,
                          size_t found, const uint64_t *ids, const float *vectors, size_t d);

/// The largest of `n` finite floats (0 when n == 0 or all are below 0).
float radb_max_nonnegative(const float *x, size_t n);

/// Asks for `bytes` starting at `p` to be brought into the cache (a hint; no effect on results).
/// Used before re-scoring candidates whose vectors were scanned long ago and are likely evicted,
/// so their cache misses overlap instead of arriving one after another.
void radb_prefetch(const void *p, size_t bytes);

/// 1 when `radb_minus_two_dot_products` runs the AVX2/FMA kernel on this CPU, else 0.
int radb_kernels_use_avx2_fma(void);

#ifdef __cplusplus
}
#endif

#endif
