/// gRPC canonical status codes. Every layer's error carries one, so it crosses to the wire unchanged.
public enum StatusCode: Int32, Sendable, CaseIterable {
  case ok = 0
  case cancelled = 1
  case unknown = 2
  case invalidArgument = 3
  case deadlineExceeded = 4
  case notFound = 5
  case alreadyExists = 6
  case permissionDenied = 7
  case resourceExhausted = 8
  case failedPrecondition = 9
  case aborted = 10
  case outOfRange = 11
  case unimplemented = 12
  case `internal` = 13
  case unavailable = 14
  case dataLoss = 15
  case unauthenticated = 16

  /// The canonical upper-case name, as gRPC and the Python client spell it.
  public var name: String {
    switch self {
    case .ok: "OK"
    case .cancelled: "CANCELLED"
    case .unknown: "UNKNOWN"
    case .invalidArgument: "INVALID_ARGUMENT"
    case .deadlineExceeded: "DEADLINE_EXCEEDED"
    case .notFound: "NOT_FOUND"
    case .alreadyExists: "ALREADY_EXISTS"
    case .permissionDenied: "PERMISSION_DENIED"
    case .resourceExhausted: "RESOURCE_EXHAUSTED"
    case .failedPrecondition: "FAILED_PRECONDITION"
    case .aborted: "ABORTED"
    case .outOfRange: "OUT_OF_RANGE"
    case .unimplemented: "UNIMPLEMENTED"
    case .internal: "INTERNAL"
    case .unavailable: "UNAVAILABLE"
    case .dataLoss: "DATA_LOSS"
    case .unauthenticated: "UNAUTHENTICATED"
    }
  }
}

/// Every refusal and failure moppsd reports, from the engine, the protocol layer or the server: a
/// status code (what a client can do about it) and a message that names the offending field or
/// flag. One type, so an error crosses the layers to the wire unchanged.
public struct MoPPSError: Error, Equatable, Sendable, CustomStringConvertible {
  public var code: StatusCode
  public var message: String

  public init(_ code: StatusCode, _ message: String) {
    self.code = code
    self.message = message
  }

  public static func invalid(_ message: String) -> MoPPSError { MoPPSError(.invalidArgument, message) }

  /// The status code's name: "INVALID_ARGUMENT", "NOT_FOUND", …
  public var codeName: String { code.name }

  public var description: String { "\(code.name): \(message)" }
}
