import Foundation
import MoPPSEngine
import MoPPSProtocol
import Testing

@testable import MoPPSServer

@Suite struct DispatcherTests {
  func path(_ m: Method) -> [UInt8] { Array(m.path.utf8) }

  func status(_ reply: [[UInt8]]) throws -> StatusCode {
    #expect(reply.count == 2)
    return try Reply.decodeStatus(reply[0]).code
  }

  @Test func malformedRequestsGetAStatus() throws {
    let d = Dispatcher()
    #expect(try status(d.handle([]).reply) == .invalidArgument)
    #expect(try status(d.handle([[1], [2], [3]]).reply) == .invalidArgument)
    #expect(try status(d.handle([Array("/nope".utf8), []]).reply) == .unimplemented)
    #expect(try status(d.handle([path(.select), [0xFF, 0xFF, 0xFF]]).reply) == .invalidArgument)
    #expect(try status(d.handle([path(.health)]).reply) == .ok)
    #expect(try status(d.handle([path(.snapshot), []]).reply) == .failedPrecondition)
  }

  @Test func selectAndUpdatePublishEvents() throws {
    let engine = Engine()
    let d = Dispatcher(engine: engine)
    try engine.createPool("math", config: PoolConfig(seed: 1))
    var select: [UInt8] = []
    // SelectRequest{pool: "math", batch_size: 1, candidates: [7, 8]} by hand.
    select += [0x0A, 4] + Array("math".utf8) + [0x10, 1, 0x1A, 2, 7, 8]
    let s = d.handle([path(.select), select])
    #expect(try status(s.reply) == .ok)
    #expect(s.events.map(\.topic) == ["mopps.v1.math.select"])
    // UpdateRequest{pool: "math", ids: [7], successes: [1.0], rollouts: 2}.
    var update: [UInt8] = [0x0A, 4] + Array("math".utf8) + [0x12, 1, 7, 0x22, 8]
    update += withUnsafeBytes(of: (1.0).bitPattern.littleEndian) { Array($0) }
    update += [0x40, 2]
    let u = d.handle([path(.update), update])
    #expect(try status(u.reply) == .ok)
    #expect(u.events.map(\.topic) == ["mopps.v1.math.update"])
    #expect(try engine.pool("math").posteriors([7]).alpha == [2])
  }

  @Test func idLimitIsResourceExhausted() throws {
    let engine = Engine()
    try engine.createPool("p", config: PoolConfig(seed: 1))
    let d = Dispatcher(engine: engine, maxIDsPerRequest: 2)
    let register: [UInt8] = [0x0A, 1, 0x70, 0x12, 3, 1, 2, 3]
    let r = d.handle([path(.register), register])
    #expect(try status(r.reply) == .resourceExhausted)
    #expect(try Reply.decodeStatus(r.reply[0]).message.contains("--max-ids"))
    #expect(try engine.pool("p").info.promptCount == 0)
  }

  @Test func remoteBindingNeedsInsecure() {
    let remote = ServerConfig(listen: ["tcp://0.0.0.0:5555"], publish: [], stateDir: "/tmp")
    #expect(throws: ServerError.self) { try remote.validate() }
    var allowed = remote
    allowed.insecure = true
    #expect(throws: Never.self) { try allowed.validate() }
    var encrypted = remote
    encrypted.curveSecretKey = "JTKVSB%%)wK0E.X)V>+}o?pNmC{O&4W4b!Ni{Lh6"
    #expect(throws: Never.self) { try encrypted.validate() }
    var allowWithoutKey = ServerConfig(listen: ["ipc:///tmp/x"], publish: [], stateDir: "/tmp")
    allowWithoutKey.curveAllow = ["rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7"]
    #expect(throws: ServerError.self) { try allowWithoutKey.validate() }
    var emptyAllowList = encrypted
    emptyAllowList.curveAllow = []
    #expect(throws: ServerError.self) { try emptyAllowList.validate() }
    for local in ["tcp://127.0.0.1:1", "tcp://localhost:2", "tcp://[::1]:3", "ipc:///tmp/x", "inproc://y"] {
      #expect(throws: Never.self) {
        try ServerConfig(listen: [local], publish: [], stateDir: "/tmp").validate()
      }
    }
    #expect(throws: ServerError.self) {
      try ServerConfig(listen: ["udp://1.2.3.4:1"], publish: [], stateDir: "/tmp").validate()
    }
  }
}

