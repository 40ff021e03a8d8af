import Dispatch
import Foundation
import MoPPSClient
import MoPPSEngine
import MoPPSProtocol
import Synchronization
import Testing
import ZeroMQ

/// A scripted server on a real ROUTER socket (its own thread): `answer` gets the n-th request
/// (0-based) and returns the reply frames, or nil to drop it as a lost reply would be.
final class FakeServer: Sendable {
  let endpoint: String
  let requests = Mutex<[[[UInt8]]]>([])
  private let stop = Atomic<Bool>(false)
  private let stopped = DispatchSemaphore(value: 0)

  init(_ answer: @escaping @Sendable (Int, [[UInt8]]) -> [[UInt8]]?) throws {
    endpoint = "ipc://\(NSTemporaryDirectory())mopps-client-test-\(UUID().uuidString).sock"
    let context = try Context()
    let ready = DispatchSemaphore(value: 0)
    let endpoint = endpoint
    Thread { [self] in
      defer { stopped.signal() }
      guard let socket = try? Socket(context, .router), (try? socket.bind(endpoint)) != nil else {
        ready.signal()
        return
      }
      ready.signal()
      // Relaxed: the flag carries no data; the test joins on `stopped` before reading `requests`.
      while !stop.load(ordering: .relaxed) {
        guard (try? socket.waitReadable(timeoutMs: 20)) == true,
          let frames = try? socket.receive(dontWait: true),
          frames.count >= 3
        else { continue }
        // [routing id][empty delimiter][path][body] from a REQ client.
        let request = Array(frames[2...])
        let n = self.requests.withLock {
          $0.append(request)
          return $0.count - 1
        }
        if let reply = answer(n, request) { try? socket.send(Array(frames[..<2]) + reply) }
      }
    }.start()
    ready.wait()
  }

  func close() {
    stop.store(true, ordering: .relaxed)
    stopped.wait()
  }
}

@Suite struct ClientTests {
  static let ok = Reply.status(.ok)

  @Test func aLostReplyIsResentAsTheSameBytesOnAFreshSocket() throws {
    let server = try FakeServer { n, _ in n == 0 ? nil : [Self.ok, []] }
    defer { server.close() }
    let client = try MoPPSClient(endpoint: server.endpoint, timeout: 0.2, retries: 2)
    _ = try client.update("p", ids: [1, 2], successes: [1, 0], trials: .each(4))
    let seen = server.requests.withLock { $0 }
    #expect(seen.count == 2)
    #expect(seen[0] == seen[1], "the resend must carry the same request id")
    #expect(seen[0][0] == Array("/mopps.v1.Selector/Update".utf8))
    // Two calls without a given request id get different ones.
    _ = try client.update("p", ids: [1, 2], successes: [1, 0], trials: .each(4))
    #expect(server.requests.withLock { $0[2] } != seen[0])
  }

  @Test func noReplyIsUnavailableAndTheClientStaysUsable() throws {
    let server = try FakeServer { n, _ in
      n < 2 ? nil : [Self.ok, Reply.health(status: "SERVING", version: "test", kernel: "baseline")]
    }
    defer { server.close() }
    let client = try MoPPSClient(endpoint: server.endpoint, timeout: 0.1, retries: 1)
    #expect {
      _ = try client.health()
    } throws: { error in
      guard let e = error as? MoPPSError else { return false }
      return e.code == .unavailable && e.message.contains(server.endpoint)
        && e.message.contains("2 attempt(s)")
    }
    #expect(try client.health().status == "SERVING")
  }

  @Test func errorStatusesCarryTheCodeAndMessage() throws {
    let server = try FakeServer { _, _ in [Reply.status(.notFound, "pool \"x\" does not exist"), []] }
    defer { server.close() }
    let client = try MoPPSClient(endpoint: server.endpoint, timeout: 2)
    #expect(throws: MoPPSError(.notFound, "pool \"x\" does not exist")) { try client.get("x", ids: [1]) }
    #expect(MoPPSError(.notFound, "m").codeName == "NOT_FOUND")
  }

  @Test func arraysGoOutPacked() throws {
    let server = try FakeServer { _, _ in [Self.ok, []] }
    defer { server.close() }
    let client = try MoPPSClient(endpoint: server.endpoint, timeout: 2)
    _ = try client.select("p", batchSize: 2, candidates: [0x0102_0304_0506_0708, 9])
    let body = try #require(server.requests.withLock { $0.first }?[1])
    // Field 4 (candidates_le), wire type 2, 16 bytes, then the ids little-endian.
    let packed: [UInt8] = [0x22, 16, 8, 7, 6, 5, 4, 3, 2, 1, 9, 0, 0, 0, 0, 0, 0, 0]
    #expect(body.count >= packed.count)
    #expect((0...(body.count - packed.count)).contains { Array(body[$0..<$0 + packed.count]) == packed })
  }

  /// The expected strings are numpy's format_float_positional(np.float32(x), unique=True, trim='-').
  @Test func floatsAreWrittenShortestAndPositional() {
    let cases: [(Float, String)] = [
      (1, "1"), (4.5, "4.5"), (0.3, "0.3"), (10.5, "10.5"), (1024, "1024"), (1e-4, "0.0001"),
      (1_727_290_368, "1727290400"), (203143.625, "203143.62"), (-0.0, "-0"), (-2.25, "-2.25"),
      (Float(bitPattern: 1), "0.000000000000000000000000000000000000000000001"),
    ]
    for (value, text) in cases {
      #expect(formatFloat32(value) == text, "\(value)")
    }
  }
}
