/// A small residual network for 28–64 px images trained end to end from scratch (training
/// mode b): a 3×3 stem, one basic block per stage (widths 16-32-64 by default, stride 2
/// between stages), global average pooling and a linear layer to the d-dim embedding.
///
/// Each basic block is conv3×3–BN–ReLU–conv3×3–BN plus the identity (or a 1×1 conv + BN when
/// the shape changes), then ReLU — the CIFAR ResNet of He et al. with one block per stage
/// (ResNet-8). Convolutions carry no bias (BN follows). Batch norms use batch statistics in
/// `forwardTraining` and running statistics in `forward`.
public struct ResNetSmall: Sendable {
    /// One basic residual block: conv–BN–ReLU–conv–BN, plus a 1×1 projection when the width or
    /// stride changes, added before the final ReLU.
    public struct Block: Sendable {
        public var conv1: Conv2D, bn1: BatchNorm2D
        public var conv2: Conv2D, bn2: BatchNorm2D
        public var shortcut: (conv: Conv2D, bn: BatchNorm2D)?
    }

    public var stem: Conv2D
    public var stemBN: BatchNorm2D
    public var blocks: [Block]
    /// [d, lastWidth]
    public var fc: Linear

    public init(inChannels: Int, widths: [Int] = [16, 32, 64], embeddingDimension: Int,
                using generator: inout some RandomNumberGenerator) {
        precondition(!widths.isEmpty && inChannels > 0 && embeddingDimension > 0, "ResNetSmall: bad sizes")
        stem = Conv2D(inChannels: inChannels, outChannels: widths[0], kernelSize: 3, padding: .symmetric(1), using: &generator)
        stemBN = BatchNorm2D(channels: widths[0])
        var blocks = [Block]()
        var cin = widths[0]
        for (i, w) in widths.enumerated() {
            let stride = i == 0 ? 1 : 2
            let shortcut = (stride != 1 || cin != w)
                ? (Conv2D(inChannels: cin, outChannels: w, kernelSize: 1, stride: stride, padding: .valid, using: &generator),
                   BatchNorm2D(channels: w)) : nil
            blocks.append(Block(conv1: Conv2D(inChannels: cin, outChannels: w, kernelSize: 3, stride: stride, padding: .symmetric(1), using: &generator),
                                bn1: BatchNorm2D(channels: w),
                                conv2: Conv2D(inChannels: w, outChannels: w, kernelSize: 3, padding: .symmetric(1), using: &generator),
                                bn2: BatchNorm2D(channels: w), shortcut: shortcut))
            cin = w
        }
        self.blocks = blocks
        fc = Linear(inFeatures: cin, outFeatures: embeddingDimension, using: &generator)
    }

    // MARK: - Parameters

    /// Trainable tensors: stem W, γ, β; per block conv1 W, γ1, β1, conv2 W, γ2, β2 [, shortcut W, γ, β]; fc W, b.
    public var parameters: [Tensor] {
        get {
            var p = [stem.weight, stemBN.gamma, stemBN.beta]
            for b in blocks {
                p += [b.conv1.weight, b.bn1.gamma, b.bn1.beta, b.conv2.weight, b.bn2.gamma, b.bn2.beta]
                if let s = b.shortcut { p += [s.conv.weight, s.bn.gamma, s.bn.beta] }
            }
            return p + [fc.weight, fc.bias]
        }
        set {
            var i = 0
            func next() -> Tensor { defer { i += 1 }; return newValue[i] }
            stem.weight = next(); stemBN.gamma = next(); stemBN.beta = next()
            for k in blocks.indices {
                blocks[k].conv1.weight = next(); blocks[k].bn1.gamma = next(); blocks[k].bn1.beta = next()
                blocks[k].conv2.weight = next(); blocks[k].bn2.gamma = next(); blocks[k].bn2.beta = next()
                if var s = blocks[k].shortcut {
                    s.conv.weight = next(); s.bn.gamma = next(); s.bn.beta = next()
                    blocks[k].shortcut = s
                }
            }
            fc.weight = next(); fc.bias = next()
        }
    }

    // MARK: - Inference

    /// x [N, H, W, Cin] → e [N, d], batch norms with running statistics — each folded into its
    /// convolution, with the ReLU fused into the convolution's epilogue, so embedding a data set
    /// costs the convolutions and one residual pass per block.
    public func forward(_ x: Tensor) -> Tensor {
        precondition(x.rank == 4 && x.shape[3] == stem.inChannels, "ResNetSmall expects [N, H, W, \(stem.inChannels)], got \(x.shape)")
        var h = stem.folding(stemBN).forward(x, activation: .relu)
        for b in blocks {
            let r = b.conv1.folding(b.bn1).forward(h, activation: .relu)
            var y = b.conv2.folding(b.bn2).forward(r)
            let s = b.shortcut.map { $0.conv.folding($0.bn).forward(h) } ?? h
            y.storage.withUnsafeMutableBufferPointer { yp in
                s.storage.withUnsafeBufferPointer { sp in
                    for i in yp.indices { yp[i] = max(yp[i] + sp[i], 0) }
                }
            }
            h = y
        }
        return fc.forward(GlobalAvgPool.forward(h))
    }

    // Training forward and backward: ResNetSmall+Training.swift.
}
