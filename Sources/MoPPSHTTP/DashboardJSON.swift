import Foundation
import MoPPSEngine
import MoPPSServer

/// `/api/stats.json`, which the dashboard polls: the same figures as `/metrics` and Stats.
enum DashboardJSON {
  struct Document: Encodable {
    var version: String
    var kernel: String
    var uptimeSeconds: Double
    var ready: Bool
    var residentBytes: Int
    var walBytes: UInt64
    var fsyncs: UInt64
    var lastSnapshotAgeSeconds: Double?
    var requests: [Request]
    var meanBounds: [Double]
    var pools: [PoolDocument]
  }

  struct Request: Encodable {
    var method: String
    var count: UInt64
    var errors: UInt64
  }

  struct PoolDocument: Encodable {
    var name: String
    var strategy: String
    var prompts: Int
    var promptsWithData: Int
    var selects: UInt64
    var updates: UInt64
    var meanHistogram: [UInt64]
    var meanSum: Double
    var lastSelectBatch: Int
    var lastSelectMeanSample: Double?
    var recentUpdates: [Update]
    var strategyState: [String: Double]
  }

  struct Update: Encodable {
    var index: UInt64
    var prompts: Int
    var predicted: Double
    var realised: Double
    var allSolved: Double
    var allFailed: Double
    var effective: Double
  }

  static func document(_ v: MetricsView) -> Document {
    Document(
      version: v.version, kernel: v.kernel, uptimeSeconds: v.uptimeSeconds, ready: v.ready,
      residentBytes: v.residentBytes, walBytes: v.store.walBytes, fsyncs: v.store.fsyncs,
      lastSnapshotAgeSeconds: v.store.lastSnapshotUnix > 0
        ? max(0, v.nowUnix - v.store.lastSnapshotUnix) : nil,
      requests: v.requests.map { Request(method: $0.method, count: $0.count, errors: $0.count - $0.ok) },
      meanBounds: PoolMetrics.meanBounds,
      pools: v.pools.map { p in
        PoolDocument(
          name: p.info.name, strategy: p.info.config.strategy.rawValue, prompts: p.info.promptCount,
          promptsWithData: p.metrics.promptsWithData, selects: p.info.selectCount,
          updates: p.info.updateCount,
          meanHistogram: p.metrics.meanHistogram, meanSum: p.metrics.meanSum,
          lastSelectBatch: p.metrics.lastSelectBatch,
          lastSelectMeanSample: p.metrics.lastSelectBatch > 0 ? p.metrics.lastSelectMeanSample : nil,
          recentUpdates: p.metrics.recentUpdates.map {
            Update(
              index: $0.updateIndex, prompts: $0.prompts, predicted: $0.predicted, realised: $0.realised,
              allSolved: $0.allSolved, allFailed: $0.allFailed, effective: $0.effectiveRatio)
          },
          strategyState: Dictionary(p.gauges.map { ($0.name, $0.value) }, uniquingKeysWith: { a, _ in a }))
      })
  }

  static func render(_ v: MetricsView) -> String {
    let encoder = JSONEncoder()
    encoder.keyEncodingStrategy = .convertToSnakeCase
    encoder.outputFormatting = [.sortedKeys]
    // Every figure is finite (rates of empty batches are 0), so encoding cannot fail.
    guard let data = try? encoder.encode(document(v)) else { return "{}" }
    return String(decoding: data, as: UTF8.self)
  }
}
