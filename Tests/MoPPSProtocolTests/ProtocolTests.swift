import MoPPSEngine
import MoPPSTestSupport
import Testing

@testable import MoPPSProtocol

@Suite struct ProtocolTests {
  @Test func statusRoundTrip() throws {
    for code in StatusCode.allCases {
      let decoded = try Reply.decodeStatus(Reply.status(code, "field x: bad ✓"))
      #expect(decoded.code == code)
      #expect(decoded.message == "field x: bad ✓")
    }
  }

  @Test func methodPaths() {
    #expect(Method(path: Array("/mopps.v1.Selector/Select".utf8)) == .select)
    #expect(Method.update.path == "/mopps.v1.Selector/Update")
    for bad in [
      "", "/mopps.v1.Selector/", "/mopps.v1.Selector/select", "Select", "/mopps.v2.Selector/Select",
    ] {
      #expect(Method(path: Array(bad.utf8)) == nil, "\(bad)")
    }
  }

  @Test func unknownMethodIsUnimplemented() {
    let error = #expect(throws: MoPPSError.self) {
      try Request.decode(method: Array("/mopps.v1.Selector/Frobnicate".utf8), body: [])
    }
    #expect(error?.code == .unimplemented)
  }

  @Test func repeatedAndPackedIdsDecodeAlike() throws {
    let ids: [UInt64] = [0, 1, 300, UInt64.max, 1 << 40]
    var repeated = ProtoWriter()
    repeated.string(1, "math")
    repeated.uint(2, 3)
    repeated.packed(3, ids)
    var packed = ProtoWriter()
    packed.string(1, "math")
    packed.uint(2, 3)
    packed.bytesField(4, ProtoWriter.littleEndian(ids))
    for body in [repeated.bytes, packed.bytes] {
      guard case .select(let r) = try Request.decode(.select, body: body) else {
        Issue.record("not a select")
        return
      }
      #expect(r.pool == "math")
      #expect(r.query.batchSize == 3)
      #expect(r.query.candidates == .given(ids))
    }
  }

  @Test func bothFormsOrRaggedBytesAreRefused() {
    var both = ProtoWriter()
    both.packed(3, [1, 2])
    both.bytesField(4, ProtoWriter.littleEndian([3]))
    var ragged = ProtoWriter()
    ragged.bytesField(4, [1, 2, 3, 4, 5, 6, 7, 8, 9])
    var withCount = ProtoWriter()
    withCount.packed(3, [1, 2])
    withCount.uint(5, 10)
    for (body, needle) in [
      (both.bytes, "candidates and candidates_le"), (ragged.bytes, "candidates_le: 9 bytes"),
      (withCount.bytes, "candidate_count"),
    ] {
      let error = #expect(throws: MoPPSError.self) { try Request.decode(.select, body: body) }
      #expect(error?.code == .invalidArgument)
      #expect(error?.message.contains(needle) == true, "\(error?.message ?? "")")
    }
  }

  @Test func updateTakesRolloutsForAll() throws {
    var w = ProtoWriter()
    w.string(1, "p")
    w.packed(2, [5, 6])
    w.bytesField(5, [1.5, 2.0].flatMap { d in withUnsafeBytes(of: d.bitPattern.littleEndian) { Array($0) } })
    w.uint(8, 4)
    w.string(9, "req-1")
    guard case .update(let r) = try Request.decode(.update, body: w.bytes) else {
      Issue.record("not an update")
      return
    }
    #expect(r.outcomes.ids == [5, 6])
    #expect(r.outcomes.successes == [1.5, 2.0])
    #expect(r.outcomes.trials == [4, 4])
    #expect(r.requestID == "req-1")
  }

  @Test func configOneofsCarryPresence() throws {
    var config = ProtoWriter()
    config.double(3, 0)  // decay explicitly 0: must not be mistaken for "unset"
    config.uint(8, 0)  // seed explicitly 0
    var w = ProtoWriter()
    w.string(1, "p")
    w.bytesField(2, config.bytes)
    guard case .createPool(let r) = try Request.decode(.createPool, body: w.bytes) else {
      Issue.record("not a create")
      return
    }
    #expect(r.config.decay == 0)
    #expect(r.config.seed == 0)
    #expect(r.config.priorAlpha == nil)
    #expect(r.config.resolved(defaultSeed: 9).priorAlpha == 1)
  }

  /// Random and mutated bodies for every method: each decodes or is refused with a status, never a trap.
  @Test func garbageNeverTraps() {
    var rng = Xoshiro256(seed: 99)
    var valid = ProtoWriter()
    valid.string(1, "math")
    valid.uint(2, 3)
    valid.packed(3, [1, 2, 3, 4])
    for method in Method.allCases {
      for i in 0..<2000 {
        var body: [UInt8]
        if i % 2 == 0 {
          body = (0..<rng.nextBelow(64)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
        } else {
          body = valid.bytes
          for _ in 0..<(1 + rng.nextBelow(4)) {
            body[rng.nextBelow(body.count)] = UInt8(truncatingIfNeeded: rng.next())
          }
          body = Array(body.prefix(rng.nextBelow(body.count + 1)))
        }
        do {
          _ = try Request.decode(method, body: body)
        } catch {
          #expect(error.code == .invalidArgument)
        }
      }
    }
  }
}
