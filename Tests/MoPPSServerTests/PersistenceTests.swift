import Foundation
import MoPPSEngine
import MoPPSProtocol
import MoPPSTestSupport
import Synchronization
import Testing

@testable import MoPPSPersistence
@testable import MoPPSServer

@Suite struct PersistenceTests {
  @Test func crc32cKnownVectors() {
    // RFC 3720 (iSCSI) test vectors.
    #expect(CRC32C.checksum(Array("123456789".utf8)) == 0xE306_9283)
    #expect(CRC32C.checksum([UInt8](repeating: 0, count: 32)) == 0x8A91_36AA)
    #expect(CRC32C.checksum([UInt8](repeating: 0xFF, count: 32)) == 0x62A8_AB43)
    #expect(CRC32C.checksum(Array(0..<32)) == 0x46DD_794E)
  }

  /// The CRC32-instruction path and the table path agree on every length and alignment (and with a
  /// seed), so records written on one CPU verify on another.
  @Test func crc32cHardwareMatchesTables() {
    var rng = Xoshiro256(seed: 21)
    let bytes = (0..<4_200).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
    bytes.withUnsafeBytes { all in
      for _ in 0..<400 {
        let start = rng.nextBelow(64)
        let count = rng.nextBelow(all.count - start)
        let slice = UnsafeRawBufferPointer(rebasing: all[start..<(start + count)])
        let seed = UInt32(truncatingIfNeeded: rng.next())
        #expect(
          CRC32C.checksum(slice, seed: seed) == CRC32C.software(slice, seed: seed), "at \(start), \(count)")
      }
    }
    #expect(CRC32C.software(UnsafeRawBufferPointer(start: nil, count: 0)) == 0)
  }

  static let memo = SelectMemo(
    requestID: "run-3/e0/b7", fingerprint: 0xDEAD_BEEF,
    result: SelectResult(
      ids: [4, 9], samples: [0.5, 0.25], means: [0.4, 0.3], candidateIDs: [4, 9, 11],
      candidateSamples: [0.5, 0.25, 0.9], candidateCount: 3, strategy: .topK, selectIndex: 12))

  static let snapshot = PoolSnapshot(
    name: "p", config: PoolConfig(seed: 1, strictIDs: true), selectCount: 3, updateCount: 4, ids: [5, 6],
    alpha: [1, 2], beta: [3, 4], epochOrder: [1, 0], epochCursor: 1, epochRNG: [1, 2, 3, 4],
    recentRequests: ["a", "b"], recentFingerprints: [7, 8], recentSelects: [memo],
    names: [(id: 6, name: "prompt six")])

  static let records: [WALRecord] = [
    .createPool(name: "p", config: PoolConfig(priorAlpha: 2, decay: 0.25, strategy: .threshold, seed: 99)),
    .createPool(name: "s", config: PoolConfig(seed: 5, strictIDs: true)),
    .select(pool: "p", count: 13, drawn: nil, memo: nil),
    .select(pool: "p", count: 13, drawn: 64, memo: memo),
    .dropPool(name: "gone"),
    .register(pool: "p", ids: [1, 2, UInt64.max], priorAlpha: nil, priorBeta: nil),
    .register(pool: "p", ids: [7], priorAlpha: [3], priorBeta: [4]),
    .update(pool: "p", requestID: "step-7 ✓", ids: [1, 2], successes: [0.5, 2], trials: [4, 4]),
    .setPosteriors(pool: "p", ids: [9, 10], alpha: [1.5, 2], beta: [2.5, 3], names: ["", "q-10"]),
    .install(snapshot),
  ]

  @Test func recordsRoundTrip() throws {
    for record in Self.records {
      #expect(try WALRecord.decode(record.encode()) == record)
    }
  }

  /// Format 1 (before strict ids, fingerprints and select records): its records still decode, with
  /// the defaults for what it did not have, and a format-2-only record does not.
  @Test func previousFormatRecordsDecode() throws {
    var w = BinaryWriter()
    w.u8(1)
    w.string("old")
    w.f64(1)
    w.f64(1)
    w.f64(0.5)
    w.f64(0.5)
    w.string("topk")
    w.f64(0.3)
    w.f64(0.7)
    w.u64(9)
    let old = try WALRecord.decode(w.bytes, version: 1)
    #expect(old == .createPool(name: "old", config: PoolConfig(decay: 0.5, seed: 9)))
    #expect(throws: PersistenceError.self) { try WALRecord.decode(w.bytes, version: 2) }
    let select = WALRecord.select(pool: "p", count: 1, drawn: nil, memo: nil).encode()
    #expect(throws: PersistenceError.self) { try WALRecord.decode(select, version: 1) }
  }

  @Test func damagedRecordsAreRefusedNotTrapped() throws {
    var rng = Xoshiro256(seed: 5)
    var refused = 0
    for record in Self.records {
      let bytes = record.encode()
      for cut in 0..<bytes.count {
        #expect(throws: PersistenceError.self) { try WALRecord.decode(Array(bytes[0..<cut])) }
      }
      for _ in 0..<200 {
        var b = bytes
        b[rng.nextBelow(b.count)] = UInt8(truncatingIfNeeded: rng.next())
        // A changed byte may still decode (to another record); it must never trap, and what it
        // decodes to must be a record the log can hold: its encoding decodes to itself again.
        do {
          let decoded = try WALRecord.decode(b)
          let encoded = decoded.encode()
          #expect(try WALRecord.decode(encoded).encode() == encoded)
          if b == bytes { #expect(decoded == record) }
        } catch {
          refused += 1
        }
      }
    }
    // Lengths, counts, tags and UTF-8 are checked: many damaged records are refused outright.
    #expect(refused > Self.records.count * 20, "\(refused) of \(Self.records.count * 200) refused")
  }

  @Test func snapshotFileChecksAndRoundTrips() throws {
    let file = SnapshotFile(kind: .tag, lsn: 42, created: 1.5, pools: [Self.snapshot])
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
    let r = try Self.recovered { _, d in
      let code = try replyCode(d.handle(Self.update).reply)
      #expect(code == .ok)
    }
    #expect(r.recovered == r.written)
    #expect(r.report.first?.contains("2 log records") == true, "\(r.report)")
  }
}

