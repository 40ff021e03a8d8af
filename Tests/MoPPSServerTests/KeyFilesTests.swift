import Foundation
import MoPPSEngine
import Testing

@testable import MoPPSServer

@Suite struct KeyFilesTests {
  let keyA = "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7"
  let keyB = "JTKVSB%%)wK0E.X)V>+}o?pNmC{O&4W4b!Ni{Lh6"

  func file(_ text: String) throws -> String {
    let path = NSTemporaryDirectory() + "moppsd-keys-\(UUID().uuidString)"
    try Data(text.utf8).write(to: URL(fileURLWithPath: path))
    return path
  }

  @Test func whitespaceCRLFCommentsAndRepeats() throws {
    let path = try file("# trainers\r\n\t\(keyA)  trainer 1\r\n\n   \n\(keyB)\t# two\n\(keyA)\n")
    #expect(try KeyFiles.readKeys(path, flag: "--curve-allow") == [keyA, keyB])
    #expect(try KeyFiles.readAllowList(path) == [keyA, keyB])
  }

  @Test func emptyAllowListIsRefused() throws {
    for text in ["", "\n", "# only a comment\n  \n"] {
      let path = try file(text)
      #expect(try KeyFiles.readKeys(path, flag: "--curve-allow") == [])
      #expect(throws: MoPPSError.self) { try KeyFiles.readAllowList(path) }
    }
  }

  @Test func malformedKeysNameTheLine() throws {
    for bad in ["short", String(repeating: "é", count: 40), keyA + "x"] {
      let path = try file("\(keyA)\n\(bad)\n")
      #expect {
        try KeyFiles.readKeys(path, flag: "--curve-allow")
      } throws: { ($0 as? MoPPSError)?.message.contains("line 2") == true }
    }
  }

  @Test func secretKeyFileHoldsExactlyOneKey() throws {
    #expect(try KeyFiles.readSecretKey(try file("\(keyB)\n")) == keyB)
    #expect(throws: MoPPSError.self) { try KeyFiles.readSecretKey(try file("\(keyA)\n\(keyB)\n")) }
    #expect(throws: MoPPSError.self) { try KeyFiles.readSecretKey(try file("# none\n")) }
    #expect(throws: MoPPSError.self) { try KeyFiles.readSecretKey("/nonexistent/moppsd.key") }
  }
}
