import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Writes a whole file so that it is either absent or complete and on disk: the bytes go to a
/// hidden temporary file beside it, are fsync'd, and are renamed into place (then the directory is
/// fsync'd). Unlike `Data.write(options: .atomic)` on Linux, a failure keeps its POSIX reason, so
/// a user reads "the disk is full" rather than "NSCocoaErrorDomain error 512".
public enum AtomicFile {
    /// Writes `bytes` to `url`; throws `AtomicFile.Failure` naming the reason.
    public static func write(_ bytes: [UInt8], to url: URL) throws {
        let directory = url.deletingLastPathComponent().path
        let temporary = directory + "/.\(url.lastPathComponent).writing-\(getpid())"
        let fd = Glibc.open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw Failure(errno: errno) }
        var ok = false
        defer {
            if !ok { unlink(temporary) }
        }
        var written = 0
        let result: Int32 = bytes.withUnsafeBytes { raw in
            // A full disk raises SIGXFSZ under a file-size limit; the failed write reports EFBIG.
            while written < raw.count {
                let n = Glibc.write(fd, raw.baseAddress! + written, raw.count - written)
                if n < 0 { if errno == EINTR { continue }; return errno }
                written += n
            }
            return fsync(fd) == 0 ? 0 : errno
        }
        close(fd)
        guard result == 0 else { throw Failure(errno: result) }
        guard rename(temporary, url.path) == 0 else { throw Failure(errno: errno) }
        ok = true
        let dir = Glibc.open(directory, O_RDONLY | O_CLOEXEC)
        if dir >= 0 { fsync(dir); close(dir) }
    }

    /// A failed write: the POSIX code and what it means for the user.
    public struct Failure: Error, CustomStringConvertible {
        public let errno: Int32
        public var description: String {
            switch errno {
            case ENOSPC: return "the disk is full: free some space"
            case EFBIG: return "the file size limit was reached: free space or raise the limit"
            case EROFS: return "the file system is read-only"
            case EACCES, EPERM: return "permission denied"
            default: return String(cString: strerror(errno))
            }
        }
    }
}
