import ArgumentParser
import MoPPSClient
import MoPPSEngine
import MoPPSPlatform
import MoPPSProtocol

/// One request to a running moppsd from a CLI subcommand. Failures are printed as what they are
/// (no server answering, an error status), not as usage errors, and exit 1.
enum ServerCall {
  /// A client for one command: a single attempt, since these calls are read-only and a second try
  /// would only double the wait before "no moppsd answering".
  static func client(endpoint: String, timeout: Double) -> MoPPSClient {
    do {
      return try MoPPSClient(endpoint: endpoint, timeout: timeout, retries: 0)
    } catch {
      fail("cannot reach \(endpoint): \(error.message)")
    }
  }

  /// Runs `body` against the server, turning its failure into the command's exit.
  static func run<T>(endpoint: String, timeout: Double, _ body: (MoPPSClient) throws(MoPPSError) -> T) -> T {
    do {
      return try body(client(endpoint: endpoint, timeout: timeout))
    } catch  where error.code == .unavailable {
      fail("no moppsd answering at \(endpoint) (no reply within \(timeout) s)")
    } catch {
      fail("\(error.codeName): \(error.message)")
    }
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
    let health = ServerCall.run(endpoint: endpoint, timeout: timeout) { c throws(MoPPSError) in try c.health()
    }
    print("\(health.status) moppsd \(health.version) at \(endpoint) (kernel \(health.kernel))")
  }
}