/// Random and mutated-valid requests straight into the dispatcher (no sockets): every one gets a
/// two-frame reply whose status decodes; valid ones still work afterwards.
@Test func dispatcherFuzz() throws {
  let engine = Engine()
  let d = Dispatcher(engine: engine)
  try engine.createPool("f", config: PoolConfig(seed: 1))
  _ = try engine.pool("f").register(Array(0..<64))
  var rng = Xoshiro256(seed: 77)
  // SelectRequest{pool "f", batch_size 4, candidates [0..<16]}, UpdateRequest{pool "f", ids [1,2], successes_le, rollouts 2}.
  let select: [UInt8] = [0x0A, 1, 0x66, 0x10, 4, 0x1A, 16] + (0..<16).map { UInt8($0) }
  var update: [UInt8] = [0x0A, 1, 0x66, 0x12, 2, 1, 2, 0x2A, 16]
  update += [1.0, 0.5].flatMap { d in withUnsafeBytes(of: d.bitPattern.littleEndian) { Array($0) } }
  update += [0x40, 2]
  let valid: [(Method, [UInt8])] = [
    (.select, select), (.update, update), (.health, []), (.get, [0x0A, 1, 0x66]),
  ]
  var codes: [StatusCode: Int] = [:]
  for i in 0..<20_000 {
    var frames: [[UInt8]]
    let (method, body) = valid[rng.nextBelow(valid.count)]
    switch i % 4 {
    case 0:
      var b = body
      for _ in 0..<(1 + rng.nextBelow(4)) where !b.isEmpty {
        b[rng.nextBelow(b.count)] = UInt8(truncatingIfNeeded: rng.next())
      }
      frames = [Array(method.path.utf8), Array(b.prefix(rng.nextBelow(b.count + 1)))]
    case 1:
      frames = [Array(Method.allCases[rng.nextBelow(Method.allCases.count)].path.utf8), body]
    case 2:
      frames = (0..<rng.nextBelow(4)).map { _ in
        (0..<rng.nextBelow(40)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
      }
    default:
      frames = [Array(method.path.utf8), body]
    }
    let reply = d.handle(frames).reply
    #expect(reply.count == 2)
    let code = try Reply.decodeStatus(reply[0]).code
    codes[code, default: 0] += 1
  }
  #expect(codes[.ok, default: 0] > 1000)
  #expect(codes[.invalidArgument, default: 0] > 1000)
  #expect(try status(d.handle([Array(Method.select.path.utf8), select]).reply) == .ok)
}

private func status(_ reply: [[UInt8]]) throws -> StatusCode { try Reply.decodeStatus(reply[0]).code }

/// Percentiles from the log-linear histogram are within its 1/32 resolution of the exact ones.
@Test func latencyHistogramQuantiles() {
  var h = LatencyHistogram()
  var rng = Xoshiro256(seed: 3)
  var values: [UInt64] = []
  for _ in 0..<100_000 {
    let v = UInt64(exp(rng.nextOpenUnit() * 14))  // 1 ns ... 1.2 ms, log-uniform
    values.append(v)
    h.record(v)
  }
  values.sort()
  for q in [0.5, 0.9, 0.99, 0.999] {
    let exact = Double(values[Int((q * Double(values.count)).rounded(.up)) - 1])
    let got = Double(h.quantile(q))
    #expect(got <= exact && got >= exact * (1 - 1.0 / 32) - 1, "q \(q): \(got) vs \(exact)")
  }
  #expect(h.quantile(1) == values.last!)
  #expect(LatencyHistogram().quantile(0.5) == 0)
}
