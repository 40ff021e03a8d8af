import Foundation
import MoPPSEngine
import MoPPSPersistence

/// In-process measurements of the log for `moppsd bench --durability`: mutations per second with each
/// fsync policy (one thread, updates of 1 prompt, as a trainer's per-step Update of one prompt), and
/// recovery time of a log of 1,000,000 such updates.
public enum DurabilityBenchmark {
  public static func run(directory: String, log: (String) -> Void) throws -> [(String, Double)] {
    var results: [(String, Double)] = []
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    for policy in FsyncPolicy.allCases {
      let dir = directory + "/fsync-\(policy.rawValue)"
      let engine = Engine()
      let (store, _) = try StateStore.open(
        engine: engine, options: .init(directory: dir, fsync: policy, snapshotEvery: Int.max / 2))
      _ = try store.createPool("p", config: PoolConfig(seed: 1))
      let count = policy == .always ? 300 : 100_000
      let start = ContinuousClock.now
      for i in 0..<count {
        let outcomes = Outcomes(ids: [UInt64(i % 1000)], successes: [1], trials: [2])
        _ = try store.update("p", outcomes, requestID: "")
      }
      let seconds = seconds(ContinuousClock.now - start)
      store.close()
      let rate = Double(count) / seconds
      log("updates_per_s_fsync_\(policy.rawValue) = \(Int(rate)) (\(count) updates, one thread, in process)")
      results.append(("updates_per_s_fsync_\(policy.rawValue)", rate))
    }
    // Recovery: a log of 1,000,000 one-prompt updates (no snapshot), then a cold open.
    let dir = directory + "/recovery"
    do {
      let engine = Engine()
      let (store, _) = try StateStore.open(
        engine: engine, options: .init(directory: dir, fsync: .none, snapshotEvery: Int.max / 2))
      _ = try store.createPool("p", config: PoolConfig(seed: 1))
      for i in 0..<1_000_000 {
        let outcomes = Outcomes(ids: [UInt64(i % 100_000)], successes: [Double(i % 3)], trials: [2])
        _ = try store.update("p", outcomes, requestID: "")
      }
      store.close()
    }
    let start = ContinuousClock.now
    let (recovered, report) = try StateStore.open(engine: Engine(), options: .init(directory: dir))
    let recovery = seconds(ContinuousClock.now - start)
    recovered.close()
    log("recovery_s_1m_updates = \(recovery) (\(report.first ?? ""))")
    results.append(("recovery_s_1m_updates", recovery))
    return results
  }

  static func seconds(_ d: Duration) -> Double {
    Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18
  }
}
