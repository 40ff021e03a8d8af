import ArgumentParser
import Foundation
import MoPPSEngine
import MoPPSPersistence
import MoPPSProtocol
import MoPPSServer

struct Inspect: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Show what a state directory holds: pools, log, snapshots, tags, posterior means.",
    discussion: """
      Reads the directory the way `moppsd serve` would recover it, without changing anything, so it \
      works with or without a server running on it. Damage (a torn log tail, a bad snapshot) is \
      reported, not repaired.

      Examples:
        moppsd inspect ./mopps-state
        moppsd inspect ./mopps-state --pool math --bins 20
      """)

  @Argument(help: "The state directory (as given to serve --state-dir).")
  var directory: String

  @Option(help: "Show only this pool.")
  var pool: String?

  @Option(help: "Histogram bins of posterior means over [0, 1].")
  var bins: Int = 10

  func validate() throws {
    guard (1...100).contains(bins) else { throw ValidationError("--bins must be in 1...100") }
  }

  func run() throws {
    let inspection: Inspection
    do {
      inspection = try StateStore.inspect(directory: directory)
    } catch {
      throw ValidationError(error.message)
    }
    print("state directory \(directory)\(inspection.inUse ? " (in use by a running moppsd)" : "")")
    print(
      "  recovers from \(inspection.base) + \(inspection.logRecords) log records; next LSN \(inspection.nextLSN)"
    )
    print("  log: \(inspection.logFiles) file(s), \(Self.bytes(inspection.logBytes))")
    for line in inspection.report { print("  ! \(line)") }
    let full = inspection.snapshots.filter { $0.pool.isEmpty }
    if let last = full.max(by: { $0.lsn < $1.lsn }) {
      print(
        "  last full snapshot: \(last.tag), \(Self.date(last.created)), \(last.promptCount) prompts, \(Self.bytes(last.bytes))"
      )
    } else {
      print("  no full snapshot yet")
    }
    let pools = inspection.pools.filter { pool == nil || $0.name == pool }
    if let pool, pools.isEmpty { throw ValidationError("no pool \"\(pool)\" in \(directory)") }
    for info in pools {
      let c = info.config
      print(
        "\npool \(info.name): \(info.promptCount) prompts, \(info.updateCount) updates, \(info.selectCount) selects"
      )
      print(
        "  prior Beta(\(c.priorAlpha), \(c.priorBeta)), decay \(c.decay), target \(c.target), \(c.strategy.rawValue), "
          + "band [\(c.bandLow), \(c.bandHigh)], seed \(c.seed)")
      let tags = inspection.snapshots.filter { $0.pool == info.name }
      if !tags.isEmpty {
        print("  tags: " + tags.map { "\($0.tag) (\(Self.date($0.created)))" }.joined(separator: ", "))
      }
      histogram(inspection.means[info.name] ?? [])
    }
  }

  func histogram(_ means: [Double]) {
    guard !means.isEmpty else { return }
    var counts = [Int](repeating: 0, count: bins)
    for m in means { counts[min(bins - 1, Int(m * Double(bins)))] += 1 }
    let top = counts.max()!
    print("  posterior means:")
    for (i, n) in counts.enumerated() {
      let low = Double(i) / Double(bins)
      let bar = String(repeating: "█", count: top == 0 ? 0 : Int((Double(n) / Double(top) * 40).rounded()))
      print(String(format: "  %4.2f-%4.2f %8d %@", low, low + 1 / Double(bins), n, bar))
    }
  }

  static func bytes(_ n: Int) -> String {
    n < 1 << 20 ? "\(n) bytes" : String(format: "%.1f MiB", Double(n) / Double(1 << 20))
  }

  static func date(_ t: Double) -> String {
    let f = DateFormatter()
    f.dateFormat = "yyyy-MM-dd HH:mm:ss"
    f.timeZone = TimeZone(identifier: "UTC")
    return f.string(from: Date(timeIntervalSince1970: t)) + " UTC"
  }
}
