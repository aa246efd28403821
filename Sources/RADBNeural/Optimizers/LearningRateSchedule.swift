import Foundation

/// The learning rate as a function of the optimisation step: constant, cosine decay after a
/// linear warm-up, or step decay. A pure function of the step, so a resumed run sees the same
/// rates as an uninterrupted one.
public enum LearningRateSchedule: Sendable, Equatable, Codable {
    case constant
    /// Linear warm-up from 0 over `warmupSteps`, then cosine decay to `base·minimumFactor` at `totalSteps`.
    case cosine(warmupSteps: Int, totalSteps: Int, minimumFactor: Float)
    /// `base · gamma^(⌊step / stepSize⌋)`.
    case step(stepSize: Int, gamma: Float)

    /// The rate for 0-based optimisation step `step`.
    public func rate(base: Float, step: Int) -> Float {
        switch self {
        case .constant:
            return base
        case let .cosine(warmup, total, minimumFactor):
            if step < warmup { return base * Float(step + 1) / Float(warmup) }
            let span = max(total - warmup, 1)
            let progress = min(Float(step - warmup) / Float(span), 1)
            let factor = minimumFactor + (1 - minimumFactor) * 0.5 * (1 + cosf(.pi * progress))
            return base * factor
        case let .step(stepSize, gamma):
            return base * powf(gamma, Float(step / max(stepSize, 1)))
        }
    }
}
