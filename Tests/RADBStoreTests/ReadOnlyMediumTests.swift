import Foundation
import RADBStore
import XCTest

/// A database on a read-only medium or a full disk: reads work, and what cannot work is named
/// exactly (never "damaged… restore from a backup").
///
/// Tests run as root here, so `chmod` does not stop writes. What does: a private mount
/// namespace (`unshare -m`, needs CAP_SYS_ADMIN) in which the database directory is bind-mounted
/// read-only, or a tiny tmpfs filled up. The probe process runs inside it. Without `unshare`
/// the tests skip with the reason.
final class ReadOnlyMediumTests: StoreTestCase {
    /// Runs `script` in `sh` inside a new mount namespace; $PROBE is the probe executable.
    private func inMountNamespace(_ script: String) throws -> (status: Int32, output: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/unshare")
        p.arguments = ["-m", "sh", "-c", script]
        var env = ProcessInfo.processInfo.environment
        env["PROBE"] = try probeExecutable().path
        p.environment = env
        let out = Pipe()
        p.standardOutput = out
        p.standardError = out
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    private func requireMountNamespaces() throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/unshare"),
              let probe = try? inMountNamespace("mount -t tmpfs tmpfs /mnt && echo ok"), probe.output.contains("ok") else {
            throw XCTSkip("needs `unshare -m` and mount rights (root or CAP_SYS_ADMIN) to make a read-only medium")
        }
    }

    private func runProbe(_ args: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
        let probe = try startProbe(args)
        let lines = probe.remainingLines()
        let (status, stderr) = probe.wait()
        return (status, lines.joined(separator: "\n"), stderr)
    }

    func testReadOnlyMediumServesReadsAndNamesAnInterruptedWrite() throws {
        try requireMountNamespaces()
        let url = databaseURL()
        XCTAssertEqual(try runProbe(["create", url.path, "8"]).status, 0)
        XCTAssertEqual(try runProbe(["insert-loop", url.path, "0", "20", "2"]).status, 0)
        let readOnly = "mount --bind '\(url.path)' '\(url.path)' && mount -o remount,bind,ro '\(url.path)' && "

        // A sound database on a read-only medium: reads work.
        let clean = try inMountNamespace(readOnly + "\"$PROBE\" stats '\(url.path)'")
        XCTAssertEqual(clean.status, 0, clean.output)
        XCTAssertTrue(clean.output.contains("items 40"), clean.output)

        // A writer died between its commits; the read-only medium cannot take the roll-forward.
        XCTAssertEqual(try runProbe(["interrupt", url.path, "5"]).status, 0)
        let pending = try inMountNamespace(readOnly + "\"$PROBE\" stats '\(url.path)'")
        XCTAssertNotEqual(pending.status, 0, pending.output)
        XCTAssertTrue(pending.output.contains("an interrupted write needs finishing"), pending.output)
        XCTAssertTrue(pending.output.contains("refused to write"), pending.output)
        XCTAssertFalse(pending.output.contains("is damaged"), pending.output)
        XCTAssertFalse(pending.output.lowercased().contains("restore"), pending.output)

        // Writable again: any open finishes the write, nothing lost.
        let after = try runProbe(["stats", url.path])
        XCTAssertEqual(after.status, 0, after.stderr)
        XCTAssertTrue(after.stdout.contains("items 45"), after.stdout)
    }

    func testFullDiskNamesTheFullDiskForAnInterruptedWrite() throws {
        try requireMountNamespaces()
        let url = databaseURL()
        XCTAssertEqual(try runProbe(["create", url.path, "8"]).status, 0)
        XCTAssertEqual(try runProbe(["insert-loop", url.path, "0", "20", "1"]).status, 0)
        XCTAssertEqual(try runProbe(["interrupt", url.path, "200"]).status, 0)
        // Copy it onto a small tmpfs, fill the tmpfs, and open it there.
        let mountPoint = temporaryDirectory.appendingPathComponent("full").path
        try FileManager.default.createDirectory(atPath: mountPoint, withIntermediateDirectories: true)
        let full = try inMountNamespace("""
            mount -t tmpfs -o size=8m tmpfs '\(mountPoint)' && cp -a '\(url.path)' '\(mountPoint)/db' && \
            dd if=/dev/zero of='\(mountPoint)/fill' bs=4k >/dev/null 2>&1; \
            "$PROBE" stats '\(mountPoint)/db'
            """)
        XCTAssertNotEqual(full.status, 0, full.output)
        XCTAssertTrue(full.output.contains("an interrupted write needs finishing"), full.output)
        XCTAssertTrue(full.output.contains("disk is full"), full.output)
        XCTAssertFalse(full.output.contains("is damaged"), full.output)
        XCTAssertFalse(full.output.lowercased().contains("restore"), full.output)
    }
}