extension PersistenceTests {
  static let createPool = RequestFrames.createPool("p", seed: 1)

  /// Update of pool "p": ids 7 and 8 with 1 and 2.5 successes of 4 rollouts each.
  static let update = RequestFrames.update("p", ids: [7, 8], successes: [1, 2.5], rollouts: 4)

  /// fsync `always` from three updating threads while a fourth keeps snapshotting (which rotates the
  /// log file under the fsyncs, as they run outside the mutation lock): every update succeeds and a
  /// second store recovers exactly the state the first one ended with.
  @Test func concurrentFsyncsAndLogRotationLoseNothing() throws {
    let r = try Self.recovered { store, d in
      let failures = Atomic<Int>(0)
      let snapshots = Atomic<Int>(0)
      let updatesDone = Atomic<Int>(0)
      let group = DispatchGroup()
      for t in 0..<4 {
        group.enter()
        Thread {
          defer { group.leave() }
          if t == 3 {
            // Relaxed: only counts finished updaters; the group's wait orders everything else.
            while updatesDone.load(ordering: .relaxed) < 3 {
              if (try? store.snapshotState()) == nil { failures.add(1, ordering: .relaxed) }
              snapshots.add(1, ordering: .relaxed)
            }
            return
          }
          for _ in 0..<150 {
            let reply = d.handle(Self.update).reply
            if (try? replyCode(reply)) != .ok { failures.add(1, ordering: .relaxed) }
          }
          updatesDone.add(1, ordering: .relaxed)
        }.start()
      }
      group.wait()
      #expect(failures.load(ordering: .relaxed) == 0)
      #expect(snapshots.load(ordering: .relaxed) > 0)
    }
    let expectedAlpha: [Double] = [451, 1126]  // 1 + 450 × 1 and 1 + 450 × 2.5
    #expect(r.written.alpha == expectedAlpha)
    #expect(r.recovered == r.written)
  }

  /// Creates pool "p" in a store (fsync `always`) on a fresh directory, runs `mutate`, closes the
  /// store and opens a second one on the directory: the posteriors of "p" before closing and after
  /// recovery, and the recovery report.
  static func recovered(
    _ mutate: (StateStore, Dispatcher) throws -> Void
  ) throws -> (written: Posteriors, recovered: Posteriors, report: [String]) {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("mopps-\(UUID().uuidString)").path
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let (store, _) = try StateStore.open(engine: Engine(), options: .init(directory: dir, fsync: .always))
    let d = Dispatcher(store: store)
    #expect(try replyCode(d.handle(createPool).reply) == .ok)
    try mutate(store, d)
    let written = try store.engine.pool("p").posteriors(nil)
    store.close()
    let (again, report) = try StateStore.open(engine: Engine(), options: .init(directory: dir))
    defer { again.close() }
    return (written, try again.engine.pool("p").posteriors(nil), report)
  }
}

extension PersistenceTests {
  /// Export writes keys as JSON strings without a fallible serializer: the same text as
  /// JSONSerialization writes for every kind of character (quotes, controls, slashes, non-ASCII).
  @Test func exportKeysAreWrittenAsJSONSerializationWritesThem() throws {
    var keys = [
      "plain", "a\"b", "back\\slash", "a/b", "tab\tnew\nline\r", "\u{08}\u{0C}\u{01}\u{1F}", "é ✓ 😀", "",
    ]
    var rng = Xoshiro256(seed: 11)
    for _ in 0..<200 {
      keys.append(
        String(
          String.UnicodeScalarView((0..<8).compactMap { _ in Unicode.Scalar(UInt32(rng.nextBelow(0x90))) })))
    }
    for key in keys {
      let data = try JSONSerialization.data(withJSONObject: [key])
      let expected = String(decoding: data, as: UTF8.self).dropFirst().dropLast()
      #expect(ReferenceFormat.jsonString(key) == String(expected), "\(Array(key.unicodeScalars))")
    }
  }
}
