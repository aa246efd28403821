import XCTest
import RADBNeural

/// Each optimised forward pass against the naive loops in NaiveReference.swift on random inputs.
final class LayerForwardTests: XCTestCase {
    var rng = SeededGenerator(seed: 42)

    func randn(_ shape: [Int], std: Float = 1) -> Tensor { Tensor.randomNormal(shape: shape, std: std, using: &rng) }

    func testConv2DMatchesNaiveForEveryGeometry() {
        // (H, W, Cin, Cout, k, stride, padding): 1×1 GEMM path, im2col 3×3 SAME at stride 1/2 on
        // even and odd sizes (TF puts the extra pad row at the bottom), PyTorch symmetric, 7×7 stem.
        let cases: [(Int, Int, Int, Int, Int, Int, Padding)] = [
            (5, 6, 7, 9, 1, 1, .valid), (6, 6, 4, 5, 1, 2, .valid), (8, 8, 3, 8, 3, 1, .same), (8, 8, 3, 8, 3, 2, .same),
            (7, 9, 5, 6, 3, 2, .same), (9, 7, 4, 3, 3, 2, .symmetric(1)), (11, 11, 3, 4, 7, 2, .symmetric(3)), (6, 5, 2, 3, 3, 1, .valid),
        ]
        for (h, w, cin, cout, k, s, p) in cases {
            let x = randn([2, h, w, cin])
            let conv = Conv2D(weight: randn([k, k, cin, cout], std: 0.5), bias: randn([cout]), stride: s, padding: p)
            for act in [Activation.identity, .relu6] {
                let expected = Naive.conv(x, weight: conv.weight, bias: conv.bias, stride: s, padding: p, activation: act)
                let got = conv.forward(x, activation: act)
                XCTAssertEqual(got.shape, expected.shape, "\(h)x\(w) k\(k) s\(s) \(p)")
                XCTAssertLessThan(maxAbsDifference(got, expected), 1e-4, "\(h)x\(w) k\(k) s\(s) \(p) \(act)")
            }
        }
    }

    func testTFSamePaddingIsAsymmetricAtStride2() {
        let g = ConvGeometry(inH: 224, inW: 224, kernelH: 3, kernelW: 3, stride: 2, padding: .same)
        XCTAssertEqual([g.outH, g.outW, g.padTop, g.padLeft], [112, 112, 0, 0])  // the one pad row is at the bottom
        let odd = ConvGeometry(inH: 7, inW: 7, kernelH: 3, kernelW: 3, stride: 2, padding: .same)
        XCTAssertEqual([odd.outH, odd.padTop], [4, 1])
        let torch = ConvGeometry(inH: 224, inW: 224, kernelH: 3, kernelW: 3, stride: 2, padding: .symmetric(1))
        XCTAssertEqual([torch.outH, torch.padTop], [112, 1])
    }

    func testDepthwiseMatchesNaiveIncludingSIMDTail() {
        // 37 channels = two 16-wide SIMD blocks + a 5-channel scalar tail; 32 = blocks only.
        let cases: [(Int, Int, Int, Int)] = [(9, 8, 37, 1), (9, 8, 37, 2), (8, 8, 32, 2), (7, 7, 48, 1), (3, 3, 5, 2), (1, 1, 16, 1)]
        for (h, w, c, s) in cases {
            let x = randn([2, h, w, c])
            let dw = DepthwiseConv2D(weight: randn([3, 3, c]), bias: randn([c]), stride: s, padding: .same)
            for act in [Activation.identity, .relu, .relu6] {
                let expected = Naive.depthwise(x, weight: dw.weight, bias: dw.bias, stride: s, padding: .same, activation: act)
                XCTAssertLessThan(maxAbsDifference(dw.forward(x, activation: act), expected), 1e-5, "\(h)x\(w)x\(c) s\(s) \(act)")
            }
        }
    }

    func testPytorchLayoutsRoundTrip() {
        let conv = Conv2D(weight: randn([3, 3, 4, 5]), bias: randn([5]), stride: 2)
        XCTAssertEqual(conv.pytorchWeight.shape, [5, 4, 3, 3])
        XCTAssertEqual(Conv2D(pytorchWeight: conv.pytorchWeight, bias: conv.bias).weight, conv.weight)
        // A PyTorch OIHW index lands at the HWIO position: w_torch[o=1, i=2, y=0, x=1] == w[0, 1, 2, 1].
        let torchIndex: Int = ((1 * 4 + 2) * 3 + 0) * 3 + 1
        let hwioIndex: Int = ((0 * 3 + 1) * 4 + 2) * 5 + 1
        XCTAssertEqual(conv.pytorchWeight.storage[torchIndex], conv.weight.storage[hwioIndex])
        let dw = DepthwiseConv2D(weight: randn([3, 3, 6]))
        XCTAssertEqual(DepthwiseConv2D(pytorchWeight: dw.pytorchWeight, bias: nil).weight, dw.weight)
    }

    func testPoolingMatchesNaive() {
        let x = randn([2, 9, 8, 5])
        let cases: [(Int, Int, Padding)] = [(3, 2, .same), (2, 2, .valid), (3, 2, .symmetric(1)), (3, 1, .same)]
        for (k, s, p) in cases {
            XCTAssertLessThan(maxAbsDifference(AvgPool2D(kernel: k, stride: s, padding: p).forward(x),
                                               Naive.pool(x, kernel: k, stride: s, padding: p, max: false)), 1e-5)
            XCTAssertEqual(MaxPool2D(kernel: k, stride: s, padding: p).forward(x),
                           Naive.pool(x, kernel: k, stride: s, padding: p, max: true))
        }
        let g = GlobalAvgPool.forward(x)
        XCTAssertEqual(g.shape, [2, 5])
        let full = AvgPool2D(kernel: 9, stride: 9, padding: .valid).forward(Tensor(shape: [2, 9, 9, 5], storage: Array(randn([2, 9, 9, 5]).storage)))
        XCTAssertEqual(full.shape, [2, 1, 1, 5])
        var mean: Float = 0
        for p in 0..<72 { mean += x.storage[p * 5 + 3] }
        XCTAssertEqual(g.storage[3], mean / 72, accuracy: 1e-5)
    }

    func testBatchNormFoldedIntoConvEqualsConvThenBatchNorm() {
        let x = randn([2, 6, 6, 3])
        let conv = Conv2D(weight: randn([3, 3, 3, 4]), bias: randn([4]), stride: 1)
        var bn = BatchNorm2D(channels: 4)
        bn.gamma = randn([4]); bn.beta = randn([4]); bn.runningMean = randn([4])
        bn.runningVar = Tensor(shape: [4], storage: [0.5, 1.5, 2, 0.1])
        XCTAssertLessThan(maxAbsDifference(conv.folding(bn).forward(x), bn.forward(conv.forward(x))), 1e-4)
    }

    func testResidualAddAndActivations() {
        let a = randn([2, 3, 3, 4]), b = randn([2, 3, 3, 4])
        let sum = ResidualAdd.forward(a, b)
        for i in sum.storage.indices { XCTAssertEqual(sum.storage[i], a.storage[i] + b.storage[i]) }
        let big = Tensor(shape: [4], storage: [-1, 0.5, 6.5, 3])
        XCTAssertEqual(Activation.relu6.forward(big).storage, [0, 0.5, 6, 3])
        XCTAssertEqual(Activation.relu.forward(big).storage, [0, 0.5, 6.5, 3])
    }
}
