import MoPPSPlatform

/// What went wrong with the state directory. It carries no status code: the server decides what a
/// client is told (`MoPPSServer`'s mapping from `kind` and `errno`).
public struct PersistenceError: Error, Equatable, Sendable, CustomStringConvertible {
  public enum Kind: Sendable, Equatable {
    /// A system call failed (`errno` says which way).
    case io
    /// Bytes on disk that are not what they should be (a checksum, a record, a header), or a file
    /// that cannot be read back.
    case damaged
    /// A log record could not be written; nothing changed (unless `logUnusable` follows).
    case logWrite
    /// The log holds bytes that could not be taken back: mutations are refused until a snapshot.
    case logUnusable
    /// No such tag.
    case notFound
    /// Asked of a store that runs without a state directory.
    case noDirectory
  }

  public var kind: Kind
  public var message: String
  /// The errno of the system call that failed, if one did.
  public var errno: Int32?

  public init(_ message: String, kind: Kind = .damaged, errno: Int32? = nil) {
    self.kind = kind
    self.message = message
    self.errno = errno
  }

  /// The same failure told in other words (the caller adds what it was doing).
  func reworded(_ message: String, kind: Kind? = nil) -> PersistenceError {
    PersistenceError(message, kind: kind ?? self.kind, errno: errno)
  }

  /// Whether the disk (or the user's quota) is full: worth retrying once there is room.
  public var isDiskFull: Bool { errno == ENOSPC || errno == EDQUOT }

  public var description: String { message }
}

/// The one place a system call's failure becomes an error: runs `call`, retrying while it is
/// interrupted (EINTR), and turns a negative result into a `PersistenceError` of kind `io` whose
/// message is `what` followed by the C library's text for errno. (The shape of swift-nio's
/// `syscall(where:)`, which turns the same into an `IOError`.)
@discardableResult
@inline(__always)
func syscall<T: SignedInteger>(_ what: @autoclosure () -> String, _ call: () -> T) throws(PersistenceError)
  -> T
{
  while true {
    let result = call()
    if result >= 0 { return result }
    let code = errno
    if code == EINTR { continue }
    throw PersistenceError("\(what()): \(errnoText(code))", kind: .io, errno: code)
  }
}
