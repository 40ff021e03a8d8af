import Foundation
import MoPPSEngine
import MoPPSProtocol
import MoPPSTestSupport
import Testing

@testable import MoPPSServer

@Suite struct DispatcherTests {
  func path(_ m: Method) -> [UInt8] { Array(m.path.utf8) }

  func status(_ reply: [[UInt8]]) throws -> StatusCode {
    #expect(reply.count == 2)
    return try replyCode(reply)
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
    let s = d.handle(RequestFrames.select("math", batchSize: 1, candidates: [7, 8]))
    #expect(try status(s.reply) == .ok)
    #expect(s.events.map(\.topic) == ["mopps.v1.math.select"])
    let u = d.handle(RequestFrames.update("math", ids: [7], successes: [1.0], rollouts: 2))
    #expect(try status(u.reply) == .ok)
    #expect(u.events.map(\.topic) == ["mopps.v1.math.update"])
    #expect(try engine.pool("math").posteriors([7]).alpha == [2])
  }

  @Test func idLimitIsResourceExhausted() throws {
    let engine = Engine()
    try engine.createPool("p", config: PoolConfig(seed: 1))
    let d = Dispatcher(engine: engine, maxIDsPerRequest: 2)
    let r = d.handle(RequestFrames.register("p", ids: [1, 2, 3]))
    #expect(try status(r.reply) == .resourceExhausted)
    #expect(try replyStatus(r.reply).message.contains("--max-ids"))
    #expect(try engine.pool("p").info.promptCount == 0)
  }

  @Test func remoteBindingNeedsInsecure() {
    let remote = ServerConfig(listen: ["tcp://0.0.0.0:5555"], publish: [], stateDir: "/tmp")
    #expect(throws: MoPPSError.self) { try remote.validate() }
    var allowed = remote
    allowed.insecure = true
    #expect(throws: Never.self) { try allowed.validate() }
    var encrypted = remote
    encrypted.curveSecretKey = "JTKVSB%%)wK0E.X)V>+}o?pNmC{O&4W4b!Ni{Lh6"
    #expect(throws: Never.self) { try encrypted.validate() }
    var allowWithoutKey = ServerConfig(listen: ["ipc:///tmp/x"], publish: [], stateDir: "/tmp")
    allowWithoutKey.curveAllow = ["rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7"]
    #expect(throws: MoPPSError.self) { try allowWithoutKey.validate() }
    var emptyAllowList = encrypted
    emptyAllowList.curveAllow = []
    #expect(throws: MoPPSError.self) { try emptyAllowList.validate() }
    for local in ["tcp://127.0.0.1:1", "tcp://localhost:2", "tcp://[::1]:3", "ipc:///tmp/x", "inproc://y"] {
      #expect(throws: Never.self) {
        try ServerConfig(listen: [local], publish: [], stateDir: "/tmp").validate()
      }
    }
    #expect(throws: MoPPSError.self) {
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
  let select = RequestFrames.select("f", batchSize: 4, candidates: Array(0..<16))[1]
  let update = RequestFrames.update(
    "f", ids: [1, 2], successes: [1.0, 0.5], rollouts: 2, successesLE: true)[1]
  let valid: [(Method, [UInt8])] = [
    (.select, select), (.update, update), (.health, []), (.get, RequestFrames.get("f")[1]),
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
    let code = try replyCode(reply)
    codes[code, default: 0] += 1
  }
  #expect(codes[.ok, default: 0] > 1000)
  #expect(codes[.invalidArgument, default: 0] > 1000)
  #expect(try replyCode(d.handle([Array(Method.select.path.utf8), select]).reply) == .ok)
}

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
