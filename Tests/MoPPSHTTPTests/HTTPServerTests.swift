import Foundation
import MoPPSEngine
import MoPPSPersistence
import MoPPSProtocol
import MoPPSServer
import MoPPSTestSupport
import Testing

@testable import MoPPSHTTP

/// The HTTP side over real loopback connections: readiness before and after the server is
/// attached, the exposition's figures against the engine's, and refusals of bad requests.
@Suite struct HTTPServerTests {
  @Test func readyOnlyOnceAttachedAndHealthyThroughout() throws {
    let http = try HTTPServer(host: "127.0.0.1", port: 0)
    defer { http.stop() }
    let port = try #require(Int(http.boundAddress.split(separator: ":").last!))
    #expect(try get(port, "/healthz").status == 200)
    let before = try get(port, "/readyz")
    #expect(before.status == 503)
    #expect(before.body.contains("recovering the state directory"))
    #expect(try get(port, "/metrics").status == 503)
    let fixture = try Fixture()
    defer { fixture.close() }
    http.attach(fixture.server)
    #expect(try get(port, "/readyz").status == 200)
    fixture.server.triggerGracefulShutdown()
    let stopping = try get(port, "/readyz")
    #expect(stopping.status == 503 && stopping.body.contains("shutting down"))
    #expect(try get(port, "/healthz").status == 200)
  }

