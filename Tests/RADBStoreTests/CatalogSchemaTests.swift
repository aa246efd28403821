import Foundation
import RADBStore
import XCTest

/// The migrations compiled into the binary are exactly the files in Schema/.
final class CatalogSchemaTests: XCTestCase {
    func testEverySchemaFileIsEmbeddedByteForByte() throws {
        let schema = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Schema")
        let files = try FileManager.default.contentsOfDirectory(atPath: schema.path).filter { $0.hasSuffix(".sql") }.sorted()
        XCTAssertEqual(CatalogSchema.migrations.map(\.file), files, "add new Schema/*.sql files to CatalogSchema.migrations")
        for m in CatalogSchema.migrations {
            let onDisk = try Data(contentsOf: schema.appendingPathComponent(m.file))
            XCTAssertEqual(Data(m.sql), onDisk, "\(m.file) differs from its embedded copy")
            XCTAssertEqual(Int(m.file.prefix(4)), m.version)
        }
        XCTAssertEqual(CatalogSchema.migrations.map(\.version), Array(1...CatalogSchema.latestVersion))
    }
}
