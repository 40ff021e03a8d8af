import Foundation
import MoPPSEngine
import MoPPSProtocol
import MoPPSTestSupport
import Synchronization
import Testing
import ZeroMQ

@testable import MoPPSPersistence
@testable import MoPPSServer

/// Servers started in this process on ipc endpoints in a temporary directory, driven over real
/// ZeroMQ sockets: the broker, the hand-off to workers, graceful shutdown and the ZAP handler.
@Suite struct ServerTests {
  @Test func brokerAnswersReqAndDealerClients() throws {
    let running = try RunningServer()
    defer { running.stop() }
    let req = try running.client(.req)
    #expect(try replyCode(req.call(RequestFrames.createPool("p", seed: 1))) == .ok)
    #expect(try replyCode(req.call(RequestFrames.register("p", ids: Array(0..<32)))) == .ok)
    #expect(
      try replyCode(req.call(RequestFrames.select("p", batchSize: 4, candidates: Array(0..<32)))) == .ok)
    #expect(try replyCode(req.call([Array("/nope".utf8), []])) == .unimplemented)
    #expect(try replyCode(req.call([Array(Method.select.path.utf8), [0xFF, 0xFF]])) == .invalidArgument)
    let health = try req.call(RequestFrames.health)
    #expect(try replyCode(health) == .ok)
    #expect(try Reply.decodeHealth(health[1]).status == "SERVING")

    // A DEALER pipelining requests, with and without REQ's empty delimiter: replies in order, each
    // with the envelope it came with.
    let dealer = try running.client(.dealer)
    try dealer.socket.send([[]] + RequestFrames.update("p", ids: [3], successes: [1], rollouts: 2))
    try dealer.socket.send(RequestFrames.get("p"))
    let first = try #require(try dealer.socket.receive())
    #expect(first.count == 3 && first[0].isEmpty)
    #expect(try replyCode(Array(first.dropFirst())) == .ok)
    let second = try #require(try dealer.socket.receive())
    #expect(second.count == 2)
    #expect(try replyCode(second) == .ok)
    #expect(try running.server.dispatcher.engine.pool("p").posteriors([3]).alpha == [2])
  }

  /// A request that has to wait for its pool's lock goes to a worker; the broker meanwhile answers
  /// Health at once, and the waiting request is answered when the lock is free.
  @Test func waitingRequestGoesToAWorkerWhileHealthAnswers() throws {
    let running = try RunningServer()
    defer { running.stop() }
    // The same client's Health, read after the update, is answered first: the update waits on a
    // worker, not on the broker.
    let (req, lock, slow, first) = try running.updateWaitingOnItsPool()
    try #require(first.count == 3)
    #expect(try Reply.decodeHealth(first[2]).status == "SERVING")
    for _ in 0..<3 {
      #expect(try replyCode(req.call(RequestFrames.health)) == .ok)
    }
    #expect(try slow.socket.waitReadable(timeoutMs: 100) == false, "answered while its pool was locked")
    lock.release()
    let reply = try #require(try slow.socket.receive())
    #expect(try replyCode(Array(reply.dropFirst())) == .ok)
    #expect(try running.server.dispatcher.engine.pool("p").posteriors([1]).alpha == [2])
  }

  /// Shutdown with a request in flight: requests arriving meanwhile are answered UNAVAILABLE, the
  /// one still running after the drain is answered ABORTED, and `run()` returns once it finishes.
  @Test func shutdownAnswersRequestsInFlight() throws {
    let running = try RunningServer()
    var stopped = false
    defer { if !stopped { running.stop() } }
    // The broker reads one client's requests in order: once the Health behind the update is
    // answered, the update is with a worker.
    let (req, lock, slow, health) = try running.updateWaitingOnItsPool()
    #expect(try replyCode(Array(health.dropFirst())) == .ok)
    running.server.triggerGracefulShutdown()
    var refused: (code: StatusCode, message: String)? = nil
    for _ in 0..<40 {
      let status = try replyStatus(req.call(RequestFrames.health))
      if status.code != .ok {
        refused = status
        break
      }
      usleep(10_000)
    }
    #expect(refused?.code == .unavailable)
    #expect(refused?.message.contains("shutting down") == true)
    slow.socket.setReceiveTimeoutOrFail(3000)
    let aborted = try #require(try slow.socket.receive(), "no answer for the request in flight")
    #expect(try replyCode(Array(aborted.dropFirst())) == .aborted)
    #expect(!running.hasStopped(within: 0.2), "run() returned while a worker still held a request")
    lock.release()
    #expect(running.hasStopped(within: 5))
    stopped = true
    // The request finished and was logged before the server stopped.
    let (again, _) = try StateStore.open(engine: Engine(), options: .init(directory: running.stateDir))
    defer { again.close() }
    #expect(try again.engine.pool("p").posteriors([1]).alpha == [2])
  }

  /// CURVE with an allow list: a client with an allowed key is answered, one with another key is
  /// refused by the ZAP handler (no reply at all), and the server keeps serving the allowed one.
  @Test func zapLetsInAllowedKeysOnly() throws {
    let serverKeys = try Curve.keyPair()
    let allowed = try Curve.keyPair()
    let other = try Curve.keyPair()
    let running = try RunningServer { config in
      config.curveSecretKey = serverKeys.secretKey
      config.curveAllow = [allowed.publicKey]
    }
    defer { running.stop() }
    let good = try running.client(.req, curve: (serverKeys.publicKey, allowed))
    #expect(try replyCode(good.call(RequestFrames.health)) == .ok)
    let bad = try running.client(.req, curve: (serverKeys.publicKey, other), timeoutMs: 500)
    try bad.socket.send(RequestFrames.health)
    #expect(try bad.socket.receive() == nil, "a client with a key not on the allow list was answered")
    let plain = try running.client(.req, timeoutMs: 500)
    try plain.socket.send(RequestFrames.health)
    #expect(try plain.socket.receive() == nil, "a client without CURVE was answered")
    #expect(try replyCode(good.call(RequestFrames.health)) == .ok)
  }

  /// Two servers in one process stop independently (each has its own stop flag).
  @Test func serversStopIndependently() throws {
    let a = try RunningServer()
    let b = try RunningServer()
    defer { b.stop() }
    a.stop()
    #expect(a.hasStopped(within: 0))
    let req = try b.client(.req)
    #expect(try replyCode(req.call(RequestFrames.health)) == .ok)
  }
}

