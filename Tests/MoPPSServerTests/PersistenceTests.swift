import Foundation
import MoPPSEngine
import MoPPSProtocol
import Testing

@testable import MoPPSServer

@Suite struct PersistenceTests {
  @Test func crc32cKnownVectors() {
    // RFC 3720 (iSCSI) test vectors.
    #expect(CRC32C.checksum(Array("123456789".utf8)) == 0xE306_9283)
    #expect(CRC32C.checksum([UInt8](repeating: 0, count: 32)) == 0x8A91_36AA)
    #expect(CRC32C.checksum([UInt8](repeating: 0xFF, count: 32)) == 0x62A8_AB43)
    #expect(CRC32C.checksum(Array(0..<32)) == 0x46DD_794E)
  }

  static let records: [WALRecord] = [
    .createPool(name: "p", config: PoolConfig(priorAlpha: 2, decay: 0.25, strategy: .threshold, seed: 99)),
    .dropPool(name: "gone"),
    .register(pool: "p", ids: [1, 2, UInt64.max], priorAlpha: nil, priorBeta: nil),
    .register(pool: "p", ids: [7], priorAlpha: [3], priorBeta: [4]),
    .update(pool: "p", requestID: "step-7 ✓", ids: [1, 2], successes: [0.5, 2], trials: [4, 4]),
    .setPosteriors(pool: "p", ids: [9, 10], alpha: [1.5, 2], beta: [2.5, 3], names: ["", "q-10"]),
    .install(
      PoolSnapshot(
        name: "p", config: PoolConfig(seed: 1), selectCount: 3, updateCount: 4, ids: [5, 6], alpha: [1, 2],
        beta: [3, 4], epochOrder: [1, 0], epochCursor: 1, epochRNG: [1, 2, 3, 4], recentRequests: ["a", "b"],
        names: [(id: 6, name: "prompt six")])),
  ]

  @Test func recordsRoundTrip() throws {
    for record in Self.records {
      #expect(try WALRecord.decode(record.encode()) == record)
    }
  }

  @Test func damagedRecordsAreRefusedNotTrapped() {
    var rng = Xoshiro256(seed: 5)
    for record in Self.records {
      let bytes = record.encode()
      for cut in 0..<bytes.count {
        #expect(throws: PersistenceError.self) { try WALRecord.decode(Array(bytes[0..<cut])) }
      }
      for _ in 0..<200 {
        var b = bytes
        b[rng.nextBelow(b.count)] = UInt8(truncatingIfNeeded: rng.next())
        _ = try? WALRecord.decode(b)  // may decode to something else; must not trap
      }
    }
  }

  @Test func snapshotFileChecksAndRoundTrips() throws {
    guard case .install(let pool) = Self.records.last! else { return }
    let file = SnapshotFile(kind: .tag, lsn: 42, created: 1.5, pools: [pool])
    let bytes = file.encode()
    #expect(try SnapshotFile.decode(bytes) == file)
    #expect(try SnapshotFile.header(bytes).promptCount == 2)
    var flipped = bytes
    flipped[flipped.count - 3] ^= 0x10
    let error = #expect(throws: PersistenceError.self) { try SnapshotFile.decode(flipped) }
    #expect(error?.message == "checksum mismatch")
    #expect(throws: PersistenceError.self) { try SnapshotFile.decode(Array(bytes.dropLast())) }
  }

  /// A store in a temporary directory: mutations through the dispatcher, then a second store on
  /// the same directory (after the first is closed) recovers the same posteriors.
  @Test func storeRecoversThroughTheDispatcher() throws {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("mopps-\(UUID().uuidString)").path
    defer { try? FileManager.default.removeItem(atPath: dir) }
    var expected: Posteriors?
    do {
      let (store, _) = try StateStore.open(engine: Engine(), options: .init(directory: dir, fsync: .always))
      let d = Dispatcher(store: store)
      let create: [UInt8] = [0x0A, 1, 0x70, 0x12, 2, 0x40, 1]  // pool "p", config{seed: 1}
      #expect(
        try Reply.decodeStatusCode(d.handle([Array("/mopps.v1.Selector/CreatePool".utf8), create]).reply)
          == .ok)
      var update: [UInt8] = [0x0A, 1, 0x70, 0x12, 2, 7, 8, 0x22, 16]
      update += withUnsafeBytes(of: (1.0).bitPattern.littleEndian) { Array($0) }
      update += withUnsafeBytes(of: (2.5).bitPattern.littleEndian) { Array($0) }
      update += [0x40, 4]
      #expect(
        try Reply.decodeStatusCode(d.handle([Array("/mopps.v1.Selector/Update".utf8), update]).reply) == .ok)
      expected = try store.engine.pool("p").posteriors(nil)
      store.close()
    }
    let (again, report) = try StateStore.open(engine: Engine(), options: .init(directory: dir))
    defer { again.close() }
    #expect(try again.engine.pool("p").posteriors(nil) == expected)
    #expect(report.first?.contains("2 log records") == true, "\(report)")
  }
}

extension Reply {
  static func decodeStatusCode(_ reply: [[UInt8]]) throws -> StatusCode { try decodeStatus(reply[0]).code }
}
