import Foundation
import Logging
import MoPPSPlatform
import Synchronization

/// moppsd's logging: swift-log, with a handler that writes one logfmt line per event to stderr
/// (`ts=… level=… msg="…" key=value…`), easy for people and log shippers alike.
public enum Log {
  /// The level every handler uses (changed by `bootstrap`, e.g. from `serve --log-level`).
  static let level = Mutex<Logger.Level>(.info)
  private static let installed: Void = LoggingSystem.bootstrap { LogfmtHandler(label: $0) }

  /// Installs the handler (once per process) and sets the level (any number of times).
  public static func bootstrap(level: Logger.Level) {
    _ = installed
    self.level.withLock { $0 = level }
  }

  static let logger = Logger(label: "moppsd")

  public static func info(_ message: String, _ metadata: Logger.Metadata = [:]) {
    logger.info("\(message)", metadata: metadata)
  }
  public static func warning(_ message: String, _ metadata: Logger.Metadata = [:]) {
    logger.warning("\(message)", metadata: metadata)
  }
  public static func error(_ message: String, _ metadata: Logger.Metadata = [:]) {
    logger.error("\(message)", metadata: metadata)
  }
}

/// logfmt lines on stderr, written with one write(2) each so lines from threads never interleave.
public struct LogfmtHandler: LogHandler {
  public var metadata: Logger.Metadata = [:]
  /// Read from `Log.level` on every call, so `--log-level` applies to loggers made before it was parsed.
  public var logLevel: Logger.Level {
    get { Log.level.withLock { $0 } }
    set { Log.level.withLock { $0 = newValue } }
  }
  let label: String

  public init(label: String) { self.label = label }

  public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
    get { metadata[key] }
    set { metadata[key] = newValue }
  }

  public func log(event: LogEvent) {
    var fields = metadata
    if let extra = event.metadata { fields.merge(extra) { $1 } }
    var line = "ts=\(Self.timestamp()) level=\(event.level) msg=\(Self.quote(event.message.description))"
    for (key, value) in fields.sorted(by: { $0.key < $1.key }) {
      line += " \(key)=\(Self.quote(value.description))"
    }
    let bytes = Array((line + "\n").utf8)
    _ = bytes.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
  }

  static func quote(_ s: String) -> String {
    let plain =
      !s.isEmpty && s.unicodeScalars.allSatisfy { $0.value > 0x20 && $0 != "\"" && $0 != "=" && $0 != "\\" }
    if plain { return s }
    return "\""
      + s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
      .replacingOccurrences(of: "\n", with: "\\n") + "\""
  }

  static func timestamp() -> String {
    var ts = timespec()
    clock_gettime(CLOCK_REALTIME, &ts)
    var t = time_t(ts.tv_sec)
    var parts = tm()
    gmtime_r(&t, &parts)
    return String(
      format: "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", parts.tm_year + 1900, parts.tm_mon + 1, parts.tm_mday,
      parts.tm_hour, parts.tm_min, parts.tm_sec, Int(ts.tv_nsec / 1_000_000))
  }
}