  @Test func metricsShowWhatTheEngineHolds() throws {
    let fixture = try Fixture()
    defer { fixture.close() }
    let d = fixture.server.dispatcher
    #expect(try replyCode(d.handle(RequestFrames.createPool("p", seed: 7)).reply) == .ok)
    #expect(try replyCode(d.handle(RequestFrames.register("p", ids: Array(0..<20))).reply) == .ok)
    #expect(
      try replyCode(d.handle(RequestFrames.select("p", batchSize: 4, candidates: Array(0..<20))).reply) == .ok
    )
    // Prompts 0 and 1 solved every time, 2 never, 3 half: posterior means 5/6, 5/6, 1/6, 1/2.
    let update = RequestFrames.update("p", ids: [0, 1, 2, 3], successes: [4, 4, 0, 2], rollouts: 4)
    #expect(try replyCode(d.handle(update).reply) == .ok)
    #expect(
      try replyCode(d.handle(RequestFrames.select("nope", batchSize: 1, candidates: [1])).reply) == .notFound)

    let http = try HTTPServer(host: "127.0.0.1", port: 0)
    defer { http.stop() }
    http.attach(fixture.server)
    let port = try #require(Int(http.boundAddress.split(separator: ":").last!))
    let r = try get(port, "/metrics")
    #expect(r.status == 200)
    #expect(r.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8")
    let samples = parse(r.body)
    #expect(samples[#"moppsd_pool_prompts{pool="p"}"#] == 20)
    #expect(samples[#"moppsd_pool_prompts_with_data{pool="p"}"#] == 4)
    #expect(samples[#"moppsd_pool_selects_total{pool="p"}"#] == 1)
    #expect(samples[#"moppsd_pool_updates_total{pool="p"}"#] == 1)
    // 16 prompts at the prior's 0.5 and prompt 3 at 0.5 (le 0.5), one at 1/6 (le 0.2), two at 5/6.
    #expect(samples[#"moppsd_pool_posterior_mean_bucket{pool="p",le="0.1"}"#] == 0)
    #expect(samples[#"moppsd_pool_posterior_mean_bucket{pool="p",le="0.2"}"#] == 1)
    #expect(samples[#"moppsd_pool_posterior_mean_bucket{pool="p",le="0.5"}"#] == 18)
    #expect(samples[#"moppsd_pool_posterior_mean_bucket{pool="p",le="0.8"}"#] == 18)
    #expect(samples[#"moppsd_pool_posterior_mean_bucket{pool="p",le="0.9"}"#] == 20)
    #expect(samples[#"moppsd_pool_posterior_mean_count{pool="p"}"#] == 20)
    let meanSum = try #require(samples[#"moppsd_pool_posterior_mean_sum{pool="p"}"#])
    #expect(abs(meanSum - (17 * 0.5 + 1.0 / 6 + 2 * 5.0 / 6)) < 1e-6)
    #expect(samples[#"moppsd_pool_last_update_success_rate{pool="p"}"#] == 10.0 / 16)
    #expect(samples[#"moppsd_pool_last_update_predicted_rate{pool="p"}"#] == 0.5)
    #expect(samples[#"moppsd_pool_last_update_all_solved_ratio{pool="p"}"#] == 0.5)
    #expect(samples[#"moppsd_pool_last_update_all_failed_ratio{pool="p"}"#] == 0.25)
    #expect(samples[#"moppsd_pool_last_update_effective_ratio{pool="p"}"#] == 0.25)
    #expect(samples[#"moppsd_pool_last_select_batch_size{pool="p"}"#] == 4)
    #expect(samples[#"moppsd_requests_total{method="Select",code="OK"}"#] == 1)
    #expect(samples[#"moppsd_requests_total{method="Select",code="NOT_FOUND"}"#] == 1)
    #expect(samples[#"moppsd_request_errors_total{method="Select",code="NOT_FOUND"}"#] == 1)
    // A real histogram: cumulative buckets ending in +Inf = _count.
    let selectBuckets = samples.filter {
      $0.key.hasPrefix(#"moppsd_request_duration_seconds_bucket{method="Select""#)
    }
    #expect(selectBuckets[#"moppsd_request_duration_seconds_bucket{method="Select",le="+Inf"}"#] == 2)
    #expect(samples[#"moppsd_request_duration_seconds_count{method="Select"}"#] == 2)
    #expect(selectBuckets.count == RequestFigures.bounds.count + 1)

    let json = try get(port, "/api/stats.json")
    #expect(json.status == 200 && json.headers["content-type"] == "application/json")
    let doc = try #require(try JSONSerialization.jsonObject(with: Data(json.body.utf8)) as? [String: Any])
    let pools = try #require(doc["pools"] as? [[String: Any]])
    #expect(pools.first?["prompts_with_data"] as? Int == 4)
    #expect(pools.first?["mean_histogram"] as? [Int] == [0, 1, 0, 0, 17, 0, 0, 0, 2, 0])
    let page = try get(port, "/")
    #expect(page.status == 200 && page.headers["content-type"] == "text/html; charset=utf-8")
    #expect(
      page.body.contains("/api/stats.json") && !page.body.contains("http://")
        && !page.body.contains("https://"))
  }

  @Test func badRequestsAreRefusedAndTheServerGoesOn() throws {
    let fixture = try Fixture()
    defer { fixture.close() }
    let http = try HTTPServer(host: "127.0.0.1", port: 0)
    defer { http.stop() }
    http.attach(fixture.server)
    let port = try #require(Int(http.boundAddress.split(separator: ":").last!))
    #expect(try get(port, "/nope").status == 404)
    #expect(try get(port, "/metrics/../etc/passwd").status == 404)
    let post = try send(
      port, "POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi")
    #expect(post.status == 405 && post.headers["allow"] == "GET, HEAD")
    let big = String(repeating: "x", count: HTTPServer.maxBodyBytes + 1)
    let oversized = try send(
      port, "GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: \(big.utf8.count)\r\n\r\n\(big)")
    #expect(oversized.status == 413)
    #expect(try send(port, "NOT HTTP AT ALL\r\n\r\n").status == 400)
    let hugeHeader = String(repeating: "a", count: 200_000)
    #expect(try send(port, "GET / HTTP/1.1\r\nHost: x\r\nX-Big: \(hugeHeader)\r\n\r\n").status == 400)
    #expect(try get(port, "/healthz").status == 200)
    #expect(try replyCode(fixture.server.dispatcher.handle(RequestFrames.health).reply) == .ok)
  }

  @Test func nonLoopbackNeedsInsecure() throws {
    #expect(throws: MoPPSError.self) { try ServerConfig.httpAddress("0.0.0.0:9464", insecure: false) }
    #expect(throws: MoPPSError.self) { try ServerConfig.httpAddress("127.0.0.1", insecure: false) }
    #expect(throws: MoPPSError.self) { try ServerConfig.httpAddress("127.0.0.1:70000", insecure: false) }
    #expect(try ServerConfig.httpAddress("0.0.0.0:9464", insecure: true) == ("0.0.0.0", 9464))
    #expect(try ServerConfig.httpAddress("[::1]:9464", insecure: false) == ("::1", 9464))
    #expect(try ServerConfig.httpAddress("localhost:0", insecure: false) == ("localhost", 0))
  }
}

