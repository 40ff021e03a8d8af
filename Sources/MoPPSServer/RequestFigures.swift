import MoPPSEngine

/// One method's requests, failures by code and handling-time histogram (what `/metrics` exposes as
/// `moppsd_requests_total` and `moppsd_request_duration_seconds`).
public struct RequestFigures: Sendable, Equatable {
  /// Upper bounds (seconds) of the handling-time buckets: 5 µs to 1 s, about 2.5× apart.
  public static let bounds: [Double] = [
    0.000_005, 0.000_01, 0.000_025, 0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01,
    0.025, 0.05, 0.1, 0.25, 1,
  ]
  static let boundNanos: [UInt64] = bounds.map { UInt64(($0 * 1e9).rounded()) }

  public var method: String
  /// Requests, including those refused before they were decoded.
  public var count: UInt64
  public var errorsByCode: [StatusCode: UInt64]
  /// Timed requests per bound of `bounds`, not cumulative.
  public var buckets: [UInt64]
  /// Requests that were timed (decoded ones; refusals at decoding are counted but not timed).
  public var timed: UInt64
  public var secondsSum: Double

  /// Successful requests.
  public var ok: UInt64 { count - errorsByCode.values.reduce(0, +) }
}
