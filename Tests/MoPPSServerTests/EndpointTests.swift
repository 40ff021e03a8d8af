import Foundation
import MoPPSEngine
import Testing
import ZeroMQ

@testable import MoPPSServer

@Suite struct EndpointTests {
  @Test func bindHostIsThePartAfterTheSource() {
    #expect(Endpoints.tcpBindHost("tcp://127.0.0.1:5555") == "127.0.0.1")
    #expect(Endpoints.tcpBindHost("tcp://127.0.0.1:0;0.0.0.0:5555") == "0.0.0.0")
    #expect(Endpoints.tcpBindHost("tcp://127.0.0.1;[::]:5555") == "::")
    #expect(Endpoints.tcpBindHost("tcp://[::1]:5555") == "::1")
    #expect(Endpoints.tcpBindHost("tcp://*:5555") == "*")
    #expect(Endpoints.tcpBindHost("tcp://lo:5555") == "lo")
  }

  @Test func loopbackForms() {
    for local in [
      "tcp://127.0.0.1:1", "tcp://127.3.4.5:1", "tcp://localhost:2", "tcp://[::1]:3", "tcp://lo:4",
      "tcp://10.0.0.1:0;127.0.0.1:5", "tcp://[::ffff:127.0.0.1]:6",
    ] {
      #expect(Endpoints.isLoopback(local), "\(local)")
    }
    for remote in [
      "tcp://0.0.0.0:1", "tcp://*:2", "tcp://[::]:3", "tcp://127.0.0.1:0;0.0.0.0:4", "tcp://127.0.0.1:0;*:5",
      "tcp://127.0.0.1:0;[::]:6", "tcp://localhost;0.0.0.0:7", "tcp://[fe80::1%lo]:8", "tcp://:9",
      "tcp://no-such-host.invalid:10", "tcp://[::ffff:10.0.0.1]:11",
    ] {
      #expect(!Endpoints.isLoopback(remote), "\(remote)")
    }
  }

  @Test func sourceFormNeedsEncryption() {
    for endpoint in [
      "tcp://127.0.0.1:0;0.0.0.0:5555", "tcp://127.0.0.1:0;*:5555", "tcp://127.0.0.1;[::]:5555",
    ] {
      let listen = ServerConfig(listen: [endpoint], publish: [], stateDir: "/tmp")
      #expect(throws: MoPPSError.self) { try listen.validate() }
      let publish = ServerConfig(listen: ["ipc:///tmp/x"], publish: [endpoint], stateDir: "/tmp")
      #expect(throws: MoPPSError.self) { try publish.validate() }
    }
  }

  /// The check after bind refuses what libzmq actually bound, and releases the port.
  @Test func boundAddressIsCheckedAndReleased() throws {
    let context = try Context()
    let socket = try Socket(context, .router)
    var message = ""
    do {
      _ = try Server.bind(socket, ["tcp://0.0.0.0:0"], loopbackOnly: true)
    } catch {
      message = error.message
    }
    let port = try #require(message.split(separator: ":").compactMap { Int($0.prefix { $0.isNumber }) }.last)
    #expect(message.contains("tcp://0.0.0.0:\(port)"))
    // Free again: the refused bind was undone (libzmq closes the listener on its I/O thread, so
    // allow it a moment).
    let again = try Socket(context, .router)
    var rebound = false
    for _ in 0..<100 where !rebound {
      rebound = (try? again.bind("tcp://0.0.0.0:\(port)")) != nil
      if !rebound { usleep(10_000) }
    }
    #expect(rebound)
    again.close()
    #expect(try Server.bind(socket, ["tcp://127.0.0.1:0"], loopbackOnly: true).count == 1)
    #expect(try Server.bind(socket, ["tcp://0.0.0.0:0"], loopbackOnly: false).count == 1)
    socket.close()
  }
}
