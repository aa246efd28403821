import CBLAS

/// Row-major single-precision GEMM, `C[M,N] = alpha · op(A) · op(B) + beta · C`, on OpenBLAS.
///
/// All of radb's convolutions and their gradients funnel through here, so the call convention
/// (row-major, leading dimensions in elements) is stated once.
@inlinable
package func sgemm(transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int,
                   alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
                   b: UnsafePointer<Float>, ldb: Int,
                   beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int) {
    guard m > 0, n > 0 else { return }
    if k == 0 {
        for i in 0..<m { for j in 0..<n { c[i * ldc + j] = beta == 0 ? 0 : beta * c[i * ldc + j] } }
        return
    }
    cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
}

/// Process-wide OpenBLAS thread count. radb's inference engine parallelises itself (over images,
/// or over output rows within a layer) and therefore runs BLAS single-threaded: OpenBLAS called
/// from two threads at once while it also uses its own pool serialises on a global lock.
public enum BLASThreads {
    /// The number of threads OpenBLAS currently uses per call.
    public static var current: Int { Int(openblas_get_num_threads()) }
    /// Sets OpenBLAS's per-call thread count (process-global).
    public static func set(_ n: Int) { openblas_set_num_threads(Int32(max(1, n))) }
}