/// A `Server` with a state directory of its own, running on a thread of its own until `stop()`.
final class RunningServer: Sendable {
  let server: Server
  let stateDir: String
  let endpoint: String
  let context: Context
  private let finished = DispatchSemaphore(value: 0)
  private let done = Atomic<Bool>(false)

  init(workers: Int = 2, _ configure: (inout ServerConfig) -> Void = { _ in }) throws {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("mopps-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    stateDir = dir
    endpoint = "ipc://\(dir)/moppsd.sock"
    var config = ServerConfig(
      listen: [endpoint], publish: ["ipc://\(dir)/events.sock"], stateDir: dir, workers: workers)
    config.persistence = StateStore.Options(directory: dir)
    configure(&config)
    server = try Server(config: config)
    context = try Context()
    let thread = Thread { [server, finished] in
      server.run()
      finished.signal()
    }
    thread.name = "test-server"
    thread.start()
  }

  /// Whether `run()` has returned, waiting up to `seconds` for it.
  func hasStopped(within seconds: Double) -> Bool {
    // Sequentially consistent: read by the test thread only, the semaphore orders the rest.
    if done.load(ordering: .sequentiallyConsistent) { return true }
    guard finished.wait(timeout: .now() + seconds) == .success else { return false }
    done.store(true, ordering: .sequentiallyConsistent)
    return true
  }

  /// Stops the server, waits for `run()` to return and removes the directory.
  func stop() {
    server.triggerGracefulShutdown()
    #expect(hasStopped(within: 10), "run() did not return after triggerGracefulShutdown()")
    try? FileManager.default.removeItem(atPath: stateDir)
  }

  /// A client socket connected to the server (a receive timeout so that no test hangs).
  func client(
    _ type: SocketType, curve: (serverKey: String, keys: Curve.KeyPair)? = nil, timeoutMs: Int32 = 5000
  ) throws -> TestClient {
    let socket = try Socket(context, type)
    if let curve { try socket.makeCurveClient(serverKey: curve.serverKey, keys: curve.keys) }
    try socket.setReceiveTimeout(timeoutMs)
    try socket.connect(endpoint)
    return TestClient(socket: socket)
  }
}

extension RunningServer {
  /// Pool "p" created and its lock held by the test, an Update of it sent from a DEALER client and
  /// a Health behind it on the same client; returns a REQ client, the lock, the DEALER client and
  /// the first reply that client reads.
  func updateWaitingOnItsPool() throws -> (
    req: TestClient, lock: PoolLockHolder, slow: TestClient, first: [[UInt8]]
  ) {
    let req = try client(.req)
    #expect(try replyCode(req.call(RequestFrames.createPool("p", seed: 1))) == .ok)
    let lock = PoolLockHolder(server.dispatcher.store, pool: "p")
    let slow = try client(.dealer)
    try slow.socket.send([[]] + RequestFrames.update("p", ids: [1], successes: [1], rollouts: 1))
    try slow.socket.send([[]] + RequestFrames.health)
    return (req, lock, slow, try #require(try slow.socket.receive()))
  }
}

struct TestClient {
  let socket: Socket

  /// Sends a request and returns the reply (fails the test on a timeout).
  func call(_ frames: [[UInt8]]) throws -> [[UInt8]] {
    try socket.send(frames)
    return try #require(try socket.receive(), "no reply within the receive timeout")
  }
}

extension Socket {
  func setReceiveTimeoutOrFail(_ ms: Int32) {
    #expect(throws: Never.self) { try self.setReceiveTimeout(ms) }
  }
}

/// Holds one pool's mutation lock on a thread of its own until `release()`, as a long mutation
/// (a Register of millions of ids, a Restore of a big tag) would.
final class PoolLockHolder: Sendable {
  private let held = DispatchSemaphore(value: 0)
  private let released = DispatchSemaphore(value: 0)
  private let finished = DispatchSemaphore(value: 0)

  init(_ store: StateStore, pool: String) {
    Thread { [held, released, finished] in
      _ = store.gates.withPool(pool) {
        held.signal()
        released.wait()
      }
      finished.signal()
    }.start()
    held.wait()
  }

  func release() {
    released.signal()
    finished.wait()
  }
}
