/// A small, fast, seedable random number generator (xoshiro256**, seeded by SplitMix64).
///
/// Training must be reproducible: the same seed gives the same initial weights, the same batch
/// order and the same augmentation on every machine. Its whole state is four words, so a
/// checkpoint can store it and a resumed run continues the exact same sequence.
public struct SeededGenerator: RandomNumberGenerator, Sendable, Equatable {
    /// The raw xoshiro256** state; never all zero.
    public private(set) var state: (UInt64, UInt64, UInt64, UInt64)

    public init(seed: UInt64) {
        var s = seed
        func splitMix() -> UInt64 {
            s &+= 0x9E37_79B9_7F4A_7C15
            var z = s
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        state = (splitMix(), splitMix(), splitMix(), splitMix())
    }

    /// Restores a generator from `words` (as produced by `stateWords`).
    public init(stateWords words: [UInt64]) {
        precondition(words.count == 4 && words.contains { $0 != 0 }, "SeededGenerator: need four words, not all zero")
        state = (words[0], words[1], words[2], words[3])
    }

    public var stateWords: [UInt64] { [state.0, state.1, state.2, state.3] }

    public mutating func next() -> UInt64 {
        let result = rotl(state.1 &* 5, 7) &* 9
        let t = state.1 << 17
        state.2 ^= state.0
        state.3 ^= state.1
        state.1 ^= state.2
        state.0 ^= state.3
        state.2 ^= t
        state.3 = rotl(state.3, 45)
        return result
    }

    @inline(__always) private func rotl(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 - k)) }

    public static func == (a: SeededGenerator, b: SeededGenerator) -> Bool { a.stateWords == b.stateWords }
}
