import Foundation

/// Renders a run's learning curve — mean loss per epoch (left axis) and the curve queries'
/// mAP per epoch (right axis) — as a self-contained SVG written next to the model.
public enum TrainingCurve {
    public static func svg(history: [EpochRecord], title: String) -> String {
        let w = 640.0, h = 360.0, left = 60.0, right = 60.0, top = 40.0, bottom = 50.0
        let plotW = w - left - right, plotH = h - top - bottom
        let n = max(history.count, 1)
        let losses = history.map(\.loss)
        let maxLoss = max(losses.max() ?? 1, 1e-12), minLoss = min(losses.min() ?? 0, 0)
        func x(_ i: Int) -> Double { left + (n == 1 ? plotW / 2 : plotW * Double(i) / Double(n - 1)) }
        func yLoss(_ v: Double) -> Double { top + plotH * (1 - (v - minLoss) / max(maxLoss - minLoss, 1e-12)) }
        func yMAP(_ v: Double) -> Double { top + plotH * (1 - v) }
        func polyline(_ pts: [(Double, Double)], _ colour: String) -> String {
            "<polyline fill=\"none\" stroke=\"\(colour)\" stroke-width=\"2\" points=\"" +
                pts.map { String(format: "%.1f,%.1f", $0.0, $0.1) }.joined(separator: " ") + "\"/>"
        }
        var s = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(w))\" height=\"\(Int(h))\" font-family=\"sans-serif\" font-size=\"12\">\n"
        s += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
        s += "<text x=\"\(w / 2)\" y=\"22\" text-anchor=\"middle\" font-size=\"14\">\(escape(title))</text>\n"
        s += "<rect x=\"\(left)\" y=\"\(top)\" width=\"\(plotW)\" height=\"\(plotH)\" fill=\"none\" stroke=\"#888\"/>\n"
        for k in 0...4 {
            let f = Double(k) / 4
            let yy = top + plotH * (1 - f)
            s += String(format: "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\" fill=\"#1f77b4\">%.3g</text>\n", left - 6, yy + 4, minLoss + f * (maxLoss - minLoss))
            s += String(format: "<text x=\"%.1f\" y=\"%.1f\" fill=\"#d62728\">%.2f</text>\n", left + plotW + 6, yy + 4, f)
        }
        s += "<text x=\"\(w / 2)\" y=\"\(h - 12)\" text-anchor=\"middle\">epoch (1–\(history.count))</text>\n"
        s += "<text x=\"14\" y=\"\(top + plotH / 2)\" fill=\"#1f77b4\" transform=\"rotate(-90 14 \(top + plotH / 2))\" text-anchor=\"middle\">loss</text>\n"
        s += "<text x=\"\(w - 14)\" y=\"\(top + plotH / 2)\" fill=\"#d62728\" transform=\"rotate(90 \(w - 14) \(top + plotH / 2))\" text-anchor=\"middle\">mAP (curve queries)</text>\n"
        s += polyline(losses.enumerated().map { (x($0.offset), yLoss($0.element)) }, "#1f77b4") + "\n"
        let maps = history.enumerated().compactMap { e in e.element.curveMAP.map { (x(e.offset), yMAP($0)) } }
        if !maps.isEmpty { s += polyline(maps, "#d62728") + "\n" }
        s += "</svg>\n"
        return s
    }

    static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
    }
}

extension Trainer {
    /// Trains and writes the model file (`output`, safetensors: backbone tensors when
    /// `backbone` is given, plus head and anchors), the learning curve `output` + ".curve.svg"
    /// and a checkpoint `output` + ".checkpoint" that lets an interrupted run resume.
    ///
    /// The checkpoint is kept after a finished run (it is how `--resume` knows the run is done).
    @discardableResult
    public func train(train: LabeledFeatures, test: LabeledFeatures?, output: URL, backbone: URL? = nil,
                      progress: (@Sendable (TrainingProgress) -> Void)? = Trainer.printProgress,
                      isCancelled: (@Sendable () -> Bool)? = nil) throws -> TrainedHead {
        let result = try self.train(train: train, test: test, checkpoint: output.appendingPathExtension("checkpoint"),
                                    progress: progress, isCancelled: isCancelled)
        try result.writeModel(to: output, backbone: backbone)
        let curve = TrainingCurve.svg(history: result.history,
                                      title: "\(configuration.loss.rawValue) head, d=\(configuration.embeddingDimension)")
        try curve.write(to: output.appendingPathExtension("curve.svg"), atomically: true, encoding: .utf8)
        return result
    }
}
