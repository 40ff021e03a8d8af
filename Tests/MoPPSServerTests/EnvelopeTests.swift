import Testing

@testable import MoPPSServer

@Suite struct EnvelopeTests {
  let id: [UInt8] = [0, 1, 2, 3, 4]
  let proxy: [UInt8] = [0, 9, 9, 9, 9]
  let method = Array("/mopps.v1.Selector/Health".utf8)

  @Test func envelopeEndsAtTheDelimiterOrBeforeTheMethod() {
    // REQ, and DEALER with a delimiter, empty and non-empty bodies.
    #expect(Server.envelopeCount([id, [], method, []]) == 2)
    #expect(Server.envelopeCount([id, [], method, [8, 1]]) == 2)
    // DEALER without a delimiter: the empty body is not a delimiter.
    #expect(Server.envelopeCount([id, method, []]) == 1)
    #expect(Server.envelopeCount([id, method, [8, 1]]) == 1)
    #expect(Server.envelopeCount([id, method]) == 1)
    // Behind a ROUTER/DEALER proxy.
    #expect(Server.envelopeCount([proxy, id, [], method, []]) == 3)
    #expect(Server.envelopeCount([proxy, id, method, []]) == 2)
    // No method and no delimiter: the identity alone; the rest gets an error reply.
    #expect(Server.envelopeCount([id, [1], [2]]) == 1)
    #expect(Server.envelopeCount([id]) == 1)
  }
}
