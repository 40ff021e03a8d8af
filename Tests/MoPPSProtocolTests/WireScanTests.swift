import MoPPSEngine
import MoPPSTestSupport
import Testing

@testable import MoPPSProtocol

/// The pre-decode scan: counts, string caps, NUL bytes and the memory estimate, before protobuf-c.
@Suite struct WireScanTests {
  func refusal(_ method: Method, _ body: [UInt8], _ limits: RequestLimits = RequestLimits()) -> MoPPSError? {
    #expect(throws: MoPPSError.self) { try Request.decode(method, body: body, limits: limits) }
  }

  func expectRefused(
    _ method: Method, _ body: [UInt8], _ code: StatusCode, _ needles: [String],
    _ limits: RequestLimits = RequestLimits()
  ) {
    let error = refusal(method, body, limits)
    #expect(error?.code == code, "\(error?.message ?? "accepted")")
    for needle in needles {
      #expect(error?.message.contains(needle) == true, "\(needle) not in \(error?.message ?? "")")
    }
  }

  @Test func nulInAnyStringIsRefusedNamingTheField() {
    // (method, field named in the refusal, the request's fields before the bad one, the bad one)
    let cases: [(Method, String, (inout ProtoWriter) -> Void, UInt64, String)] = [
      (.createPool, "pool", { _ in }, 1, "a\0b"),
      (.snapshot, "tag", { $0.string(1, "p") }, 2, "step\01"),
      (
        .update, "request_id",
        {
          $0.string(1, "p"); $0.packed(2, [1]); $0.uint(8, 1)
        }, 9, "r\0"
      ),
      (.select, "request_id", { $0.string(1, "p") }, 10, "\0"),
      (
        .importState, "names",
        {
          $0.string(1, "p"); $0.string(8, "ok")
        }, 8, "x\0y"
      ),
    ]
    for (method, name, prefix, field, bad) in cases {
      var w = ProtoWriter()
      prefix(&w)
      w.string(field, bad)
      expectRefused(method, w.bytes, .invalidArgument, ["\(name):", "NUL"])
    }
  }

  @Test func invalidUTF8IsRefusedNotRepaired() {
    for bad: [UInt8] in [[0x61, 0xFF], [0x61, 0xFE], [0xC3], [0xED, 0xA0, 0x80]] {
      var w = ProtoWriter()
      w.string(1, "p")
      w.packed(2, [1])
      w.uint(8, 1)
      w.bytesField(9, bad)
      expectRefused(.update, w.bytes, .invalidArgument, ["request_id:", "UTF-8"])
    }
    var ok = ProtoWriter()
    ok.string(1, "p")
    ok.string(9, "步-1 ✓")
    #expect(throws: Never.self) { try WireScan.check(ok.bytes, WireScan.schema(.update), RequestLimits()) }
  }

  @Test func stringCaps() {
    for (method, field, name, cap) in [
      (Method.dropPool, UInt64(1), "pool", 128), (.restore, 2, "tag", 128), (.update, 9, "request_id", 256),
      (.select, 10, "request_id", 256), (.importState, 8, "names", 4096),
    ] {
      var fits = ProtoWriter()
      fits.string(field, String(repeating: "x", count: cap))
      #expect(throws: Never.self) { try WireScan.check(fits.bytes, WireScan.schema(method), RequestLimits()) }
      var long = ProtoWriter()
      long.string(field, String(repeating: "x", count: cap + 1))
      expectRefused(
        method, long.bytes, .invalidArgument, ["\(name):", "\(cap + 1) bytes", "limit of \(cap)"])
    }
  }

  @Test func everyRepeatedFormIsCountedAgainstMaxIDs() {
    let limits = RequestLimits(maxIDs: 10)
    let eleven = [UInt64](0..<11)
    var unpacked = ProtoWriter()
    for id in eleven { unpacked.uint(2, id) }
    var packed = ProtoWriter()
    packed.packed(2, eleven)
    var split = ProtoWriter()  // two packed runs of one field add up
    split.packed(2, Array(eleven[0..<6]))
    split.packed(2, Array(eleven[6...]))
    var little = ProtoWriter()
    little.bytesField(3, ProtoWriter.littleEndian(eleven))
    for (body, field) in [
      (unpacked.bytes, "ids"), (packed.bytes, "ids"), (split.bytes, "ids"), (little.bytes, "ids_le"),
    ] {
      expectRefused(.register, body, .resourceExhausted, ["\(field):", "--max-ids"], limits)
    }
    var priors = ProtoWriter()
    for _ in 0..<11 { priors.double(4, 1) }
    expectRefused(.register, priors.bytes, .resourceExhausted, ["prior_alpha:", "--max-ids"], limits)
    var names = ProtoWriter()
    for _ in 0..<11 { names.string(8, "") }
    expectRefused(.importState, names.bytes, .resourceExhausted, ["names:", "--max-ids"], limits)
    var candidates = ProtoWriter()
    candidates.packed(3, eleven)
    expectRefused(.select, candidates.bytes, .resourceExhausted, ["candidates:", "--max-ids"], limits)
    var ten = ProtoWriter()
    ten.packed(2, Array(eleven[0..<10]))
    #expect(throws: Never.self) { try Request.decode(.register, body: ten.bytes, limits: limits) }
  }

  @Test func memoryEstimateRefusesAmplifyingEncodings() {
    let limits = RequestLimits(maxIDs: 1 << 24, maxMemoryBytes: 1 << 20)
    let ids = [UInt64](repeating: 1, count: 20_000)
    // 20,000 unpacked ids: 40 KB on the wire, ~1.6 MB decoded.
    var unpacked = ProtoWriter()
    for id in ids { unpacked.uint(2, id) }
    expectRefused(.register, unpacked.bytes, .resourceExhausted, ["--max-request-memory"], limits)
    // Unknown fields cost protobuf-c memory too.
    var unknown = ProtoWriter()
    for _ in 0..<20_000 { unknown.uint(99, 1) }
    expectRefused(.health, unknown.bytes, .resourceExhausted, ["--max-request-memory"], limits)
    var emptyNames = ProtoWriter()
    for _ in 0..<20_000 { emptyNames.string(8, "") }
    expectRefused(.importState, emptyNames.bytes, .resourceExhausted, ["--max-request-memory"], limits)
    // The same ids packed fit.
    var packed = ProtoWriter()
    packed.bytesField(3, ProtoWriter.littleEndian(ids))
    #expect(throws: Never.self) { try Request.decode(.register, body: packed.bytes, limits: limits) }
  }

  @Test func fullMaxIDsPackedRegisterFitsTheDefaultBudget() throws {
    var w = ProtoWriter()
    w.string(1, "p")
    w.bytesField(3, [UInt8](repeating: 0, count: 8 << 24))
    try WireScan.check(w.bytes, WireScan.schema(.register), RequestLimits())
  }

  @Test func truncatedOrGroupFieldsDoNotParse() {
    for body: [UInt8] in [[0x10], [0x1A, 0x05, 1, 2], [0x13], [0x0F], [0x00, 0x01], [0x10, 0xFF, 0xFF]] {
      expectRefused(.register, body, .invalidArgument, ["does not parse"])
    }
    // A packed varint run that ends inside a varint.
    expectRefused(.register, [0x12, 0x02, 0x01, 0x81], .invalidArgument, ["does not parse"])
  }
}
