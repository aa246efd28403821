import Foundation
import XCTest

extension XCTestCase {
    /// A fresh directory under the system's temporary directory, named `radb-<purpose>-<UUID>`
    /// and removed when the test ends.
    func temporaryDirectory(_ purpose: String) throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("radb-\(purpose)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: url) }
        return url
    }
}
