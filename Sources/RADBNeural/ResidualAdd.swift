/// The elementwise sum of a residual block's shortcut and its branch.
public enum ResidualAdd {
    /// y = a + b.  Shapes: a [*], b [*] → y [*].
    public static func forward(_ a: Tensor, _ b: Tensor) -> Tensor {
        precondition(a.shape == b.shape, "ResidualAdd: shapes \(a.shape) and \(b.shape) differ")
        var y = a
        for i in y.storage.indices { y.storage[i] += b.storage[i] }
        return y
    }

    /// The sum passes the gradient unchanged to both operands.  Shapes: dy [*] → (da [*], db [*]).
    public static func backward(gradOutput dy: Tensor) -> (Tensor, Tensor) { (dy, dy) }

    /// y[i] += a[i] for i in `range` (the in-place form the inference engine uses).
    @inlinable
    package static func accumulate(_ y: UnsafeMutablePointer<Float>, _ a: UnsafePointer<Float>, range: Range<Int>) {
        for i in range { y[i] += a[i] }
    }
}