/// A server over an in-memory store with ipc endpoints in a temporary directory (not running: the
/// tests drive its dispatcher directly).
final class Fixture: Sendable {
  let server: Server
  let dir: String

  init() throws {
    dir =
      FileManager.default.temporaryDirectory.appendingPathComponent("mopps-http-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    let config = ServerConfig(
      listen: ["ipc://\(dir)/moppsd.sock"], publish: ["ipc://\(dir)/events.sock"], stateDir: dir, workers: 1)
    server = try Server(config: config, store: .inMemory(engine: Engine()))
  }

  func close() {
    server.triggerGracefulShutdown()
    server.run()
    try? FileManager.default.removeItem(atPath: dir)
  }
}

struct Response {
  var status: Int
  var headers: [String: String]
  var body: String
}

func get(_ port: Int, _ path: String) throws -> Response {
  try send(port, "GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
}

/// Sends `raw` on a new connection and reads until the server closes it.
func send(_ port: Int, _ raw: String) throws -> Response {
  let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
  try #require(fd >= 0)
  defer { close(fd) }
  var timeout = timeval(tv_sec: 10, tv_usec: 0)
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
  var address = sockaddr_in()
  address.sin_family = sa_family_t(AF_INET)
  address.sin_port = in_port_t(UInt16(port).bigEndian)
  address.sin_addr.s_addr = inet_addr("127.0.0.1")
  let connected = withUnsafePointer(to: &address) {
    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
      connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
    }
  }
  try #require(connected == 0)
  let bytes = Array(raw.utf8)
  var sent = 0
  while sent < bytes.count {
    // The server may answer and close before it has read everything (a refused body): stop sending.
    let n = bytes[sent...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
    if n <= 0 { break }
    sent += n
  }
  var received: [UInt8] = []
  var buffer = [UInt8](repeating: 0, count: 65536)
  while true {
    let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
    if n <= 0 { break }
    received += buffer[0..<n]
  }
  let text = String(decoding: received, as: UTF8.self)
  let parts = text.components(separatedBy: "\r\n\r\n")
  let lines = parts[0].components(separatedBy: "\r\n")
  let status = lines.first.flatMap { Int($0.split(separator: " ").dropFirst().first ?? "") } ?? 0
  var headers: [String: String] = [:]
  for line in lines.dropFirst() {
    guard let colon = line.firstIndex(of: ":") else { continue }
    headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(
      in: .whitespaces)
  }
  return Response(status: status, headers: headers, body: parts.dropFirst().joined(separator: "\r\n\r\n"))
}

/// Samples of an exposition, by name and labels as written.
func parse(_ exposition: String) -> [String: Double] {
  var out: [String: Double] = [:]
  for line in exposition.split(separator: "\n") where !line.hasPrefix("#") {
    guard let space = line.lastIndex(of: " ") else { continue }
    let value = line[line.index(after: space)...]
    out[String(line[..<space])] = value == "+Inf" ? .infinity : Double(value)
  }
  return out
}
