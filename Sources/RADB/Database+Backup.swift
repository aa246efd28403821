import Foundation
import RADBStore

// MARK: - Backing up

extension Database {
    /// A consistent copy of the whole database (vectors, catalog, model) in `destination`,
    /// which must not exist (or be an empty directory). The copy is assembled in a hidden
    /// staging directory beside the destination and renamed into place only when complete,
    /// so an interrupted or failed backup never leaves a half-written database under the
    /// destination's name; staging directories left by a killed backup are removed by the
    /// next backup to the same destination.
    ///
    /// - Parameters:
    ///   - destination: where the copy appears, complete; it must not exist or be empty.
    ///   - staged: called with the staging directory before copying starts, so a
    ///     caller can remove it if the process is interrupted (the CLI does on Ctrl-C).
    public func backup(to destination: URL, staged: ((URL) -> Void)? = nil) throws {
        let fm = FileManager.default
        let dest = destination.standardizedFileURL
        var isDir: ObjCBool = false
        var replaceEmptyDirectory = false
        if fm.fileExists(atPath: dest.path, isDirectory: &isDir) {
            let entries = (try? fm.contentsOfDirectory(atPath: dest.path)) ?? ["?"]
            guard isDir.boolValue, entries.isEmpty else {
                throw DatabaseError.invalidArgument(
                    "\(dest.path): the backup destination exists and is not an empty directory; choose a new path")
            }
            replaceEmptyDirectory = true
        }
        let parent = dest.deletingLastPathComponent()
        guard fm.fileExists(atPath: parent.path, isDirectory: &isDir), isDir.boolValue else {
            throw DatabaseError.invalidArgument("\(parent.path): the backup's parent directory does not exist; create it first")
        }
        Self.removeStaleBackupStaging(for: dest)
        let staging = parent.appendingPathComponent(Self.backupStagingName(for: dest, pid: getpid()))
        try? fm.removeItem(at: staging)
        Self.removeStaleBackups(of: url)
        noteBackupStaging(staging)
        defer { removeBackupNote() }
        staged?(staging)
        do {
            try store.backup(to: staging)
            let model = url.appendingPathComponent(Self.modelFileName)
            if fm.fileExists(atPath: model.path) {
                try fm.copyItem(at: model, to: staging.appendingPathComponent(Self.modelFileName))
            }
            try features?.copy(to: staging.appendingPathComponent(FeatureStore.fileName))
            let learned = url.appendingPathComponent(Self.modelsDirectoryName)
            if fm.fileExists(atPath: learned.path) {
                let copy = staging.appendingPathComponent(Self.modelsDirectoryName)
                try fm.createDirectory(at: copy, withIntermediateDirectories: true)
                for name in try fm.contentsOfDirectory(atPath: learned.path) where name.hasSuffix(".safetensors") && !name.hasPrefix(".") {
                    try fm.copyItem(at: learned.appendingPathComponent(name), to: copy.appendingPathComponent(name))
                }
            }
            if replaceEmptyDirectory { try fm.removeItem(at: dest) }
            guard rename(staging.path, dest.path) == 0 else {
                throw DatabaseError.underlying(
                    "\(dest.path): could not move the finished backup into place: \(String(cString: strerror(errno)))")
            }
        } catch {
            try? fm.removeItem(at: staging)
            let wrapped = Self.wrap(error)
            // Another process holds the write lock: keep the error's kind (the CLI's exit 4).
            if case DatabaseError.writeLockBusy(let message) = wrapped {
                throw DatabaseError.writeLockBusy("backup to \(dest.path) waited for the write lock, nothing was written there: \(message)")
            }
            throw DatabaseError.underlying(
                "backup to \(dest.path) failed, nothing was written there: \(String(describing: wrapped))")
        }
    }

    /// Name prefix of the note a running backup leaves in the database directory, holding the
    /// path of its staging directory: a backup killed with -9 cannot remove its staging
    /// directory, so the next backup or open of this database (whatever its destination) does.
    static let backupNotePrefix = ".backup-staging-"

    /// Records `staging` as the staging directory of this process's backup (best effort: a
    /// read-only database directory keeps no note).
    func noteBackupStaging(_ staging: URL) {
        let note = url.appendingPathComponent("\(Self.backupNotePrefix)\(getpid())")
        try? Data(staging.path.utf8).write(to: note)
    }

    func removeBackupNote() {
        try? FileManager.default.removeItem(at: url.appendingPathComponent("\(Self.backupNotePrefix)\(getpid())"))
    }

    /// Removes the staging directories (and notes) of backups of the database at `url` whose
    /// process is gone. Best effort and silent: it never stops an open.
    static func removeStaleBackups(of url: URL) {
        let fm = FileManager.default
        for name in (try? fm.contentsOfDirectory(atPath: url.path)) ?? [] where name.hasPrefix(backupNotePrefix) {
            guard let pid = Int32(name.dropFirst(backupNotePrefix.count)), pid != getpid() else { continue }
            if kill(pid, 0) == 0 || errno == EPERM { continue }  // still running
            let note = url.appendingPathComponent(name)
            if let data = try? Data(contentsOf: note), let staging = String(data: data, encoding: .utf8),
               URL(fileURLWithPath: staging).lastPathComponent.contains(".radb-backup-\(pid)") {
                try? fm.removeItem(atPath: staging)
            }
            try? fm.removeItem(at: note)
        }
    }

    /// `.<name>.radb-backup-<pid>` beside the destination: hidden, and naming its owner.
    static func backupStagingName(for destination: URL, pid: Int32) -> String {
        ".\(destination.lastPathComponent).radb-backup-\(pid)"
    }

    /// Removes staging directories of earlier backups to `destination` whose process is gone.
    static func removeStaleBackupStaging(for destination: URL) {
        let fm = FileManager.default
        let parent = destination.deletingLastPathComponent()
        let prefix = ".\(destination.lastPathComponent).radb-backup-"
        for name in (try? fm.contentsOfDirectory(atPath: parent.path)) ?? [] where name.hasPrefix(prefix) {
            guard let pid = Int32(name.dropFirst(prefix.count)) else { continue }
            if kill(pid, 0) == 0 || errno == EPERM { continue }  // still running
            try? fm.removeItem(at: parent.appendingPathComponent(name))
        }
    }
}
