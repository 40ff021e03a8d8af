import Testing

@testable import ZeroMQ

@Suite struct SocketTests {
  @Test func routerDealerMultipartRoundTrip() throws {
    let context = try Context()
    let router = try Socket(context, .router)
    try router.bind("inproc://round-trip")
    let dealer = try Socket(context, .dealer)
    try dealer.connect("inproc://round-trip")
    let frames: [[UInt8]] = [[], Array("hello".utf8), [0, 1, 2, 255], []]
    try dealer.send(frames)
    let got = try #require(try router.receive())
    #expect(got.count == frames.count + 1)  // identity first
    #expect(Array(got.dropFirst()) == frames)
    try router.send([got[0], Array("reply".utf8)])
    #expect(try dealer.receive() == [Array("reply".utf8)])
  }

  @Test func nothingQueuedReturnsNil() throws {
    let context = try Context()
    let pull = try Socket(context, .router)
    try pull.bind("inproc://empty")
    #expect(try pull.receive(dontWait: true) == nil)
    #expect(try pull.waitReadable(timeoutMs: 10) == false)
    try pull.setReceiveTimeout(10)
    #expect(try pull.receive() == nil)
  }

  @Test func errorsCarryErrnoAndText() throws {
    let context = try Context()
    let socket = try Socket(context, .pub)
    let error = #expect(throws: ZMQError.self) { try socket.bind("bogus://x") }
    #expect(error?.message.isEmpty == false)
    socket.close()
    #expect(throws: ZMQError.self) { try socket.bind("inproc://after-close") }
  }

  @Test func tcpPortZeroReportsTheBoundEndpoint() throws {
    let context = try Context()
    let socket = try Socket(context, .router)
    try socket.bind("tcp://127.0.0.1:*")
    let endpoint = try socket.lastEndpoint
    #expect(endpoint.hasPrefix("tcp://127.0.0.1:"))
    #expect(endpoint != "tcp://127.0.0.1:0")
  }
}
