import ArgumentParser
import MoPPSProtocol
import ZeroMQ

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// One request to a running moppsd from a CLI subcommand. Failures are printed as what they are
/// (no server answering, an error status), not as usage errors, and exit 1.
enum ServerCall {
  /// Sends `[method][body]` and returns the reply body of an OK status.
  static func call(_ method: Method, _ body: [UInt8] = [], endpoint: String, timeout: Double) throws
    -> [UInt8]
  {
    let reply: [[UInt8]]?
    do {
      let context = try Context()
      let socket = try Socket(context, .req)
      defer { socket.close() }
      try socket.setReceiveTimeout(Int32(timeout * 1000))
      try socket.connect(endpoint)
      try socket.send([Array(method.path.utf8), body])
      reply = try socket.receive()
    } catch {
      fail("cannot reach \(endpoint): \(error)")
    }
    guard let reply, reply.count == 2 else {
      fail("no moppsd answering at \(endpoint) (no reply within \(timeout) s)")
    }
    let status = try Reply.decodeStatus(reply[0])
    guard status.code == .ok else { fail("\(status.code.name): \(status.message)") }
    return reply[1]
  }

  static func fail(_ message: String) -> Never {
    FileHandleOutput.standardError("moppsd: " + message + "\n")
    exit(1)
  }
}

enum FileHandleOutput {
  static func standardError(_ text: String) {
    _ = text.utf8CString.withUnsafeBufferPointer { write(2, $0.baseAddress, $0.count - 1) }
  }
}

struct Health: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Exit 0 when a moppsd answers at the endpoint, 1 when none does (for scripts and probes).",
    discussion: """
      Prints the server's status and version on success, the reason on failure (standard error).

      Examples:
        moppsd health --endpoint ipc://./mopps-state/moppsd.sock
        moppsd health --endpoint tcp://127.0.0.1:5555 --timeout 0.5 || echo "not up yet"
      """)

  @Option(help: ArgumentHelp("The server's request endpoint.", valueName: "endpoint"))
  var endpoint: String = "ipc://./mopps-state/moppsd.sock"

  @Option(help: "Seconds to wait for the reply.")
  var timeout: Double = 2

  func validate() throws {
    guard timeout > 0 && timeout <= 3600 else {
      throw ValidationError("--timeout must be in (0, 3600] seconds")
    }
  }

  func run() throws {
    let body = try ServerCall.call(.health, endpoint: endpoint, timeout: timeout)
    let health = try Reply.decodeHealth(body)
    print("\(health.status) moppsd \(health.version) at \(endpoint) (kernel \(health.kernel))")
  }
}
