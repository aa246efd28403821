import ArgumentParser
import Foundation
import RADB

/// The documented exit codes of `radb` (see `radb --help`).
enum ExitStatus {
    static let failure = ExitCode(1)
    static let partial = ExitCode(2)
    static let problemsFound = ExitCode(3)
    static let busy = ExitCode(4)
}

/// Runs a command body, turning any error into one line on stderr and a documented exit code,
/// never a stack trace.
func reportingErrors(_ body: () throws -> Void) throws {
    do {
        try body()
    } catch let exit as ExitCode {
        throw exit
    } catch let error as CleanExit {
        throw error
    } catch {
        let message = describe(error)
        FileHandle.standardError.write(Data("radb: error: \(message)\n".utf8))
        throw isBusy(error) ? ExitStatus.busy : ExitStatus.failure
    }
}

/// The user-facing text of an error: its description when it has one written for people, and
/// what to type about it (the library's messages do not know radb's commands and flags).
func describe(_ error: Error) -> String {
    let text: String
    if let e = error as? LocalizedError, let d = e.errorDescription { text = d } else { text = String(describing: error) }
    guard let advice = commandLineAdvice(for: error) else { return text }
    return "\(text). With radb: \(advice)"
}

/// Commands and flags that fix an error, for the errors whose remedy is a radb command.
private func commandLineAdvice(for error: Error) -> String? {
    switch error as? DatabaseError {
    case .noDatabase: return "run `radb ingest PHOTOS` (or `radb init`) to create one, or pass --db PATH"
    case .unknownID: return "`radb search … --json` and `radb export` list the stored ids"
    default: return nil
    }
}

private func isBusy(_ error: Error) -> Bool {
    (error as? DatabaseError)?.isWriteLockBusy ?? false
}
