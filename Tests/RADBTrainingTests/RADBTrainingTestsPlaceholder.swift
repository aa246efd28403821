import XCTest

/// Keeps the target non-empty until its real tests land; delete when the first real test file exists.
final class RADBTrainingTestsPlaceholder: XCTestCase {
    func testModuleLinks() {}
}
